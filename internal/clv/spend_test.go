package clv

import (
	"errors"
	"math"
	"testing"
)

func TestExpectedSpend(t *testing.T) {
	s := publishedSpend
	pop := s.P * s.V / (s.Q - 1)
	for _, c := range []struct {
		name       string
		x, m, want float64
	}{
		{"no repeat orders: the population mean", 0, 999, pop},
		// p(v + m·x)/(p·x + q − 1) from the paper, written out
		{"one repeat order", 1, 40, s.P * (s.V + 40) / (s.P + s.Q - 1)},
		{"many repeat orders", 50, 40, s.P * (s.V + 50*40) / (s.P*50 + s.Q - 1)},
		{"refunded beyond value counts as 0", 3, -12, s.P * s.V / (s.P*3 + s.Q - 1)},
		{"huge x tends to m", 1e15, 40, 40},
		{"huge m stays finite", 2, 1e307, s.P * 2 / (s.P*2 + s.Q - 1) * 1e307},
	} {
		got, err := s.ExpectedSpend(c.x, c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !within(got, c.want, 1e-12) {
			t.Errorf("%s: E[M | %v, %v] = %.15g, want %.15g", c.name, c.x, c.m, got, c.want)
		}
	}
}

// The density of the mean of x orders integrates to 1 over m: an
// independent check of the log-likelihood's normalising terms.
func TestSpendLikelihoodIsADensity(t *testing.T) {
	for _, s := range []Spend{publishedSpend, {P: 0.7, Q: 1.3, V: 2}, {P: 30, Q: 8, V: 100}} {
		for _, x := range []float64{1, 2, 7, 40} {
			// m = u/(1−u)·scale over (0, ∞), scale near the mode.
			scale := s.P * s.V / math.Max(s.Q-1, 0.5)
			total := tanhSinh(func(u, um1 float64) float64 {
				m := u / um1 * scale
				ll, err := s.LogLikelihood(x, m)
				if err != nil {
					t.Fatal(err)
				}
				return math.Exp(ll) * scale / (um1 * um1)
			})
			if math.Abs(total-1) > 1e-9 {
				t.Errorf("%v x = %v: density integrates to %.12g", s, x, total)
			}
		}
	}
}

func TestSpendInvalid(t *testing.T) {
	for _, c := range []struct {
		s       Spend
		x, m    float64
		want    error
		mention string
	}{
		{Spend{P: 0, Q: 2, V: 1}, 1, 1, ErrInvalidParameter, "p = 0"},
		{Spend{P: 1, Q: 1, V: 1}, 1, 1, ErrInvalidParameter, "q = 1"},
		{Spend{P: 1, Q: 2, V: math.Inf(1)}, 1, 1, ErrInvalidParameter, "v = +Inf"},
		{publishedSpend, -1, 1, ErrInvalidCustomer, "x = -1"},
		{publishedSpend, 1, math.NaN(), ErrInvalidCustomer, "m = NaN"},
	} {
		if _, err := c.s.ExpectedSpend(c.x, c.m); !errors.Is(err, c.want) || !containsStr(err.Error(), c.mention) {
			t.Errorf("ExpectedSpend(%v, %v) with %v: %v, want %v naming %q", c.x, c.m, c.s, err, c.want, c.mention)
		}
	}
	if _, err := publishedSpend.LogLikelihood(0, 5); !errors.Is(err, ErrInvalidCustomer) {
		t.Errorf("log-likelihood without repeat orders: %v", err)
	}
	if _, err := publishedSpend.LogLikelihood(2, 0); !errors.Is(err, ErrInvalidCustomer) {
		t.Errorf("log-likelihood of a zero mean: %v", err)
	}
	// The likelihood exists for q ≤ 1 (only the mean does not).
	if _, err := (Spend{P: 1, Q: 0.5, V: 1}).LogLikelihood(2, 3); err != nil {
		t.Errorf("log-likelihood with q < 1: %v", err)
	}
}
