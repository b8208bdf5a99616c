package aggregate_test

import (
	"fmt"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// TestNextTier: SPEC §5 with the default ladder (bronze 0, silver 1000,
// gold 5000, platinum 20000) and hysteresis 0.05, so the leave-below
// points are silver 950, gold 4750, platinum 19000.
func TestNextTier(t *testing.T) {
	rows := []struct {
		current, ltv, want string
	}{
		// first assignment
		{"", "0", "bronze"},
		{"", "0.01", "bronze"},
		{"", "999.99", "bronze"},
		{"", "1000", "silver"},
		{"", "1000.00", "silver"},
		{"", "4999.99", "silver"},
		{"", "5000", "gold"},
		{"", "19999.99", "gold"},
		{"", "20000", "platinum"},
		{"", "1000000", "platinum"},
		// promotion is immediate, at exactly the threshold, and may skip tiers
		{"bronze", "999.99", "bronze"},
		{"bronze", "1000.00", "silver"},
		{"bronze", "5000.00", "gold"},
		{"bronze", "25000", "platinum"},
		{"silver", "4999.99", "silver"},
		{"silver", "5000", "gold"},
		{"silver", "20000", "platinum"},
		{"gold", "20000", "platinum"},
		{"platinum", "1000000", "platinum"},
		// staying
		{"bronze", "0", "bronze"},
		{"silver", "1000", "silver"},
		{"gold", "5000", "gold"},
		// demotion only below threshold × 0.95
		{"silver", "999.99", "silver"},
		{"silver", "950.00", "silver"},
		{"silver", "949.99", "bronze"},
		{"silver", "0", "bronze"},
		{"gold", "4750.00", "gold"},
		{"gold", "4749.99", "silver"},
		{"gold", "1000", "silver"},
		{"gold", "980", "bronze"}, // lands where the LTV is: 980 has not reached silver
		{"gold", "950", "bronze"},
		{"gold", "949.99", "bronze"},
		{"gold", "900", "bronze"},
		{"gold", "0", "bronze"},
		{"platinum", "19000", "platinum"},
		{"platinum", "18999.99", "gold"},
		{"platinum", "4800", "silver"}, // never gold at 4800
		{"platinum", "4749.99", "silver"},
		{"platinum", "960", "bronze"},
		{"platinum", "949.99", "bronze"},
		// a stored tier that is no longer configured: plain natural tier
		{"diamond", "0", "bronze"},
		{"diamond", "980", "bronze"},
		{"diamond", "1000", "silver"},
		{"diamond", "30000", "platinum"},
	}
	m := aggregate.DefaultModel()
	for _, r := range rows {
		t.Run(fmt.Sprintf("%s@%s", r.current, r.ltv), func(t *testing.T) {
			if got := m.NextTier(r.current, d(r.ltv)); got != r.want {
				t.Errorf("NextTier(%q, %s) = %q, want %q", r.current, r.ltv, got, r.want)
			}
		})
	}
}

// TestNextTierOtherLadders covers hysteresis 0, a wide hysteresis, a ladder
// starting above 0. (An empty ladder is rejected by Validate.)
func TestNextTierOtherLadders(t *testing.T) {
	noHyst := mustModel(t, func(m *aggregate.Model) { m.Hysteresis = dd("0") })
	half := mustModel(t, func(m *aggregate.Model) { m.Hysteresis = dd("0.5") })
	highFloor := mustModel(t, func(m *aggregate.Model) {
		m.Tiers = []aggregate.Tier{{Name: "silver", Min: dd("1000")}, {Name: "gold", Min: dd("5000")}}
	})
	rows := []struct {
		name               string
		m                  *aggregate.Model
		current, ltv, want string
	}{
		{"hysteresis 0: leaves just below", noHyst, "silver", "999.99", "bronze"},
		{"hysteresis 0: stays at threshold", noHyst, "silver", "1000", "silver"},
		{"hysteresis 0: gold to 4999.99", noHyst, "gold", "4999.99", "silver"},
		{"hysteresis 0: gold to 999.99", noHyst, "gold", "999.99", "bronze"},
		{"hysteresis 0: promotion", noHyst, "bronze", "1000", "silver"},
		{"hysteresis 0.5: silver holds at 500", half, "silver", "500", "silver"},
		{"hysteresis 0.5: silver leaves at 499.99", half, "silver", "499.99", "bronze"},
		{"hysteresis 0.5: gold to 2500", half, "gold", "2500", "gold"},
		{"hysteresis 0.5: gold to 2499.99", half, "gold", "2499.99", "silver"},
		{"hysteresis 0.5: gold to 499.99", half, "gold", "499.99", "bronze"},
		{"floor 1000: below it, no tier", highFloor, "", "999.99", ""},
		{"floor 1000: zero, no tier", highFloor, "", "0", ""},
		{"floor 1000: reaching it", highFloor, "", "1000", "silver"},
		{"floor 1000: silver holds at 950", highFloor, "silver", "950", "silver"},
		{"floor 1000: silver leaves to no tier", highFloor, "silver", "949.99", ""},
		{"floor 1000: gold to 900", highFloor, "gold", "900", ""},
		{"floor 1000: gold to 980", highFloor, "gold", "980", ""},
		{"floor 1000: unknown stored tier below the floor", highFloor, "bronze", "500", ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if got := r.m.NextTier(r.current, d(r.ltv)); got != r.want {
				t.Errorf("NextTier(%q, %s) = %q, want %q", r.current, r.ltv, got, r.want)
			}
		})
	}
}

