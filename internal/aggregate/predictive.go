package aggregate

import (
	"math"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
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
	// Predictor does the scoring (config builds one from internal/clv
	// with the fitted parameters); required.
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

// history is what the model reads of a customer's past (SPEC §9's x, t_x
// and m, the margin rate, and where T starts), taken from the exact state
// once per scoring and reused by the tier timer's search.
type history struct {
	churned      bool
	x, tx, mean  float64
	margin       float64
	firstOrderAt time.Time
	unit         float64 // the model's time unit, in nanoseconds
}

func historyOf(s *State, unit time.Duration) history {
	h := history{churned: s.Churned(), unit: float64(unit), firstOrderAt: s.FirstOrderAt}
	h.x = float64(max(s.Orders-1, 0))
	h.tx = float64(s.LastOrderAt.Sub(s.FirstOrderAt)) / h.unit
	if s.Orders > 1 {
		h.mean = s.Revenue.Sub(s.FirstOrderNet).Float64() / h.x
	}
	if s.Revenue.Sign() > 0 {
		h.margin = s.GrossProfit.Float64() / s.Revenue.Float64()
	}
	return h
}

// age is T as of now: the time since the first order, in the model's unit
// (never below t_x).
func (h *history) age(now time.Time) float64 {
	return max(float64(now.Sub(h.firstOrderAt))/h.unit, h.tx)
}

// PredictiveInputs returns SPEC §9's inputs of a customer with orders, as
// of asOf in units of unit: x repeat orders, t_x, T, m the mean net
// revenue of the repeat orders, and the margin rate. ltvctl's fit and score
// read them exactly as the stream does.
func PredictiveInputs(s *State, unit time.Duration, asOf time.Time) (x, tx, T, mean, margin float64) {
	h := historyOf(s, unit)
	return h.x, h.tx, h.age(asOf), h.mean, h.margin
}

// predictAt scores a history as of now. A churned customer has p_alive 0
// and no predicted value (SPEC §9); its expected spend is still the
// Gamma-Gamma mean order value of its own repeat orders (x and m), which
// does not depend on the purchase model's t_x and T.
func (m *Model) predictAt(h *history, now time.Time) Prediction {
	p := m.Predictive.Predictor
	if h.churned {
		return Prediction{ExpectedSpend: p.Predict(h.x, h.tx, h.age(now), h.mean, 0).ExpectedSpend}
	}
	return p.Predict(h.x, h.tx, h.age(now), h.mean, h.margin)
}

// score re-scores s as of now and stores the public prediction fields,
// rounded as SPEC §9 renders them. It returns the history and the
// unrounded prediction for the tier timer's search (nil when s is not
// scored: no predictive model, or no orders).
func (m *Model) score(s *State, now time.Time) (*history, Prediction) {
	if m.Predictive == nil || s.Orders == 0 {
		return nil, Prediction{}
	}
	h := historyOf(s, m.Predictive.TimeUnit)
	pr := m.predictAt(&h, now)
	s.PAlive = roundFloat(pr.PAlive, 4)
	s.ExpectedOrders = roundFloat(pr.ExpectedOrders, 4)
	s.ExpectedSpend = roundFloat(pr.ExpectedSpend, 2)
	s.PredictedCLV = roundFloat(pr.CLV, 2)
	s.ScoredAt = now
	return &h, pr
}

// roundFloat renders a prediction as an exact decimal of the given places
// (money.RoundFloat: shopspring's NewFromFloat and Round, cheaper); NaN and
// infinities (never expected from the model) become zero.
func roundFloat(v float64, places int32) money.Exact {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return money.Exact{}
	}
	return money.RoundFloat(v, places)
}

// PredictionText renders a prediction with the given places exactly as the
// consumer stores it (roundFloat, then fixed places), so that ltvctl score
// prints the digits Redis holds: strconv's 'f' formatting rounds the
// binary value half to even and keeps the sign of a value that rounds to
// zero, which differs from the stored text on half-way values (0.125 is
// stored "0.13", 'f' gives "0.12") and prints "-0.00" where "0.00" is stored.
func PredictionText(v float64, places int32) string {
	return roundFloat(v, places).StringFixed(places)
}

// predictedLTV is history plus future (SPEC §9), never below 0.
func predictedLTV(s *State) money.Exact {
	return ltvWith(s.GrossProfit, s.PredictedCLV)
}

// ltvWith is the ltv of a customer with this gross profit and this
// predicted value (as stored: 2 places).
func ltvWith(grossProfit, predictedCLV money.Exact) money.Exact {
	ltv := grossProfit.Add(predictedCLV)
	if ltv.Sign() < 0 {
		return money.Exact{}
	}
	return ltv.Round(2)
}

