package clv

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// history is what every purchase-model formula derives from one customer.
type history struct {
	A    float64 // r + x: posterior shape of λ
	Bp   float64 // b + drop-out chances survived: posterior Beta shape of p given alive
	Bm1  float64 // Bp − 1, computed without cancellation
	dead bool    // whether the customer may already have dropped out at t_x
	lr   float64 // log odds of "dropped out at t_x" against "alive at T"
}

// history computes the shared terms. A BG/NBD customer survived one
// drop-out chance per repeat order; an MBG/NBD customer one more, at the
// first order.
func (p *Purchases) history(x, tx, T float64) history {
	h := history{A: p.R + x}
	chances := x
	if p.Kind == MBGNBD {
		chances = x + 1
	}
	h.Bp = p.B + chances
	h.Bm1 = p.B + (chances - 1)
	if chances > 0 {
		h.dead = true
		// log(a/(B−1)) + (r+x)·log((α+T)/(α+t_x)), the latter via log1p so
		// that t_x close to T keeps its precision.
		h.lr = math.Log(p.A) - math.Log(h.Bm1) + h.A*math.Log1p((T-tx)/(p.Alpha+tx))
	}
	return h
}

// check validates the parameters and the customer for the function named
// what, which the error names first.
func (p *Purchases) check(what string, x, tx, T float64) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := checkHistory(x, tx, T); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// pAlive is 1/(1+e^lr), evaluated so that neither branch overflows.
func (h *history) pAlive() float64 {
	if !h.dead {
		return 1
	}
	if h.lr > 0 {
		e := math.Exp(-h.lr)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(h.lr))
}

// softplus is log(1+e^v) without overflow.
func softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

func lgamma(v float64) float64 {
	l, _ := math.Lgamma(v)
	return l
}

// LogLikelihood is the log of the probability density of one customer's
// history (x repeat orders, the last at t_x, observed for T), the term the
// fit sums; it is exposed so that ltvctl can report the fit's value.
func (p Purchases) LogLikelihood(x, tx, T float64) (float64, error) {
	if err := p.check("purchase log-likelihood", x, tx, T); err != nil {
		return 0, err
	}
	ll := p.logLik(x, tx, T)
	if math.IsNaN(ll) || math.IsInf(ll, 0) {
		return 0, fmt.Errorf("purchase log-likelihood at x = %v, t_x = %v, T = %v: %w", x, tx, T, ErrNumeric)
	}
	return ll, nil
}

// logLik is the log-likelihood without validation, for the fit's loop:
//
//	log Γ(r+x)/Γ(r) + r·log α + log B(a, B')/B(a, b) − (r+x)·log(α+T)
//	  + log(1 + a/(B'−1)·((α+T)/(α+t_x))^(r+x))   [if it may have dropped out]
//
// where B' = b+x (BG/NBD) or b+x+1 (MBG/NBD).
func (p *Purchases) logLik(x, tx, T float64) float64 {
	h := p.history(x, tx, T)
	ll := lgamma(h.A) - lgamma(p.R) + p.R*math.Log(p.Alpha) +
		lgamma(p.A+p.B) + lgamma(h.Bp) - lgamma(p.B) - lgamma(p.A+h.Bp) -
		h.A*math.Log(p.Alpha+T)
	if h.dead {
		ll += softplus(h.lr)
	}
	return ll
}

// logLikGrad returns weight × logLik and, when g is not nil, adds weight
// × its gradient with respect to (log r, log α, log a, log b) to g: the fit
// works in log-parameters so that every point it tries is valid.
func (p *Purchases) logLikGrad(x, tx, T, weight float64, g []float64) float64 {
	if g == nil {
		return weight * p.logLik(x, tx, T)
	}
	h := p.history(x, tx, T)
	alive, deadW := 1.0, 0.0
	if h.dead {
		alive = h.pAlive()
		deadW = 1 - alive
	}
	r, al, a, b := p.R, p.Alpha, p.A, p.B
	dr := mathext.Digamma(h.A) - mathext.Digamma(r) + math.Log(al) -
		alive*math.Log(al+T) - deadW*math.Log(al+tx)
	dal := r/al - h.A*(alive/(al+T)+deadW/(al+tx))
	psiAB, psiABp := mathext.Digamma(a+b), mathext.Digamma(a+h.Bp)
	da := psiAB - psiABp + deadW/a
	db := psiAB + mathext.Digamma(h.Bp) - mathext.Digamma(b) - psiABp - deadW/h.Bm1
	g[0] += weight * r * dr
	g[1] += weight * al * dal
	g[2] += weight * a * da
	g[3] += weight * b * db
	return weight * p.logLik(x, tx, T)
}

// PAlive is the probability that the customer is still active at T, the
// number that tells a lapsed good customer from a quiet one.
func (p Purchases) PAlive(x, tx, T float64) (float64, error) {
	if err := p.check("p(alive)", x, tx, T); err != nil {
		return 0, err
	}
	h := p.history(x, tx, T)
	return h.pAlive(), nil
}

// ExpectedPurchases is E[Y(t) | x, t_x, T], the expected number of orders
// in (T, T+t], for callers that need one horizon rather than the monthly
// curve of Model.Score.
func (p Purchases) ExpectedPurchases(t, x, tx, T float64) (float64, error) {
	if err := p.check("expected purchases", x, tx, T); err != nil {
		return 0, err
	}
	if !(t >= 0) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("expected purchases: %w: t = %v, must be a finite number ≥ 0", ErrInvalidCustomer, t)
	}
	h := p.history(x, tx, T)
	s := [1]float64{t / (p.Alpha + T)}
	var out [1]float64
	if err := p.curve(&h, x, s[:], out[:]); err != nil {
		return 0, fmt.Errorf("expected purchases at x = %v, t_x = %v, T = %v, t = %v: %w", x, tx, T, t, err)
	}
	return h.pAlive() * out[0], nil
}

// curve fills out[i] with I(s[i]) for increasing s (see the package doc),
// by the fast route when its error estimate allows, else by quadrature.
func (p *Purchases) curve(h *history, x float64, s, out []float64) error {
	var k kernel
	k.init(p)
	var c curve
	c.init(&k, h, x)
	ok := true
	for i := 0; ok && i < len(s); i += chunk {
		j := min(i+chunk, len(s))
		ok = c.values(s[i:j], out[i:j])
	}
	if ok {
		return nil
	}
	return quadCurve(h.A, p.A, h.Bp, s, out)
}
