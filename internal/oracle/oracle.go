// Package oracle recomputes the expected public Redis fields of SPEC §3–§4
// from a set of raw input events, independently of the service: it parses
// with encoding/json, computes with math/big rationals and rounds with its
// own half-away-from-zero rule, sharing no code with internal/decode or
// internal/aggregate. Tests compare the service's Redis state with it.
package oracle

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Params are the model settings (SPEC §4 defaults when zero).
type Params struct {
	LifespanYears  *big.Rat // default 3
	MinWindowYears *big.Rat // default 1
	DefaultMargin  *big.Rat // default 1
}

func (p *Params) defaults() {
	if p.LifespanYears == nil {
		p.LifespanYears = big.NewRat(3, 1)
	}
	if p.MinWindowYears == nil {
		p.MinWindowYears = big.NewRat(1, 1)
	}
	if p.DefaultMargin == nil {
		p.DefaultMargin = big.NewRat(1, 1)
	}
}

type customer struct {
	orders               int64
	placed, refunded     big.Rat
	gpPlaced, gpRefunded big.Rat
	first, last          time.Time
	lastChurn, lastReact time.Time
	channel              string
	seenEvents           map[string]bool
}

// Oracle accumulates valid events. Add each distinct valid event once (or
// several times: duplicates by event_id are ignored, as the service must).
type Oracle struct {
	p         Params
	customers map[string]*customer
}

// New returns an empty oracle.
func New(p Params) *Oracle {
	p.defaults()
	return &Oracle{p: p, customers: map[string]*customer{}}
}

type rawEvent struct {
	EventID     string          `json:"event_id"`
	Type        string          `json:"type"`
	CustomerID  string          `json:"customer_id"`
	Amount      json.RawMessage `json:"amount"`
	GrossMargin json.RawMessage `json:"gross_margin"`
	OccurredAt  string          `json:"occurred_at"`
	Channel     string          `json:"channel"`
}

func parseNumber(raw json.RawMessage) (*big.Rat, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("not a number: %s", s)
	}
	return r, nil
}

// Add folds one event value known to be valid. It returns an error if the
// value does not parse, which in a test means the oracle and the test data
// disagree about validity.
func (o *Oracle) Add(value []byte) error {
	var ev rawEvent
	if err := json.Unmarshal(value, &ev); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	c := o.customers[ev.CustomerID]
	if c == nil {
		c = &customer{seenEvents: map[string]bool{}}
		o.customers[ev.CustomerID] = c
	}
	if c.seenEvents[ev.EventID] {
		return nil
	}
	c.seenEvents[ev.EventID] = true
	at, err := time.Parse(time.RFC3339Nano, ev.OccurredAt)
	if err != nil {
		return fmt.Errorf("oracle: occurred_at: %w", err)
	}
	at = at.UTC()
	var amount, margin *big.Rat
	if ev.Type == "order_placed" || ev.Type == "order_refunded" {
		if amount, err = parseNumber(ev.Amount); err != nil {
			return fmt.Errorf("oracle: amount: %w", err)
		}
		margin = o.p.DefaultMargin
		if len(ev.GrossMargin) > 0 && string(ev.GrossMargin) != "null" {
			if margin, err = parseNumber(ev.GrossMargin); err != nil {
				return fmt.Errorf("oracle: gross_margin: %w", err)
			}
		}
	}
	switch ev.Type {
	case "order_placed":
		// The acquisition channel is the earliest order's; on a tie, the
		// one added first keeps it (Add in the order the partition holds).
		if c.orders == 0 || at.Before(c.first) {
			c.channel = ev.Channel
		}
		c.orders++
		c.placed.Add(&c.placed, amount)
		c.gpPlaced.Add(&c.gpPlaced, new(big.Rat).Mul(amount, margin))
		if c.first.IsZero() || at.Before(c.first) {
			c.first = at
		}
		if c.last.IsZero() || at.After(c.last) {
			c.last = at
		}
	case "order_refunded":
		c.refunded.Add(&c.refunded, amount)
		c.gpRefunded.Add(&c.gpRefunded, new(big.Rat).Mul(amount, margin))
	case "customer_churned":
		if at.After(c.lastChurn) {
			c.lastChurn = at
		}
	case "customer_reactivated":
		if at.After(c.lastReact) {
			c.lastReact = at
		}
	default:
		return fmt.Errorf("oracle: unknown type %q", ev.Type)
	}
	return nil
}

