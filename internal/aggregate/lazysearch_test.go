package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

// halving is a stand-in predictor whose value halves every `half` days of
// silence (T − t_x, the unit being a day): fast enough to cross several
// tiers within a short stretch of periodic re-scorings.
type halving struct {
	from, half float64
	calls      *int
}

func (h halving) Predict(x, tx, T, m, margin float64) Prediction {
	*h.calls++
	f := math.Exp2(-(T - tx) / h.half)
	return Prediction{PAlive: f, ExpectedOrders: 2 * f, ExpectedSpend: 100, CLV: h.from * f}
}

// eagerAdvance is advance as it was before the tier timer's search was
// made lazy: every re-scoring searches at once. The lazy one must give
// exactly its state and effects.
func eagerAdvance(m *Model, s *State, customerID string, until time.Time, inclusive bool, fx *Effects) {
	for {
		due, ok := m.NextDue(s)
		if !ok || due.After(until) || (!inclusive && due.Equal(until)) {
			return
		}
		if m.Predictive != nil && s.Orders > 0 {
			h, pr := m.score(s, due)
			c, changed := m.retier(s, customerID, "", due)
			s.TierDue = m.tierDue(s, due, h, pr.CLV)
			if changed {
				c.ByTimer = true
				fx.Tiers = append(fx.Tiers, c)
			}
		} else if m.Predictive == nil && !s.ScoredAt.IsZero() {
			s.forgetPrediction()
			if c, changed := m.retier(s, customerID, "", due); changed {
				c.ByTimer = true
				fx.Tiers = append(fx.Tiers, c)
			}
		}
		if c, changed := m.evaluate(s, customerID, due, "", due); changed {
			c.ByTimer = true
			fx.Segments = append(fx.Segments, c)
		}
	}
}

// matchesEager advances copies of s to until in one call and in random
// steps (some ending on a periodic re-scoring of its schedule, included or
// not), and fails unless both give exactly eagerAdvance's state and
// effects. It returns the eager effects, and the scorings (counted in
// calls) of the eager run and of the one call.
func matchesEager(t *testing.T, m *Model, s State, until time.Time, rng *rand.Rand, calls *int, where string) (wantFx Effects, eagerCalls, oneCallCalls int) {
	t.Helper()
	want, got, stepped := s.Clone(), s.Clone(), s.Clone()
	var gotFx, steppedFx Effects
	*calls = 0
	eagerAdvance(m, &want, "c", until, true, &wantFx)
	eagerCalls, *calls = *calls, 0
	m.advance(&got, "c", until, true, &gotFx)
	oneCallCalls = *calls
	span := until.Sub(s.Clock)
	period := time.Nanosecond
	if m.Predictive != nil && m.Predictive.RescoreEvery > 0 {
		period = m.Predictive.RescoreEvery
	}
	for at := stepped.Clock; at.Before(until); {
		next := stepped.ScoredAt.Add(time.Duration(1+rng.IntN(50)) * period)
		if rng.IntN(2) == 0 && next.After(at) {
			at = next
		} else {
			at = at.Add(time.Duration(rng.Int64N(int64(span)/4) + 1))
		}
		if !at.Before(until) {
			at = until
		}
		m.advance(&stepped, "c", at, rng.IntN(2) == 0 || at.Equal(until), &steppedFx)
	}
	for _, run := range []struct {
		name string
		s    *State
		fx   *Effects
	}{{"one call", &got, &gotFx}, {"steps", &stepped, &steppedFx}} {
		if !reflect.DeepEqual(*run.s, want) {
			t.Fatalf("%s, %s: state\n%+v\nwant\n%+v", where, run.name, *run.s, want)
		}
		if !reflect.DeepEqual(run.fx.Tiers, wantFx.Tiers) || !reflect.DeepEqual(run.fx.Segments, wantFx.Segments) {
			t.Fatalf("%s, %s: effects\n%+v\nwant\n%+v", where, run.name, *run.fx, wantFx)
		}
	}
	return wantFx, eagerCalls, oneCallCalls
}

