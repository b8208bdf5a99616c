package store_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// flatFuture is a stand-in predictor: a predicted value of 6000 whatever
// the history, so a customer's ltv with the model on is its gross profit
// plus 6000.
type flatFuture struct{}

func (flatFuture) Predict(x, tx, T, m, margin float64) aggregate.Prediction {
	return aggregate.Prediction{PAlive: 0.5, ExpectedOrders: 1, ExpectedSpend: 100, CLV: 6000}
}

// TestModelOffTimerWriteStoresTheDefaultLTV: a customer scored while the
// predictive model was on (ltv 100 + 6000, gold) whose next write once the
// model is off is a timer's (the one due a nanosecond after its clock,
// which a left-over prediction makes, then at_risk 90 days after its
// order) loses the five fields, and with them the predicted part of its ltv: the write stores
// SPEC §4's ltv and the tier the rule gives it (a tier change caused by the
// timer), and the segment change carries that ltv and tier; never the
// predicted ltv beside absent prediction fields (docs/predictive.md:
// "loses them at its next write (by an event or a timer), when its ltv is
// §4's again").
func TestModelOffTimerWriteStoresTheDefaultLTV(t *testing.T) {
	on := aggregate.DefaultModel()
	on.Predictive = &aggregate.Predictive{Predictor: flatFuture{}, TimeUnit: aggregate.Day}
	if err := on.Validate(); err != nil {
		t.Fatal(err)
	}
	off := aggregate.DefaultModel()

	// Scored with the model on.
	snap, err := store.DecodeSnapshot("c-1", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	s := snap.State
	ev := order("e1", "c-1", "100.00", "1", "2026-01-01T00:00:00Z")
	res := on.ApplyAt(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Offset: 1}, ev.OccurredAt)
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	w := store.Encode(on, &snap, &s, nil, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: now})
	set, del := w.Changes()
	stored := hashAfter(nil, set, del)
	if stored["ltv"] != "6100.00" || stored["tier"] != "gold" || stored["predicted_clv"] != "6000.00" {
		t.Fatalf("with the model on: ltv %q tier %q predicted_clv %q", stored["ltv"], stored["tier"], stored["predicted_clv"])
	}

	// The model off: §4's ltv of one order of 100 at margin 1 is
	// 100 × 3 years / 1 year = 300.00, bronze.
	snap, err = store.DecodeSnapshot("c-1", stored, "")
	if err != nil {
		t.Fatal(err)
	}
	s = snap.State
	var fx aggregate.Effects
	off.AdvanceAll(&s, "c-1", time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), &fx)
	if len(fx.Segments) != 1 || fx.Segments[0].Segment != aggregate.SegmentAtRisk {
		t.Fatalf("segment changes %+v, want one to at_risk", fx.Segments)
	}
	w = store.Encode(off, &snap, &s, nil, store.EncodeOptions{Figures: false, Now: now})
	set, del = w.Changes()
	after := hashAfter(stored, set, del)
	for _, f := range []string{"p_alive", "expected_orders", "expected_spend", "predicted_clv", "scored_at"} {
		if v, ok := after[f]; ok {
			t.Errorf("%s = %q kept with the model off", f, v)
		}
	}
	if after["ltv"] != "300.00" || after["tier"] != "bronze" {
		t.Errorf("after the timer's write: ltv %q tier %q, want SPEC §4's 300.00, bronze", after["ltv"], after["tier"])
	}
	// Its prediction is dropped by the first timer after its clock (the
	// order), a nanosecond later, not at its at-risk due time.
	if len(fx.Tiers) != 1 || fx.Tiers[0].PreviousTier != "gold" || fx.Tiers[0].Tier != "bronze" || fx.Tiers[0].Cause() != "timer:2026-01-01T00:00:00.000000001Z" {
		t.Errorf("tier changes %+v, want gold → bronze by timer:2026-01-01T00:00:00.000000001Z", fx.Tiers)
	}
	if g := fx.Segments[0]; g.LTV.StringFixed(2) != "300.00" || g.Tier != "bronze" {
		t.Errorf("the segment change carries ltv %s tier %q, want 300.00 bronze", g.LTV.StringFixed(2), g.Tier)
	}
}
