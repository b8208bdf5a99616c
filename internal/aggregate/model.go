package aggregate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

// Tier is one rung of the tier ladder: a customer whose LTV reaches Min
// (in base currency) is promoted into it.
type Tier struct {
	Name string          // stored as `tier` and in events; unique, not empty or blank
	Min  decimal.Decimal // promotion threshold on ltv; ≥ 0, strictly ascending, no two rounding up to one cent (Validate)
}

// DefaultDedupeWindow is how many distinct event ids per customer are
// remembered to catch producer-side duplicates (SPEC §6 asks for at least
// 32). Kafka redelivery is caught by the offset guard without any window.
const DefaultDedupeWindow = 32

// Model holds the settings of the default LTV model (SPEC §4) and the tier
// ladder (SPEC §5). Start from DefaultModel, change fields, then call Validate;
// a Model is read-only after construction and safe to share.
type Model struct {
	// LifespanYears is the expected customer lifespan. Default 3.
	LifespanYears decimal.Decimal
	// MinWindowYears is the smallest observation window used for the
	// purchase frequency, so a customer with one order is not extrapolated
	// to an infinite rate. Default 1; must be > 0.
	MinWindowYears decimal.Decimal
	// DefaultMargin applies to order events without gross_margin. Default 1.0
	// (revenue-based LTV, the plain formula).
	DefaultMargin decimal.Decimal
	// Tiers in ascending order of Min. Default bronze 0, silver 1000,
	// gold 5000, platinum 20000.
	Tiers []Tier
	// Hysteresis is the fraction below a tier's threshold an LTV must fall
	// before the customer is demoted out of it. Default 0.05.
	Hysteresis decimal.Decimal
	// DedupeWindow is the number of distinct event ids remembered per
	// customer. Default DefaultDedupeWindow.
	DedupeWindow int
	// AtRiskAfter and LapsedAfter are the idle times (since the last order)
	// after which a customer is at risk and lapsed (SPEC §8). Defaults 90
	// and 180 days; 0 < AtRiskAfter < LapsedAfter.
	AtRiskAfter, LapsedAfter time.Duration
	// Predictive, when set, scores customers with the predictive model
	// (SPEC §9) and makes ltv = gross_profit + predicted_clv.
	Predictive *Predictive

	// precomputed by Validate, as Exact for the per-event path
	tierMin       []money.Exact // Tiers[i].Min
	leaveBelow    []money.Exact // Tiers[i].Min × (1 − Hysteresis)
	lifespanYear  money.Exact   // LifespanYears × nanoseconds per year
	minWindowNs   money.Exact   // MinWindowYears × nanoseconds per year
	defaultMargin money.Exact   // DefaultMargin
}

// DefaultTiers returns the SPEC §5 default ladder.
func DefaultTiers() []Tier {
	return []Tier{
		{Name: "bronze", Min: decimal.Zero},
		{Name: "silver", Min: decimal.NewFromInt(1000)},
		{Name: "gold", Min: decimal.NewFromInt(5000)},
		{Name: "platinum", Min: decimal.NewFromInt(20000)},
	}
}

// DefaultModel returns the SPEC default model, validated and ready to use.
// Configuration loaders start from it and override what the user set, so a
// setting whose legitimate value is zero (hysteresis: 0) stays expressible.
func DefaultModel() *Model {
	m := &Model{
		LifespanYears:  decimal.NewFromInt(3),
		MinWindowYears: decimal.NewFromInt(1),
		DefaultMargin:  decimal.NewFromInt(1),
		Tiers:          DefaultTiers(),
		Hysteresis:     decimal.RequireFromString("0.05"),
		DedupeWindow:   DefaultDedupeWindow,
		AtRiskAfter:    DefaultAtRiskAfterDays * Day,
		LapsedAfter:    DefaultLapsedAfterDays * Day,
	}
	if err := m.Validate(); err != nil {
		// The defaults are constants; this is a programming error that the
		// package tests catch, never a reaction to input.
		panic(err)
	}
	return m
}