// TestNaturalTier is the ladder lookup without hysteresis.
func TestNaturalTier(t *testing.T) {
	m := aggregate.DefaultModel()
	for ltv, want := range map[string]string{
		"-1": "", "0": "bronze", "999.99": "bronze", "1000": "silver", "4999.999": "silver",
		"5000": "gold", "20000": "platinum", "99999999": "platinum",
	} {
		if got := m.NaturalTier(d(ltv)); got != want {
			t.Errorf("NaturalTier(%s) = %q, want %q", ltv, got, want)
		}
	}
}

// TestNoFlapping: hovering at the silver boundary changes tier only when
// a band is really crossed.
func TestNoFlapping(t *testing.T) {
	m := aggregate.DefaultModel()
	seq := []struct{ ltv, tier string }{
		{"1000", "silver"},
		{"990", "silver"},
		{"1000", "silver"},
		{"960", "silver"},
		{"949.99", "bronze"},
		{"1000", "silver"},
		{"999.99", "silver"},
		{"950", "silver"},
		{"1000.01", "silver"},
	}
	cur, changes := "bronze", 0
	for i, st := range seq {
		next := m.NextTier(cur, d(st.ltv))
		if next != st.tier {
			t.Fatalf("step %d (ltv %s): tier %q, want %q", i, st.ltv, next, st.tier)
		}
		if next != cur {
			changes++
		}
		cur = next
	}
	if changes != 3 {
		t.Fatalf("%d changes, want 3 (up at 1000, down at 949.99, up at 1000)", changes)
	}
}