// Customers lists the customers seen, sorted.
func (o *Oracle) Customers() []string {
	out := make([]string, 0, len(o.customers))
	for id := range o.customers {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Expected is a customer's expected public fields, formatted as SPEC §3
// says. LTV is also returned as a rational for tier checks.
type Expected struct {
	Fields map[string]string // SPEC §3 field → value as stored; no tier, updated_at, segment or §9 fields
	LTV    *big.Rat          // the ltv field's rounded (2-place) value, exact
}

// Expect computes the expected public fields (all but tier and
// updated_at, which depend on processing order and wall clock).
func (o *Oracle) Expect(customerID string) (Expected, bool) {
	c := o.customers[customerID]
	if c == nil {
		return Expected{}, false
	}
	revenue := new(big.Rat).Sub(&c.placed, &c.refunded)
	gp := new(big.Rat).Sub(&c.gpPlaced, &c.gpRefunded)
	yearSecs := big.NewRat(31_557_600, 1) // 365.25 days
	tenureSecs := new(big.Rat)
	if c.orders > 0 {
		d := c.last.Sub(c.first)
		tenureSecs.SetFrac64(d.Nanoseconds(), 1_000_000_000)
	}
	tenureYears := new(big.Rat).Quo(tenureSecs, yearSecs)
	window := tenureYears
	if window.Cmp(o.p.MinWindowYears) < 0 {
		window = o.p.MinWindowYears
	}
	aov, freq := new(big.Rat), new(big.Rat)
	if c.orders > 0 {
		n := new(big.Rat).SetInt64(c.orders)
		aov.Quo(revenue, n)
		freq.Quo(n, window)
	}
	churned := !c.lastChurn.IsZero() && c.lastChurn.After(c.last) && c.lastChurn.After(c.lastReact)
	ltv := new(big.Rat)
	if churned {
		ltv.Set(gp)
	} else {
		marginRate := new(big.Rat)
		if revenue.Sign() > 0 {
			marginRate.Quo(gp, revenue)
		}
		ltv.Mul(aov, freq)
		ltv.Mul(ltv, o.p.LifespanYears)
		ltv.Mul(ltv, marginRate)
	}
	if ltv.Sign() < 0 {
		ltv.SetInt64(0)
	}
	f := map[string]string{
		"orders":       fmt.Sprint(c.orders),
		"revenue":      Round(revenue, 2),
		"gross_profit": Round(gp, 2),
		"refunds":      Round(&c.refunded, 2),
		"aov":          Round(aov, 2),
		"frequency":    Round(freq, 4),
		"tenure_days":  Round(new(big.Rat).Quo(tenureSecs, big.NewRat(86400, 1)), 2),
		"churned":      map[bool]string{true: "1", false: "0"}[churned],
		"ltv":          Round(ltv, 2),
	}
	if c.orders > 0 {
		f["first_order_at"] = c.first.Format(time.RFC3339Nano)
		f["last_order_at"] = c.last.Format(time.RFC3339Nano)
	}
	if c.channel != "" {
		f["channel"] = c.channel
	}
	rounded, _ := new(big.Rat).SetString(f["ltv"])
	return Expected{Fields: f, LTV: rounded}, true
}

// Segment is the customer's lifecycle segment at time now by the rule of
// SPEC §8, with the given thresholds ("" for a customer without orders who
// is not churned, or one never seen).
func (o *Oracle) Segment(customerID string, now time.Time, atRisk, lapsed time.Duration) string {
	c := o.customers[customerID]
	switch {
	case c == nil:
		return ""
	case !c.lastChurn.IsZero() && c.lastChurn.After(c.last) && c.lastChurn.After(c.lastReact):
		return "churned"
	case c.orders == 0:
		return ""
	case now.Sub(c.last) >= lapsed:
		return "lapsed"
	case now.Sub(c.last) >= atRisk:
		return "at_risk"
	case c.orders == 1:
		return "new"
	}
	return "active"
}

// Round formats r with the given number of decimals, rounding half away
// from zero.
func Round(r *big.Rat, places int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil)
	num := new(big.Int).Mul(r.Num(), scale)
	den := r.Denom()
	q, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	// |rem|*2 >= den  => round away from zero
	twice := new(big.Int).Mul(new(big.Int).Abs(rem), big.NewInt(2))
	if twice.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	neg := q.Sign() < 0
	digits := new(big.Int).Abs(q).String()
	for len(digits) <= places {
		digits = "0" + digits
	}
	out := digits[:len(digits)-places]
	if places > 0 {
		out += "." + digits[len(digits)-places:]
	}
	if neg {
		out = "-" + out
	}
	return out
}
