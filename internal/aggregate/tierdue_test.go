package aggregate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ltv-stream/ltv-stream/internal/money"

	"github.com/ltv-stream/ltv-stream/internal/clv"
)

// clvScorer adapts the real model for the search test (the consumer's
// adapter lives in internal/config).
type clvScorer struct {
	m     *clv.Model
	calls *int
}

func (c clvScorer) Predict(x, tx, T, mean, margin float64) Prediction {
	*c.calls++
	s, err := c.m.Score(x, tx, T, max(mean, 0), margin)
	if err != nil {
		return Prediction{}
	}
	return Prediction{PAlive: s.PAlive, ExpectedOrders: s.ExpectedOrders, ExpectedSpend: s.ExpectedSpend, CLV: s.PredictedCLV}
}

// cdnowScorer is the real model with the CDNOW estimates (SPEC §9's
// example), counting its scorings in calls.
func cdnowScorer(t *testing.T, calls *int) clvScorer {
	return cdnowScorerOf(t, clv.BGNBD, calls)
}

func cdnowScorerOf(t *testing.T, kind clv.Kind, calls *int) clvScorer {
	t.Helper()
	cm, err := clv.NewModel(clv.Config{
		Purchases: clv.Purchases{Kind: kind, R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
		Spend:     clv.Spend{P: 6.25, Q: 3.74, V: 15.44}, TimeUnit: clv.Day, HorizonMonths: 12, DiscountRateMonthly: 0.01,
	})
	if err != nil {
		t.Fatal(err)
	}
	return clvScorer{cm, calls}
}

// TestTierDueIsTheBisectionsDay: the interpolating search finds the same
// day as SPEC §8's bisection over the days (the smallest whole day after
// now at which the predicted LTV is below the tier's band) for a spread of
// customers, tiers and both time units, with fewer scorings.
func TestTierDueIsTheBisectionsDay(t *testing.T) {
	calls := 0
	rng := rand.New(rand.NewPCG(7, 11))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	searched, searchCalls, bisectCalls := 0, 0, 0
	for _, unit := range []clv.TimeUnit{clv.Week, clv.Day} {
		cm, err := clv.NewModel(clv.Config{
			Purchases: clv.Purchases{Kind: clv.BGNBD, R: 0.243, Alpha: 4.414 * 7 / unit.Days(), A: 0.793, B: 2.426},
			Spend:     clv.Spend{P: 6.25, Q: 3.74, V: 15.44}, TimeUnit: unit, HorizonMonths: 12, DiscountRateMonthly: 0.01,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := DefaultModel()
		m.Predictive = &Predictive{Predictor: clvScorer{cm, &calls}, TimeUnit: time.Duration(unit.Days() * float64(Day))}
		found := 0
		for i := 0; i < 20000 && found < 300; i++ {
			orders := int64(2 + rng.IntN(12))
			first := now.Add(-time.Duration(rng.IntN(1500)) * Day)
			last := first.Add(time.Duration(rng.Float64() * float64(now.Sub(first))))
			aov := 50 + rng.Float64()*1500
			revenue := money.FromDecimal(decimal.NewFromFloat(aov * float64(orders)).Round(2))
			s := State{
				Orders: orders, FirstOrderAt: first, LastOrderAt: last,
				Revenue: revenue, GrossProfit: revenue.Mul(money.FromDecimal(decimal.NewFromFloat(0.2 + rng.Float64()*0.5))).Round(2),
				FirstOrderNet: money.FromDecimal(decimal.NewFromFloat(aov).Round(2)),
			}
			h, pr := m.score(&s, now)
			// The tier the rule gives the predicted LTV; sometimes the one
			// above it, when the LTV is inside that tier's band.
			ltv := predictedLTV(&s)
			s.Tier = m.NextTier("", ltv)
			if up := m.tierIndex(s.Tier) + 1; up < len(m.Tiers) && rng.IntN(2) == 0 && ltv.Cmp(m.leaveBelow[up]) >= 0 {
				s.Tier = m.Tiers[up].Name
			}
			calls = 0
			got := m.tierDue(&s, now, h, pr.CLV)
			searchCalls += calls
			calls = 0
			want := bisectTierDue(m, &s, now, h)
			bisectCalls += calls
			if !got.Equal(want) {
				t.Fatalf("customer %+v in %s: due %v, bisection says %v", s, s.Tier, got, want)
			}
			if !want.IsZero() {
				searched++
				found++
			}
		}
		t.Logf("time unit %v days: %d due times", unit.Days(), found)
	}
	if searched < 600 {
		t.Fatalf("only %d customers had a due time: the spread tests too little", searched)
	}
	if searchCalls*2 > bisectCalls {
		t.Errorf("the search scored %d times, the bisection %d: want at most half", searchCalls, bisectCalls)
	}
	t.Logf("%d due times; scorings: search %d, bisection %d", searched, searchCalls, bisectCalls)
}

// TestTierDueOfTheLowestTier: a ladder's lowest tier can be left when its
// threshold is above 0 (the customer then has no tier), so it has a due
// time too; one that starts at 0 cannot.
func TestTierDueOfTheLowestTier(t *testing.T) {
	cm, err := clv.NewModel(clv.Config{
		Purchases: clv.Purchases{Kind: clv.BGNBD, R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
		Spend:     clv.Spend{P: 6.25, Q: 3.74, V: 15.44}, TimeUnit: clv.Week, HorizonMonths: 12, DiscountRateMonthly: 0.01,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ten := money.FromDecimal(decimal.NewFromInt(10))
	for _, tc := range []struct {
		name    string
		tiers   []Tier
		wantDue bool
	}{
		{"lowest at 0", []Tier{{Name: "bronze", Min: decimal.Zero}, {Name: "gold", Min: decimal.NewFromInt(5000)}}, false},
		{"lowest at 30", []Tier{{Name: "bronze", Min: decimal.NewFromInt(30)}, {Name: "gold", Min: decimal.NewFromInt(5000)}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := DefaultModel()
			m.Tiers = tc.tiers
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			calls := 0
			m.Predictive = &Predictive{Predictor: clvScorer{cm, &calls}, TimeUnit: 7 * Day}
			// One order of 10: history 10, the rest of the LTV predicted
			// and decaying.
			s := State{Orders: 1, FirstOrderAt: now, LastOrderAt: now, Revenue: ten, GrossProfit: ten, FirstOrderNet: ten}
			h, pr := m.score(&s, now)
			if s.Tier = m.NextTier("", predictedLTV(&s)); s.Tier != "bronze" {
				t.Fatalf("tier %q at predicted LTV %s, want the lowest, bronze", s.Tier, predictedLTV(&s))
			}
			got, want := m.tierDue(&s, now, h, pr.CLV), bisectTierDue(m, &s, now, h)
			if got.IsZero() == tc.wantDue || !got.Equal(want) {
				t.Fatalf("due %v, bisection %v; want a due time: %v", got, want, tc.wantDue)
			}
		})
	}
}

// bisectTierDue is SPEC §8's plain bisection over the days, the
// reference: the tier falls on a day when the tier rule, applied to the
// ltv that would be stored then, leaves it.
func bisectTierDue(m *Model, s *State, now time.Time, h *history) time.Time {
	below := func(d int) bool {
		clv := m.predictAt(h, now.Add(time.Duration(d)*Day)).CLV
		ltv := s.GrossProfit.Add(roundFloat(clv, 2))
		if ltv.Sign() < 0 {
			ltv = money.Exact{}
		}
		return m.NextTier(s.Tier, ltv.Round(2)) != s.Tier
	}
	if !below(tierSearchDays) {
		return time.Time{}
	}
	lo, hi := 0, tierSearchDays
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if below(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return now.Add(time.Duration(hi) * Day)
}