// TestTierChangesThroughApply drives LTVs through real events. The model
// has lifespan 1 and every order shares one instant, so ltv = gross_profit
// and the amounts below are the LTVs.
func TestTierChangesThroughApply(t *testing.T) {
	const t0 = "2026-01-01T00:00:00Z"
	type want struct {
		prev, tier, dir, ltv, prevLTV string
	}
	type step struct {
		ev     aggregate.Event
		ltv    string // stored ltv after the step
		change *want
	}
	ch := func(prev, tier, dir, ltv, prevLTV string) *want { return &want{prev, tier, dir, ltv, prevLTV} }
	rows := []struct {
		name  string
		steps []step
	}{
		{"first assignment from \"\"", []step{
			{placed("e1", "10", t0), "10.00", ch("", "bronze", "up", "10.00", "0.00")},
			{placed("e2", "10", t0), "20.00", nil},
		}},
		{"first assignment skips to silver", []step{
			{placed("e1", "1000", t0), "1000.00", ch("", "silver", "up", "1000.00", "0.00")},
		}},
		{"first event is a churn: bronze at 0", []step{
			{churned("e1", t0), "0.00", ch("", "bronze", "up", "0.00", "0.00")},
		}},
		{"first event is a refund: bronze at 0", []step{
			{refunded("e1", "5", t0), "0.00", ch("", "bronze", "up", "0.00", "0.00")},
		}},
		{"promotion exactly at the threshold", []step{
			{placed("e1", "999.99", t0), "999.99", ch("", "bronze", "up", "999.99", "0.00")},
			{placed("e2", "0.01", t0), "1000.00", ch("bronze", "silver", "up", "1000.00", "999.99")},
		}},
		{"promotion skipping tiers is one change", []step{
			{placed("e1", "100", t0), "100.00", ch("", "bronze", "up", "100.00", "0.00")},
			{placed("e2", "4900", t0), "5000.00", ch("bronze", "gold", "up", "5000.00", "100.00")},
		}},
		{"hovering at the boundary", []step{
			{placed("e1", "500", t0), "500.00", ch("", "bronze", "up", "500.00", "0.00")},
			{placed("e2", "500", t0), "1000.00", ch("bronze", "silver", "up", "1000.00", "500.00")},
			{refunded("e3", "10", t0), "990.00", nil},
			{placed("e4", "10", t0), "1000.00", nil},
			{refunded("e5", "40", t0), "960.00", nil},
			{refunded("e6", "10.01", t0), "949.99", ch("silver", "bronze", "down", "949.99", "960.00")},
			{placed("e7", "50.01", t0), "1000.00", ch("bronze", "silver", "up", "1000.00", "949.99")},
		}},
		{"demotion stays at 950.00", []step{
			{placed("e1", "1000", t0), "1000.00", ch("", "silver", "up", "1000.00", "0.00")},
			{refunded("e2", "50", t0), "950.00", nil},
			{refunded("e3", "0.01", t0), "949.99", ch("silver", "bronze", "down", "949.99", "950.00")},
		}},
		{"gold falls to 980 (bronze: silver not reached), then back to 1000", []step{
			{placed("e1", "5000", t0), "5000.00", ch("", "gold", "up", "5000.00", "0.00")},
			{refunded("e2", "4020", t0), "980.00", ch("gold", "bronze", "down", "980.00", "5000.00")},
			{placed("e3", "20", t0), "1000.00", ch("bronze", "silver", "up", "1000.00", "980.00")},
			{refunded("e4", "40", t0), "960.00", nil},
		}},
		{"gold falls straight to 900", []step{
			{placed("e1", "5000", t0), "5000.00", ch("", "gold", "up", "5000.00", "0.00")},
			{refunded("e2", "4100", t0), "900.00", ch("gold", "bronze", "down", "900.00", "5000.00")},
		}},
		{"refund to negative revenue: ltv 0, bronze", []step{
			{placed("e1", "1000", t0), "1000.00", ch("", "silver", "up", "1000.00", "0.00")},
			{refunded("e2", "1500", t0), "0.00", ch("silver", "bronze", "down", "0.00", "1000.00")},
		}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCustomer(t, lifespanOne(t))
			tier := ""
			for i, st := range r.steps {
				res := c.apply(st.ev)
				if res.Outcome != aggregate.Applied {
					t.Fatalf("step %d: %v", i, res.Outcome)
				}
				if got := c.s.LTV.StringFixed(2); got != st.ltv {
					t.Fatalf("step %d: ltv %s, want %s", i, got, st.ltv)
				}
				if st.change == nil {
					if res.Changed {
						t.Fatalf("step %d: unexpected change %s -> %s", i, res.Change.PreviousTier, res.Change.Tier)
					}
					if c.s.Tier != tier {
						t.Fatalf("step %d: tier moved to %q without a change", i, c.s.Tier)
					}
					continue
				}
				if !res.Changed {
					t.Fatalf("step %d: no change, want %s -> %s", i, st.change.prev, st.change.tier)
				}
				got := res.Change
				w := st.change
				if got.PreviousTier != w.prev || got.Tier != w.tier || got.Direction() != w.dir ||
					got.LTV.StringFixed(2) != w.ltv || got.PreviousLTV.StringFixed(2) != w.prevLTV {
					t.Fatalf("step %d: change %q->%q %s ltv %s prev %s, want %q->%q %s ltv %s prev %s", i,
						got.PreviousTier, got.Tier, got.Direction(), got.LTV.StringFixed(2), got.PreviousLTV.StringFixed(2),
						w.prev, w.tier, w.dir, w.ltv, w.prevLTV)
				}
				if got.PreviousTier != tier {
					t.Fatalf("step %d: chain broken: previous %q, stored was %q", i, got.PreviousTier, tier)
				}
				if got.CausedBy != st.ev.EventID || !got.OccurredAt.Equal(st.ev.OccurredAt) || got.CustomerID != st.ev.CustomerID {
					t.Fatalf("step %d: cause %q@%v customer %q", i, got.CausedBy, got.OccurredAt, got.CustomerID)
				}
				if got.Orders != c.s.Orders {
					t.Fatalf("step %d: change orders %d, state %d", i, got.Orders, c.s.Orders)
				}
				tier = w.tier
				if c.s.Tier != tier {
					t.Fatalf("step %d: stored tier %q, change says %q", i, c.s.Tier, tier)
				}
			}
		})
	}
}

