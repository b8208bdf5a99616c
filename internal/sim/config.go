package sim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Off is the value that switches off a rate whose zero value means "use
// the default" (RefundRate, ChurnRate, ReactivationRate, MarginAbsentRate,
// NumericAmountRate): Config{RefundRate: sim.Off} emits no refunds at all.
// It is accepted by every rate field and means exactly 0.
const Off = -1.0

// Config configures a Generator. The zero value of every field means its
// documented default, so sim.Config{Seed: 1} is a complete configuration.
// Rates are probabilities in [0, 1].
//
// The customer model is Pareto/NBD for purchases and drop-out and
// Gamma-Gamma for spend, with the notation of Fader, Hardie & Lee:
// each customer has a purchase rate λ ~ Gamma(r, α), a drop-out rate
// μ ~ Gamma(s, β) (both per day, α and β are rate parameters), and a
// spend scale ν ~ Gamma(q, γ); each order's amount is Gamma(p, ν), so the
// customer's mean order value is p/ν.
type Config struct {
	// Seed makes the stream reproducible: the same Config gives
	// byte-identical output. Zero is a valid seed.
	Seed int64
	// Customers is the number of customers (ids c-000001 …). Default 1000.
	Customers int
	// Events is the total number of records to emit, faults included.
	// Default 10000.
	Events int
	// Start is the earliest event time. Default 2020-01-01T00:00:00Z:
	// a stream of ten events per customer then ends about two and a half
	// years later, still in the past, as history is. The consumer refuses
	// events dated more than max_future_skew after its wall clock, so a
	// stream that runs past today needs an earlier Start. Event times have
	// one-second resolution.
	Start time.Time
	// AcquisitionDays spreads the customers' first orders uniformly over
	// this many days after Start. Default 365.
	AcquisitionDays float64
	// BaseCurrency is the currency of every valid order (three upper-case
	// letters). Default "SEK".
	BaseCurrency string

	// DuplicateRate is the fraction of records that are exact copies
	// (same key and value bytes) of a valid record emitted shortly before,
	// as a producer retry would make. Default 0.
	DuplicateRate float64
	// DuplicateWindow is how many of the most recent valid records a
	// duplicate is drawn from. Default 16.
	DuplicateWindow int
	// LateRate is the fraction of records that are valid events emitted
	// out of event-time order: held back for LateMinDelay..LateMaxDelay
	// positions while later events go out. Default 0.
	LateRate float64
	// LateMinDelay and LateMaxDelay bound how many positions a late event
	// is held back. Defaults 100 and 1000.
	LateMinDelay, LateMaxDelay int
	// BadRate is the fraction of records that violate SPEC §2 (see
	// BadKinds). Default 0.
	BadRate float64
	// OversizeRate is the fraction of records that are otherwise
	// well-formed order events padded to OversizeBytes. Default 0.
	OversizeRate float64
	// OversizeBytes is the size of an oversized record's value. Default
	// 1 MiB + 1 byte, one byte over the consumer's default limit. A broker
	// with the default message.max.bytes (1048588) refuses it too: raise
	// the input topics' max.message.bytes to write such records to Kafka.
	OversizeBytes int

	// RefundRate is the probability that an order is later refunded
	// (fully or partly). Default 0.08.
	RefundRate float64
	// RefundMaxDays is the latest a refund comes after its order; refunds
	// come uniformly 1..RefundMaxDays days later. Default 30.
	RefundMaxDays float64
	// ChurnRate is the probability that a customer who drops out gets a
	// customer_churned event at the drop-out time (the others just stop
	// ordering). Default 0.3.
	ChurnRate float64
	// ReactivationRate is the probability that a churned customer later
	// gets a customer_reactivated event and resumes ordering. Default 0.2.
	ReactivationRate float64
	// ReactivationMeanDays is the mean time from churn to reactivation
	// (exponential). Default 90.
	ReactivationMeanDays float64
	// MarginAbsentRate is the fraction of orders without gross_margin.
	// Default 0.1.
	MarginAbsentRate float64
	// NumericAmountRate is the fraction of order events whose amount and
	// gross_margin are JSON numbers instead of strings. Default 0.1.
	NumericAmountRate float64

	// PurchaseShape (r) and PurchaseAlpha (α, days) give the purchase
	// rate λ ~ Gamma(r, α) per day. Defaults 0.5 and 30: a mean of about
	// 6 orders a year, a median customer near 3 a year, a few weekly.
	PurchaseShape, PurchaseAlpha float64
	// DropoutShape (s) and DropoutBeta (β, days) give the drop-out rate
	// μ ~ Gamma(s, β) per day. Defaults 1 and 500: about 40 % of
	// customers drop out within their first year.
	DropoutShape, DropoutBeta float64
	// SpendP (p), SpendQ (q) and SpendGamma (γ) are the Gamma-Gamma spend
	// parameters; the mean order value over customers is p·γ/(q−1).
	// Defaults 6, 4 and 300: about 600 in BaseCurrency.
	SpendP, SpendQ, SpendGamma float64
}

