package aggregate_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// straightDecay is a stand-in predictor whose predicted value falls by
// perDay for every day since the last order (T − t_x, the time unit being
// a day) from its value on the day of the order, never below 0. A straight
// line makes the day the tier falls a matter of plain arithmetic, so the
// timers' bookkeeping is checked without the models' numerics.
type straightDecay struct{ from, perDay float64 }

func (s straightDecay) Predict(x, tx, T, m, margin float64) aggregate.Prediction {
	v := max(s.from-s.perDay*(T-tx), 0)
	return aggregate.Prediction{PAlive: 1, ExpectedOrders: 1, ExpectedSpend: 1, CLV: v}
}

// TestTierAndSegmentTimersInterleave: one order of 100 (gross profit 100),
// a predicted value of 8220 falling by 40 a day. SPEC §5's default ladder
// with 5 % hysteresis: gold is left below 4750, first on day 90
// (100 + 8220 − 3600 = 4720), which is also the day the customer becomes
// at_risk (SPEC §8, 90 days); silver is left below 950, first on day 185
// (100 + 8220 − 7400 = 920), five days after it becomes lapsed (day 180).
// Whether stream time reaches the customer in one jump far past all four
// due times or in any number of steps, the changes are the same, each made
// as of its own due time, in order: the tier change first and the segment
// change at the same instant carrying the tier and ltv as of then.
func TestTierAndSegmentTimersInterleave(t *testing.T) {
	m := mustModel(t, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: straightDecay{8220, 40}, TimeUnit: aggregate.Day}
	})
	day0 := at("2026-01-01T00:00:00Z")
	on := func(d int) time.Time { return day0.Add(time.Duration(d) * aggregate.Day) }
	type tierStep struct {
		prev, tier string
		day        int
		ltv        string
	}
	type segStep struct {
		prev, seg, tier string
		day             int
		ltv             string
	}
	wantTiers := []tierStep{{"gold", "silver", 90, "4720"}, {"silver", "bronze", 185, "920"}}
	wantSegs := []segStep{{"new", "at_risk", "silver", 90, "4720"}, {"at_risk", "lapsed", "silver", 180, "1120"}}
	end := on(400)
	rng := rand.New(rand.NewPCG(5, 8))
	for trial := 0; trial < 60; trial++ {
		c := newCustomer(t, m)
		c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"))
		if c.s.Tier != "gold" || c.s.Segment != "new" || !c.s.TierDue.Equal(on(90)) {
			t.Fatalf("after the order: tier %q segment %q tier due %s", c.s.Tier, c.s.Segment, c.s.TierDue)
		}
		// Stream time reaches the customer in steps: one jump (trial 0),
		// day by day (trial 1), or at random moments.
		var stops []time.Time
		switch trial {
		case 0:
			stops = []time.Time{end}
		case 1:
			for d := 1; d <= 400; d++ {
				stops = append(stops, on(d))
			}
		default:
			for at := day0; at.Before(end); {
				at = at.Add(time.Duration(rng.Int64N(int64(120 * aggregate.Day))))
				stops = append(stops, at)
			}
			stops = append(stops, end)
		}
		var fx aggregate.Effects
		for _, stop := range stops {
			m.AdvanceAll(&c.s, testCustomer, stop, &fx)
		}
		if len(fx.Tiers) != len(wantTiers) || len(fx.Segments) != len(wantSegs) {
			t.Fatalf("trial %d: %d tier and %d segment changes, want %d and %d: %+v %+v", trial,
				len(fx.Tiers), len(fx.Segments), len(wantTiers), len(wantSegs), fx.Tiers, fx.Segments)
		}
		for i, w := range wantTiers {
			g := fx.Tiers[i]
			cause := "timer:" + on(w.day).Format(time.RFC3339)
			if g.PreviousTier != w.prev || g.Tier != w.tier || g.Up || g.Cause() != cause || !g.OccurredAt.Equal(on(w.day)) || g.LTV.String() != w.ltv {
				t.Fatalf("trial %d: tier change %d: %s→%s by %s at %s ltv %s; want %s→%s by %s ltv %s",
					trial, i, g.PreviousTier, g.Tier, g.Cause(), g.OccurredAt, g.LTV, w.prev, w.tier, cause, w.ltv)
			}
		}
		for i, w := range wantSegs {
			g := fx.Segments[i]
			cause := "timer:" + on(w.day).Format(time.RFC3339)
			if g.Previous != w.prev || g.Segment != w.seg || g.Cause() != cause || !g.OccurredAt.Equal(on(w.day)) ||
				g.Tier != w.tier || g.LTV.String() != w.ltv {
				t.Fatalf("trial %d: segment change %d: %s→%s by %s tier %q ltv %s; want %s→%s by %s tier %q ltv %s",
					trial, i, g.Previous, g.Segment, g.Cause(), g.Tier, g.LTV, w.prev, w.seg, cause, w.tier, w.ltv)
			}
		}
		if c.s.Tier != "bronze" || c.s.Segment != "lapsed" || !c.s.TierDue.IsZero() || !c.s.ScoredAt.Equal(on(185)) {
			t.Fatalf("trial %d: end state tier %q segment %q tier due %s scored at %s", trial, c.s.Tier, c.s.Segment, c.s.TierDue, c.s.ScoredAt)
		}
	}
}

