package clv

import "math"

// tanhSinh integrates f over (0, 1) by the tanh-sinh rule, an independent
// method for the tests: f gets u and 1−u, both accurate near the ends.
func tanhSinh(f func(u, um1 float64) float64) float64 {
	const tMax = 4.5
	sum := func(h, start, step float64) float64 {
		var s float64
		for t := start; t <= tMax; t += step {
			for _, sg := range []float64{1, -1} {
				if t == 0 && sg < 0 {
					continue
				}
				v := math.Pi * math.Sinh(sg*t)
				u := 1 / (1 + math.Exp(-v))
				um1 := 1 / (1 + math.Exp(v))
				if u == 0 || um1 == 0 {
					continue
				}
				w := math.Pi * math.Cosh(t) * u * um1
				s += w * f(u, um1)
			}
		}
		return s
	}
	h := 0.5
	total := sum(h, 0, h)
	prev := total * h
	for level := 0; level < 10; level++ {
		total += sum(h/2, h/2, h)
		h /= 2
		cur := total * h
		if level >= 2 && math.Abs(cur-prev) <= 1e-14*math.Abs(cur) {
			return cur
		}
		prev = cur
	}
	return prev
}

// betaExpect is E[f(p)] for p ~ Beta(a, b) by tanh-sinh, split at p = 1/2
// with p = u^(1/a) below and 1−p = v^(1/b) above, which turn p^(a−1)dp
// into du/a and (1−p)^(b−1)dp into −dv/b: no endpoint singularity is left
// for the rule, whatever a and b. f gets p and 1−p.
func betaExpect(a, b float64, f func(p, q float64) float64) float64 {
	lnB := lgamma(a) + lgamma(b) - lgamma(a+b)
	lower := betaHalf(a, b, lnB, f)
	upper := betaHalf(b, a, lnB, func(q, p float64) float64 { return f(p, q) })
	return lower + upper
}

// betaHalf is the part of betaExpect where the variable y (p, or 1−p for
// the upper half) is below 1/2: y = w^(1/k), w = 2^−k·u, and the other
// end's factor (1−y)^(l−1) stays in the integrand.
func betaHalf(k, l, lnB float64, f func(y, rest float64) float64) float64 {
	return tanhSinh(func(u, um1 float64) float64 {
		lu := math.Log1p(-um1)
		if u < 0.5 {
			lu = math.Log(u)
		}
		ly := (-k*math.Ln2 + lu) / k
		y := math.Exp(ly)
		rest := -math.Expm1(ly)
		return f(y, rest) * math.Exp((l-1)*math.Log(rest)-lnB-k*math.Ln2) / k
	})
}

// refI is I(s) = E[(1−(1+ps)^−A)/p], p ~ Beta(a, B), by betaExpect.
// It is a reference only where betaExpect resolves the Beta density, as
// on the tests' grid (a ≤ 20). For a and B both large the density is a
// narrow peak that ten levels of tanh-sinh miss (a ≈ 49, B ≈ 1605: 63 %
// off), so a test outside that box first checks refI against the
// package's own quadrature (TestFastRouteTrustsOnlyAccurateEstimates).
func refI(A, a, B, s float64) float64 {
	return betaExpect(a, B, func(p, _ float64) float64 {
		if p == 0 {
			return A * s
		}
		return -math.Expm1(-A*math.Log1p(p*s)) / p
	})
}

// refBetaMoment is E[p^i (1−p)^j] for p ~ Beta(a, b), by betaExpect.
func refBetaMoment(a, b, i, j float64) float64 {
	return betaExpect(a, b, func(p, q float64) float64 {
		return math.Pow(p, i) * math.Pow(q, j)
	})
}

// refGammaMoment is E[λ^k e^(−λt)] for λ ~ Gamma(shape r, rate α), by
// tanh-sinh after y = λ^(r+k) (which turns λ^(r+k−1)dλ into dy/(r+k) and
// removes the singularity at 0) and y = y0·u/(1−u), y0 = ((r+k)/(α+t))^(r+k).
func refGammaMoment(r, alpha, k, t float64) float64 {
	kappa, c := r+k, alpha+t
	lnNorm := r*math.Log(alpha) - lgamma(r)
	lnScale := math.Log(kappa / c)
	return tanhSinh(func(u, um1 float64) float64 {
		lam := math.Exp(lnScale + (math.Log(u)-math.Log(um1))/kappa)
		return math.Exp(lnNorm + kappa*lnScale - c*lam - math.Log(kappa) - 2*math.Log(um1))
	})
}
