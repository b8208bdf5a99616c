package clv

import "math"

// The fast route to I(s) (see the package doc): I = C·(1−w^g)/g − w^g·S(z)
// with z = s/(1+s), w = 1−z, and S(z) = Σ_{n≥1} c_n z^n, c_1 = e,
// c_{n+1} = c_n·(e+n)(g+n)/((C+n)(n+1)). S solves
//
//	z(1−z)·S'' + (C − (e+g+1)z)·S' − e·g·S = e·C,
//
// which continues it past the disc where the series is quick.
const (
	eps64 = 0x1p-53
	// truncTol is where a series or Taylor sum stops: the first neglected
	// term (or the bound on the tail) is below truncTol × the sum.
	truncTol = 1e-15
	// nCoef series coefficients are kept, so the months of one customer
	// share them instead of recomputing them.
	nCoef = 128
	// nTab is the length of the per-model tables of the inner loops.
	nTab = 128
	// nInvC is the length of the table of 1/(C0+m), m = x+n.
	nInvC = 256
	// zSwitch is where the series hands over to the differential equation:
	// at z ≤ 1/2 its terms end up shrinking at least like 2^-n.
	zSwitch = 0.5
	// zStartMin is the smallest z from which the differential equation may
	// start: its first steps are limited to odeRho·z.
	zStartMin = 0.3
	// odeRho is the largest Taylor step as a share of the distance to the
	// nearest singular point (0 or 1): terms then shrink like 2^-k.
	odeRho = 0.5
	// stiffStep bounds the growth e^stiffStep of the Taylor terms that the
	// steep solutions of the equation would cause within one step.
	stiffStep = 4
	// stiffC is the C from which the series is tried before the equation.
	stiffC = 64
	// relTol is the largest estimated relative error of I accepted from
	// the fast route; beyond it the quadrature takes over.
	relTol = 1e-9
	// term and step limits: beyond them the fast route gives up (to the
	// quadrature) instead of spinning.
	maxSeriesTerms = 4000
	maxTaylorTerms = 600
	maxODESteps    = 2000
	// tinyS is the s below which the two-term expansion of I in s is exact
	// to float64 precision, and the series would only add rounding.
	tinyS = 1e-9
)

// kernel holds what I(s) needs that depends only on the model's
// parameters, so that the hot path neither divides nor recomputes it.
type kernel struct {
	a, e, g float64
	c0      float64        // C = c0 + x
	eg      [nTab]float64  // (k+e)(k+g)
	inv1    [nTab]float64  // 1/(k+1)
	invC    [nInvC]float64 // 1/(c0+m)
	// Taylor recurrence tables: (k+e)(k+g)/((k+1)(k+2)), k/(k+2), 1/(k+2)
	egrk, kk2, ik2 [nTab]float64
	// longSeriesC is the C from which the series converges quickly even
	// near z = 1: its terms then shrink like Π (e+k)(g+k)/((C+k)(k+1)).
	longSeriesC float64
}

func (k *kernel) init(p *Purchases) {
	k.a = p.A
	k.g = p.A - 1
	// e = C − A = a + b − 1 − r (+1 for MBG/NBD), without the cancellation
	// of two numbers of size x.
	k.e = (p.A - 1) + (p.B - p.R)
	k.c0 = p.A + p.B - 1
	if p.Kind == MBGNBD {
		k.e++
		k.c0++
	}
	for i := range k.eg {
		f := float64(i)
		k.eg[i] = (f + k.e) * (f + k.g)
		k.inv1[i] = 1 / (f + 1)
		k.egrk[i] = k.eg[i] / ((f + 1) * (f + 2))
		k.kk2[i] = f / (f + 2)
		k.ik2[i] = 1 / (f + 2)
	}
	for i := range k.invC {
		k.invC[i] = 1 / (k.c0 + float64(i))
	}
	// The first term ratio is e·g·z/C; past 2(1+|e|)(1+|g|) it starts below
	// 1/2. From stiffC on, the differential equation is stiff and needs
	// many short steps, so the series is worth a try anyway.
	k.longSeriesC = math.Min(2*(1+math.Abs(k.e))*(1+math.Abs(k.g)), stiffC)
}