// Default values of Config, for documentation and the CLI's help text.
const (
	DefaultCustomers            = 1000
	DefaultEvents               = 10000
	DefaultAcquisitionDays      = 365.0
	DefaultBaseCurrency         = "SEK"
	DefaultDuplicateWindow      = 16
	DefaultLateMinDelay         = 100
	DefaultLateMaxDelay         = 1000
	DefaultOversizeBytes        = 1<<20 + 1
	DefaultRefundRate           = 0.08
	DefaultRefundMaxDays        = 30.0
	DefaultChurnRate            = 0.3
	DefaultReactivationRate     = 0.2
	DefaultReactivationMeanDays = 90.0
	DefaultMarginAbsentRate     = 0.1
	DefaultNumericAmountRate    = 0.1
	DefaultPurchaseShape        = 0.5
	DefaultPurchaseAlpha        = 30.0
	DefaultDropoutShape         = 1.0
	DefaultDropoutBeta          = 500.0
	DefaultSpendP               = 6.0
	DefaultSpendQ               = 4.0
	DefaultSpendGamma           = 300.0
)

// DefaultStart is the default Config.Start.
var DefaultStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// setDefaults fills zero fields with their defaults and turns Off into 0.
// It must run exactly once per Config (NewGenerator does it on a copy).
func (c *Config) setDefaults() {
	intDef := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	floatDef := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	rate := func(v *float64, d float64) {
		switch *v {
		case 0:
			*v = d
		case Off:
			*v = 0
		}
	}
	intDef(&c.Customers, DefaultCustomers)
	intDef(&c.Events, DefaultEvents)
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	floatDef(&c.AcquisitionDays, DefaultAcquisitionDays)
	if c.BaseCurrency == "" {
		c.BaseCurrency = DefaultBaseCurrency
	}
	rate(&c.DuplicateRate, 0)
	intDef(&c.DuplicateWindow, DefaultDuplicateWindow)
	rate(&c.LateRate, 0)
	intDef(&c.LateMinDelay, DefaultLateMinDelay)
	intDef(&c.LateMaxDelay, DefaultLateMaxDelay)
	rate(&c.BadRate, 0)
	rate(&c.OversizeRate, 0)
	intDef(&c.OversizeBytes, DefaultOversizeBytes)
	rate(&c.RefundRate, DefaultRefundRate)
	floatDef(&c.RefundMaxDays, DefaultRefundMaxDays)
	rate(&c.ChurnRate, DefaultChurnRate)
	rate(&c.ReactivationRate, DefaultReactivationRate)
	floatDef(&c.ReactivationMeanDays, DefaultReactivationMeanDays)
	rate(&c.MarginAbsentRate, DefaultMarginAbsentRate)
	rate(&c.NumericAmountRate, DefaultNumericAmountRate)
	floatDef(&c.PurchaseShape, DefaultPurchaseShape)
	floatDef(&c.PurchaseAlpha, DefaultPurchaseAlpha)
	floatDef(&c.DropoutShape, DefaultDropoutShape)
	floatDef(&c.DropoutBeta, DefaultDropoutBeta)
	floatDef(&c.SpendP, DefaultSpendP)
	floatDef(&c.SpendQ, DefaultSpendQ)
	floatDef(&c.SpendGamma, DefaultSpendGamma)
}

