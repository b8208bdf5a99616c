package aggregate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// BenchmarkApply measures one order_placed applied to a customer that
// already has ~10 events (orders, a refund, a churn and a reactivation).
// Every iteration starts from the same pre-image, copied into reused
// buffers so the copy itself does not allocate; the changes go to a
// reused Effects, as the pipeline's do.
func BenchmarkApply(b *testing.B) {
	m := aggregate.DefaultModel()
	c := newCustomer(b, m)
	for i := 0; i < 8; i++ {
		c.applyAll(placedM(fmt.Sprintf("prior-%d", i), "499.00", "0.40",
			time.Date(2025, time.Month(1+i), 1, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)))
	}
	c.applyAll(refundedM("prior-refund", "120.00", "0.40", "2025-09-02T00:00:00Z"),
		churned("prior-churn", "2025-10-01T00:00:00Z"),
		reactivated("prior-react", "2025-11-01T00:00:00Z"))
	template := c.s.Clone()
	ev := placedM("new-order", "523.01", "0.40", "2026-03-01T12:00:00Z")
	src := aggregate.SourceOffset{Topic: aggregate.TopicOf(topicOrders), Partition: 0, Offset: 1 << 40}

	work := template.Clone()
	seenBuf := make([]uint64, len(template.Seen), aggregate.DefaultDedupeWindow)
	appliedBuf := make([]aggregate.SourceOffset, len(template.Applied), aggregate.MaxGuardEntries)
	var fx aggregate.Effects
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		work = template
		work.Seen = seenBuf[:len(template.Seen)]
		copy(work.Seen, template.Seen)
		work.Applied = appliedBuf[:len(template.Applied)]
		copy(work.Applied, template.Applied)
		fx.Segments, fx.Tiers = fx.Segments[:0], fx.Tiers[:0]
		res := m.ApplyTo(&work, &ev, src, ev.OccurredAt, &fx)
		if res.Outcome != aggregate.Applied {
			b.Fatalf("outcome %v", res.Outcome)
		}
	}
}

// BenchmarkAppendJSON encodes the SPEC §5 example into a reused buffer.
func BenchmarkAppendJSON(b *testing.B) {
	c := specChange()
	emitted := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = c.AppendJSON(buf[:0], emitted)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkFigures is the derived-figures computation alone.
func BenchmarkFigures(b *testing.B) {
	m := aggregate.DefaultModel()
	s := aggregate.State{Orders: 9, Revenue: d("4371.00"), GrossProfit: d("1748.40"),
		FirstOrderAt: at("2025-01-01T12:00:00Z"), LastOrderAt: at("2026-03-01T12:00:00Z")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = m.Figures(&s)
	}
}
