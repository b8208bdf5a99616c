package aggregate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/clv"
)

// clvAdapter scores with the real model, as config's adapter does.
type clvAdapter struct{ m *clv.Model }

func (c clvAdapter) Predict(x, tx, T, m, margin float64) aggregate.Prediction {
	s, err := c.m.Score(x, tx, T, max(m, 0), margin)
	if err != nil {
		return aggregate.Prediction{}
	}
	return aggregate.Prediction{PAlive: s.PAlive, ExpectedOrders: s.ExpectedOrders, ExpectedSpend: s.ExpectedSpend, CLV: s.PredictedCLV}
}

func cdnowModel(tb testing.TB, unit clv.TimeUnit, rescore time.Duration) *aggregate.Model {
	cm, err := clv.NewModel(clv.Config{
		Purchases: clv.Purchases{Kind: clv.BGNBD, R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
		Spend:     clv.Spend{P: 6.25, Q: 3.74, V: 15.44},
		TimeUnit:  unit, HorizonMonths: 12, DiscountRateMonthly: 0.01,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return mustModel(tb, func(m *aggregate.Model) {
		m.Predictive = &aggregate.Predictive{Predictor: clvAdapter{cm},
			TimeUnit: time.Duration(unit.Days() * float64(aggregate.Day)), RescoreEvery: rescore}
	})
}

// BenchmarkAdvanceGap measures one Advance over a gap of stream time with
// periodic re-scoring (SPEC §9 rescore_every_days), as when a partition's
// stream time jumps or a customer is far behind it. Runs of re-scorings
// that leave the tier alone are skipped (lastQuietRescoring), so the
// work follows the tier changes and segment thresholds in the gap, not
// its number of periods; periods is that number, ns/period the cost
// spread over them.
func BenchmarkAdvanceGap(b *testing.B) {
	for _, tc := range []struct {
		period, gap time.Duration
		amount      string
	}{
		{time.Second, time.Hour, "900.00"},
		{time.Second, aggregate.Day, "900.00"},
		{time.Second, aggregate.Day, "6000.00"},
		{time.Second, 30 * aggregate.Day, "900.00"},
		{aggregate.Day / 100, 365 * aggregate.Day, "900.00"},
		{aggregate.Day, 3653 * aggregate.Day, "900.00"},
		{aggregate.Day, 3653 * aggregate.Day, "6000.00"},
	} {
		b.Run(fmt.Sprintf("period=%v/gap=%v/amt=%s", tc.period, tc.gap, tc.amount), func(b *testing.B) {
			m := cdnowModel(b, clv.Week, tc.period)
			c := newCustomer(b, m)
			c.applyAll(placedM("e1", tc.amount, "1", "2020-01-01T00:00:00Z"),
				placedM("e2", tc.amount, "1", "2020-02-01T00:00:00Z"),
				placedM("e3", tc.amount, "1", "2020-03-01T00:00:00Z"))
			tmpl := c.s.Clone()
			until := c.s.LastOrderAt.Add(tc.gap)
			var fx aggregate.Effects
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := tmpl.Clone()
				fx.Segments, fx.Tiers = fx.Segments[:0], fx.Tiers[:0]
				m.AdvanceAll(&s, testCustomer, until, &fx)
			}
			b.ReportMetric(float64(tc.gap/tc.period), "periods")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tc.gap/tc.period), "ns/period")
		})
	}
}
