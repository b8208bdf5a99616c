package aggregate_test

import (
	"math"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// decaying is a stand-in predictor whose value only decays with the time
// since the last order (T − t_x, in days): 6000 × 0.99^idle. Enough to
// test how the domain uses a prediction, without the models' numerics.
type decaying struct{}

func (decaying) Predict(x, tx, T, m, marginRate float64) aggregate.Prediction {
	idle := T - tx
	f := math.Pow(0.99, idle)
	return aggregate.Prediction{PAlive: f, ExpectedOrders: 2 * f, ExpectedSpend: 100 + m, CLV: 6000 * f}
}

func predictiveModel(t *testing.T) *aggregate.Model {
	return mustModel(t, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: decaying{}, TimeUnit: aggregate.Day}
	})
}

func TestPredictedValueDrivesTheTier(t *testing.T) {
	c := newCustomer(t, predictiveModel(t))
	c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"))
	s := &c.s
	// ltv = gross profit 100 + predicted 6000 (scored as of the order).
	if s.LTV.String() != "6100" || s.Tier != "gold" || s.PAlive.String() != "1" || s.PredictedCLV.String() != "6000" {
		t.Fatalf("ltv %s tier %q p_alive %s clv %s", s.LTV, s.Tier, s.PAlive, s.PredictedCLV)
	}
	// With no new order the value decays: gold is left when ltv < 5000 ×
	// 0.95 = 4750, i.e. 6000 × 0.99^d < 4650, first at d = 26 days.
	if want := at("2026-01-27T00:00:00Z"); !s.TierDue.Equal(want) {
		t.Fatalf("tier due %s, want %s", s.TierDue, want)
	}
	var fx aggregate.Effects
	c.m.AdvanceAll(s, testCustomer, at("2026-01-26T23:00:00Z"), &fx)
	if len(fx.Tiers) != 0 {
		t.Fatalf("the tier fell before its due day: %+v", fx.Tiers)
	}
	c.m.AdvanceAll(s, testCustomer, at("2026-01-27T00:00:00Z"), &fx)
	if len(fx.Tiers) != 1 || fx.Tiers[0].Tier != "silver" || fx.Tiers[0].Cause() != "timer:2026-01-27T00:00:00Z" ||
		!fx.Tiers[0].OccurredAt.Equal(at("2026-01-27T00:00:00Z")) || fx.Tiers[0].Up {
		t.Fatalf("tier changes %+v", fx.Tiers)
	}
	if !s.ScoredAt.Equal(at("2026-01-27T00:00:00Z")) || s.Tier != "silver" {
		t.Fatalf("scored at %s tier %s", s.ScoredAt, s.Tier)
	}
	// A new order revives it: scored as of the stream time of the record.
	r := c.m.ApplyAt(s, ptr(placed("e2", "100.00", "2026-02-01T00:00:00Z")), aggregate.SourceOffset{Offset: 99}, at("2026-02-01T00:00:00Z"))
	if !r.Changed || r.Change.Tier != "platinum" && r.Change.Tier != "gold" {
		t.Fatalf("after the second order: %+v", r.Change)
	}
}

func TestChurnedCustomerHasNoFuture(t *testing.T) {
	c := newCustomer(t, predictiveModel(t))
	c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"), churned("c1", "2026-01-02T00:00:00Z"))
	s := &c.s
	if !s.PAlive.IsZero() || !s.PredictedCLV.IsZero() || s.LTV.String() != "100" || !s.TierDue.IsZero() {
		t.Fatalf("p_alive %s clv %s ltv %s tier due %s", s.PAlive, s.PredictedCLV, s.LTV, s.TierDue)
	}
}

// spendOf answers with an expected spend that names the x and m it was
// asked about, and a future for the living.
type spendOf struct{}

func (spendOf) Predict(x, tx, T, m, margin float64) aggregate.Prediction {
	return aggregate.Prediction{PAlive: 0.5, ExpectedOrders: 3, ExpectedSpend: 1000*x + m, CLV: 50}
}

// A churned customer keeps the expected spend of its own repeat orders
// (SPEC §9: only p_alive and predicted_clv go to 0; expected orders with
// them), the same as before it churned.
func TestChurnedCustomerKeepsItsExpectedSpend(t *testing.T) {
	c := newCustomer(t, mustModel(t, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: spendOf{}, TimeUnit: aggregate.Day}
	}))
	c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"), placed("e2", "200.00", "2026-02-01T00:00:00Z"),
		placed("e3", "300.00", "2026-03-01T00:00:00Z"))
	s := &c.s
	if s.ExpectedSpend.String() != "2250" || s.PAlive.String() != "0.5" { // x = 2, m = 250
		t.Fatalf("alive: expected spend %s, p_alive %s", s.ExpectedSpend, s.PAlive)
	}
	c.applyAll(churned("c1", "2026-03-02T00:00:00Z"))
	if s.ExpectedSpend.String() != "2250" || !s.PAlive.IsZero() || !s.ExpectedOrders.IsZero() || !s.PredictedCLV.IsZero() {
		t.Fatalf("churned: expected spend %s (want 2250), p_alive %s, expected orders %s, clv %s",
			s.ExpectedSpend, s.PAlive, s.ExpectedOrders, s.PredictedCLV)
	}
}

// A segment change a timer makes carries the ltv and tier the customer
// has as of the due time, after its re-scoring there (the stored ones),
// not those of its last scoring.
func TestTimerSegmentChangeCarriesTheRescoredValue(t *testing.T) {
	c := newCustomer(t, predictiveModel(t))
	c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"))
	var fx aggregate.Effects
	c.m.AdvanceAll(&c.s, testCustomer, at("2026-04-01T00:00:00Z"), &fx) // at risk after 90 days
	if len(fx.Segments) == 0 {
		t.Fatal("no segment change by April 1st")
	}
	last := fx.Segments[len(fx.Segments)-1]
	if last.Segment != aggregate.SegmentAtRisk || !c.s.ScoredAt.Equal(at("2026-04-01T00:00:00Z")) {
		t.Fatalf("last change %+v, scored at %s", last, c.s.ScoredAt)
	}
	// 100 + 6000 × 0.99^90 = 100 + 2428.39…, scored on April 1st.
	if !last.LTV.Equal(c.s.LTV) || last.Tier != c.s.Tier || last.LTV.String() != "2528.39" {
		t.Fatalf("the at-risk change says ltv %s tier %q; stored ltv %s tier %q", last.LTV, last.Tier, c.s.LTV, c.s.Tier)
	}
}

func TestPeriodicRescoring(t *testing.T) {
	m := mustModel(t, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: decaying{}, TimeUnit: aggregate.Day, RescoreEvery: 7 * aggregate.Day}
	})
	c := newCustomer(t, m)
	c.applyAll(placed("e1", "1.00", "2026-01-01T00:00:00Z"))
	c.m.Advance(&c.s, testCustomer, at("2026-01-15T00:00:00Z"), nil)
	if !c.s.ScoredAt.Equal(at("2026-01-15T00:00:00Z")) || !strings.HasPrefix(c.s.PAlive.String(), "0.86") {
		t.Fatalf("scored at %s, p_alive %s: want re-scored every 7 days", c.s.ScoredAt, c.s.PAlive)
	}
}

func ptr(ev aggregate.Event) *aggregate.Event { return &ev }
