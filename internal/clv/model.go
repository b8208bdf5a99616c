package clv

import (
	"fmt"
	"math"
)

// MaxHorizonMonths bounds the horizon: scoring costs one evaluation of
// E[Y] per month, and a century is already beyond any business plan.
const MaxHorizonMonths = 1200

// Config is the `predictive:` block of SPEC §9 in typed form.
type Config struct {
	// Purchases is the fitted purchase model (`purchases:`, `model:`).
	Purchases Purchases
	// Spend is the fitted Gamma-Gamma model (`spend:`).
	Spend Spend
	// TimeUnit is the unit of Purchases.Alpha and of the t_x and T given
	// to Score.
	TimeUnit TimeUnit
	// HorizonMonths is H, the months of future the CLV sums (1 or more).
	HorizonMonths int
	// DiscountRateMonthly is d, the monthly discount rate (≥ 0).
	DiscountRateMonthly float64
}

// Validate reports the first bad setting by name, so that a bad YAML
// fails at start-up and not on the first event.
func (c Config) Validate() error {
	if err := c.Purchases.Validate(); err != nil {
		return fmt.Errorf("purchases: %w", err)
	}
	if err := c.Spend.Validate(); err != nil {
		return fmt.Errorf("spend: %w", err)
	}
	if c.TimeUnit != Day && c.TimeUnit != Week {
		return fmt.Errorf("%w: time unit %d, want day or week", ErrInvalidParameter, c.TimeUnit)
	}
	if c.HorizonMonths < 1 || c.HorizonMonths > MaxHorizonMonths {
		return fmt.Errorf("%w: horizon_months = %d, must be in [1, %d]", ErrInvalidParameter, c.HorizonMonths, MaxHorizonMonths)
	}
	if !(c.DiscountRateMonthly >= 0) || math.IsInf(c.DiscountRateMonthly, 0) {
		return fmt.Errorf("%w: discount_rate_monthly = %v, must be a finite number ≥ 0", ErrInvalidParameter, c.DiscountRateMonthly)
	}
	return nil
}

// Model scores customers on the hot path: everything that depends only on
// the configuration (month ends in time units, discount factors, the
// tables of the series, the forecast of a brand-new customer) is computed
// once here. It is read-only afterwards, so one Model serves every
// goroutine without locks, and Score does not allocate (except on the rare
// quadrature route, see the package doc, and when it returns an error).
type Model struct {
	cfg    Config
	months []float64 // end of month i+1 in time units
	disc   []float64 // (1+d)^−(i+1)
	// A customer seen for the first time "now" (x = 0, T = 0) is the most
	// frequent case in a stream and depends on nothing else.
	newcomer struct {
		pAlive, orders, discOrders float64
	}
	popSpend float64
	kern     kernel
}

// NewModel validates cfg and precomputes what Score needs.
func NewModel(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("predictive model: %w", err)
	}
	m := &Model{cfg: cfg}
	monthUnits := MonthDays / cfg.TimeUnit.Days()
	m.months = make([]float64, cfg.HorizonMonths)
	m.disc = make([]float64, cfg.HorizonMonths)
	logDisc := math.Log1p(cfg.DiscountRateMonthly)
	for i := range m.months {
		m.months[i] = float64(i+1) * monthUnits
		m.disc[i] = math.Exp(-float64(i+1) * logDisc)
	}
	m.popSpend = cfg.Spend.expected(0, 0)
	m.kern.init(&m.cfg.Purchases)
	h := cfg.Purchases.history(0, 0, 0)
	pa, orders, disc, err := m.forecast(&h, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("predictive model: forecast of a new customer: %w", err)
	}
	m.newcomer.pAlive, m.newcomer.orders, m.newcomer.discOrders = pa, orders, disc
	return m, nil
}

// Config returns the configuration the model was built from.
func (m *Model) Config() Config { return m.cfg }

// Score is the §9 forecast of one customer.
type Score struct {
	// PAlive is the probability that the customer is still active.
	PAlive float64
	// ExpectedOrders is the expected number of orders in the horizon.
	ExpectedOrders float64
	// ExpectedSpend is the expected mean order value (Gamma-Gamma).
	ExpectedSpend float64
	// PredictedCLV is the discounted expected gross profit of the horizon:
	// Σ_i marginRate·ExpectedSpend·(E[orders by month i] − E[orders by
	// month i−1])/(1+d)^i.
	PredictedCLV float64
}

