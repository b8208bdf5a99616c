// Package clv is the statistics of the predictive CLV (SPEC §9): it fits
// and scores the BG/NBD and MBG/NBD purchase models and the Gamma-Gamma
// spend model, and turns them into a discounted customer lifetime value.
//
// It is pure computation (no I/O) so that the same code serves `ltvctl fit`
// on a whole population and the stream processor's hot path, one customer
// at a time. Everything is computed in log space where a product could
// overflow; every function returns a finite value or an error, never NaN,
// ±Inf or a panic, because a single bad number would otherwise propagate
// into a customer's stored LTV and tier.
//
// References (formulas only, no code was copied):
//   - P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting your
//     customers the easy way: an alternative to the Pareto/NBD model",
//     Marketing Science 24(2): BG/NBD.
//   - E. P. Batislam, M. Denizel, A. Filiztekin (2007), "Empirical
//     validation and comparison of models for customer base analysis",
//     International Journal of Research in Marketing 24(3): MBG/NBD.
//   - P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "RFM and CLV: using
//     iso-value curves for customer base analysis", Journal of Marketing
//     Research 42(4): Gamma-Gamma.
//
// # Numerics of E[Y(t)]
//
// The conditional expectation of both purchase models is
//
//	E[Y(t) | x, t_x, T] = P(alive) · I(s),  I(s) = E[(1 − (1+p·s)^−A) / p],
//
// with s = t/(α+T), A = r+x and p ~ Beta(a, B) the posterior drop-out
// probability of a customer still alive (B = b+x for BG/NBD, b+x+1 for
// MBG/NBD). The papers write I(s) with the Gauss hypergeometric function
// 2F1(A, B; a+B−1; z), z = s/(1+s). Here it is evaluated, after Euler's
// transformation, as C·(1−w^g)/g − w^g·S(z) with w = 1−z, g = a−1,
// C = a+B−1 and S = (C/g)·(2F1(C−A, g; C; z) − 1): the x-dependence moves
// into C only (no overflow for large x), and the divisions by a−1 and by
// a+b−1 (zero for a = 1 or a+b = 1 at x = 0) cancel analytically.
//
// S is a power series, summed for all months of a customer at once (they
// share its coefficients), where z ≤ 1/2, or anywhere when C is large
// (many repeat orders make it converge in a few terms even near z = 1).
// Beyond, S follows the hypergeometric differential equation by Taylor
// steps from month to month, each shorter than half the distance to the
// singular point z = 1 (and short enough for the equation's steep
// solutions not to swell the terms), so the cost grows with
// log(1/(1−z)), not 1/(1−z). Per-model tables keep divisions out of both
// inner loops. Every value is checked: positive, increasing in s, below
// A·s (no drop-out at all) and with an estimated rounding error under
// 1e-9. When a check fails (alternating series for r ≫ a+b, overflow for
// very large parameters) the same integral is computed by
// double-exponential quadrature in the logit of p instead: accurate, but
// about a hundred times slower. A test samples realistic parameters
// (r ≤ 10, a ≤ 10, b ≤ 100, x < 2000, horizons up to 10^4·(α+T)) and
// finds none that needs it.
package clv