// TestTierDueAgainstDayByDayScan: for random straight-line decays, gross
// profits and ladders with hysteresis, the stored tier due time is the
// first whole day after the scoring at which SPEC §5's rule, applied to
// the ltv that would then be stored (gross profit + predicted value with
// 2 places, rounded to 2 places), leaves the tier; found here by walking
// the days with exact rationals. Neither late nor early, and when it
// fires the tier falls then, not a day later.
func TestTierDueAgainstDayByDayScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	day0 := at("2026-03-01T06:30:00Z")
	checked := 0
	for trial := 0; trial < 400; trial++ {
		from := float64(rng.IntN(2_000_000)) / 100
		perDay := 0.5 + rng.Float64()*200
		hyst := []string{"0", "0.05", "0.1", "0.25"}[rng.IntN(4)]
		m := mustModel(t, func(m *aggregate.Model) {
			m.Hysteresis = dd(hyst)
			m.Predictive = &aggregate.Predictive{Predictor: straightDecay{from, perDay}, TimeUnit: aggregate.Day}
		})
		amount := fmt.Sprintf("%d.%02d", 1+rng.IntN(3000), rng.IntN(100))
		margin := fmt.Sprintf("0.%02d", 10+rng.IntN(90))
		c := newCustomer(t, m)
		c.applyAll(placedM("e1", amount, margin, day0.Format(time.RFC3339)))
		gp := new(big.Rat).Mul(decRat(amount), decRat(margin))
		// The reference's stored ltv on day d (SPEC §9), then the tier
		// rule with hysteresis (SPEC §5) against the default ladder.
		ltvOn := func(d int) *big.Rat {
			v := max(from-perDay*float64(d), 0)
			clv := decRat(roundHalfAway(new(big.Rat).SetFloat64(v), 2))
			l := new(big.Rat).Add(gp, clv)
			if l.Sign() < 0 {
				l.SetInt64(0)
			}
			return decRat(roundHalfAway(l, 2))
		}
		leaves := func(tier string, ltv *big.Rat) bool {
			mins := map[string]int64{"bronze": 0, "silver": 1000, "gold": 5000, "platinum": 20000}
			min, ok := mins[tier]
			if !ok || min == 0 {
				return false
			}
			band := new(big.Rat).Mul(big.NewRat(min, 1), new(big.Rat).Sub(big.NewRat(1, 1), decRat(hyst)))
			return ltv.Cmp(band) < 0
		}
		want := time.Time{}
		for d := 1; d <= 3653; d++ {
			if leaves(c.s.Tier, ltvOn(d)) {
				want = day0.Add(time.Duration(d) * aggregate.Day)
				break
			}
		}
		if !c.s.TierDue.Equal(want) {
			t.Fatalf("trial %d (from %v, %v a day, gp %s, hysteresis %s, tier %s): tier due %s, the day-by-day scan says %s",
				trial, from, perDay, gp.FloatString(4), hyst, c.s.Tier, c.s.TierDue, want)
		}
		if want.IsZero() {
			continue
		}
		checked++
		tier := c.s.Tier
		var fx aggregate.Effects
		m.AdvanceAll(&c.s, testCustomer, want.Add(-time.Nanosecond), &fx)
		if c.s.Tier != tier {
			t.Fatalf("trial %d: tier fell before its due time %s: %+v", trial, want, fx.Tiers)
		}
		m.AdvanceAll(&c.s, testCustomer, want, &fx)
		if c.s.Tier == tier || len(fx.Tiers) == 0 || fx.Tiers[len(fx.Tiers)-1].Cause() != "timer:"+want.Format(time.RFC3339) {
			t.Fatalf("trial %d: at its due time %s the tier is %q (was %q): %+v", trial, want, c.s.Tier, tier, fx.Tiers)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d customers had a tier timer", checked)
	}
}

func decRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// roundHalfAway renders r with places decimals, half away from zero.
func roundHalfAway(r *big.Rat, places int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil)
	n := new(big.Int).Mul(r.Num(), scale)
	n.Mul(n, big.NewInt(2))
	den := new(big.Int).Mul(r.Denom(), big.NewInt(2))
	// (2·n·scale + sign·den) / (2·den), truncated toward zero.
	if n.Sign() >= 0 {
		n.Add(n, r.Denom())
	} else {
		n.Sub(n, r.Denom())
	}
	q := new(big.Int).Quo(n, den)
	return new(big.Rat).SetFrac(q, scale).FloatString(places)
}

// TestSwitchingTheModelOn pins what docs/predictive.md says of turning the
// predictive model on over customers stored without it: each is scored
// one nanosecond after its clock (the last time it was evaluated), once
// time passes that, then re-scored every rescore_every_days from there and
// at its segment timers; a customer already lapsed or churned, which has
// no segment timer, too. (The consumer re-indexes every customer when the
// model is turned on, so each is reached at its partition's next batch.)
func TestSwitchingTheModelOn(t *testing.T) {
	plain := aggregate.DefaultModel()
	on := mustModel(t, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: straightDecay{3000, 10}, TimeUnit: aggregate.Day, RescoreEvery: 7 * aggregate.Day}
	})
	for _, tc := range []struct {
		name   string
		events []aggregate.Event
		until  string // the stream time the plain model brought it to
		first  string // its first scoring, a nanosecond after its clock
		want   string // scored_at once the model is on and time moved to April 20th
	}{
		// Evaluated last at its second order (January 10th): scored just
		// after it, then every 7 days, and at risk on April 10th (90 days
		// after its last order), re-scored on the 17th.
		{"active: scored just after its clock, then every 7 days and at its at-risk due time", []aggregate.Event{placed("e1", "100.00", "2026-01-01T00:00:00Z"), placed("e2", "100.00", "2026-01-10T00:00:00Z")},
			"2026-02-01T00:00:00Z", "2026-01-10T00:00:00.000000001Z", "2026-04-17T00:00:00Z"},
		// Lapsed on 2025-06-30 (180 days), its clock since.
		{"lapsed: no segment timer, scored just after its lapse", []aggregate.Event{placed("e1", "100.00", "2025-01-01T00:00:00Z")},
			"2026-02-01T00:00:00Z", "2025-06-30T00:00:00.000000001Z", "2026-04-14T00:00:00.000000001Z"},
		{"churned: no segment timer, scored just after its churn", []aggregate.Event{placed("e1", "100.00", "2026-01-01T00:00:00Z"), churned("c1", "2026-01-05T00:00:00Z")},
			"2026-02-01T00:00:00Z", "2026-01-05T00:00:00.000000001Z", "2026-04-13T00:00:00.000000001Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCustomer(t, plain)
			c.applyAll(tc.events...)
			plain.Advance(&c.s, testCustomer, at(tc.until), nil)
			if !c.s.ScoredAt.IsZero() {
				t.Fatal("scored without the model")
			}
			c.m = on
			if due, ok := on.NextDue(&c.s); !ok || !due.Equal(at(tc.first)) {
				t.Fatalf("due %s (%v), want %s", due, ok, tc.first)
			}
			var fx aggregate.Effects
			on.AdvanceAll(&c.s, testCustomer, at(tc.first), &fx)
			if !c.s.ScoredAt.Equal(at(tc.first)) {
				t.Fatalf("first scored at %s, want %s", c.s.ScoredAt, tc.first)
			}
			if want := c.s.PredictedCLV.Add(c.s.GrossProfit); !c.s.LTV.Equal(want) {
				t.Fatalf("ltv %s, want gross profit %s + predicted %s", c.s.LTV, c.s.GrossProfit, c.s.PredictedCLV)
			}
			on.AdvanceAll(&c.s, testCustomer, at("2026-04-20T00:00:00Z"), &fx)
			if !c.s.ScoredAt.Equal(at(tc.want)) {
				t.Fatalf("scored at %s, want %s", c.s.ScoredAt, tc.want)
			}
		})
	}
}

