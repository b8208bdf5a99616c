package clv

import (
	"errors"
	"math"
	"testing"
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// FuzzScore: whatever the parameters and the customer, every function gives
// finite numbers in range or an error, never NaN, ±Inf or a panic.
func FuzzScore(f *testing.F) {
	f.Add(0.243, 4.414, 0.793, 2.426, false, 2.0, 30.43, 38.86, 22.35, 0.3, uint8(12), 0.01)
	f.Add(0.525, 6.183, 0.891, 1.614, true, 0.0, 0.0, 0.0, 0.0, 1.0, uint8(1), 0.0)
	f.Add(30.0, 1.0, 0.5, 0.3, false, 0.0, 0.0, 2.0, 10.0, 1.0, uint8(6), 0.0)
	f.Add(1e-8, 1e8, 1e-8, 1e8, true, 1e9, 1.0, 1e12, 1e300, -5.0, uint8(200), 0.5)
	f.Add(5.0, 1e-9, 3.0, 0.1, false, 3.0, 0.0, 0.0, 1.0, 1.0, uint8(12), 0.01)
	f.Fuzz(func(t *testing.T, r, alpha, a, b float64, mbg bool, x, tx, T, mon, margin float64, h uint8, d float64) {
		kind := BGNBD
		if mbg {
			kind = MBGNBD
		}
		x = math.Floor(math.Abs(x))
		p := Purchases{Kind: kind, R: r, Alpha: alpha, A: a, B: b}
		cfg := Config{Purchases: p, Spend: Spend{P: 2, Q: 3, V: 20}, TimeUnit: Week, HorizonMonths: 1 + int(h)%24, DiscountRateMonthly: d}
		m, err := NewModel(cfg)
		if err != nil {
			if !errors.Is(err, ErrInvalidParameter) && !errors.Is(err, ErrNumeric) {
				t.Fatalf("NewModel: unexpected error %v", err)
			}
			return
		}
		s, err := m.Score(x, tx, T, mon, margin)
		if err != nil {
			if !errors.Is(err, ErrInvalidCustomer) && !errors.Is(err, ErrNumeric) {
				t.Fatalf("Score: unexpected error %v", err)
			}
			return
		}
		if !(s.PAlive >= 0 && s.PAlive <= 1) || !(s.ExpectedOrders >= 0) || !finite(s.ExpectedOrders) ||
			!finite(s.ExpectedSpend) || !finite(s.PredictedCLV) {
			t.Fatalf("Score(%v, %v, %v, %v, %v) with %+v = %+v", x, tx, T, mon, margin, cfg, s)
		}
		if pa, err := p.PAlive(x, tx, T); err != nil || pa != s.PAlive {
			t.Fatalf("PAlive = %v, %v; Score said %v", pa, err, s.PAlive)
		}
		if ll, err := p.LogLikelihood(x, tx, T); err == nil && !finite(ll) {
			t.Fatalf("log-likelihood %v", ll)
		}
	})
}
