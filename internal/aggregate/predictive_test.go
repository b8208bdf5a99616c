package aggregate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
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

// The first order's net amount, and so the repeat orders' mean spend m
// (SPEC §9: "a refund counts against the order whose order_id it names"),
// do not depend on arrival order: a refund read before its order, which
// then turns out to be the earliest, counts against it; refunds of other
// orders stay with the repeat orders. Random customers with up to
// MaxUnmatchedRefunds refunded orders, in random arrival orders.
func TestFirstOrderNetDoesNotDependOnArrivalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	for trial := 0; trial < 400; trial++ {
		var evs []aggregate.Event
		amounts := map[string]money.Exact{}
		net := map[string]money.Exact{}
		var first string
		var firstAt time.Time
		orders := 2 + r.IntN(5)
		for i := 0; i < orders; i++ {
			id := fmt.Sprintf("e%d", i)
			when := at("2026-01-01T00:00:00Z").Add(time.Duration(r.IntN(300*24)) * time.Hour).Add(time.Duration(i) * time.Second)
			amount := money.NewExact(int64(1000+r.IntN(50000)), -2)
			evs = append(evs, placed(id, amount.String(), when.Format(time.RFC3339)))
			amounts[id], net[id] = amount, amount
			if first == "" || when.Before(firstAt) {
				first, firstAt = id, when
			}
		}
		for j, refundedOrders := 0, 1+r.IntN(aggregate.MaxUnmatchedRefunds); j < refundedOrders; j++ {
			id := fmt.Sprintf("e%d", r.IntN(orders))
			amount := money.NewExact(int64(1+r.IntN(900)), -2)
			ev := refunded(fmt.Sprintf("r%d", j), amount.String(), "2026-12-01T00:00:00Z")
			ev.OrderID = "o-" + id
			evs = append(evs, ev)
			net[id] = net[id].Sub(amount)
		}
		want := net[first]
		for perm := 0; perm < 3; perm++ {
			r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			c := newCustomer(t, predictiveModel(t))
			c.applyAll(evs...)
			if !c.s.FirstOrderNet.Equal(want) || c.s.FirstOrder != aggregate.OrderDigest("o-"+first) {
				t.Fatalf("trial %d: first order net %s, want %s (first order %s; amounts %v; nets %v)", trial, c.s.FirstOrderNet, want, first, amounts, net)
			}
			if len(c.s.UnmatchedRefunds) > 0 {
				if err := aggregate.CheckRefundLog(c.s.UnmatchedRefunds); err != nil {
					t.Fatalf("trial %d: %v", trial, err)
				}
			}
		}
	}
}

// Beyond MaxUnmatchedRefunds other refunded orders the oldest entry is
// dropped, so the log stays small; an order read takes its entry out.
func TestRefundLogIsBounded(t *testing.T) {
	c := newCustomer(t, predictiveModel(t))
	c.applyAll(placed("e0", "100.00", "2026-01-01T00:00:00Z"))
	for i := 1; i <= aggregate.MaxUnmatchedRefunds+2; i++ {
		ev := refunded(fmt.Sprintf("r%d", i), "1.00", "2026-02-01T00:00:00Z")
		ev.OrderID = fmt.Sprintf("o-e%d", i)
		c.applyAll(ev)
	}
	full := len(c.s.UnmatchedRefunds)
	if err := aggregate.CheckRefundLog(c.s.UnmatchedRefunds); err != nil || full == 0 {
		t.Fatalf("log of %d bytes: %v", full, err)
	}
	// e1 and e2 were dropped: read now, earlier than e0, e1 keeps its whole
	// amount; e3's refund, still remembered, counts against it when read.
	c.applyAll(placed("e1", "50.00", "2025-12-01T00:00:00Z"))
	if c.s.FirstOrderNet.String() != "50" {
		t.Fatalf("first order net %s, want 50 (its refund was dropped from the log)", c.s.FirstOrderNet)
	}
	c.applyAll(placed("e3", "40.00", "2025-11-01T00:00:00Z"))
	if c.s.FirstOrderNet.String() != "39" || len(c.s.UnmatchedRefunds) >= full {
		t.Fatalf("first order net %s (want 39), log %d bytes (was %d)", c.s.FirstOrderNet, len(c.s.UnmatchedRefunds), full)
	}
}

// linearDecay is a stand-in predictor whose value falls by 50 a day of
// silence from its start value.
type linearDecay struct{ from float64 }

func (l linearDecay) Predict(x, tx, T, m, marginRate float64) aggregate.Prediction {
	clv := max(l.from-50*(T-tx), 0)
	return aggregate.Prediction{PAlive: 1, ExpectedOrders: 1, ExpectedSpend: 100, CLV: clv}
}