// curve evaluates I(s) for one customer at increasing s.
type curve struct {
	k     *kernel
	x     float64
	e, g  float64
	C, A  float64
	pMean float64 // E[p] = a/(a+B'), for the small-s expansion
	nMin  int     // from here on every series factor is positive
	coef  [nCoef]float64
	ncoef int
	long  bool // whether to try the series beyond zSwitch
	// state of the differential equation once z passed zSwitch
	ode         bool
	z, w, y, dy float64
	rel         float64 // estimated relative error of y
	nSteps      int
	last        float64 // the previous I, which the next may not undercut
}

func (c *curve) init(k *kernel, h *history, x float64) {
	c.k, c.x = k, x
	c.e, c.g = k.e, k.g
	c.C = k.a + h.Bm1
	c.A = h.A
	c.pMean = k.a / (k.a + h.Bp)
	c.nMin = int(math.Min(math.Max(0, math.Max(-c.e, -c.g)), maxSeriesTerms)) + 2
	c.long = c.C >= k.longSeriesC
}

// chunk is how many months values handles at once (stack arrays).
const chunk = 16

// values sets out[i] = I(s[i]) for increasing s (at most chunk of them,
// continuing from the previous call) and reports whether every value is
// plausible (positive, increasing, within its bound) with an estimated
// relative error within relTol.
func (c *curve) values(s, out []float64) bool {
	var ys, rels, ws, ls [chunk]float64
	n := len(s)
	i := 0
	// Tiny s: I = A·s·(1 − (A+1)·s·E[p]/2 + O(((A+1)s)²)).
	for ; i < n && !c.ode && (c.A+1)*s[i] < tinyS; i++ {
		out[i] = c.A * s[i] * (1 - 0.5*(c.A+1)*s[i]*c.pMean)
		c.last = out[i]
	}
	first := i
	for j := first; j < n; j++ {
		ws[j] = 1 / (1 + s[j])
		ls[j] = -math.Log1p(s[j])
	}
	// The series for every month with z ≤ 1/2, all at once.
	end := first
	for end < n && !c.ode && s[end]*ws[end] <= zSwitch {
		end++
	}
	// If months beyond follow, the last one's derivative can start the
	// differential equation, when it is not too close to z = 0.
	var dyLast float64
	deriv := end < n && end > first && s[end-1]*ws[end-1] >= zStartMin
	if end > first && !c.seriesMany(s[first:end], ws[first:end], ys[first:end], rels[first:end], maxSeriesTerms, deriv, &dyLast) {
		return false
	}
	// Beyond, the series again when C is large (quick even near z = 1),
	// else the differential equation, month by month.
	if end < n && !c.ode && c.long && c.seriesMany(s[end:n], ws[end:n], ys[end:n], rels[end:n], nCoef, false, nil) {
		end = n
	}
	if end < n && !c.ode {
		if deriv {
			c.y, c.dy, c.rel = ys[end-1], dyLast, rels[end-1]
			c.w = ws[end-1]
			c.z = s[end-1] * c.w
		} else {
			// z = 1/2 is s = 1, w = 1/2.
			one, half := [1]float64{1}, [1]float64{zSwitch}
			var y0, rel0 [1]float64
			if !c.seriesMany(one[:], half[:], y0[:], rel0[:], maxSeriesTerms, true, &c.dy) {
				return false
			}
			c.y, c.rel = y0[0], rel0[0]
			c.z, c.w = zSwitch, 1-zSwitch
		}
		c.ode = true
	}
	for j := end; j < n; j++ {
		if !c.stepTo(ws[j]) {
			return false
		}
		ys[j], rels[j] = c.y, c.rel
	}
	for j := first; j < n; j++ {
		var t1, wg float64
		if c.g == 0 {
			t1, wg = -c.C*ls[j], 1
		} else {
			em1 := math.Expm1(c.g * ls[j])
			t1, wg = -c.C*em1/c.g, 1+em1
			if em1 < -0.5 {
				// 1 + em1 would cancel: w^g is small, take it directly.
				wg = math.Exp(c.g * ls[j])
			}
		}
		wy := wg * ys[j]
		v := t1 - wy
		errV := math.Abs(wy)*rels[j] + 4*eps64*(math.Abs(t1)+math.Abs(wy))
		// I is positive, increasing and below A·s (no drop-out at all).
		if !(v > 0) || errV > relTol*v || v < c.last || v > c.A*s[j]*(1+relTol) || math.IsInf(v, 0) {
			return false
		}
		out[j] = v
		c.last = v
	}
	return true
}