// TestChangeCarriesFigures: the change event holds the figures of the
// state after the event (default model).
func TestChangeCarriesFigures(t *testing.T) {
	c := newCustomer(t, nil)
	// o1: gp 50, ltv 150 (bronze).
	// o2 after 366 days (> Y): gp 100, ltv 100×3×365.25/366 = 299.385..
	c.applyAll(
		placedM("o1", "100", "0.5", "2024-01-01T00:00:00Z"),
		placedM("o2", "100", "0.5", "2025-01-01T00:00:00Z"),
	)
	if c.s.Tier != "bronze" || c.s.LTV.StringFixed(2) != "299.39" {
		t.Fatalf("before: tier %q ltv %s", c.s.Tier, c.s.LTV)
	}
	if f := c.m.Figures(&c.s); f.Frequency.StringFixed(4) != "1.9959" {
		t.Fatalf("before: frequency %s, want 2×365.25/366 = 1.9959", f.Frequency)
	}
	// o3 after 731 days: revenue 3200, gp 1600, aov 1066.67,
	// freq 3×365.25/731 = 1.49897.., ltv 1600×3×365.25/731 = 2398.358..
	ev := placedM("o3", "3000", "0.5", "2026-01-01T00:00:00Z")
	res := c.apply(ev)
	if !res.Changed {
		t.Fatalf("no change; tier %q ltv %s", c.s.Tier, c.s.LTV)
	}
	got := res.Change
	if got.PreviousTier != "bronze" || got.Tier != "silver" || !got.Up || got.Direction() != "up" {
		t.Fatalf("change %q -> %q up=%v", got.PreviousTier, got.Tier, got.Up)
	}
	for _, f := range []struct{ name, got, want string }{
		{"aov", got.AOV.StringFixed(2), "1066.67"},
		{"frequency", got.Frequency.StringFixed(4), "1.4990"},
		{"ltv", got.LTV.StringFixed(2), "2398.36"},
		{"previous_ltv", got.PreviousLTV.StringFixed(2), "299.39"},
		{"orders", fmt.Sprint(got.Orders), "3"},
		{"churned", fmt.Sprint(got.Churned), "false"},
		{"customer_id", got.CustomerID, testCustomer},
		{"caused_by", got.CausedBy, "o3"},
		{"occurred_at", aggregate.TimeText(got.OccurredAt), "2026-01-01T00:00:00Z"},
	} {
		if f.got != f.want {
			t.Errorf("change %s = %s, want %s", f.name, f.got, f.want)
		}
	}
}