// tierDue finds, to the day, the first moment after now at which s's
// predicted LTV would fall below its tier's hysteresis band if nothing
// happened: with no new order only T grows, and the predicted value only
// decays. Zero when it would not within tierSearchDays (or cannot fall).
// h and clvNow are score's history and unrounded CLV as of now.
//
// The answer is the one a bisection over the days gives (SPEC §8: the
// smallest whole day d in 1..tierSearchDays at which the value is below
// the band, judged on the ltv the tier rule would read: gross profit plus
// the predicted value rendered with 2 places, as stored; so the tier falls
// when the timer fires), found with fewer scorings: a silent customer's
// expected orders fall roughly as a power of the time since the first
// order, so
// the log of the predicted value is close to a straight line in the log
// of that time, and interpolating there (regula falsi, Illinois variant)
// lands next to the answer in a few steps. Halving takes over when it
// does not.
func (m *Model) tierDue(s *State, now time.Time, h *history, clvNow float64) time.Time {
	ti := m.tierIndex(s.Tier)
	// A tier whose band reaches down to 0 cannot be left (LTV is never
	// below 0): the lowest tier of a ladder that starts at 0.
	if h == nil || ti < 0 || m.leaveBelow[ti].Sign() <= 0 || h.churned {
		return time.Time{}
	}
	if s.GrossProfit.Cmp(m.leaveBelow[ti]) >= 0 {
		// History alone keeps the tier: the predicted value only adds to it.
		return time.Time{}
	}
	// below: the ltv stored with this predicted value leaves the tier (as
	// predictedLTV makes it; its floor at 0 changes nothing, the band is
	// above 0).
	below := func(clv float64) bool {
		return ltvWith(s.GrossProfit, roundFloat(clv, 2)).Cmp(m.leaveBelow[ti]) < 0
	}
	need := m.leaveBelow[ti].Float64() - s.GrossProfit.Float64() // the predicted value the tier needs
	// The search's coordinates: the log of the days since the first order
	// (plus one), and the log of the predicted value over what it needs.
	daysOld := float64(now.Sub(h.firstOrderAt))/float64(Day) + 1
	at := func(days int) float64 { return math.Log(daysOld + float64(days)) }
	level := func(clv float64) float64 { return math.Log(clv / need) }
	clvAt := func(days int) float64 { return m.predictAt(h, now.Add(time.Duration(days)*Day)).CLV }

	lo, hi := 0, tierSearchDays // not below at lo (or lo = 0); below at hi
	clvHi := clvAt(hi)
	if !below(clvHi) {
		return time.Time{}
	}
	yLo, yHi := level(clvNow), level(clvHi)
	kept := 0 // +1: lo stayed last step, -1: hi stayed
	for step := 0; hi-lo > 1; step++ {
		mid := lo + (hi-lo)/2
		if step < maxInterpolations && yLo > 0 && yHi < 0 && !math.IsInf(yHi, 0) {
			v := at(lo) + yLo/(yLo-yHi)*(at(hi)-at(lo))
			d := math.Ceil(math.Exp(v) - daysOld)
			mid = int(min(max(d, float64(lo+1)), float64(hi-1)))
		}
		clv := clvAt(mid)
		if below(clv) {
			hi, yHi = mid, level(clv)
			if kept == 1 {
				yLo /= 2 // Illinois: an end kept twice counts half
			}
			kept = 1
		} else {
			lo, yLo = mid, level(clv)
			if kept == -1 {
				yHi /= 2
			}
			kept = -1
		}
	}
	return now.Add(time.Duration(hi) * Day)
}

// maxInterpolations bounds tierDue's interpolating steps; halving, which
// needs at most log2(tierSearchDays) more, finishes a search they did not.
const maxInterpolations = 8

// rescore scores s as of now and applies the tier rule to the predicted
// LTV; it returns the tier change, if any, caused by cause at event time
// at, and the search for its tier timer, which it does not run: s.TierDue
// is left zero until the caller runs it (tierSearch.run) or drops it
// because a later re-scoring replaces it unread (advance).
func (m *Model) rescore(s *State, customerID string, now time.Time, cause string, at time.Time) (Change, bool, tierSearch) {
	h, pr := m.score(s, now)
	c, changed := m.retier(s, customerID, cause, at)
	s.TierDue = time.Time{}
	return c, changed, tierSearch{h: h, clv: pr.CLV, now: now, pending: h != nil}
}

