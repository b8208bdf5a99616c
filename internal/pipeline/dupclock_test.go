package pipeline_test

import (
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
)

// TestDuplicateEventIdStillMovesStreamTime pins the documented choice
// (docs/guarantees.md, "Duplicates still move the clock"): a record whose
// event_id the customer's dedupe window holds changes no figure, but it is
// a valid record, so its occurred_at counts toward its partition's stream
// time (SPEC §8) and fires the timers that time passes.
func TestDuplicateEventIdStillMovesStreamTime(t *testing.T) {
	p, _, rc := setupConfig(t, func(*pipeline.Config) {})
	ctx := ctxT(t)
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(0, "e-a", "a", "10.00", "2026-01-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	// The same event id again, stamped four months later.
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(1, "e-a", "a", "10.00", "2026-05-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	h := rc.HGetAll(ctx, "ltv:{a}").Val()
	if h["orders"] != "1" || h["last_order_at"] != "2026-01-01T00:00:00Z" {
		t.Errorf("the copy was counted: orders %q, last_order_at %q", h["orders"], h["last_order_at"])
	}
	if got := rc.Get(ctx, "ltv:{p0}:stream_time").Val(); got != "2026-05-01T00:00:00.000000000Z" {
		t.Errorf("stream time %q, want the copy's occurred_at", got)
	}
	if h["segment"] != aggregate.SegmentAtRisk || h["segment_since"] != "2026-04-01T00:00:00Z" {
		t.Errorf("segment %q since %q, want at_risk since the timer of April 1st", h["segment"], h["segment_since"])
	}
}