// coefAt returns c_n (1 ≤ n ≤ nCoef), extending the shared buffer as
// needed. Coefficients past the buffer are carried from term to term by
// the series itself (one ratio each), never recomputed from the buffer's
// end: with r ≫ a+b a sum runs past a thousand terms, and recomputing
// made it quadratic in them.
func (c *curve) coefAt(n int) float64 {
	for c.ncoef < n {
		c.coef[c.ncoef] = c.nextCoef(c.ncoef)
		c.ncoef++
	}
	return c.coef[n-1]
}

// nextCoef returns c_{m+1} from the buffer's c_m (c_1 = e).
func (c *curve) nextCoef(m int) float64 {
	if m == 0 {
		return c.e
	}
	return c.coef[m-1] * c.ratio(m)
}

// ratio is c_{m+1}/c_m = (e+m)(g+m)/((C+m)(m+1)), from the tables.
func (c *curve) ratio(m int) float64 {
	k := c.k
	var eg, inv1, invC float64
	if m < nTab {
		eg, inv1 = k.eg[m], k.inv1[m]
	} else {
		f := float64(m)
		eg, inv1 = (f+c.e)*(f+c.g), 1/(f+1)
	}
	if j := c.x + float64(m); j < nInvC {
		invC = k.invC[int(j)]
	} else {
		invC = 1 / (c.C + float64(m))
	}
	return eg * inv1 * invC
}

// seriesMany sums S at z = s/(1+s) = s·w for every month given, sharing
// the coefficients, with at most limit terms, and estimates each sum's
// relative rounding error. The largest z (the last) decides when to stop;
// the others have converged by then.
//
// With deriv it also sets *dy to S' at the last z, and runs until that sum
// has converged too.
//
//nolint:gosec // G602: m is within 1..chunk and the slices hold m, checked first
func (c *curve) seriesMany(s, w, y, rel []float64, limit int, deriv bool, dy *float64) bool {
	var zs, pow, abs, ys [chunk]float64
	m := len(s)
	if m == 0 || m > chunk || len(w) < m || len(y) < m || len(rel) < m {
		return false // values never asks for this; no panic if it did
	}
	if c.nMin > limit+1 {
		// Its terms cannot start shrinking within limit (nor end, which
		// needs e = 1 − nMin): give up at once instead of after limit
		// terms. Very large r (r ≫ a+b) gets here.
		return false
	}
	for j := range m {
		zs[j] = s[j] * w[j]
		pow[j] = 1
	}
	zMax := zs[m-1]
	var prev, dsum, cn float64
	n := 1
	for ; n <= limit; n++ {
		switch {
		case n <= c.ncoef:
			cn = c.coef[n-1]
		case n <= nCoef:
			cn = c.coefAt(n)
		default:
			cn *= c.ratio(n - 1) // c_n from c_{n−1}, the previous term's
		}
		acn := math.Abs(cn)
		for j := range m {
			pow[j] *= zs[j] // z > 0, so |c_n z^n| = |c_n|·pow
			ys[j] += cn * pow[j]
			abs[j] += acn * pow[j]
		}
		at := acn * pow[m-1]
		fn := float64(n)
		if deriv {
			dsum += fn * cn * pow[m-1] / zMax
		}
		if at <= truncTol*math.Abs(ys[m-1]) && n >= c.nMin {
			// Tail bound: from here the term ratio tends to z and does not
			// exceed max(observed ratio, z); the derivative's is (n+1)/n
			// times that.
			rho := zMax
			if prev != 0 && at > rho*prev {
				rho = at / prev
			}
			rhoD := rho * (fn + 1) / fn
			if at*rho <= truncTol*math.Abs(ys[m-1])*(1-rho) &&
				(!deriv || rhoD < 1 && fn*at/zMax*rhoD <= truncTol*math.Abs(dsum)*(1-rhoD)) {
				break
			}
		}
		if cn == 0 {
			break // e = 0 or a factor hit zero: a polynomial
		}
		prev = at
	}
	if n > limit {
		return false
	}
	for j := range m {
		if math.IsInf(abs[j], 0) || math.IsNaN(abs[j]) {
			return false
		}
		y[j] = ys[j]
		rel[j] = relErr(ys[j], abs[j]*(3*float64(n)+2))
	}
	if deriv {
		*dy = dsum
	}
	return true
}

