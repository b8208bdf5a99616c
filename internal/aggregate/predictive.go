package aggregate

import (
	"math"
	"time"

	"github.com/shopspring/decimal"
)

// Predictor scores a customer with the predictive model of SPEC §9 from
// the four numbers the state knows: x repeat orders, t_x and T in the
// model's time unit, m the mean net revenue of the repeat orders, and the
// customer's margin rate. It is pure and safe for concurrent use
// (internal/clv implements it).
type Predictor interface {
	Predict(x, tx, T, m, marginRate float64) Prediction
}

// Prediction is a Predictor's answer.
type Prediction struct {
	PAlive         float64 // probability the customer is still active
	ExpectedOrders float64 // expected orders over the horizon
	ExpectedSpend  float64 // expected mean order value
	CLV            float64 // discounted expected gross profit over the horizon
}

// Predictive turns the predictive model on (Model.Predictive; nil: off).
type Predictive struct {
	Predictor Predictor
	// TimeUnit is the model's unit of time (a day, or a week).
	TimeUnit time.Duration
	// RescoreEvery, when > 0, re-scores every customer this long after its
	// last scoring, even if nothing happens (fresher p_alive, more work).
	RescoreEvery time.Duration
}

// tierSearchDays bounds the search for the day a customer's predicted LTV
// would fall through its tier's hysteresis band: beyond ten years of
// silence, no timer is set.
const tierSearchDays = 3653

// predict scores s as of now. A churned customer has p_alive 0 and no
// predicted value (SPEC §9); a customer without orders is not scored.
func (m *Model) predict(s *State, now time.Time) Prediction {
	p := m.Predictive
	if s.Churned() {
		pr := p.Predictor.Predict(float64(max(s.Orders-1, 0)), 0, 0, 0, 0)
		return Prediction{ExpectedSpend: pr.ExpectedSpend}
	}
	x := float64(s.Orders - 1)
	unit := float64(p.TimeUnit)
	tx := float64(s.LastOrderAt.Sub(s.FirstOrderAt)) / unit
	T := max(float64(now.Sub(s.FirstOrderAt))/unit, tx)
	var mean, margin float64
	if s.Orders > 1 {
		repeat, _ := s.Revenue.Sub(s.FirstOrderNet).Float64()
		mean = repeat / x
	}
	if s.Revenue.Sign() > 0 {
		margin, _ = s.GrossProfit.Div(s.Revenue).Float64()
	}
	return p.Predictor.Predict(x, tx, T, mean, margin)
}

// score re-scores s as of now and stores the public prediction fields,
// rounded as SPEC §9 renders them.
func (m *Model) score(s *State, now time.Time) {
	if m.Predictive == nil || s.Orders == 0 {
		return
	}
	pr := m.predict(s, now)
	s.PAlive = roundFloat(pr.PAlive, 4)
	s.ExpectedOrders = roundFloat(pr.ExpectedOrders, 4)
	s.ExpectedSpend = roundFloat(pr.ExpectedSpend, 2)
	s.PredictedCLV = roundFloat(pr.CLV, 2)
	s.ScoredAt = now
}

// roundFloat renders a prediction as an exact decimal of the given places;
// NaN and infinities (never expected from the model) become zero.
func roundFloat(v float64, places int32) decimal.Decimal {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return decimal.Zero
	}
	return decimal.NewFromFloat(v).Round(places)
}

// predictedLTV is history plus future (SPEC §9), never below 0.
func predictedLTV(s *State) decimal.Decimal {
	ltv := s.GrossProfit.Add(s.PredictedCLV)
	if ltv.Sign() < 0 {
		return decimal.Zero
	}
	return ltv.Round(2)
}

// tierDue finds, to the day, the first moment after now at which s's
// predicted LTV would fall below its tier's hysteresis band if nothing
// happened: with no new order only T grows, and the predicted value only
// decays. Zero when it would not within tierSearchDays (or cannot fall).
func (m *Model) tierDue(s *State, now time.Time) time.Time {
	ti := m.tierIndex(s.Tier)
	if m.Predictive == nil || ti <= 0 || s.Orders == 0 || s.Churned() {
		return time.Time{}
	}
	floor, _ := m.leaveBelow[ti].Float64()
	gp, _ := s.GrossProfit.Float64()
	if gp >= floor {
		// History alone keeps the tier: the predicted value only adds to it.
		return time.Time{}
	}
	below := func(days int) bool {
		clv := m.predict(s, now.Add(time.Duration(days)*Day)).CLV
		return gp+clv < floor
	}
	if !below(tierSearchDays) {
		return time.Time{}
	}
	lo, hi := 0, tierSearchDays // below(lo) is false or lo = 0; below(hi) is true
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if below(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return now.Add(time.Duration(hi) * Day)
}

// rescore scores s as of now, applies the tier rule to the predicted LTV
// and sets its tier timer; it returns the tier change, if any, caused by
// cause at event time at.
func (m *Model) rescore(s *State, customerID string, now time.Time, cause string, at time.Time) (Change, bool) {
	m.score(s, now)
	fig := m.Figures(s)
	var c Change
	changed := false
	if next := m.NextTier(s.Tier, fig.LTV); next != s.Tier {
		c = Change{
			CustomerID: customerID, PreviousTier: s.Tier, Tier: next,
			Up: m.tierIndex(next) > m.tierIndex(s.Tier), LTV: fig.LTV, PreviousLTV: s.LTV,
			AOV: fig.AOV, Frequency: fig.Frequency, Orders: s.Orders, Churned: fig.Churned,
			CausedBy: cause, OccurredAt: at,
		}
		s.Tier, changed = next, true
	}
	s.LTV = fig.LTV
	s.TierDue = m.tierDue(s, now)
	return c, changed
}
