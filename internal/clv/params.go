package clv

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Sentinel errors, so that callers can tell bad configuration from bad
// customer data from a fit that did not work, with errors.Is.
var (
	// ErrInvalidParameter marks a model parameter that is not a finite
	// number in its allowed range; the message names it and its value.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrInvalidCustomer marks customer data that no model can score
	// (negative counts, t_x > T, NaN); the message names the value.
	ErrInvalidCustomer = errors.New("invalid customer data")
	// ErrTooFewCustomers is returned by the fits when the population cannot
	// identify the parameters.
	ErrTooFewCustomers = errors.New("too few customers")
	// ErrNoConvergence is returned by the fits when the optimiser did not
	// reach a maximum of the likelihood; the message says how far it got.
	ErrNoConvergence = errors.New("no convergence")
	// ErrNumeric marks a result that would not be finite in float64 even
	// though the inputs are valid (absurdly large parameters).
	ErrNumeric = errors.New("numerically out of range")
)

// Kind selects the purchase model; the two differ only in whether a
// customer can drop out right after the first purchase.
type Kind uint8

const (
	// BGNBD is the BG/NBD model: a customer can drop out only after a
	// repeat purchase, so one without repeats is certainly alive.
	BGNBD Kind = iota + 1
	// MBGNBD is the MBG/NBD model: a customer can also drop out right after
	// the first purchase, so P(alive) < 1 even without repeats.
	MBGNBD
)

var kindNames = []string{BGNBD: "bgnbd", MBGNBD: "mbgnbd"}

// String gives the name the YAML and ltvctl use (SPEC §9, §10).
func (k Kind) String() string { return name(kindNames, k, "Kind") }

// ParseKind reads the `model:` value of the YAML, so that the config layer
// and ltvctl accept exactly the same spellings.
func ParseKind(s string) (Kind, error) { return parseName[Kind](kindNames, "model", s) }

// TimeUnit is the unit of t_x, T and the model's α, fixed per deployment
// because the parameters are only meaningful in the unit they were fitted in.
type TimeUnit uint8

const (
	// Day is one day.
	Day TimeUnit = iota + 1
	// Week is seven days.
	Week
)

// MonthDays is the SPEC's month, Y/12 with Y = 365.25 days.
const MonthDays = 365.25 / 12

// Days converts the unit to days, the base of the month conversion.
func (u TimeUnit) Days() float64 {
	switch u {
	case Day:
		return 1
	case Week:
		return 7
	}
	return math.NaN()
}

var unitNames = []string{Day: "day", Week: "week"}

// String gives the name the YAML uses.
func (u TimeUnit) String() string { return name(unitNames, u, "TimeUnit") }

// ParseTimeUnit reads the `time_unit:` value of the YAML.
func ParseTimeUnit(s string) (TimeUnit, error) { return parseName[TimeUnit](unitNames, "time_unit", s) }

// name and parseName map the small enums to and from their YAML names;
// index 0 is the invalid zero value.
func name[T ~uint8](names []string, v T, typ string) string {
	if v > 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

func parseName[T ~uint8](names []string, field, s string) (T, error) {
	for i, n := range names {
		if i > 0 && n == s {
			return T(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %s %q, want one of %s", ErrInvalidParameter, field, s, strings.Join(names[1:], ", "))
}

// Purchases holds the parameters of the purchase model: the purchase rate
// λ ~ Gamma(shape R, rate Alpha) and the drop-out probability per
// purchase p ~ Beta(A, B). Alpha is in the time unit of the data.
type Purchases struct {
	// Kind is BG/NBD or MBG/NBD.
	Kind Kind
	// R is the shape of the purchase rate: small means customers differ
	// much in how often they buy.
	R float64
	// Alpha is the rate of the purchase rate (mean rate R/Alpha), in the
	// time unit of the data.
	Alpha float64
	// A and B are the Beta shapes of the drop-out probability (mean
	// A/(A+B)).
	A float64
	B float64 // see A; both > 0 (YAML purchases.a, purchases.b)
}

// Validate rejects what would make the likelihood meaningless, naming the
// bad value, so a typo in the YAML fails at start-up and not per event.
func (p Purchases) Validate() error {
	if p.Kind != BGNBD && p.Kind != MBGNBD {
		return fmt.Errorf("%w: purchase model kind %d", ErrInvalidParameter, p.Kind)
	}
	return positives([]string{"r", "alpha", "a", "b"}, p.R, p.Alpha, p.A, p.B)
}

// Spend holds the Gamma-Gamma parameters: an order's value is
// Gamma(shape P, rate ν) with ν ~ Gamma(shape Q, rate V). V is in money.
type Spend struct {
	// P is the shape of one order's value around the customer's mean.
	P float64
	// Q and V are the shape and rate of the customers' ν: the population
	// mean order value is P·V/(Q−1).
	Q float64
	V float64 // see Q; in base currency, > 0 (YAML spend.v)
}

// Validate rejects non-positive or non-finite parameters and q ≤ 1, for
// which the mean order value of a customer without repeat orders (the
// population mean p·v/(q−1)) does not exist.
func (s Spend) Validate() error {
	if err := s.validateShape(); err != nil {
		return err
	}
	if s.Q <= 1 {
		return fmt.Errorf("%w: q = %v must exceed 1, or the mean order value p·v/(q−1) is infinite", ErrInvalidParameter, s.Q)
	}
	return nil
}

// Customer is one customer's sufficient statistics (SPEC §9), in the time
// unit of the model: X repeat orders, the last at Tx after the first, T
// the time since the first order, and M the mean value of the repeat
// orders (only the spend model reads it).
type Customer struct {
	// X is the number of repeat orders (orders − 1), a whole number.
	X float64
	// Tx is the time from the first to the last order (0 when X = 0).
	Tx float64
	// T is the time from the first order to now.
	T float64
	// M is the mean value of the repeat orders (unused when X = 0).
	M float64
}

// positives reports the first of vals that is not a finite number > 0,
// by its name.
func positives(names []string, vals ...float64) error {
	for i, v := range vals {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %s = %v, must be a finite number > 0", ErrInvalidParameter, names[i], v)
		}
	}
	return nil
}

// Check reports whether the models can use the customer: its history as
// every purchase-model function needs it, and a finite mean spend. Input
// read from outside (a summary file) is checked with it row by row, so a
// bad row is named where it is, not found inside a fit.
func (c Customer) Check() error {
	if err := checkHistory(c.X, c.Tx, c.T); err != nil {
		return err
	}
	return checkSpendInput(c.X, c.M)
}

// checkHistory validates (x, t_x, T) the way every purchase-model function
// needs them: x a whole number ≥ 0, 0 ≤ t_x ≤ T finite, t_x = 0 when x = 0.
func checkHistory(x, tx, T float64) error {
	switch {
	case !(x >= 0) || math.IsInf(x, 0) || x != math.Trunc(x):
		return fmt.Errorf("%w: x = %v, must be a whole number ≥ 0", ErrInvalidCustomer, x)
	case !(tx >= 0) || math.IsInf(tx, 0):
		return fmt.Errorf("%w: t_x = %v, must be a finite number ≥ 0", ErrInvalidCustomer, tx)
	case !(T >= tx) || math.IsInf(T, 0):
		return fmt.Errorf("%w: T = %v, must be finite and ≥ t_x = %v", ErrInvalidCustomer, T, tx)
	case x == 0 && tx != 0:
		return fmt.Errorf("%w: t_x = %v with x = 0 (no repeat order, so no recency)", ErrInvalidCustomer, tx)
	}
	return nil
}