func relErr(y, roundoff float64) float64 {
	if y == 0 {
		if roundoff == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return eps64 * roundoff / math.Abs(y)
}

// stepTo continues (S, S') by Taylor steps of the differential equation
// from the current point to z = 1 − wt. A step never exceeds odeRho times
// the distance to the nearer singular point (0 or 1), nor the length on
// which the equation's steep solutions would swell the terms.
func (c *curve) stepTo(wt float64) bool {
	k := c.k
	for c.w > wt {
		c.nSteps++
		if c.nSteps > maxODESteps {
			return false
		}
		h := c.w - wt
		final := true
		q0 := c.z * c.w
		q1 := c.w - c.z
		p0 := c.C - (c.e+c.g+1)*c.z
		// Besides the radius of convergence, the step must keep the
		// equation's other, steep solutions (z^(1−C) for large C) from
		// swelling the Taylor terms: |p0|·h/q0 and |e·g|·h²/q0 stay small.
		lim := odeRho * c.w
		if c.z < c.w {
			lim = odeRho * c.z
		}
		if l := stiffStep * q0 / math.Abs(p0); l < lim {
			lim = l
		}
		if eg := math.Abs(c.e * c.g); lim*lim*eg > stiffStep*q0 {
			lim = math.Sqrt(stiffStep * q0 / eg)
		}
		if h > lim {
			h, final = lim, false
		}
		// d_k = c_k·h^k, the Taylor terms themselves: the coefficients
		// c_k alone grow like (1−z)^−k and would overflow near z = 1.
		// d_{k+2} = ((k+e)(k+g)·h²/q0·d_k − (k+1)(q1·k+p0)·h/q0·d_{k+1})
		// / ((k+1)(k+2)), plus e·C·h²/(2·q0) at k = 0.
		d0, d1 := c.y, c.dy*h
		a2 := h * h / q0
		a1q1, a1p0 := h/q0*q1, h/q0*p0
		d2 := k.egrk[0]*a2*d0 - a1p0*k.ik2[0]*d1 + c.e*c.C*a2*0.5
		y := d0 + d1 + d2
		dyh := d1 + 2*d2 // h·S'
		absSum := math.Abs(d0) + math.Abs(d1) + math.Abs(d2)
		d0, d1 = d1, d2
		small := 0
		kk := 1
		for ; kk < maxTaylorTerms; kk++ {
			var P, Q, k2 float64
			if kk < nTab {
				P = k.egrk[kk] * a2
				Q = a1q1*k.kk2[kk] + a1p0*k.ik2[kk]
				k2 = float64(kk + 2)
			} else {
				fk := float64(kk)
				k2 = fk + 2
				P = (fk + c.e) * (fk + c.g) / ((fk + 1) * k2) * a2
				Q = (a1q1*fk + a1p0) / k2
			}
			d2 := P*d0 - Q*d1
			y += d2
			dyh += k2 * d2
			ad := math.Abs(d2)
			absSum += ad
			if ad <= truncTol*math.Abs(y) {
				if k2*ad <= truncTol*math.Abs(dyh) {
					small++
					if small >= 2 {
						break
					}
				}
			} else {
				small = 0
			}
			d0, d1 = d1, d2
		}
		absSum *= float64(kk + 6)
		if kk == maxTaylorTerms || math.IsInf(absSum, 0) || math.IsNaN(absSum) {
			return false
		}
		// The relative error carried over scales with the solution; the
		// step adds its own rounding.
		c.rel += relErr(y, absSum)
		c.y, c.dy = y, dyh/h
		if final {
			c.w = wt
		} else {
			c.w -= h
		}
		c.z = 1 - c.w
	}
	return true
}
