package aggregate

import (
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

var (
	// nsPerYear is Y = 365.25 days in nanoseconds (SPEC §4).
	nsPerYear = money.ExactFromInt(31_557_600_000_000_000)
	nsPerDay  = money.ExactFromInt(86_400_000_000_000)
)

// Figures are the derived public numbers of SPEC §3–§4, rounded exactly as
// they are stored. Rounding is half away from zero, applied once to the
// exact value (never to an already rounded intermediate).
type Figures struct {
	AOV        money.Exact // 2 places
	Frequency  money.Exact // 4 places
	TenureDays money.Exact // 2 places
	Churned    bool        // SPEC §4: latest lifecycle fact by event time is a churn
	LTV        money.Exact // 2 places, never negative
}

// tenureNs is last_order_at − first_order_at in nanoseconds, computed from
// seconds and nanoseconds separately so centuries-long spans cannot
// overflow time.Duration.
func tenureNs(first, last time.Time) money.Exact {
	if first.IsZero() || last.IsZero() || !last.After(first) {
		return money.Exact{}
	}
	secs := last.Unix() - first.Unix()
	nanos := int64(last.Nanosecond()) - int64(first.Nanosecond())
	if secs < 1<<33 { // fits comfortably in int64 nanoseconds
		return money.ExactFromInt(secs*1_000_000_000 + nanos)
	}
	return money.ExactFromInt(secs).Mul(money.ExactFromInt(1_000_000_000)).Add(money.ExactFromInt(nanos))
}

// Figures computes the derived values of s under the model.
//
// The LTV of an active customer is aov × frequency × lifespan × margin_rate.
// With aov = revenue/orders, frequency = orders/window and margin_rate =
// gross_profit/revenue that product is exactly gross_profit × lifespan /
// window, which is what is computed: one division, one rounding, no error
// accumulated from rounded intermediates.
func (m *Model) Figures(s *State) Figures {
	var f Figures
	tenure := tenureNs(s.FirstOrderAt, s.LastOrderAt)
	window := tenure
	if window.Cmp(m.minWindowNs) < 0 {
		window = m.minWindowNs
	}
	if s.Orders > 0 {
		orders := money.ExactFromInt(s.Orders)
		f.AOV = s.Revenue.DivRound(orders, 2)
		f.Frequency = orders.MulDivRound(nsPerYear, window, 4)
	} else {
		f.AOV = money.Exact{}
		f.Frequency = money.Exact{}
	}
	f.TenureDays = tenure.DivRound(nsPerDay, 2)
	f.Churned = s.Churned()
	switch {
	case m.Predictive != nil && s.Orders > 0:
		f.LTV = predictedLTV(s)
	case f.Churned:
		f.LTV = s.GrossProfit.Round(2)
	case s.Orders == 0 || s.Revenue.Sign() <= 0:
		f.LTV = money.Exact{}
	default:
		f.LTV = s.GrossProfit.MulDivRound(m.lifespanYear, window, 2)
	}
	if f.LTV.Sign() < 0 {
		f.LTV = money.Exact{}
	}
	return f
}