// TestChurnDemotes: a churn drops ltv from the future-looking figure to
// gross profit, and the change says churned.
func TestChurnDemotes(t *testing.T) {
	c := newCustomer(t, nil)
	// one order of 2000: ltv 6000 (gold)
	c.applyAll(placed("o1", "2000", "2026-01-01T00:00:00Z"))
	if c.s.Tier != "gold" {
		t.Fatalf("tier %q, want gold", c.s.Tier)
	}
	res := c.apply(churned("c1", "2026-06-01T00:00:00Z"))
	if !res.Changed || res.Change.PreviousTier != "gold" || res.Change.Tier != "silver" || res.Change.Up ||
		!res.Change.Churned || res.Change.LTV.StringFixed(2) != "2000.00" || res.Change.PreviousLTV.StringFixed(2) != "6000.00" {
		t.Fatalf("churn change = %+v", res.Change)
	}
	res = c.apply(reactivated("r1", "2026-07-01T00:00:00Z"))
	if !res.Changed || res.Change.Tier != "gold" || !res.Change.Up || res.Change.Churned {
		t.Fatalf("reactivation change = %+v", res.Change)
	}
}

// TestStaleStoredTier: a state carrying a tier name that is no longer
// configured moves to the natural tier on its next event.
func TestStaleStoredTier(t *testing.T) {
	rows := []struct {
		name, stored, amount, want, dir string
	}{
		{"stale tier, low ltv", "diamond", "10", "bronze", "up"},
		{"stale tier, high ltv", "diamond", "2000", "gold", "up"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCustomer(t, nil)
			c.s.Tier = r.stored
			res := c.apply(placed("e1", r.amount, "2026-01-01T00:00:00Z"))
			if !res.Changed || res.Change.PreviousTier != r.stored || res.Change.Tier != r.want || res.Change.Direction() != r.dir {
				t.Fatalf("change = %+v", res.Change)
			}
		})
	}
	t.Run("stale tier, ladder floor above ltv", func(t *testing.T) {
		m := mustModel(t, func(m *aggregate.Model) {
			m.Tiers = []aggregate.Tier{{Name: "silver", Min: dd("1000")}}
		})
		c := newCustomer(t, m)
		c.s.Tier = "bronze"
		res := c.apply(placed("e1", "10", "2026-01-01T00:00:00Z"))
		if !res.Changed || res.Change.PreviousTier != "bronze" || res.Change.Tier != "" || res.Change.Direction() != "down" {
			t.Fatalf("change = %+v", res.Change)
		}
	})
}

// TestLadderAboveZero: with the lowest threshold above 0 a small customer
// has tier "" and no change event is produced for it.
func TestLadderAboveZero(t *testing.T) {
	m := mustModel(t, func(m *aggregate.Model) {
		m.LifespanYears = dd("1")
		m.Tiers = []aggregate.Tier{{Name: "silver", Min: dd("1000")}, {Name: "gold", Min: dd("5000")}}
	})
	c := newCustomer(t, m)
	const t0 = "2026-01-01T00:00:00Z"
	if res := c.apply(placed("e1", "500", t0)); res.Changed || c.s.Tier != "" {
		t.Fatalf("below the floor: changed=%v tier %q", res.Changed, c.s.Tier)
	}
	res := c.apply(placed("e2", "500", t0))
	if !res.Changed || res.Change.PreviousTier != "" || res.Change.Tier != "silver" || !res.Change.Up {
		t.Fatalf("reaching the floor: %+v", res.Change)
	}
	if res := c.apply(refunded("e3", "50", t0)); res.Changed {
		t.Fatalf("950 left silver: %+v", res.Change)
	}
	res = c.apply(refunded("e4", "0.01", t0))
	if !res.Changed || res.Change.PreviousTier != "silver" || res.Change.Tier != "" || res.Change.Up {
		t.Fatalf("falling below the band: %+v", res.Change)
	}
}
