// A fuzz test of the stored hash's decoder, and of writing onto what it
// accepts.

package store_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// FuzzDecodeSnapshot: any stored hash either decodes or gives an error,
// never a panic; and one that decodes stays readable after this code
// writes an order onto it, so a write never turns a state the consumer
// accepted into one its next load refuses.
func FuzzDecodeSnapshot(f *testing.F) {
	fields := []string{store.FieldOrders, store.FieldRevenue, store.FieldGrossProfit, store.FieldRefunds,
		store.FieldFirstOrderAt, store.FieldLastOrderAt, store.FieldLTV, store.FieldTier, store.FieldChurned,
		store.FieldSegment, store.FieldSegmentSince, store.FieldChannel, "_g"}
	stored := customerWithThreeOrders(f)
	seed := func(h map[string]string, pending string) {
		var vals [13]string
		for i, name := range fields {
			vals[i] = h[name]
		}
		f.Add(vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7], vals[8], vals[9], vals[10], vals[11], vals[12], pending)
	}
	seed(stored, "")
	seed(stored, `{"schema":"ltv.change.v1"}`+"\n")
	seed(map[string]string{}, "")
	m := aggregate.DefaultModel()
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, orders, revenue, gross, refunds, first, last, ltv, tier, churned, segment, since, channel, guard, pending string) {
		h := map[string]string{}
		for i, v := range []string{orders, revenue, gross, refunds, first, last, ltv, tier, churned, segment, since, channel, guard} {
			if v != "" {
				h[fields[i]] = v
			}
		}
		snap, err := store.DecodeSnapshot("c-1", h, pending)
		if err != nil {
			return
		}
		s := snap.State
		ev := order("e-fuzz", "c-1", "10.00", "0.30", "2026-06-01T00:00:00Z")
		var fx aggregate.Effects
		res := m.ApplyTo(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 1 << 40}, ev.OccurredAt, &fx)
		w := store.Encode(m, &snap, &s, nil, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: now})
		set, del := w.Changes()
		after := hashAfter(h, set, del)
		if _, err := store.DecodeSnapshot("c-1", after, ""); err != nil {
			t.Fatalf("what this code wrote onto an accepted hash does not decode: %v\nbefore %q\nafter  %q", err, h, after)
		}
	})
}