// Validate rejects settings that would make the formulas meaningless and
// precomputes the constants Apply needs. Call it after changing any field.
func (m *Model) Validate() error {
	hundred := decimal.NewFromInt(100)
	if m.LifespanYears.Sign() <= 0 || m.LifespanYears.GreaterThan(hundred) {
		return fmt.Errorf("lifespan_years must be > 0 and at most 100, got %s", m.LifespanYears)
	}
	if m.MinWindowYears.Sign() <= 0 || m.MinWindowYears.GreaterThan(hundred) {
		return fmt.Errorf("min_window_years must be > 0 and at most 100, got %s", m.MinWindowYears)
	}
	if m.DefaultMargin.Sign() < 0 || m.DefaultMargin.GreaterThan(decimal.NewFromInt(1)) {
		return fmt.Errorf("default_gross_margin must be in [0,1], got %s", m.DefaultMargin)
	}
	if m.Hysteresis.Sign() < 0 || !m.Hysteresis.LessThan(decimal.NewFromInt(1)) {
		return fmt.Errorf("hysteresis must be in [0,1), got %s", m.Hysteresis)
	}
	if m.DedupeWindow < DefaultDedupeWindow || m.DedupeWindow > 1024 {
		return fmt.Errorf("dedupe window must be in [%d,1024] (SPEC §6), got %d", DefaultDedupeWindow, m.DedupeWindow)
	}
	if m.AtRiskAfter <= 0 || m.LapsedAfter <= m.AtRiskAfter {
		return fmt.Errorf("segments need 0 < at_risk_after_days < lapsed_after_days, got %s and %s",
			days(m.AtRiskAfter), days(m.LapsedAfter))
	}
	if len(m.Tiers) == 0 {
		return errors.New("tiers: at least one tier is required")
	}
	if p := m.Predictive; p != nil && (p.Predictor == nil || p.TimeUnit <= 0 || p.RescoreEvery < 0) {
		return errors.New("predictive model: needs a predictor, a positive time unit and a rescore interval of 0 or more")
	}
	seen := map[string]bool{}
	for i, t := range m.Tiers {
		// A name of blanks only is empty, as an id of blanks only is
		// (SPEC §2): it would be stored and published as a tier nobody
		// can tell from "" at a glance.
		if strings.TrimSpace(t.Name) == "" {
			return fmt.Errorf("tiers: tier %d (threshold %s) has an empty name", i+1, t.Min)
		}
		if seen[t.Name] {
			return fmt.Errorf("tiers: tier %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		if t.Min.Sign() < 0 {
			return fmt.Errorf("tiers: tier %q has a negative threshold %s", t.Name, t.Min)
		}
		if i == 0 {
			continue
		}
		switch prev := m.Tiers[i-1]; {
		case t.Min.Equal(prev.Min):
			return fmt.Errorf("tiers: %q and %q have the same threshold %s (thresholds must be strictly ascending)",
				prev.Name, t.Name, t.Min)
		case t.Min.LessThan(prev.Min):
			return fmt.Errorf("tiers must be in strictly ascending order of threshold: %q (%s) after %q (%s)",
				t.Name, t.Min, prev.Name, prev.Min)
		case t.Min.RoundCeil(2).Equal(prev.Min.RoundCeil(2)):
			// The rule reads the stored ltv, which has 2 places: the
			// lowest ltv reaching prev reaches t as well.
			return fmt.Errorf("tiers: %q can never be held: the ltv it is judged on has 2 decimal places, and every one reaching %s reaches %q (%s) too",
				prev.Name, prev.Min, t.Name, t.Min)
		}
	}
	keep := decimal.NewFromInt(1).Sub(m.Hysteresis)
	m.tierMin = make([]money.Exact, len(m.Tiers))
	m.leaveBelow = make([]money.Exact, len(m.Tiers))
	for i, t := range m.Tiers {
		m.tierMin[i] = money.FromDecimal(t.Min)
		m.leaveBelow[i] = money.FromDecimal(t.Min.Mul(keep))
	}
	m.lifespanYear = money.FromDecimal(m.LifespanYears).Mul(nsPerYear)
	m.minWindowNs = money.FromDecimal(m.MinWindowYears).Mul(nsPerYear)
	m.defaultMargin = money.FromDecimal(m.DefaultMargin)
	return nil
}

// Day is the day of the segment thresholds: 24 hours of event time.
const Day = 24 * time.Hour

// days renders a duration in days for messages.
func days(d time.Duration) string {
	return strconv.FormatFloat(d.Hours()/24, 'f', -1, 64)
}

// tierIndex returns the position of name in the ladder, or -1.
func (m *Model) tierIndex(name string) int {
	for i := range m.Tiers {
		if m.Tiers[i].Name == name {
			return i
		}
	}
	return -1
}

// NaturalTier is the tier an LTV falls into without hysteresis: the highest
// tier whose threshold it reaches ("" if it reaches none).
func (m *Model) NaturalTier(ltv money.Exact) string {
	if i := m.naturalIndex(ltv); i >= 0 {
		return m.Tiers[i].Name
	}
	return ""
}

func (m *Model) naturalIndex(ltv money.Exact) int {
	for i := len(m.Tiers) - 1; i >= 0; i-- {
		if ltv.Cmp(m.tierMin[i]) >= 0 {
			return i
		}
	}
	return -1
}

// NextTier applies SPEC §5 to a customer currently in tier current whose
// LTV is now ltv. Promotion is immediate. Demotion leaves the current tier
// only when ltv is below its threshold × (1 − hysteresis), and then lands
// in the tier the LTV reaches (its natural tier): hysteresis keeps a
// customer in the tier they hold, never puts them in one whose threshold
// they have not reached. A current tier that is no longer configured is
// treated like no tier at all.
func (m *Model) NextTier(current string, ltv money.Exact) string {
	natural := m.naturalIndex(ltv)
	if cur := m.tierIndex(current); cur > natural && ltv.Cmp(m.leaveBelow[cur]) >= 0 {
		return current
	}
	if natural < 0 {
		return ""
	}
	return m.Tiers[natural].Name
}
