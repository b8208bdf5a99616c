package clv

import (
	"fmt"
	"math"
)

// quadCurve computes I(s) = E[(1 − (1+p·s)^−A)/p], p ~ Beta(a, B), for
// each s, by the trapezoid rule after p = logistic(y), y = y* + c·sinh(u).
// In y the Beta density is a smooth bell (mode y* = log(a/B), width
// c = √(1/a + 1/B)) with exponential tails, and the sinh makes them
// double-exponential, so the rule converges quickly for any a, B and s.
// It is the slow, always-accurate route, taken only when the fast one's
// error estimate is too large.
func quadCurve(A, a, B float64, s, out []float64) error {
	yStar := math.Log(a) - math.Log(B)
	width := math.Sqrt(1/a + 1/B)
	lnBeta := lgamma(a) + lgamma(B) - lgamma(a+B)
	sMax := s[len(s)-1]
	// weight is the Beta density times dy/du at u, and p itself.
	weight := func(u float64) (wgt, p float64) {
		y := yStar + width*math.Sinh(u)
		logP := -softplus(-y)
		logQ := -softplus(y)
		return math.Exp(a*logP+B*logQ-lnBeta) * width * math.Cosh(u), math.Exp(logP)
	}
	integrand := func(p, s float64) float64 {
		if p == 0 {
			return A * s
		}
		return -math.Expm1(-A*math.Log1p(p*s)) / p
	}
	// Truncate where the density, times the largest the integrand can be
	// (A·s at p → 0), is negligible against a total mass of 1.
	var lo, hi float64
	for _, dir := range []float64{-1, 1} {
		u := 0.5
		for ; u < 40; u += 0.5 {
			wgt, _ := weight(dir * u)
			if wgt*(1+A*sMax) < 1e-18 {
				break
			}
		}
		if dir < 0 {
			lo = -u
		} else {
			hi = u
		}
	}
	prev := make([]float64, len(s))
	for i := range out {
		out[i] = 0
	}
	addNodes := func(h float64, start float64) {
		for u := start; u <= hi; u += 2 * h {
			wgt, p := weight(u)
			if wgt == 0 {
				continue
			}
			for i, si := range s {
				out[i] += wgt * integrand(p, si)
			}
		}
	}
	h := 0.25
	addNodes(h/2, lo) // every node lo + k·h at the first level
	for level := 0; level < 12; level++ {
		if level > 0 {
			h /= 2
			addNodes(h, lo+h)
		}
		done := level >= 2
		for i := range out {
			v := out[i] * h
			if !(math.Abs(v-prev[i]) <= 1e-13*math.Abs(v)) {
				done = false
			}
			prev[i] = v
		}
		if done {
			break
		}
		if level == 11 {
			return fmt.Errorf("quadrature of E[Y] did not converge (A = %v, a = %v, B = %v): %w", A, a, B, ErrNumeric)
		}
	}
	for i := range out {
		out[i] = prev[i]
		if !(out[i] >= 0) || math.IsInf(out[i], 0) {
			return fmt.Errorf("E[Y] is not finite (A = %v, a = %v, B = %v, s = %v): %w", A, a, B, s[i], ErrNumeric)
		}
	}
	return nil
}
