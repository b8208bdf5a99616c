package aggregate

import (
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

var (
	// nsPerYear is Y = 365.25 days in nanoseconds (SPEC §4).
	nsPerYear = decimal.NewFromInt(31_557_600_000_000_000)
	nsPerDay  = decimal.NewFromInt(86_400_000_000_000)
)

// Figures are the derived public numbers of SPEC §3–§4, rounded exactly as
// they are stored. Rounding is half away from zero, applied once to the
// exact value (never to an already rounded intermediate).
type Figures struct {
	AOV        decimal.Decimal // 2 places
	Frequency  decimal.Decimal // 4 places
	TenureDays decimal.Decimal // 2 places
	Churned    bool
	LTV        decimal.Decimal // 2 places, never negative
}

// tenureNs is last_order_at − first_order_at in nanoseconds, computed from
// seconds and nanoseconds separately so centuries-long spans cannot
// overflow time.Duration.
func tenureNs(first, last time.Time) decimal.Decimal {
	if first.IsZero() || last.IsZero() || !last.After(first) {
		return decimal.Zero
	}
	secs := last.Unix() - first.Unix()
	nanos := int64(last.Nanosecond()) - int64(first.Nanosecond())
	if secs < 1<<33 { // fits comfortably in int64 nanoseconds
		return decimal.NewFromInt(secs*1_000_000_000 + nanos)
	}
	return decimal.NewFromInt(secs).Mul(decimal.NewFromInt(1_000_000_000)).Add(decimal.NewFromInt(nanos))
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
	if money.Cmp(window, m.minWindowNs) < 0 {
		window = m.minWindowNs
	}
	if s.Orders > 0 {
		orders := decimal.NewFromInt(s.Orders)
		f.AOV = money.DivRound(s.Revenue, orders, 2)
		f.Frequency = money.MulDivRound(orders, nsPerYear, window, 4)
	} else {
		f.AOV = decimal.Zero
		f.Frequency = decimal.Zero
	}
	f.TenureDays = money.DivRound(tenure, nsPerDay, 2)
	f.Churned = s.Churned()
	switch {
	case m.Predictive != nil && s.Orders > 0:
		f.LTV = predictedLTV(s)
	case f.Churned:
		f.LTV = money.Round(s.GrossProfit, 2)
	case s.Orders == 0 || s.Revenue.Sign() <= 0:
		f.LTV = decimal.Zero
	default:
		f.LTV = money.MulDivRound(s.GrossProfit, m.lifespanYear, window, 2)
	}
	if f.LTV.Sign() < 0 {
		f.LTV = decimal.Zero
	}
	return f
}