// lastQuietRescoring is the periodic re-scoring advance may fire instead
// of the one due now (d.rescore, a period after s.ScoredAt): the last of
// the run before the next due time of another kind and the end of the
// call (until, included when inclusive) that leaves the tier where it is.
//
// The re-scorings it skips change only the prediction fields, which the
// one it fires overwrites, and the clock, which it moves further: no
// segment threshold lies among them (that would be another due time), and
// neither does the tier timer (that too, or, from a skipped re-scoring,
// later than the first one that changes the tier: see below). So the
// state and the effects are the ones firing each of them would give, as
// long as the predicted value only decays while nothing happens, which the
// tier timer's search (tierDue) relies on as well. Then whether the tier
// moves at the k-th re-scoring is false up to some k and true from there,
// and a bisection over k finds the last quiet one with a logarithmic
// number of scorings. One exception is checked first: a tier that may rise
// at the first re-scoring (the ladder changed since the customer's last
// scoring) goes the ordinary way.
//
// A tier timer set at a skipped re-scoring falls due after the next one
// when that next one does not change the tier either: not below the band
// then, the value was not below it at any earlier moment, and the timer
// is the first whole day at which it is. Only the re-scoring right before
// the first change can have a timer that fires first, and that one is not
// skipped.
func (m *Model) lastQuietRescoring(s *State, d timerDues, until time.Time, inclusive bool) time.Time {
	period := m.Predictive.RescoreEvery
	// The run ends before the next due time of another kind, or at until.
	end, endIncluded := until, inclusive
	for _, other := range [...]time.Time{d.segment, d.tier} {
		if !other.IsZero() && !other.After(end) {
			end, endIncluded = other, false
		}
	}
	// Sub saturates at some 292 years: then fewer are skipped, and advance
	// comes back for the rest.
	last := int64(end.Sub(s.ScoredAt) / period)
	at := func(k int64) time.Time { return s.ScoredAt.Add(time.Duration(k) * period) }
	if !endIncluded && at(last).Equal(end) {
		last--
	}
	if last < 2 {
		return d.rescore
	}
	h := historyOf(s, m.Predictive.TimeUnit)
	moves := func(k int64) bool {
		pr := m.predictAt(&h, at(k))
		return m.NextTier(s.Tier, ltvWith(s.GrossProfit, roundFloat(pr.CLV, 2))) != s.Tier
	}
	if moves(1) {
		return d.rescore
	}
	if !moves(last) {
		return at(last)
	}
	quiet, moved := int64(1), last // the tier stays at quiet, moves at moved
	for moved-quiet > 1 {
		mid := quiet + (moved-quiet)/2
		if moves(mid) {
			moved = mid
		} else {
			quiet = mid
		}
	}
	return at(quiet)
}

// tierSearch is a re-scoring's tier timer not searched for yet: tierDue's
// arguments. The search costs up to some twenty scorings, ten times the
// re-scoring itself, and a periodic re-scoring shorter than a day replaces
// the timer before it can fire (advance).
type tierSearch struct {
	h       *history
	clv     float64   // the unrounded predicted value as of now
	now     time.Time // when the customer was scored
	pending bool      // not run yet
}

// earliest is the earliest the searched timer can fall due: tierDue
// answers a whole number of days, at least one, after now (or none).
func (t *tierSearch) earliest() time.Time { return t.now.Add(Day) }

// run sets s's tier timer. Between the re-scoring and this only the
// segment, its time and the clock may change (evaluate), which tierDue
// does not read, so the answer is the one it gave at the re-scoring.
func (t *tierSearch) run(m *Model, s *State) {
	if t.pending {
		s.TierDue = m.tierDue(s, t.now, t.h, t.clv)
		t.pending = false
	}
}

// retier stores s's ltv as the model now gives it and applies the tier
// rule to it; it returns the tier change, if any, caused by cause at
// event time at.
func (m *Model) retier(s *State, customerID string, cause string, at time.Time) (Change, bool) {
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
	return c, changed
}

// forgetPrediction drops what a customer scored while the predictive model
// was on still carries once it is off: the five fields (SPEC §3: they
// exist with the model only) and the tier timer. The store deletes the
// fields at the customer's next write; its ltv must then be §4's again,
// never the predicted one beside absent prediction fields.
func (s *State) forgetPrediction() {
	s.PAlive, s.ExpectedOrders, s.ExpectedSpend, s.PredictedCLV = money.Exact{}, money.Exact{}, money.Exact{}, money.Exact{}
	s.ScoredAt, s.TierDue = time.Time{}, time.Time{}
}
