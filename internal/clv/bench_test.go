package clv

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// specConfig is the §9 example: the published CDNOW estimates, weeks,
// 12 months, 1 % a month.
func specConfig(kind Kind) Config {
	p := publishedBG
	if kind == MBGNBD {
		p = Purchases{Kind: MBGNBD, R: 0.525, Alpha: 6.183, A: 0.891, B: 1.614}
	}
	return Config{Purchases: p, Spend: publishedSpend, TimeUnit: Week, HorizonMonths: 12, DiscountRateMonthly: 0.01}
}

// benchCustomers is a mix like a stream's: many young customers (z close
// to 1, the expensive case), heavy buyers and long-lapsed ones.
func benchCustomers(n int) [][4]float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][4]float64, n)
	for i := range out {
		T := rng.Float64() * 160 // up to ~3 years, in weeks
		x := float64(rng.IntN(8))
		if rng.IntN(10) == 0 {
			x = float64(10 + rng.IntN(200))
		}
		tx := 0.0
		if x > 0 {
			tx = T * rng.Float64()
		}
		out[i] = [4]float64{x, tx, T, 10 + 50*rng.Float64()}
	}
	return out
}

func benchmarkScore(b *testing.B, kind Kind, cs [][4]float64) {
	benchmarkScoreWith(b, specConfig(kind), cs)
}

func benchmarkScoreWith(b *testing.B, cfg Config, cs [][4]float64) {
	m, err := NewModel(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for i := 0; i < b.N; i++ {
		c := cs[i%len(cs)]
		s, err := m.Score(c[0], c[1], c[2], c[3], 0.3)
		if err != nil {
			b.Fatal(err)
		}
		sink += s.PredictedCLV
	}
	_ = sink
}

// BenchmarkScore is the hot path on a realistic mix of customers.
func BenchmarkScore(b *testing.B) {
	b.Run("bgnbd/mix", func(b *testing.B) { benchmarkScore(b, BGNBD, benchCustomers(4096)) })
	b.Run("mbgnbd/mix", func(b *testing.B) { benchmarkScore(b, MBGNBD, benchCustomers(4096)) })
	// The worst realistic case: a second order one day after the first,
	// scored at once (T tiny, so z reaches 0.92 within the horizon).
	b.Run("bgnbd/young", func(b *testing.B) { benchmarkScore(b, BGNBD, [][4]float64{{1, 1.0 / 7, 1.0 / 7, 30}}) })
	// A long-standing customer (z small: the series alone).
	b.Run("bgnbd/old", func(b *testing.B) { benchmarkScore(b, BGNBD, [][4]float64{{12, 140, 150, 30}}) })
	// The cached newcomer (x = 0, T = 0).
	b.Run("bgnbd/newcomer", func(b *testing.B) { benchmarkScore(b, BGNBD, [][4]float64{{0, 0, 0, 0}}) })
	// Days, with α of 2 days (a population that buys every few days): z is
	// above 0.9 from the first month on, the differential equation's
	// longest walk in practice.
	days := specConfig(BGNBD)
	days.TimeUnit, days.Purchases.Alpha = Day, 2
	b.Run("bgnbd/day-small-alpha-young", func(b *testing.B) { benchmarkScoreWith(b, days, [][4]float64{{1, 1, 1, 30}}) })
	// r ≫ a+b: the quadrature route (rare parameters; allocates).
	odd := specConfig(BGNBD)
	odd.Purchases = Purchases{Kind: BGNBD, R: 100, Alpha: 4, A: 0.5, B: 0.3}
	slow := [4]float64{0, 0, 2, 30}
	months := make([]float64, odd.HorizonMonths)
	for i := range months {
		months[i] = float64(i+1) * MonthDays / 7 / (odd.Purchases.Alpha + slow[2])
	}
	if _, ok := curveAt(odd.Purchases, slow[0], months); ok {
		b.Fatal("the fallback benchmark's customer takes the fast route")
	}
	b.Run("bgnbd/quadrature-fallback", func(b *testing.B) { benchmarkScoreWith(b, odd, [][4]float64{slow}) })
	// Purchase rates almost alike across customers (r large, α with it,
	// the CDNOW mean rate): a fit of a steady, subscription-like
	// population can give this. The series then runs past a thousand terms
	// (r = 1000) or cannot converge and goes to the quadrature (r = 10^4).
	for _, r := range []float64{1000, 10000} {
		steady := specConfig(BGNBD)
		steady.Purchases.R, steady.Purchases.Alpha = r, r*publishedBG.Alpha/publishedBG.R
		b.Run(fmt.Sprintf("bgnbd/steady-rates-r%g/mix", r), func(b *testing.B) { benchmarkScoreWith(b, steady, benchCustomers(4096)) })
	}
}