// The tier timer is the first day on which the tier would fall (SPEC §8),
// and the tier rule reads the stored ltv, gross_profit + predicted_clv
// (itself stored with 2 places), rounded to 2 places (SPEC §9): a day on
// which only the unrounded value is below the band is not that day, or the
// timer fires, changes nothing and re-scores the customer a day early.
// Gold (5000) is left below 4750; on day 5 each customer's unrounded ltv
// is 4749.996, stored as 4750.00, and on day 6 it is 50 lower.
func TestTierDueIsTheDayTheStoredLTVFalls(t *testing.T) {
	for _, c := range []struct {
		name  string
		from  float64 // predicted value on the day of the order
		order aggregate.Event
	}{
		// gross profit 100, predicted 4649.996 on day 5: stored 4650.00.
		{"predicted value rounds up", 4899.996, placed("e1", "100.00", "2026-01-01T00:00:00Z")},
		// gross profit 60.006, predicted 4689.99 on day 5: the sum rounds up.
		{"gross profit plus predicted value rounds up", 4939.99, placedM("e1", "100.01", "0.6", "2026-01-01T00:00:00Z")},
	} {
		t.Run(c.name, func(t *testing.T) {
			cu := newCustomer(t, mustModel(t, func(m *aggregate.Model) {
				m.Predictive = &aggregate.Predictive{Predictor: linearDecay{c.from}, TimeUnit: aggregate.Day}
			}))
			cu.applyAll(c.order)
			s := &cu.s
			if s.Tier != "gold" || s.LTV.String() != "5000" {
				t.Fatalf("tier %q ltv %s, want gold at 5000.00", s.Tier, s.LTV)
			}
			if want := at("2026-01-07T00:00:00Z"); !s.TierDue.Equal(want) {
				t.Fatalf("tier due %s, want %s (the first day the stored ltv is below 4750)", s.TierDue, want)
			}
			var fx aggregate.Effects
			cu.m.AdvanceAll(s, testCustomer, at("2026-01-07T00:00:00Z"), &fx)
			if len(fx.Tiers) != 1 || fx.Tiers[0].Cause() != "timer:2026-01-07T00:00:00Z" || s.Tier != "silver" {
				t.Fatalf("tier changes %+v, tier %q", fx.Tiers, s.Tier)
			}
		})
	}
}

// PredictiveInputs gives SPEC §9's four numbers (and the margin rate) as
// ltvctl fit and score read them. The expected values are worked out by
// hand from §9: x = orders − 1, t_x = last − first order, T = as-of −
// first order (in the time unit), m = mean net revenue of the repeat
// orders. T is never below t_x: ltvctl's --as-of may fall before a
// customer's last order, and a T shorter than t_x is no BG/NBD history.
func TestPredictiveInputs(t *testing.T) {
	week := 7 * aggregate.Day
	refundOf := func(id, order, amount, when string) aggregate.Event {
		ev := refunded(id, amount, when)
		ev.OrderID = order
		return ev
	}
	for _, tt := range []struct {
		name                   string
		events                 []aggregate.Event
		unit                   time.Duration
		asOf                   string
		x, tx, T, mean, margin float64
	}{
		{"one order, 14 days later", []aggregate.Event{placed("e1", "100.00", "2026-01-01T00:00:00Z")},
			aggregate.Day, "2026-01-15T00:00:00Z", 0, 0, 14, 0, 1},
		{"a refunded repeat order counts against it, in weeks", []aggregate.Event{
			placed("e1", "100.00", "2026-01-01T00:00:00Z"),
			placed("e2", "60.00", "2026-01-08T00:00:00Z"),
			refundOf("r2", "o-e2", "20.00", "2026-01-10T00:00:00Z"),
			placed("e3", "80.00", "2026-01-29T00:00:00Z"),
		}, week, "2026-02-12T00:00:00Z", 2, 4, 6, 60, 1}, // m = (60 − 20 + 80) / 2
		{"a refund of the first order leaves m alone", []aggregate.Event{
			placed("e1", "100.00", "2026-01-01T00:00:00Z"),
			placed("e2", "50.00", "2026-01-11T00:00:00Z"),
			refundOf("r1", "o-e1", "30.00", "2026-01-12T00:00:00Z"),
		}, aggregate.Day, "2026-01-21T00:00:00Z", 1, 10, 20, 50, 1},
		{"margin rate is gross profit over revenue", []aggregate.Event{
			placedM("e1", "100.00", "0.40", "2026-01-01T00:00:00Z"),
			placedM("e2", "100.00", "0.20", "2026-01-02T00:00:00Z"),
		}, aggregate.Day, "2026-01-03T00:00:00Z", 1, 1, 2, 100, 0.3}, // (40 + 20) / 200
		{"as of before the last order: T is t_x", []aggregate.Event{
			placed("e1", "100.00", "2026-01-01T00:00:00Z"),
			placed("e2", "100.00", "2026-01-31T00:00:00Z"),
		}, aggregate.Day, "2026-01-21T00:00:00Z", 1, 30, 30, 100, 1},
		{"as of the last order itself: T is t_x", []aggregate.Event{
			placed("e1", "100.00", "2026-01-01T00:00:00Z"),
			placed("e2", "100.00", "2026-01-31T00:00:00Z"),
		}, aggregate.Day, "2026-01-31T00:00:00Z", 1, 30, 30, 100, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCustomer(t, nil)
			c.applyAll(tt.events...)
			x, tx, T, mean, margin := aggregate.PredictiveInputs(&c.s, tt.unit, at(tt.asOf))
			got := [...]float64{x, tx, T, mean, margin}
			want := [...]float64{tt.x, tt.tx, tt.T, tt.mean, tt.margin}
			for i, name := range [...]string{"x", "t_x", "T", "m", "margin"} {
				if math.Abs(got[i]-want[i]) > 1e-12*max(1, math.Abs(want[i])) {
					t.Errorf("%s = %v, want %v", name, got[i], want[i])
				}
			}
		})
	}
}