// TestLazyTierSearchIsTheEagerOne: for customers of every tier, periodic
// re-scoring from a second to a week (and off), and stream time reaching
// them in one jump or in random steps, the lazy search gives the state,
// tier changes and segment changes the eager one gives, change for change.
func TestLazyTierSearchIsTheEagerOne(t *testing.T) {
	calls := 0
	predictors := []Predictor{halving{from: 30000, half: 0.25, calls: &calls}, halving{from: 30000, half: 20, calls: &calls}, cdnowScorer(t, &calls)}
	periods := []time.Duration{0, time.Second, 37 * time.Minute, 6 * time.Hour, Day - time.Second, Day, Day + time.Hour, 7 * Day}
	rng := rand.New(rand.NewPCG(3, 5))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := 0
	for _, pred := range predictors {
		for _, period := range periods {
			m := DefaultModel()
			m.Predictive = &Predictive{Predictor: pred, TimeUnit: Day, RescoreEvery: period}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			// The customers' orders are applied without periodic
			// re-scoring, which would fire between them.
			build := DefaultModel()
			build.Predictive = &Predictive{Predictor: pred, TimeUnit: Day}
			if err := build.Validate(); err != nil {
				t.Fatal(err)
			}
			for trial := 0; trial < 6; trial++ {
				s := State{}
				orders := 1 + rng.IntN(4)
				for i := 0; i < orders; i++ {
					ev := Event{Kind: OrderPlaced, EventID: fmt.Sprint("e", i), CustomerID: "c", OrderID: fmt.Sprint("o", i),
						Amount: mustExact(t, fmt.Sprintf("%d.%02d", 50+rng.IntN(3000), rng.IntN(100))), Currency: "SEK",
						OccurredAt: start.Add(time.Duration(i) * time.Duration(rng.IntN(30)+1) * Day / 3)}
					build.ApplyAt(&s, &ev, SourceOffset{Offset: int64(i + 1)}, ev.OccurredAt)
				}
				// Long enough to cross the segment thresholds when the
				// re-scoring is rare, short enough to run when it is not.
				span := 200 * Day
				if period > 0 && period < time.Hour {
					span = time.Duration(2000+rng.IntN(2000)) * period
				}
				wantFx, _, _ := matchesEager(t, m, s, s.Clock.Add(span), rng, &calls, fmt.Sprintf("%T period %v trial %d", pred, period, trial))
				if len(wantFx.Tiers) > 0 {
					cases++
				}
			}
		}
	}
	if cases < 20 {
		t.Fatalf("only %d runs changed a tier: the test does not exercise the tier timer", cases)
	}
}

// TestPeriodicRescoringSearchesOnce: a gold customer re-scored every
// second for an hour of stream time is scored once per period, plus one
// search for the tier timer it is left with, not one search per period
// (some twenty scorings each).
func TestPeriodicRescoringSearchesOnce(t *testing.T) {
	calls := 0
	m := DefaultModel()
	m.Predictive = &Predictive{Predictor: halving{from: 6000, half: 60, calls: &calls}, TimeUnit: Day, RescoreEvery: time.Second}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	var s State
	ev := Event{Kind: OrderPlaced, EventID: "e1", CustomerID: "c", OrderID: "o1", Amount: mustExact(t, "100.00"), Currency: "SEK",
		OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m.ApplyAt(&s, &ev, SourceOffset{Offset: 1}, ev.OccurredAt)
	if s.Tier != "gold" || s.TierDue.IsZero() {
		t.Fatalf("tier %q due %v: want gold with a tier timer", s.Tier, s.TierDue)
	}
	calls = 0
	var fx Effects
	m.AdvanceAll(&s, "c", ev.OccurredAt.Add(time.Hour), &fx)
	const periods = 3600
	if !s.ScoredAt.Equal(ev.OccurredAt.Add(time.Hour)) || s.TierDue.IsZero() {
		t.Fatalf("scored at %v, tier due %v", s.ScoredAt, s.TierDue)
	}
	if limit := periods + 2*(maxInterpolations+14); calls > limit {
		t.Fatalf("%d scorings for %d periodic re-scorings, want at most %d", calls, periods, limit)
	}
}

func mustExact(t *testing.T, s string) money.Exact {
	t.Helper()
	v, err := money.ParseExact(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
