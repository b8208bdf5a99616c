package clv

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

func checkSpendInput(x, m float64) error {
	if !(x >= 0) || math.IsInf(x, 0) || x != math.Trunc(x) {
		return fmt.Errorf("%w: x = %v, must be a whole number ≥ 0", ErrInvalidCustomer, x)
	}
	if math.IsNaN(m) || math.IsInf(m, 0) {
		return fmt.Errorf("%w: m = %v, must be finite", ErrInvalidCustomer, m)
	}
	return nil
}

// LogLikelihood is the log density of a mean order value m over x > 0
// orders, the term FitSpend sums; exposed so that a fit can be reported.
func (s Spend) LogLikelihood(x, m float64) (float64, error) {
	if err := s.validateShape(); err != nil {
		return 0, fmt.Errorf("spend log-likelihood: %w", err)
	}
	if err := checkSpendInput(x, m); err != nil {
		return 0, fmt.Errorf("spend log-likelihood: %w", err)
	}
	if x == 0 || m <= 0 {
		return 0, fmt.Errorf("spend log-likelihood: %w: needs x > 0 and m > 0, got x = %v, m = %v", ErrInvalidCustomer, x, m)
	}
	ll := s.logLik(x, m)
	if math.IsNaN(ll) || math.IsInf(ll, 0) {
		return 0, fmt.Errorf("spend log-likelihood at x = %v, m = %v: %w", x, m, ErrNumeric)
	}
	return ll, nil
}

// validateShape is Validate without q > 1: the likelihood exists for any
// q > 0, only the mean of a new customer's spend needs q > 1.
func (s Spend) validateShape() error {
	return positives([]string{"p", "q", "v"}, s.P, s.Q, s.V)
}

// logLik: log Γ(px+q) − log Γ(px) − log Γ(q) + q·log v + (px−1)·log m
// + px·log x − (px+q)·log(v + m·x), with m·x in log space.
func (s *Spend) logLik(x, m float64) float64 {
	px := s.P * x
	lm, lx := math.Log(m), math.Log(x)
	return lgamma(px+s.Q) - lgamma(px) - lgamma(s.Q) + s.Q*math.Log(s.V) +
		(px-1)*lm + px*lx - (px+s.Q)*logAddExp(math.Log(s.V), lm+lx)
}

// logAddExp is log(e^u + e^v) without overflow.
func logAddExp(u, v float64) float64 {
	if u < v {
		u, v = v, u
	}
	return u + math.Log1p(math.Exp(v-u))
}

// logLikGrad returns the log-likelihood and, when g is not nil, adds its
// gradient with respect to (log p, log q, log v) to g.
func (s *Spend) logLikGrad(x, m float64, g []float64) float64 {
	if g == nil {
		return s.logLik(x, m)
	}
	px := s.P * x
	lm, lx := math.Log(m), math.Log(x)
	lvmx := logAddExp(math.Log(s.V), lm+lx)
	psiPXQ := mathext.Digamma(px + s.Q)
	g[0] += s.P * x * (psiPXQ - mathext.Digamma(px) + lm + lx - lvmx)
	g[1] += s.Q * (psiPXQ - mathext.Digamma(s.Q) + math.Log(s.V) - lvmx)
	// v·∂/∂v = q − (px+q)·v/(v+mx)
	g[2] += s.Q - (px+s.Q)*math.Exp(math.Log(s.V)-lvmx)
	return s.logLik(x, m)
}

// ExpectedSpend is E[M | x, m], the customer's expected mean order value:
// a credibility-weighted average of the population mean p·v/(q−1) and the
// customer's own mean m, the more weight to m the more repeat orders.
// A customer without repeat orders gets the population mean. A mean m
// below zero (repeat orders refunded beyond their value) counts as 0: the
// model's order values are positive, and a negative forecast would be
// meaningless.
func (s Spend) ExpectedSpend(x, m float64) (float64, error) {
	if err := s.Validate(); err != nil {
		return 0, fmt.Errorf("expected spend: %w", err)
	}
	if err := checkSpendInput(x, m); err != nil {
		return 0, fmt.Errorf("expected spend: %w", err)
	}
	return s.expected(x, m), nil
}

// expected is ExpectedSpend without validation: p(v + m·x)/(px + q − 1),
// written as a weighted average so that m·x cannot overflow.
func (s *Spend) expected(x, m float64) float64 {
	popMean := s.P * s.V / (s.Q - 1)
	if x == 0 {
		return popMean
	}
	m = math.Max(m, 0)
	wPop := (s.Q - 1) / (s.P*x + s.Q - 1)
	return wPop*popMean + (1-wPop)*m
}
