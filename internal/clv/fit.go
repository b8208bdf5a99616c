package clv

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Fit minimums: below them the likelihood is too flat to pin down the
// parameters, and an "estimate" would only be the optimiser's start.
const (
	// MinFitCustomers is the fewest customers either fit accepts.
	MinFitCustomers = 10
	// MinRepeatBuyers is the fewest customers with a repeat order the
	// purchase fit accepts: without them nothing tells drop-out from
	// a low purchase rate.
	MinRepeatBuyers = 2
)

// maxLogParam bounds |log θ| of an estimate: a parameter beyond e^30 ≈
// 1e13 means the optimiser ran to the edge of a flat likelihood.
const maxLogParam = 30

// PurchaseFit is a purchase-model estimate with what ltvctl prints beside
// it (SPEC §10: the log-likelihood and the customers used).
type PurchaseFit struct {
	Purchases
	// LogLikelihood is the total over the customers at the estimate.
	LogLikelihood float64
	// Customers is how many customers the fit used.
	Customers int
	// StdErr holds the asymptotic standard errors of log r, log α, log a
	// and log b (from the observed information): a parameter is known to
	// within a factor of about e^(2·StdErr) either way.
	StdErr [4]float64
	// Iterations is the optimiser's major iterations, for diagnostics.
	Iterations int
}

// SpendFit is a Gamma-Gamma estimate with its diagnostics.
type SpendFit struct {
	Spend
	// LogLikelihood is the total over the customers used.
	LogLikelihood float64
	// Customers is how many customers the fit used (x > 0 and m > 0).
	Customers int
	// Skipped counts customers with repeat orders but m ≤ 0 (refunded),
	// which a positive-spend model cannot use.
	Skipped int
	// StdErr holds the asymptotic standard errors of log p, log q and
	// log v.
	StdErr [3]float64
	// Iterations is the optimiser's major iterations, for diagnostics.
	Iterations int
}

type histKey struct{ x, tx, T float64 }

// FitPurchases estimates the purchase model by maximum likelihood, so that
// the §9 parameters come from the customers and not from a guess.
// Customers with identical (x, t_x, T) are counted once with a weight.
func FitPurchases(kind Kind, customers []Customer) (PurchaseFit, error) {
	if kind != BGNBD && kind != MBGNBD {
		return PurchaseFit{}, fmt.Errorf("purchase fit: %w: model kind %d", ErrInvalidParameter, kind)
	}
	groups := make(map[histKey]float64, len(customers))
	repeat := 0
	for i, c := range customers {
		if err := checkHistory(c.X, c.Tx, c.T); err != nil {
			return PurchaseFit{}, fmt.Errorf("purchase fit: customer %d: %w", i, err)
		}
		groups[histKey{c.X, c.Tx, c.T}]++
		if c.X > 0 {
			repeat++
		}
	}
	if len(customers) < MinFitCustomers || repeat < MinRepeatBuyers {
		return PurchaseFit{}, fmt.Errorf("purchase fit: %w: %d customers, %d with a repeat order (need at least %d and %d)",
			ErrTooFewCustomers, len(customers), repeat, MinFitCustomers, MinRepeatBuyers)
	}
	// The groups are summed in one fixed order: the customers' order (a
	// Redis SCAN's) and a map's change from run to run, and with them the
	// rounding of the sums, the start, the optimiser's path and, on a flat
	// likelihood, the estimate and the error reported.
	hs := make([]histKey, 0, len(groups))
	for k := range groups {
		hs = append(hs, k)
	}
	slices.SortFunc(hs, func(p, q histKey) int {
		return cmp.Or(cmp.Compare(p.x, q.x), cmp.Compare(p.tx, q.tx), cmp.Compare(p.T, q.T))
	})
	ws := make([]float64, len(hs))
	var sumX, sumT float64
	for i, k := range hs {
		ws[i] = groups[k]
		sumX += ws[i] * k.x
		sumT += ws[i] * k.T
	}
	if sumT == 0 {
		return PurchaseFit{}, fmt.Errorf("purchase fit: %w: every customer has T = 0, no time was observed", ErrTooFewCustomers)
	}
	n := float64(len(customers))
	model := func(theta []float64) Purchases {
		return Purchases{Kind: kind, R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]),
			A: math.Exp(theta[2]), B: math.Exp(theta[3])}
	}
	objective := meanNegLogLik(n, func(theta, g []float64) float64 {
		p := model(theta)
		var ll float64
		for i, h := range hs {
			ll += p.logLikGrad(h.x, h.tx, h.T, ws[i], g)
		}
		return ll
	})
	// Start at r = 1, a = 1, b = 3 and the α that matches the mean
	// purchase rate r/α, so the start is right in any time unit.
	rate := math.Max(sumX, 1) / sumT
	start := []float64{0, math.Log(1 / rate), 0, math.Log(3)}
	theta, se, iters, err := maximize(start, n, []string{"r", "alpha", "a", "b"}, objective)
	fit := PurchaseFit{Purchases: model(theta), Customers: len(customers), Iterations: iters}
	copy(fit.StdErr[:], se)
	if err != nil {
		return fit, fmt.Errorf("purchase fit (%s): %w", kind, err)
	}
	fit.LogLikelihood = -objective(theta, nil) * n
	return fit, nil
}