// Score forecasts one customer from x repeat orders, the last at tx after
// the first, T since the first order (tx and T in the model's time unit),
// the mean value of the repeat orders and the customer's margin rate. A
// churned customer (SPEC §4) is the caller's case: its forecast is zero
// whatever the model says. It fails only on invalid input or a result that
// does not fit in float64, never returning NaN or ±Inf.
func (m *Model) Score(x, tx, T, monetary, marginRate float64) (Score, error) {
	if err := checkHistory(x, tx, T); err != nil {
		return Score{}, fmt.Errorf("score: %w", err)
	}
	if math.IsNaN(monetary) || math.IsInf(monetary, 0) {
		return Score{}, fmt.Errorf("score: %w: monetary = %v, must be finite", ErrInvalidCustomer, monetary)
	}
	if math.IsNaN(marginRate) || math.IsInf(marginRate, 0) {
		return Score{}, fmt.Errorf("score: %w: margin rate = %v, must be finite", ErrInvalidCustomer, marginRate)
	}
	var pa, orders, discOrders float64
	if x == 0 && T == 0 {
		pa, orders, discOrders = m.newcomer.pAlive, m.newcomer.orders, m.newcomer.discOrders
	} else {
		h := m.cfg.Purchases.history(x, tx, T)
		var err error
		pa, orders, discOrders, err = m.forecast(&h, x, T)
		if err != nil {
			return Score{}, fmt.Errorf("score at x = %v, t_x = %v, T = %v: %w", x, tx, T, err)
		}
	}
	spend := m.popSpend
	if x > 0 {
		spend = m.cfg.Spend.expected(x, monetary)
	}
	sc := Score{PAlive: pa, ExpectedOrders: orders, ExpectedSpend: spend,
		PredictedCLV: marginRate * spend * discOrders}
	if math.IsInf(sc.PredictedCLV, 0) || math.IsNaN(sc.PredictedCLV) {
		return Score{}, fmt.Errorf("score at x = %v, t_x = %v, T = %v: predicted CLV: %w", x, tx, T, ErrNumeric)
	}
	return sc, nil
}

// forecast returns P(alive), the expected orders in the horizon and the
// discounted sum of the monthly expected orders, walking the months once.
func (m *Model) forecast(h *history, x, T float64) (pa, orders, discOrders float64, err error) {
	p := &m.cfg.Purchases
	pa = h.pAlive()
	var c curve
	c.init(&m.kern, h, x)
	alphaT := p.Alpha + T
	var sv, iv [chunk]float64
	var prev, acc float64
	for i0 := 0; i0 < len(m.months); i0 += chunk {
		i1 := min(i0+chunk, len(m.months))
		for i := i0; i < i1; i++ {
			sv[i-i0] = m.months[i] / alphaT
		}
		if !c.values(sv[:i1-i0], iv[:i1-i0]) {
			return m.forecastSlow(h, T)
		}
		for i := i0; i < i1; i++ {
			v := iv[i-i0]
			acc += m.disc[i] * (v - prev)
			prev = v
		}
	}
	return m.finish(pa, prev, acc)
}

// forecastSlow is forecast by quadrature, for the rare parameters where
// the fast route's error estimate is too large; it allocates.
func (m *Model) forecastSlow(h *history, T float64) (pa, orders, discOrders float64, err error) {
	p := &m.cfg.Purchases
	s := make([]float64, len(m.months))
	out := make([]float64, len(m.months))
	for i, t := range m.months {
		s[i] = t / (p.Alpha + T)
	}
	if err := quadCurve(h.A, p.A, h.Bp, s, out); err != nil {
		return 0, 0, 0, err
	}
	var prev, acc float64
	for i, v := range out {
		acc += m.disc[i] * math.Max(v-prev, 0)
		prev = math.Max(prev, v)
	}
	return m.finish(h.pAlive(), prev, acc)
}

func (m *Model) finish(pa, last, acc float64) (float64, float64, float64, error) {
	orders, disc := pa*last, pa*acc
	if math.IsInf(orders, 0) || math.IsNaN(orders) || math.IsInf(disc, 0) || math.IsNaN(disc) {
		return 0, 0, 0, fmt.Errorf("expected orders: %w", ErrNumeric)
	}
	return pa, orders, disc, nil
}
