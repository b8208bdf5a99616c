package aggregate

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ltv-stream/ltv-stream/internal/clv"
)

// scaledLadder is the default ladder with every threshold times f and the
// given hysteresis: a ladder an operator changed since a customer's last
// scoring, so that its stored tier is no longer the rule's.
func scaledLadder(t *testing.T, m *Model, f, hysteresis string) {
	t.Helper()
	m.Tiers = DefaultTiers()
	for i := range m.Tiers {
		m.Tiers[i].Min = m.Tiers[i].Min.Mul(decimal.RequireFromString(f))
	}
	m.Hysteresis = decimal.RequireFromString(hysteresis)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSkippedRescoringsAreTheEagerOnes: advance skips runs of periodic
// re-scorings that change nothing but the prediction; it must give exactly
// the state and the effects of firing every one of them (eagerAdvance),
// for periods from a second to a week, stream time reaching the customer
// in one jump or in steps that end on a re-scoring (included or not), and
// ladders changed since the customer's last scoring (its tier then may
// rise at the first re-scoring, or fall at once).
func TestSkippedRescoringsAreTheEagerOnes(t *testing.T) {
	calls := 0
	predictors := []Predictor{halving{from: 30000, half: 0.5, calls: &calls}, halving{from: 30000, half: 40, calls: &calls},
		cdnowScorer(t, &calls), cdnowScorerOf(t, clv.MBGNBD, &calls)}
	periods := []time.Duration{time.Second, 37 * time.Minute, 6 * time.Hour, Day - time.Second, Day, Day + time.Hour, 3 * Day, 7 * Day}
	ladders := []struct{ factor, hysteresis string }{{"1", "0.05"}, {"0.5", "0.05"}, {"2", "0"}, {"1", "0.5"}}
	rng := rand.New(rand.NewPCG(13, 17))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var changedTier, skipped, runs int
	for pi, pred := range predictors {
		for _, period := range periods {
			for _, ladder := range ladders {
				// Orders are applied under the default ladder and without
				// periodic re-scoring; the timers then fire under this one.
				build := DefaultModel()
				build.Predictive = &Predictive{Predictor: pred, TimeUnit: Day}
				if err := build.Validate(); err != nil {
					t.Fatal(err)
				}
				m := DefaultModel()
				m.Predictive = &Predictive{Predictor: pred, TimeUnit: Day, RescoreEvery: period}
				scaledLadder(t, m, ladder.factor, ladder.hysteresis)
				for trial := 0; trial < 3; trial++ {
					s := State{}
					at := start
					for i := range 1 + rng.IntN(4) {
						at = at.Add(time.Duration(rng.IntN(30)) * Day / 3)
						ev := Event{Kind: OrderPlaced, EventID: fmt.Sprint("e", i), CustomerID: "c", OrderID: fmt.Sprint("o", i),
							Amount: mustExact(t, fmt.Sprintf("%d.%02d", 50+rng.IntN(4000), rng.IntN(100))), Currency: "SEK",
							OccurredAt: at}
						build.ApplyAt(&s, &ev, SourceOffset{Offset: int64(i + 1)}, at)
					}
					if rng.IntN(6) == 0 {
						// A churned customer: p_alive 0 and no predicted value.
						ev := Event{Kind: CustomerChurned, EventID: "churn", CustomerID: "c", OccurredAt: at.Add(Day)}
						build.ApplyAt(&s, &ev, SourceOffset{Topic: 1, Offset: 1}, ev.OccurredAt)
					}
					// Some thousands of periods, or a year: past the segment
					// thresholds when the period is long.
					span := min(time.Duration(1000+rng.IntN(3000))*period, 400*Day)
					where := fmt.Sprintf("predictor %d (%T) period %v ladder %v trial %d", pi, pred, period, ladder, trial)
					wantFx, eagerCalls, oneCallCalls := matchesEager(t, m, s, s.Clock.Add(span), rng, &calls, where)
					if oneCallCalls < eagerCalls/2 {
						skipped++
					}
					runs++
					if len(wantFx.Tiers) > 0 {
						changedTier++
					}
				}
			}
		}
	}
	// The comparison means something only if runs both skipped and
	// changed tiers.
	if changedTier < runs/3 || skipped < runs/2 {
		t.Fatalf("of %d runs %d changed a tier and %d skipped most re-scorings: the test does not exercise the skip", runs, changedTier, skipped)
	}
}

// TestLongGapsCostLogarithmicWork: stream time far beyond a customer's
// last scoring costs some scorings per tier change and segment threshold,
// not one per period of the gap. The cases are the ones that used to take
// seconds for one record: re-scoring every second and a customer a month
// behind, and daily re-scoring of a customer whose only order is dated
// year 1 when events of today arrive.
func TestLongGapsCostLogarithmicWork(t *testing.T) {
	calls := 0
	for _, tc := range []struct {
		name          string
		period        time.Duration
		first, until  time.Time
		amount        string
		wantTierMoves bool
	}{
		{"a second, a month", time.Second, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), "3000.00", true},
		{"a day, two millennia", Day, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), "9000.00", true},
		{"a day, two millennia, bronze", Day, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), "10.00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := DefaultModel()
			m.Predictive = &Predictive{Predictor: cdnowScorer(t, &calls), TimeUnit: Day, RescoreEvery: tc.period}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			var s State
			for i, at := range []time.Time{tc.first, tc.first.Add(Day)} {
				ev := Event{Kind: OrderPlaced, EventID: fmt.Sprint("e", i), CustomerID: "c", OrderID: fmt.Sprint("o", i),
					Amount: mustExact(t, tc.amount), Currency: "SEK", OccurredAt: at}
				m.ApplyAt(&s, &ev, SourceOffset{Offset: int64(i + 1)}, at)
			}
			calls = 0
			var fx Effects
			m.AdvanceAll(&s, "c", tc.until, &fx)
			if calls > 200 {
				// (Sub would saturate over two millennia.)
				periods := float64(tc.until.Unix()-tc.first.Unix()) / tc.period.Seconds()
				t.Fatalf("%d scorings for a gap of %.0f periods", calls, periods)
			}
			// Where it ends: scored at the last re-scoring before until,
			// in the segment and the tier the rules give then.
			if s.ScoredAt.After(tc.until) || !s.ScoredAt.Add(tc.period).After(tc.until) {
				t.Fatalf("scored at %v, until %v, period %v", s.ScoredAt, tc.until, tc.period)
			}
			if want := m.SegmentAt(&s, tc.until); s.Segment != want || !s.Clock.Equal(tc.until) {
				t.Fatalf("segment %q clock %v, want %q at %v", s.Segment, s.Clock, want, tc.until)
			}
			if want := m.NextTier(s.Tier, s.LTV); want != s.Tier {
				t.Fatalf("tier %q with ltv %s, the rule says %q", s.Tier, s.LTV, want)
			}
			if (len(fx.Tiers) > 0) != tc.wantTierMoves {
				t.Fatalf("tier changes %+v, want some: %v", fx.Tiers, tc.wantTierMoves)
			}
			for i, c := range fx.Tiers {
				if c.Up || (i > 0 && c.PreviousTier != fx.Tiers[i-1].Tier) {
					t.Fatalf("tier change %d %+v of %+v: want an unbroken chain down", i, c, fx.Tiers)
				}
			}
		})
	}
}