// maxFaultShare bounds the sum of the fault rates: late events need valid
// events to hold back, and a stream of nothing but faults is useless.
const maxFaultShare = 0.9

// Validate reports a configuration that cannot work, naming the setting.
// It expects defaults to have been applied (NewGenerator does that).
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Customers < 1 {
		bad("customers must be at least 1, got %d", c.Customers)
	}
	if c.Customers > 100_000_000 {
		bad("customers must be at most 100,000,000, got %d", c.Customers)
	}
	if c.Events < 1 {
		bad("events must be at least 1, got %d", c.Events)
	}
	if y := c.Start.Year(); y < 1970 || y > 9000 {
		bad("start %s is outside the years 1970..9000", c.Start.Format(time.RFC3339))
	}
	if !validCurrency(c.BaseCurrency) {
		bad("base currency %q must be three upper-case letters", c.BaseCurrency)
	}
	rates := []struct {
		name string
		v    float64
	}{
		{"duplicate rate", c.DuplicateRate}, {"late rate", c.LateRate}, {"bad rate", c.BadRate},
		{"oversize rate", c.OversizeRate}, {"refund rate", c.RefundRate}, {"churn rate", c.ChurnRate},
		{"reactivation rate", c.ReactivationRate}, {"margin-absent rate", c.MarginAbsentRate},
		{"numeric-amount rate", c.NumericAmountRate},
	}
	for _, r := range rates {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			bad("%s %v is outside [0, 1]", r.name, r.v)
		}
	}
	if s := c.DuplicateRate + c.LateRate + c.BadRate + c.OversizeRate; s > maxFaultShare {
		bad("duplicate, late, bad and oversize rates add up to %v; at most %v is allowed", s, maxFaultShare)
	}
	if c.DuplicateWindow < 1 {
		bad("duplicate window must be at least 1, got %d", c.DuplicateWindow)
	}
	if c.LateMinDelay < 1 || c.LateMaxDelay < c.LateMinDelay {
		bad("late delays must satisfy 1 <= min <= max, got min %d max %d", c.LateMinDelay, c.LateMaxDelay)
	}
	if c.OversizeBytes < 1024 {
		bad("oversize bytes must be at least 1024, got %d", c.OversizeBytes)
	}
	if c.OversizeBytes > 64<<20 {
		bad("oversize bytes must be at most 64 MiB, got %d", c.OversizeBytes)
	}
	params := []struct {
		name string
		v    float64
	}{
		{"acquisition days", c.AcquisitionDays}, {"refund max days", c.RefundMaxDays},
		{"reactivation mean days", c.ReactivationMeanDays},
		{"purchase shape r", c.PurchaseShape}, {"purchase alpha", c.PurchaseAlpha},
		{"dropout shape s", c.DropoutShape}, {"dropout beta", c.DropoutBeta},
		{"spend p", c.SpendP}, {"spend q", c.SpendQ}, {"spend gamma", c.SpendGamma},
	}
	for _, p := range params {
		if math.IsNaN(p.v) || math.IsInf(p.v, 0) || p.v <= 0 {
			bad("%s must be a positive number, got %v", p.name, p.v)
		}
	}
	if c.AcquisitionDays > 36500 || c.RefundMaxDays > 36500 || c.ReactivationMeanDays > 36500 {
		bad("day counts must be at most 36500")
	}
	if c.RefundMaxDays < 1 {
		bad("refund max days must be at least 1, got %v", c.RefundMaxDays)
	}
	if len(errs) > 0 {
		return fmt.Errorf("sim: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