// FitSpend estimates the Gamma-Gamma model by maximum likelihood on the
// customers with repeat orders (x > 0, m > 0), as the model needs a mean
// of at least one order besides the first.
func FitSpend(customers []Customer) (SpendFit, error) {
	type obs struct{ x, m float64 }
	var data []obs
	skipped := 0
	for i, c := range customers {
		if err := checkSpendInput(c.X, c.M); err != nil {
			return SpendFit{}, fmt.Errorf("spend fit: customer %d: %w", i, err)
		}
		switch {
		case c.X == 0:
		case c.M <= 0:
			skipped++
		default:
			data = append(data, obs{c.X, c.M})
		}
	}
	if len(data) < MinFitCustomers {
		return SpendFit{}, fmt.Errorf("spend fit: %w: %d customers with repeat orders of positive value (need at least %d)",
			ErrTooFewCustomers, len(data), MinFitCustomers)
	}
	// Summed in one fixed order, whatever the customers' (see FitPurchases).
	slices.SortFunc(data, func(p, q obs) int { return cmp.Or(cmp.Compare(p.x, q.x), cmp.Compare(p.m, q.m)) })
	var sumM float64
	for _, d := range data {
		sumM += d.m
	}
	n := float64(len(data))
	model := func(theta []float64) Spend {
		return Spend{P: math.Exp(theta[0]), Q: math.Exp(theta[1]), V: math.Exp(theta[2])}
	}
	objective := meanNegLogLik(n, func(theta, g []float64) float64 {
		s := model(theta)
		var ll float64
		for _, d := range data {
			ll += s.logLikGrad(d.x, d.m, g)
		}
		return ll
	})
	// p = 1, q = 2 and the v that matches the mean spend p·v/(q−1).
	start := []float64{0, math.Log(2), math.Log(sumM / n)}
	theta, se, iters, err := maximize(start, n, []string{"p", "q", "v"}, objective)
	fit := SpendFit{Spend: model(theta), Customers: len(data), Skipped: skipped, Iterations: iters}
	copy(fit.StdErr[:], se)
	if err != nil {
		return fit, fmt.Errorf("spend fit: %w", err)
	}
	fit.LogLikelihood = -objective(theta, nil) * n
	if err := fit.Validate(); err != nil {
		return fit, fmt.Errorf("spend fit: the estimate has no finite mean order value: %w", err)
	}
	return fit, nil
}

// meanNegLogLik turns a total log-likelihood over n customers (adding its
// gradient to g when g is not nil) into the optimiser's objective: the mean
// negative log-likelihood, so that the convergence thresholds do not depend
// on the population's size.
func meanNegLogLik(n float64, total func(theta, g []float64) float64) func(theta, grad []float64) float64 {
	return func(theta, grad []float64) float64 {
		clear(grad)
		ll := total(theta, grad)
		for i := range grad {
			grad[i] = -grad[i] / n
		}
		return -ll / n
	}
}

// gradTol is the largest |∂(mean log-likelihood)/∂ log θ| accepted at
// a maximum: far below any change that would move a reported digit.
const gradTol = 1e-6

// maxLogStdErr is the largest standard error of a log-parameter accepted:
// beyond it the data leave the parameter undetermined within a factor of
// e^6 ≈ 400 (a flat likelihood, typically a parameter drifting to 0 or ∞).
const maxLogStdErr = 3