// TestQuietRunEdges: a run of re-scorings ends before the end of a call
// that leaves its end out (an event at that instant is applied before the
// timer due then), and a tier timer set under another ladder (replaced
// unread by the first re-scoring, in a band the tier does not leave for
// a while) changes nothing in the skip.
func TestQuietRunEdges(t *testing.T) {
	calls := 0
	pred := halving{from: 30000, half: 40, calls: &calls}
	build := DefaultModel()
	build.Predictive = &Predictive{Predictor: pred, TimeUnit: Day}
	if err := build.Validate(); err != nil {
		t.Fatal(err)
	}
	var s State
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := Event{Kind: OrderPlaced, EventID: "e1", CustomerID: "c", OrderID: "o1", Amount: mustExact(t, "100.00"), Currency: "SEK", OccurredAt: t0}
	build.ApplyAt(&s, &ev, SourceOffset{Offset: 1}, t0)
	if s.Tier != "platinum" || s.TierDue.IsZero() {
		t.Fatalf("tier %q due %v: want platinum with a tier timer", s.Tier, s.TierDue)
	}
	const period = 37 * time.Minute
	for _, tc := range []struct {
		name       string
		hysteresis string
		until      time.Time
		inclusive  bool
	}{
		// 500 periods on: the last one is the call's end, left out.
		{"end left out", "0.05", t0.Add(500 * period), false},
		{"end included", "0.05", t0.Add(500 * period), true},
		// A wider band: the old timer would not move the tier.
		{"tier timer of another ladder", "0.5", s.TierDue.Add(10 * Day), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := DefaultModel()
			m.Predictive = &Predictive{Predictor: pred, TimeUnit: Day, RescoreEvery: period}
			scaledLadder(t, m, "1", tc.hysteresis)
			want, got := s.Clone(), s.Clone()
			var wantFx, gotFx Effects
			eagerAdvance(m, &want, "c", tc.until, tc.inclusive, &wantFx)
			m.advance(&got, "c", tc.until, tc.inclusive, &gotFx)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotFx, wantFx) {
				t.Fatalf("state\n%+v\n%+v\nwant\n%+v\n%+v", got, gotFx, want, wantFx)
			}
			if !tc.inclusive && !got.ScoredAt.Before(tc.until) {
				t.Fatalf("scored at %v: the call's end %v is left out", got.ScoredAt, tc.until)
			}
		})
	}
}