// TestEventAtTheTierDueInstant: an event at the very instant a tier timer
// (and the at-risk timer) is due fires neither (docs/data-model.md: an
// event fires its customer's timers due before its own time; it is there
// at that instant); the event itself, scored as of its time, makes both
// changes, caused by it. A stream time that reached the instant before
// the event (another customer's record at it) fires both first instead.
func TestEventAtTheTierDueInstant(t *testing.T) {
	m := mustModel(t, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: straightDecay{8220, 40}, TimeUnit: aggregate.Day}
	})
	due := at("2026-04-01T00:00:00Z") // day 90: gold falls, at_risk begins (TestTierAndSegmentTimersInterleave)
	for _, tc := range []struct {
		name   string
		before time.Time // the partition's stream time before the event
		cause  string
	}{
		{"stream time below the instant", at("2026-03-31T12:00:00Z"), "r1"},
		{"stream time at the instant", due, "timer:2026-04-01T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCustomer(t, m)
			c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"))
			if !c.s.TierDue.Equal(due) {
				t.Fatalf("tier due %s, want %s", c.s.TierDue, due)
			}
			var fx aggregate.Effects
			m.AdvanceAll(&c.s, testCustomer, tc.before, &fx)
			ev := refunded("r1", "1.00", "2026-04-01T00:00:00Z")
			ev.OrderID = "o-e1"
			r := m.ApplyTo(&c.s, &ev, aggregate.SourceOffset{Offset: 50}, due, &fx)
			tiers := fx.Tiers
			if r.Changed {
				tiers = append(tiers, r.Change)
			}
			if len(tiers) != 1 || tiers[0].Cause() != tc.cause || tiers[0].Tier != "silver" || !tiers[0].OccurredAt.Equal(due) {
				t.Fatalf("tier changes %+v, want one to silver caused by %s at %s", tiers, tc.cause, due)
			}
			if len(fx.Segments) != 1 || fx.Segments[0].Cause() != tc.cause || fx.Segments[0].Segment != aggregate.SegmentAtRisk {
				t.Fatalf("segment changes %+v, want one to at_risk caused by %s", fx.Segments, tc.cause)
			}
			if !c.s.ScoredAt.Equal(due) || c.s.Tier != "silver" {
				t.Fatalf("scored at %s, tier %q", c.s.ScoredAt, c.s.Tier)
			}
		})
	}
}