// maximize minimises objective (a mean negative log-likelihood over n
// customers, in log parameters) with BFGS and, when that stops early,
// restarts from where it stopped with Nelder-Mead and BFGS again. It
// returns the estimate, the standard errors of its log-parameters, the
// iterations used and an ErrNoConvergence error that says what went wrong:
// no point with a vanishing gradient, a parameter running off, or a
// likelihood too flat to determine a parameter.
func maximize(start []float64, n float64, names []string, objective func(theta, grad []float64) float64) ([]float64, []float64, int, error) {
	safe := func(theta, grad []float64) float64 {
		for _, t := range theta {
			if math.Abs(t) > 2*maxLogParam {
				for i := range grad {
					grad[i] = 0
				}
				return math.Inf(1)
			}
		}
		f := objective(theta, grad)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			for i := range grad {
				grad[i] = 0
			}
			return math.Inf(1)
		}
		for _, g := range grad {
			if math.IsNaN(g) || math.IsInf(g, 0) {
				return math.Inf(1)
			}
		}
		return f
	}
	problem := optimize.Problem{
		Func: func(theta []float64) float64 { return safe(theta, nil) },
		Grad: func(grad, theta []float64) { safe(theta, grad) },
	}
	settings := func() *optimize.Settings {
		return &optimize.Settings{
			GradientThreshold: gradTol / 10,
			MajorIterations:   2000,
			Converger:         &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-14, Iterations: 50},
		}
	}
	theta := append([]float64(nil), start...)
	iters := 0
	var status optimize.Status
	var runErr error
	methods := []optimize.Method{&optimize.BFGS{}, &optimize.NelderMead{}, &optimize.BFGS{}}
	grad := make([]float64, len(theta))
	for _, method := range methods {
		before := safe(theta, nil)
		res, err := optimize.Minimize(problem, theta, settings(), method)
		if res != nil {
			iters += res.MajorIterations
			if res.F <= before {
				copy(theta, res.X)
			}
			status = res.Status
		}
		runErr = err
		if f := safe(theta, grad); !math.IsInf(f, 0) && infNorm(grad) <= gradTol {
			break
		}
	}
	f := safe(theta, grad)
	var problems []string
	if math.IsInf(f, 0) {
		problems = append(problems, "the likelihood is not finite at the last point")
	} else if g := infNorm(grad); g > gradTol {
		problems = append(problems, fmt.Sprintf("gradient %.3g > %.0g", g, gradTol))
	}
	for i, t := range theta {
		if math.Abs(t) > maxLogParam {
			problems = append(problems, fmt.Sprintf("%s ran off to %.3g (the data do not pin it down)", names[i], math.Exp(t)))
		}
	}
	var se []float64
	if len(problems) == 0 {
		var err error
		se, err = stdErrors(theta, n, safe)
		if err != nil {
			problems = append(problems, err.Error())
		}
		for i, v := range se {
			if v > maxLogStdErr {
				problems = append(problems, fmt.Sprintf("%s is not determined by the data (standard error of log %s = %.3g)", names[i], names[i], v))
			}
		}
	}
	if len(problems) == 0 {
		return theta, se, iters, nil
	}
	var est []string
	for i, t := range theta {
		est = append(est, fmt.Sprintf("%s = %.6g", names[i], math.Exp(t)))
	}
	detail := fmt.Sprintf("%s after %d iterations (last status %v; at %s)",
		strings.Join(problems, ", "), iters, status, strings.Join(est, ", "))
	if runErr != nil {
		return theta, se, iters, fmt.Errorf("%w: %s: %w", ErrNoConvergence, detail, runErr)
	}
	return theta, se, iters, fmt.Errorf("%w: %s", ErrNoConvergence, detail)
}

// stdErrors inverts the observed information, n times the Hessian of the
// mean negative log-likelihood, which it takes by central differences of
// the analytic gradient. A Hessian that is not positive definite means the
// point is no maximum.
func stdErrors(theta []float64, n float64, f func(theta, grad []float64) float64) ([]float64, error) {
	const step = 1e-4
	d := len(theta)
	hess := mat.NewSymDense(d, nil)
	gp, gm := make([]float64, d), make([]float64, d)
	x := append([]float64(nil), theta...)
	cols := make([][]float64, d)
	for j := range d {
		x[j] = theta[j] + step
		f(x, gp)
		x[j] = theta[j] - step
		f(x, gm)
		x[j] = theta[j]
		cols[j] = make([]float64, d)
		for i := range d {
			cols[j][i] = (gp[i] - gm[i]) / (2 * step)
		}
	}
	for i := range d {
		for j := i; j < d; j++ {
			hess.SetSym(i, j, n*(cols[i][j]+cols[j][i])/2)
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(hess) {
		return nil, errors.New("the likelihood is not curved downwards there (no maximum: flat or a saddle)")
	}
	var cov mat.SymDense
	if err := chol.InverseTo(&cov); err != nil {
		return nil, fmt.Errorf("the information matrix is singular: %w", err)
	}
	se := make([]float64, d)
	for i := range se {
		v := cov.At(i, i)
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("the variance of log %d is %v", i, v)
		}
		se[i] = math.Sqrt(v)
	}
	return se, nil
}

func infNorm(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}
