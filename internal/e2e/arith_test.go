package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/segmentio/kafka-go"
)

// This file drives the real service with unusual but valid inputs chosen to
// stress the arithmetic (amounts of many decimal places or 17 integer
// digits, JSON numbers with exponents, margins 0, 1, 1/3-ish and absent,
// refunds larger than, before or without their order, ties in event time
// between orders, churns and reactivations, offsets, leap seconds and
// nanoseconds, tier thresholds hit exactly, amounts in other currencies) and
// compares every stored public field but segment_since (the segment at the
// partition's final stream time included) and every ltv.change.v1 event
// with a reference of its own.
//
// The reference (arithModel, arithCustomer) is written from SPEC §3–§5 and
// the project's docs alone, with encoding/json and math/big: it shares
// nothing with internal/decode, internal/aggregate, internal/money or
// internal/oracle, so a mistake there cannot hide behind the same mistake
// here. Where SPEC is silent it follows the docs:
//   - rounding is half away from zero, once, on the exact value
//     (data-model.md "Exactness and rounding"), so ltv is the exact
//     aov × frequency × lifespan × margin_rate rounded once;
//   - a demotion lands in the tier the ltv reaches (configuration.md), and
//     the ladder is applied to the stored (2-place) ltv, so the stored tier
//     always agrees with the stored ltv;
//   - a leap second 23:59:60 is read as 23:59:59.999999999 UTC
//     (guarantees.md);
//   - first_order_at and last_order_at are absent until the first order,
//     channel while the earliest order had none (data-model.md);
//   - aov of a customer without orders is 0.00 (revenue / 0 is undefined;
//     the project writes zero).
//
// The service merges partition p of its two input topics by event time,
// ties to the orders topic, each topic in its own log order
// (guarantees.md): the reference applies the events in that order, which
// matters for the tier path (hysteresis) and for which of two events
// sharing an event_id counts.

// arithModel is the reference's reading of the model settings.
type arithModel struct {
	lifespan, minWindow, defMargin, hysteresis *big.Rat
	tiers                                      []ratTier           // ascending
	fx                                         map[string]*big.Rat // rate into SEK, the base currency
}

func arithDefaultTiers() []ratTier {
	return []ratTier{{"bronze", rat("0")}, {"silver", rat("1000")}, {"gold", rat("5000")}, {"platinum", rat("20000")}}
}

// arithEvent is an input event as the reference reads it.
type arithEvent struct {
	id, typ, cust, order, channel string
	currency                      string
	amount, margin                *big.Rat // margin nil: absent or null
	at                            time.Time
	atText                        string
}

// arithParse reads an event value with encoding/json and math/big: amounts
// and margins exactly from their text (a string or a JSON number, exponent
// included), occurred_at as RFC 3339 with a leap second read as SPEC's
// project docs say.
func arithParse(value string) (arithEvent, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &raw); err != nil {
		return arithEvent{}, err
	}
	str := func(k string) string {
		var s string
		if v, ok := raw[k]; ok {
			_ = json.Unmarshal(v, &s)
		}
		return s
	}
	num := func(k string) (*big.Rat, error) {
		v, ok := raw[k]
		if !ok || string(v) == "null" {
			return nil, nil
		}
		text := string(v)
		if strings.HasPrefix(text, `"`) {
			if err := json.Unmarshal(v, &text); err != nil {
				return nil, err
			}
		}
		r, ok := new(big.Rat).SetString(text)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not a number", k, text)
		}
		return r, nil
	}
	ev := arithEvent{id: str("event_id"), typ: str("type"), cust: str("customer_id"), order: str("order_id"), channel: str("channel"), currency: str("currency"), atText: str("occurred_at")}
	var err error
	if ev.amount, err = num("amount"); err != nil {
		return ev, err
	}
	if ev.margin, err = num("gross_margin"); err != nil {
		return ev, err
	}
	ev.at, err = arithTime(ev.atText)
	return ev, err
}

// arithTime parses RFC 3339; second 60 (a leap second) is the last
// nanosecond of that second 59 (guarantees.md), in UTC.
func arithTime(s string) (time.Time, error) {
	s = strings.ToUpper(s) // RFC 3339 allows "t" and "z"; Go's layout does not
	leap := len(s) > 19 && s[17:19] == "60"
	if leap {
		s = s[:17] + "59" + s[19:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if leap {
		t = t.Truncate(time.Second).Add(time.Second - time.Nanosecond)
	}
	return t.UTC(), nil
}

// arithCustomer is the reference's state of one customer.
type arithCustomer struct {
	seen                      map[string]bool
	orders                    int64
	placed, refunded          big.Rat
	gpPlaced, gpRefunded      big.Rat
	first, last, churn, react time.Time // zero: none
	channel                   string
	tier, ltv                 string // stored; ltv "" before the first event
	changes                   []map[string]string
	hasFirst                  bool
}

// apply folds one event, in the service's order, into c and records the
// ltv.change.v1 event it must cause.
func (m *arithModel) apply(c *arithCustomer, ev arithEvent) {
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[ev.id] {
		return // SPEC §2: the same event_id counts once, whatever its content
	}
	c.seen[ev.id] = true
	margin := ev.margin
	if margin == nil {
		margin = m.defMargin
	}
	if rate, ok := m.fx[ev.currency]; ok && ev.amount != nil {
		// SPEC §2 with configuration.md: amount × rate, exactly.
		ev.amount = new(big.Rat).Mul(ev.amount, rate)
	}
	switch ev.typ {
	case "order_placed":
		// The earliest order names the channel; of two at the same
		// instant, the one read first (data-model.md).
		if !c.hasFirst || ev.at.Before(c.first) {
			c.channel = ev.channel
			c.first = ev.at
		}
		if !c.hasFirst || ev.at.After(c.last) {
			c.last = ev.at
		}
		c.hasFirst = true
		c.orders++
		c.placed.Add(&c.placed, ev.amount)
		c.gpPlaced.Add(&c.gpPlaced, new(big.Rat).Mul(ev.amount, margin))
	case "order_refunded":
		c.refunded.Add(&c.refunded, ev.amount)
		c.gpRefunded.Add(&c.gpRefunded, new(big.Rat).Mul(ev.amount, margin))
	case "customer_churned":
		if ev.at.After(c.churn) {
			c.churn = ev.at
		}
	case "customer_reactivated":
		if ev.at.After(c.react) {
			c.react = ev.at
		}
	default:
		panic("unknown type " + ev.typ)
	}
	f := m.fields(c)
	prevLTV := c.ltv
	if prevLTV == "" {
		prevLTV = "0.00"
	}
	next := m.next(c.tier, rat(f["ltv"]))
	if next != c.tier {
		dir := "down"
		if m.index(next) > m.index(c.tier) {
			dir = "up"
		}
		c.changes = append(c.changes, map[string]string{
			"previous_tier": jstr(c.tier), "tier": jstr(next), "direction": jstr(dir),
			"ltv": jstr(f["ltv"]), "previous_ltv": jstr(prevLTV),
			"aov": jstr(f["aov"]), "frequency": jstr(f["frequency"]),
			"orders": f["orders"], "churned": strconv.FormatBool(f["churned"] == "1"),
			"caused_by": jstr(ev.id), "occurred_at": jstr(ev.at.Format(time.RFC3339Nano)),
		})
		c.tier = next
	}
	c.ltv = f["ltv"]
}

// churned is SPEC §4: the latest churn is later than every order placed
// and every reactivation (a tie is not later).
func (c *arithCustomer) churned() bool {
	return !c.churn.IsZero() && (!c.hasFirst || c.churn.After(c.last)) && c.churn.After(c.react)
}

// fields computes SPEC §3's public fields from the exact sums, literally:
// tenure_years = (last − first) / 365.25 days, frequency = orders /
// max(tenure_years, min_window_years), margin_rate = gross_profit / revenue
// (0 when revenue ≤ 0), ltv = aov × frequency × lifespan × margin_rate (or
// gross_profit when churned), never below 0, each rounded once.
func (m *arithModel) fields(c *arithCustomer) map[string]string {
	revenue := new(big.Rat).Sub(&c.placed, &c.refunded)
	gp := new(big.Rat).Sub(&c.gpPlaced, &c.gpRefunded)
	tenureNs := new(big.Rat)
	if c.hasFirst {
		d := new(big.Int).Sub(big.NewInt(c.last.Unix()), big.NewInt(c.first.Unix()))
		d.Mul(d, big.NewInt(1e9))
		d.Add(d, big.NewInt(int64(c.last.Nanosecond()-c.first.Nanosecond())))
		tenureNs.SetInt(d)
	}
	year := new(big.Rat).SetInt64(36525 * 864 * 1e9) // 365.25 days in ns
	day := new(big.Rat).SetInt64(86400 * 1e9)
	tenureYears := new(big.Rat).Quo(tenureNs, year)
	window := tenureYears
	if window.Cmp(m.minWindow) < 0 {
		window = m.minWindow
	}
	orders := new(big.Rat).SetInt64(c.orders)
	aov := new(big.Rat)
	if c.orders > 0 {
		aov.Quo(revenue, orders)
	}
	freq := new(big.Rat).Quo(orders, window)
	marginRate := new(big.Rat)
	if revenue.Sign() > 0 {
		marginRate.Quo(gp, revenue)
	}
	churned := c.churned()
	ltv := new(big.Rat)
	if churned {
		ltv.Set(gp)
	} else {
		ltv.Mul(aov, freq).Mul(ltv, m.lifespan).Mul(ltv, marginRate)
	}
	if ltv.Sign() < 0 {
		ltv.SetInt64(0)
	}
	f := map[string]string{
		"orders":       strconv.FormatInt(c.orders, 10),
		"revenue":      roundRat(revenue, 2),
		"gross_profit": roundRat(gp, 2),
		"refunds":      roundRat(&c.refunded, 2),
		"aov":          roundRat(aov, 2),
		"frequency":    roundRat(freq, 4),
		"tenure_days":  roundRat(new(big.Rat).Quo(tenureNs, day), 2),
		"churned":      "0",
		"ltv":          roundRat(ltv, 2),
	}
	if churned {
		f["churned"] = "1"
	}
	if c.hasFirst {
		f["first_order_at"] = c.first.Format(time.RFC3339Nano)
		f["last_order_at"] = c.last.Format(time.RFC3339Nano)
	}
	if c.channel != "" {
		f["channel"] = c.channel
	}
	return f
}

// index and next are the ladder's (SPEC §5, ladder_test.go).
func (m *arithModel) index(name string) int { return m.ladder().index(name) }

func (m *arithModel) next(cur string, ltv *big.Rat) string { return m.ladder().next(cur, ltv) }

func (m *arithModel) ladder() ratLadder { return ratLadder{tiers: m.tiers, hysteresis: m.hysteresis} }

// arithInput is one record as produced.
type arithInput struct {
	lifecycle bool
	cust      string
	value     string
}

// arithScenario is one configuration and its stream.
type arithScenario struct {
	name   string
	yaml   string // "" = no config file: every SPEC default
	model  arithModel
	inputs []arithInput
	seq    int
	// hand are values derived by hand from SPEC for some customers, to
	// keep the reference itself honest: field → value, and "chain" → the
	// tier changes as "prev→tier ltv; …".
	hand map[string]map[string]string
}

func (s *arithScenario) id(cust string) string {
	s.seq++
	return fmt.Sprintf("%s-%03d", cust, s.seq)
}

// raw adds a record value as given.
func (s *arithScenario) raw(lifecycle bool, cust, value string) {
	s.inputs = append(s.inputs, arithInput{lifecycle: lifecycle, cust: cust, value: value})
}

// orderEvent adds an order event; amount and margin are JSON literals as
// sent (a quoted string or a bare number; margin "" leaves it out),
// extra is further members (`,"channel":"x"`). It returns the event_id.
func (s *arithScenario) orderEvent(typ, id, cust, order, amount, margin, at, extra string) string {
	if id == "" {
		id = s.id(cust)
	}
	m := ""
	if margin != "" {
		m = `,"gross_margin":` + margin
	}
	s.raw(false, cust, fmt.Sprintf(`{"schema":"ltv.order.v1","event_id":%q,"type":%q,"customer_id":%q,"order_id":%q,"amount":%s,"currency":"SEK"%s,"occurred_at":%q%s}`,
		id, typ, cust, order, amount, m, at, extra))
	return id
}

func (s *arithScenario) place(cust, order, amount, margin, at string) string {
	return s.orderEvent("order_placed", "", cust, order, amount, margin, at, "")
}

func (s *arithScenario) refund(cust, order, amount, margin, at string) string {
	return s.orderEvent("order_refunded", "", cust, order, amount, margin, at, "")
}

func (s *arithScenario) life(typ, id, cust, at string) string {
	if id == "" {
		id = s.id(cust)
	}
	s.raw(true, cust, fmt.Sprintf(`{"schema":"ltv.lifecycle.v1","event_id":%q,"type":%q,"customer_id":%q,"occurred_at":%q,"reason":"test"}`, id, typ, cust, at))
	return id
}

func (s *arithScenario) churn(cust, at string) string {
	return s.life("customer_churned", "", cust, at)
}
func (s *arithScenario) reactivate(cust, at string) string {
	return s.life("customer_reactivated", "", cust, at)
}

func (s *arithScenario) want(cust string, kv ...string) {
	if s.hand == nil {
		s.hand = map[string]map[string]string{}
	}
	if s.hand[cust] == nil {
		s.hand[cust] = map[string]string{}
	}
	for i := 0; i < len(kv); i += 2 {
		s.hand[cust][kv[i]] = kv[i+1]
	}
}

// arithScenarios are the two configurations and their streams. All times
// lie in the past (max_future_skew).
func arithScenarios() []*arithScenario {
	// A: no config file, every SPEC default: margin 1, lifespan 3, window
	// 1 year, bronze/silver/gold/platinum at 0/1000/5000/20000, 5 %.
	a := &arithScenario{name: "defaults", model: arithModel{
		lifespan: rat("3"), minWindow: rat("1"), defMargin: rat("1"), hysteresis: rat("0.05"), tiers: arithDefaultTiers(),
	}}

	// Many decimal places, as strings and as JSON numbers (an exponent
	// included), with margins of 12 places.
	a.place("m-digits", "o1", `"0.005"`, `"0.5"`, "2024-01-01T00:00:00Z")
	a.place("m-digits", "o2", `1e-3`, ``, "2024-01-02T00:00:00Z")
	a.place("m-digits", "o3", `"0.0049999"`, `0.333333333333`, "2024-01-03T00:00:00Z")
	a.place("m-digits", "o4", `"12.345678901234567890"`, `"1"`, "2024-01-04T00:00:00Z")
	// revenue 12.35567880123456789, gross profit 12.350845534…: ×3.
	a.want("m-digits", "revenue", "12.36", "gross_profit", "12.35", "aov", "3.09", "frequency", "4.0000", "tenure_days", "3.00", "ltv", "37.05")

	// Orders of zero (string, "0.00", a JSON -0 with margin "-0.00"),
	// then a refund that leaves revenue −0.001: it rounds to 0.00, not
	// −0.00.
	a.place("m-zero", "o1", `"0"`, `"0"`, "2024-01-10T00:00:00Z")
	a.place("m-zero", "o2", `"0.00"`, ``, "2024-01-11T00:00:00Z")
	a.place("m-zero", "o3", `-0`, `"-0.00"`, "2024-01-12T00:00:00Z")
	a.place("m-zero", "o4", `0e99999999`, `0E-999999999`, "2024-01-12T12:00:00Z")
	a.refund("m-zero", "o1", `"0.001"`, `1`, "2024-01-13T00:00:00Z")
	a.want("m-zero", "orders", "4", "revenue", "0.00", "gross_profit", "0.00", "refunds", "0.00", "aov", "0.00", "ltv", "0.00", "tier", "bronze")

	// Amounts beyond 64-bit coefficients: 1e15 as a JSON number, 17
	// integer digits with cents, a margin of 18 places; a refund at
	// margin 1 takes gross profit far below 0 (platinum → bronze).
	a.place("m-huge", "o1", `1e15`, `"0.5"`, "2020-01-01T00:00:00Z")
	a.place("m-huge", "o2", `"99999999999999999.99"`, `0.333333333333`, "2021-06-15T12:34:56.789Z")
	a.refund("m-huge", "o2", `"99999999999999999.99"`, `"1"`, "2021-07-01T00:00:00Z")
	a.place("m-huge", "o3", `99999999999999999.99`, `"0.999999999999999999"`, "2022-01-01T00:00:00Z")
	a.want("m-huge", "refunds", "99999999999999999.99", "revenue", "100999999999999999.99")

	// A refund larger than its order: revenue and aov negative, ltv 0.
	a.place("m-refund-big", "o1", `"100"`, `"0.4"`, "2024-02-01T00:00:00Z")
	a.refund("m-refund-big", "o1", `"150"`, `"0.4"`, "2024-02-02T00:00:00Z")
	a.place("m-refund-big", "o2", `"10"`, `"0.4"`, "2024-02-03T00:00:00Z")
	a.want("m-refund-big", "revenue", "-40.00", "gross_profit", "-16.00", "refunds", "150.00", "aov", "-20.00", "ltv", "0.00")

	// Only a refund of an order never seen: no orders, aov 0.00, a tier.
	a.refund("m-refund-unknown", "nope", `"30"`, ``, "2024-03-01T00:00:00Z")
	a.want("m-refund-unknown", "orders", "0", "revenue", "-30.00", "gross_profit", "-30.00", "refunds", "30.00",
		"aov", "0.00", "frequency", "0.0000", "tenure_days", "0.00", "ltv", "0.00", "chain", `""→bronze 0.00`)

	// A refund read before its order (earlier in the log, later in event
	// time), then partial refunds of many places.
	a.refund("m-refund-first", "o1", `"40"`, `"0.5"`, "2024-04-10T00:00:00Z")
	a.orderEvent("order_placed", "", "m-refund-first", "o1", `"100"`, `"0.5"`, "2024-04-01T00:00:00Z", `,"channel":"email"`)
	a.refund("m-refund-first", "o1", `"10"`, `"0.5"`, "2024-04-11T00:00:00Z")
	a.refund("m-refund-first", "o1", `"0.005"`, `"0.5"`, "2024-04-12T00:00:00Z")
	a.refund("m-refund-first", "o1", `"0.0049999"`, `0.5`, "2024-04-13T00:00:00Z")
	// gross profit 24.99500005 rounds up; ltv 74.98500015.
	a.want("m-refund-first", "revenue", "49.99", "gross_profit", "25.00", "refunds", "50.01", "ltv", "74.99", "channel", "email")

	// Revenue refunded to exactly 0 at margin 0: gross profit stays 1500,
	// margin_rate is 0, so an active customer's ltv is 0, and a churned
	// one's is the gross profit (a churn promotes).
	a.place("m-refund-zero", "o1", `"5000"`, `"0.3"`, "2024-05-01T00:00:00Z")
	a.refund("m-refund-zero", "o1", `"5000"`, `"0"`, "2024-05-02T00:00:00Z")
	a.churn("m-refund-zero", "2024-06-01T00:00:00Z")
	a.reactivate("m-refund-zero", "2024-07-01T00:00:00Z")
	a.want("m-refund-zero", "revenue", "0.00", "gross_profit", "1500.00", "ltv", "0.00",
		"chain", `""→silver 4500.00; silver→bronze 0.00; bronze→silver 1500.00; silver→bronze 0.00`)

	// A refund's own margin differs from its order's.
	a.place("m-own-margin", "o1", `"1000"`, `"0.9"`, "2024-06-01T00:00:00Z")
	a.refund("m-own-margin", "o1", `"500"`, `"0.1"`, "2024-06-02T00:00:00Z") // gp 850 on revenue 500: 2550
	a.refund("m-own-margin", "o1", `"500"`, `"1"`, "2024-06-03T00:00:00Z")   // revenue 0: ltv 0
	a.want("m-own-margin", "gross_profit", "350.00", "ltv", "0.00", "chain", `""→silver 2700.00; silver→bronze 0.00`)
	a.place("m-own-margin-2", "o1", `"1000"`, `"0.2"`, "2024-06-01T00:00:00Z")
	a.refund("m-own-margin-2", "o1", `"500"`, `"0.8"`, "2024-06-02T00:00:00Z")
	a.want("m-own-margin-2", "gross_profit", "-200.00", "ltv", "0.00")

	// Two orders at one instant (one with an offset): the first read
	// names the channel.
	a.orderEvent("order_placed", "", "m-same-instant", "o1", `"10"`, ``, "2024-07-01T10:00:00Z", `,"channel":"email"`)
	a.orderEvent("order_placed", "", "m-same-instant", "o2", `"20"`, ``, "2024-07-01T12:00:00+02:00", `,"channel":"paid_search"`)
	a.want("m-same-instant", "orders", "2", "channel", "email", "tenure_days", "0.00", "frequency", "2.0000", "ltv", "90.00")
	// An earlier order without a channel: the customer has none.
	a.orderEvent("order_placed", "", "m-no-channel", "o1", `"10"`, ``, "2024-07-01T10:00:00Z", `,"channel":"email"`)
	a.place("m-no-channel", "o2", `"10"`, ``, "2024-07-01T09:59:59.999999999Z")
	a.want("m-no-channel", "first_order_at", "2024-07-01T09:59:59.999999999Z")

	// One order_id placed twice under two event ids: two events, two
	// orders (SPEC counts distinct order_placed events).
	a.place("m-dup-order-id", "o1", `"100"`, ``, "2024-08-01T00:00:00Z")
	a.place("m-dup-order-id", "o1", `"100"`, ``, "2024-08-01T01:00:00Z")
	a.want("m-dup-order-id", "orders", "2", "revenue", "200.00")

	// One event_id three times with other content: the first applied
	// counts (here the order; the churn reusing its id is later).
	x := a.place("m-dup-event-id", "o1", `"100"`, ``, "2024-08-01T00:00:00Z")
	a.orderEvent("order_placed", x, "m-dup-event-id", "o1", `"5000"`, ``, "2024-08-02T00:00:00Z", "")
	a.life("customer_churned", x, "m-dup-event-id", "2024-09-01T00:00:00Z")
	// A churn and an order share an id; the churn is earlier in event
	// time, so the merge applies it first and the order is the copy.
	y := a.life("customer_churned", "", "m-dup-event-id-2", "2024-08-01T00:00:00Z")
	a.orderEvent("order_placed", y, "m-dup-event-id-2", "o1", `"100"`, ``, "2024-08-05T00:00:00Z", "")
	a.want("m-dup-event-id-2", "orders", "0", "churned", "1", "ltv", "0.00")

	// A copy of an event with a later occurred_at counts no figure but
	// moves stream time (guarantees.md): the customer is lapsed at it.
	z := a.place("m-dup-late", "o1", `"100"`, ``, "2024-01-01T00:00:00Z")
	a.orderEvent("order_placed", z, "m-dup-late", "o1", `"100"`, ``, "2024-12-01T00:00:00Z", "")
	a.want("m-dup-late", "orders", "1", "last_order_at", "2024-01-01T00:00:00Z")

	// Segment thresholds hit exactly by a refund's time (each customer
	// has its own partition, so its own stream time): 90 days less 1 ns
	// is still new, 90 days at risk, 180 days lapsed.
	for _, c := range []struct{ cust, at string }{
		{"m-idle-89", "2024-03-30T23:59:59.999999999Z"}, {"m-idle-90", "2024-03-31T00:00:00Z"}, {"m-idle-180", "2024-06-29T00:00:00Z"},
	} {
		a.place(c.cust, "o1", `"100"`, ``, "2024-01-01T00:00:00Z")
		a.refund(c.cust, "o1", `"1"`, ``, c.at)
	}
	a.want("m-idle-89", "segment", "new")
	a.want("m-idle-90", "segment", "at_risk")
	a.want("m-idle-180", "segment", "lapsed")
	a.want("m-dup-late", "segment", "lapsed")

	// Churn ties. At the latest order's instant (given with +05:30): not
	// later, so not churned; one nanosecond later: churned.
	a.place("m-churn-tie", "o1", `"2000"`, ``, "2024-05-01T06:30:00Z")
	a.churn("m-churn-tie", "2024-05-01T12:00:00+05:30")
	a.want("m-churn-tie", "churned", "0", "ltv", "6000.00", "chain", `""→gold 6000.00`)
	a.place("m-churn-1ns", "o1", `"2000"`, ``, "2024-05-01T06:30:00Z")
	a.churn("m-churn-1ns", "2024-05-01T12:00:00.000000001+05:30")
	a.want("m-churn-1ns", "churned", "1", "ltv", "2000.00", "chain", `""→gold 6000.00; gold→silver 2000.00`)
	// A reactivation at the churn's instant: the churn is not later.
	a.place("m-churn-react-tie", "o1", `"2000"`, ``, "2024-05-01T00:00:00Z")
	a.churn("m-churn-react-tie", "2024-06-01T00:00:00Z")
	a.reactivate("m-churn-react-tie", "2024-06-01T02:00:00+02:00")
	a.want("m-churn-react-tie", "churned", "0", "chain", `""→gold 6000.00; gold→silver 2000.00; silver→gold 6000.00`)
	// The same, reactivation read first: never churned.
	a.place("m-react-churn-tie", "o1", `"2000"`, ``, "2024-05-01T00:00:00Z")
	a.reactivate("m-react-churn-tie", "2024-06-01T00:00:00Z")
	a.churn("m-react-churn-tie", "2024-06-01T00:00:00Z")
	a.want("m-react-churn-tie", "churned", "0", "chain", `""→gold 6000.00`)
	// A churn before the first order.
	a.churn("m-churn-before-first", "2024-01-01T00:00:00Z")
	a.place("m-churn-before-first", "o1", `"2000"`, ``, "2024-02-01T00:00:00Z")
	a.want("m-churn-before-first", "churned", "0", "ltv", "6000.00", "chain", `""→bronze 0.00; bronze→gold 6000.00`)
	// Late events on both topics: an order and a reactivation earlier than
	// ones already read, all before the churn.
	a.place("m-churn-late", "o1", `"2000"`, ``, "2024-03-01T00:00:00Z")
	a.place("m-churn-late", "o2", `"10"`, ``, "2024-03-10T00:00:00Z")
	a.place("m-churn-late", "o3", `"5"`, ``, "2024-03-05T00:00:00Z")
	a.churn("m-churn-late", "2024-04-01T00:00:00Z")
	a.reactivate("m-churn-late", "2024-03-15T00:00:00Z")
	a.want("m-churn-late", "churned", "1", "ltv", "2015.00", "orders", "3", "last_order_at", "2024-03-10T00:00:00Z")

	// Offsets and nine fractional digits over a leap day: 366 days.
	a.place("m-time", "o1", `"100"`, ``, "2024-02-28T23:59:59.123456789-03:00")
	a.place("m-time", "o2", `"100"`, ``, "2025-03-01T08:29:59.123456789+05:30")
	a.want("m-time", "first_order_at", "2024-02-29T02:59:59.123456789Z", "last_order_at", "2025-03-01T02:59:59.123456789Z",
		"tenure_days", "366.00", "frequency", "1.9959", "ltv", "598.77")
	// Tenure of exactly 365.25 days = min_window_years.
	a.place("m-window-exact", "o1", `"1000"`, ``, "2023-01-01T00:00:00Z")
	a.place("m-window-exact", "o2", `"0.01"`, ``, "2024-01-01T06:00:00Z")
	a.want("m-window-exact", "tenure_days", "365.25", "frequency", "2.0000", "ltv", "3000.03")
	// A leap second, also written with an offset, and the instant after.
	a.place("m-leap-second", "o1", `"100"`, ``, "2016-12-31T23:59:60Z")
	a.place("m-leap-second", "o2", `"50"`, ``, "2017-01-01T05:29:60+05:30")
	a.place("m-leap-second", "o3", `"1"`, ``, "2017-01-01T00:00:00Z")
	a.want("m-leap-second", "first_order_at", "2016-12-31T23:59:59.999999999Z", "last_order_at", "2017-01-01T00:00:00Z", "tenure_days", "0.00")
	// Nanoseconds and trailing zeros of a fraction.
	a.place("m-nanos", "o1", `"10"`, ``, "2024-03-10T10:00:00.000000001Z")
	a.place("m-nanos", "o2", `"10"`, ``, "2024-03-10T10:00:00.100000000Z")
	a.want("m-nanos", "first_order_at", "2024-03-10T10:00:00.000000001Z", "last_order_at", "2024-03-10T10:00:00.1Z")

	// Tier boundaries. Tenure 1.5 years (547.875 days) makes ltv =
	// 2 × gross profit: exactly 5000.00 reaches gold, exactly 4750.00
	// (5000 × 0.95) keeps it, 4749.99 leaves it.
	a.place("m-tier-exact", "o1", `"1250"`, ``, "2022-01-01T00:00:00Z")
	a.place("m-tier-exact", "o2", `"1250"`, ``, "2023-07-02T21:00:00Z")
	a.refund("m-tier-exact", "o1", `"125"`, `"1"`, "2023-08-01T00:00:00Z")
	a.refund("m-tier-exact", "o1", `"0.005"`, `"1"`, "2023-08-02T00:00:00Z")
	a.place("m-tier-exact", "o3", `"0.01"`, `"0.5"`, "2023-01-01T00:00:00Z") // back to 4750.00: stays silver
	a.want("m-tier-exact", "ltv", "4750.00", "tier", "silver", "frequency", "2.0000", "tenure_days", "547.88",
		"chain", `""→silver 3750.00; silver→gold 5000.00; gold→silver 4749.99`)
	// Past several tiers, down and up, then a churn.
	a.place("m-multi", "o1", `"7000"`, ``, "2024-01-01T00:00:00Z")
	a.refund("m-multi", "o1", `"6700"`, `"1"`, "2024-01-02T00:00:00Z")
	a.place("m-multi", "o2", `"6000"`, ``, "2024-01-03T00:00:00Z")
	a.churn("m-multi", "2024-02-01T00:00:00Z")
	a.refund("m-multi", "o2", `"1400"`, `"1"`, "2024-02-02T00:00:00Z")
	a.refund("m-multi", "o2", `"150.01"`, `"1"`, "2024-02-03T00:00:00Z")
	a.want("m-multi", "churned", "1", "ltv", "4749.99",
		"chain", `""→platinum 21000.00; platinum→bronze 900.00; bronze→gold 18900.00; gold→silver 4749.99`)
	// An exact ltv of 999.999999 is stored as 1000.00, which reaches
	// silver; 949.995 is stored as 950.00, which keeps it.
	a.place("m-rounded-reach", "o1", `"333.333333"`, ``, "2024-01-01T00:00:00Z")
	a.want("m-rounded-reach", "ltv", "1000.00", "chain", `""→silver 1000.00`)
	a.place("m-band-rounded", "o1", `"500"`, ``, "2024-01-01T00:00:00Z")
	a.refund("m-band-rounded", "o1", `"183.335"`, `"1"`, "2024-01-02T00:00:00Z")
	a.refund("m-band-rounded", "o1", `"0.001"`, `"1"`, "2024-01-03T00:00:00Z")
	a.want("m-band-rounded", "ltv", "949.99", "chain", `""→silver 1500.00; silver→bronze 949.99`)

	// Margins as numbers 0 and 1, null (the default), 12 places; a refund
	// without one (the default).
	a.place("m-margins", "o1", `100`, `0`, "2024-01-01T00:00:00Z")
	a.place("m-margins", "o2", `100`, `1`, "2024-01-02T00:00:00Z")
	a.place("m-margins", "o3", `"100"`, `null`, "2024-01-03T00:00:00Z")
	a.place("m-margins", "o4", `"100.5"`, `"0.333333333333"`, "2024-01-04T00:00:00Z")
	a.refund("m-margins", "o4", `"0.5"`, ``, "2024-01-05T00:00:00Z")
	a.want("m-margins", "revenue", "400.00", "gross_profit", "233.00", "ltv", "699.00")

	// 20 decimal places at both ends: gross profit 0.005 − 10⁻⁴⁰ must
	// round down, revenue 0.005 − 10⁻²⁰ too, and ltv 0.015 − 3×10⁻⁴⁰ to
	// 0.01: any rounding of an intermediate to 20 places would round up.
	a.place("m-tiny", "o1", `"0.005"`, `"1"`, "2024-01-01T00:00:00Z")
	a.refund("m-tiny", "o1", `"0.00000000000000000001"`, `"0.00000000000000000001"`, "2024-01-02T00:00:00Z")
	a.want("m-tiny", "revenue", "0.00", "gross_profit", "0.00", "refunds", "0.00", "ltv", "0.01", "aov", "0.00")
	// Near 1e30 with 20 decimal places (49 significant digits), an
	// exponent form of 1e29, and a margin of 20 places.
	a.place("m-giant", "o1", `"99999999999999999999999999999.99999999999999999999"`, `"0.99999999999999999999"`, "2023-01-01T00:00:00Z")
	a.place("m-giant", "o2", `1e29`, `1`, "2024-06-01T00:00:00Z")
	a.refund("m-giant", "o1", `1.5E+28`, `"0.5"`, "2024-07-01T00:00:00Z")
	a.want("m-giant", "revenue", "185000000000000000000000000000.00", "refunds", "15000000000000000000000000000.00")
	// Negative halves round away from zero: aov −0.01/2 and gross profit
	// −0.01 × 0.5.
	a.place("m-neg-half", "o1", `"0"`, ``, "2024-01-01T00:00:00Z")
	a.place("m-neg-half", "o2", `"0"`, ``, "2024-01-01T00:00:01Z")
	a.refund("m-neg-half", "o1", `"0.01"`, `"0.5"`, "2024-01-02T00:00:00Z")
	a.want("m-neg-half", "revenue", "-0.01", "aov", "-0.01", "gross_profit", "-0.01", "ltv", "0.00")
	// The same beyond 64-bit coefficients: −(10²⁸ + 0.01) over two
	// orders, and its gross profit at margin 0.5.
	a.place("m-giant-neg", "o1", `"0"`, ``, "2024-01-01T00:00:00Z")
	a.place("m-giant-neg", "o2", `"0"`, ``, "2024-01-01T00:00:01Z")
	a.refund("m-giant-neg", "o1", `"10000000000000000000000000000.01"`, `"0.5"`, "2024-01-02T00:00:00Z")
	a.want("m-giant-neg", "revenue", "-10000000000000000000000000000.01", "aov", "-5000000000000000000000000000.01",
		"gross_profit", "-5000000000000000000000000000.01", "ltv", "0.00")
	// Spellings the rules allow: leading zeros in a decimal string, an
	// exponent with a fraction, a margin 1.0000, lower-case t and z, a
	// leap second with a fraction.
	a.place("m-spellings", "o1", `"007.50"`, `"1.0000"`, "2024-02-01t10:00:00.5z")
	a.place("m-spellings", "o2", `1.2345E+3`, `0.5e0`, "2024-12-31T23:59:60.25Z")
	a.want("m-spellings", "revenue", "1242.00", "gross_profit", "624.75", "first_order_at", "2024-02-01T10:00:00.5Z",
		"last_order_at", "2024-12-31T23:59:59.999999999Z")
	// JSON numbers whose exponent moves the point past every digit, and a
	// margin of 10⁻²⁰ as a number.
	a.place("m-exp-forms", "o1", `0.00001e5`, `1E0`, "2024-01-01T00:00:00Z")
	a.place("m-exp-forms", "o2", `100e-2`, `"0.10"`, "2024-01-02T00:00:00Z")
	a.place("m-exp-forms", "o3", `12345678901234567890e-20`, `1e-20`, "2024-01-03T00:00:00Z")
	a.want("m-exp-forms", "revenue", "2.12", "gross_profit", "1.10", "ltv", "3.30")
	// An order one nanosecond after year 1 and one in 2024: a tenure of
	// 2023 years, far beyond what int64 nanoseconds hold.
	a.place("m-ancient", "o1", `"100"`, ``, "0001-01-01T00:00:00.000000001Z")
	a.place("m-ancient", "o2", `"100"`, ``, "2024-01-01T00:00:00Z")
	a.want("m-ancient", "first_order_at", "0001-01-01T00:00:00.000000001Z", "tenure_days", "738885.00", "frequency", "0.0010", "ltv", "0.30")
	// Escapes in ids: the key is the decoded customer_id, caused_by the
	// decoded event_id (a surrogate pair, a quote, a backslash, <&>).
	a.raw(false, "m-\u00e9sc", `{"schema":"ltv.order.v1","event_id":"id-\ud83d\ude00-\"q\"-\\-<&>","type":"order_placed","customer_id":"m-\u00e9sc","order_id":"o\u0031","amount":"2000","currency":"SEK","occurred_at":"2024-01-01T00:00:00Z","channel":"caf\u00e9"}`)
	// The same event_id for two customers: an event of each.
	a.orderEvent("order_placed", "shared-1", "m-shared-a", "o1", `"10"`, ``, "2024-01-01T00:00:00Z", "")
	a.orderEvent("order_placed", "shared-1", "m-shared-b", "o1", `"20"`, ``, "2024-01-01T00:00:00Z", "")
	a.want("m-shared-a", "orders", "1", "revenue", "10.00")
	a.want("m-shared-b", "orders", "1", "revenue", "20.00")
	// A churn on the orders topic and an order on the lifecycle topic:
	// the topics are not cross-checked (guarantees.md).
	a.raw(false, "m-crossed", `{"schema":"ltv.lifecycle.v1","event_id":"m-crossed-1","type":"customer_churned","customer_id":"m-crossed","occurred_at":"2024-03-01T00:00:00Z"}`)
	a.raw(true, "m-crossed", `{"schema":"ltv.order.v1","event_id":"m-crossed-2","type":"order_placed","customer_id":"m-crossed","order_id":"o1","amount":"100","currency":"SEK","occurred_at":"2024-02-01T00:00:00Z"}`)
	a.want("m-crossed", "churned", "1", "ltv", "100.00", "orders", "1")

	// B: default margin 0.25, lifespan 2.5 years, window 0.5 years,
	// hysteresis 0.1 on the default ladder.
	b := &arithScenario{name: "custom", yaml: `
fx_rates:
  EUR: "11.50"
  JPY: "0.0712345678901234567"
default_gross_margin: 0.25
lifespan_years: 2.5
min_window_years: 0.5
hysteresis: 0.1
`, model: arithModel{
		lifespan: rat("2.5"), minWindow: rat("0.5"), defMargin: rat("0.25"), hysteresis: rat("0.1"), tiers: arithDefaultTiers(),
		fx: map[string]*big.Rat{"EUR": rat("11.50"), "JPY": rat("0.0712345678901234567")},
	}}
	// Absent and null margins take 0.25; ltv = gp × 2.5 / 0.5.
	b.place("n-default-margin", "o1", `"1000"`, ``, "2024-01-01T00:00:00Z")
	b.place("n-default-margin", "o2", `"1000"`, `null`, "2024-01-02T00:00:00Z")
	b.refund("n-default-margin", "o1", `"1000"`, ``, "2024-01-03T00:00:00Z")
	b.want("n-default-margin", "gross_profit", "250.00", "ltv", "1250.00", "frequency", "4.0000",
		"chain", `""→silver 1250.00`)
	// Tenure exactly 0.5 years (182.625 days), then one nanosecond more.
	b.place("n-window-exact", "o1", `"100"`, `"1"`, "2024-01-01T00:00:00Z")
	b.place("n-window-exact", "o2", `"100"`, `"1"`, "2024-07-01T15:00:00Z")
	b.place("n-window-exact", "o3", `"0"`, `"1"`, "2024-07-01T15:00:00.000000001Z")
	b.want("n-window-exact", "tenure_days", "182.63", "frequency", "6.0000", "ltv", "1000.00", "chain", `""→bronze 500.00; bronze→silver 1000.00`)
	// The band is 900 for silver: 899.995 is stored as 900.00 and keeps it.
	b.place("n-hyst", "o1", `"200"`, `"1"`, "2024-01-01T00:00:00Z")
	b.refund("n-hyst", "o1", `"20"`, `"1"`, "2024-01-02T00:00:00Z")
	b.refund("n-hyst", "o1", `"0.001"`, `"1"`, "2024-01-03T00:00:00Z")
	b.refund("n-hyst", "o1", `"0.001"`, `"1"`, "2024-01-04T00:00:00Z")
	b.want("n-hyst", "ltv", "899.99", "chain", `""→silver 1000.00; silver→bronze 899.99`)
	// Tenure 2 years (730.5 days): ltv = gp × 2.5 / 2.
	b.place("n-lifespan", "o1", `"300"`, `"0.5"`, "2020-01-01T00:00:00Z")
	b.place("n-lifespan", "o2", `"300"`, `"0.5"`, "2021-12-31T12:00:00Z")
	b.want("n-lifespan", "tenure_days", "730.50", "frequency", "1.0000", "ltv", "375.00")
	// A churn demotes, a reactivation promotes back.
	b.place("n-churn", "o1", `"2000"`, ``, "2024-01-01T00:00:00Z")
	b.churn("n-churn", "2024-02-01T00:00:00Z")
	b.reactivate("n-churn", "2024-03-01T00:00:00Z")
	b.want("n-churn", "chain", `""→silver 2500.00; silver→bronze 500.00; bronze→silver 2500.00`)
	// platinum → gold (the band of 18000 is left, 5000 is reached), then
	// gold → silver below 4500.
	b.place("n-multi", "o1", `"10000"`, `"1"`, "2024-01-01T00:00:00Z")
	b.refund("n-multi", "o1", `"9000"`, `"1"`, "2024-01-02T00:00:00Z")
	b.refund("n-multi", "o1", `"100.01"`, `"1"`, "2024-01-03T00:00:00Z")
	b.want("n-multi", "ltv", "4499.95", "chain", `""→platinum 50000.00; platinum→gold 5000.00; gold→silver 4499.95`)
	// Amounts in other currencies, converted exactly (configuration.md:
	// amount × rate); a refund in another currency than its order; an
	// amount near 1e30 that the rate takes beyond it.
	fx := func(typ, cust, order, amount, currency, at string) {
		b.raw(false, cust, fmt.Sprintf(`{"schema":"ltv.order.v1","event_id":%q,"type":%q,"customer_id":%q,"order_id":%q,"amount":%s,"currency":%q,"gross_margin":"0.4","occurred_at":%q}`,
			b.id(cust), typ, cust, order, amount, currency, at))
	}
	fx("order_placed", "n-fx", "o1", `"0.005"`, "EUR", "2024-01-01T00:00:00Z")
	fx("order_placed", "n-fx", "o2", `"1000"`, "JPY", "2024-01-02T00:00:00Z")
	fx("order_refunded", "n-fx", "o1", `"0.05"`, "SEK", "2024-01-03T00:00:00Z")
	fx("order_refunded", "n-fx", "o2", `0.001`, "JPY", "2024-01-04T00:00:00Z")
	// revenue 0.0575 + 71.2345678901234567 − 0.05 − 0.0000712345678901234567
	b.want("n-fx", "revenue", "71.24", "refunds", "0.05")
	fx("order_placed", "n-fx-giant", "o1", `"99999999999999999999999999999.99"`, "EUR", "2024-01-01T00:00:00Z")
	b.want("n-fx-giant", "revenue", "1149999999999999999999999999999.89", "ltv", "2299999999999999999999999999999.77")
	// A refund read before its order, at the default margin.
	b.refund("n-refund-first", "o1", `"100"`, ``, "2024-05-02T00:00:00Z")
	b.place("n-refund-first", "o1", `"400.004"`, ``, "2024-05-01T00:00:00Z")
	b.want("n-refund-first", "revenue", "300.00", "gross_profit", "75.00", "ltv", "375.01")
	return []*arithScenario{a, b}
}

// TestArithmeticAgainstOwnReference runs each scenario through the real
// service twice: once with the whole stream produced before the service
// starts, and once with the lifecycle topic produced and consumed first
// and the orders topic only after that instance stopped (every event
// arrives in reverse order across the topics), with one record per batch
// and no state cache, so every event starts from the state read back from
// Redis. The stored public fields and the change events must be the
// reference's, string for string.
func TestArithmeticAgainstOwnReference(t *testing.T) {
	for _, sc := range arithScenarios() {
		t.Run(sc.name, func(t *testing.T) { runArith(t, sc, false) })
		t.Run(sc.name+"/lifecycle-first", func(t *testing.T) { runArith(t, sc, true) })
	}
}

func runArith(t *testing.T, sc *arithScenario, lifecycleFirst bool) {
	// Each customer has a partition of its own (of both topics), so the
	// merge orders its records by its own event times alone: with
	// customers sharing a partition, one customer's record at the head of
	// a topic can hold back another's, and each case's order would depend
	// on its neighbours.
	partitionOf := map[string]int{}
	for _, in := range sc.inputs {
		if _, ok := partitionOf[in.cust]; !ok {
			partitionOf[in.cust] = len(partitionOf)
		}
	}
	partitions := len(partitionOf)
	ctx := testutil.Context(t, 2*time.Minute)
	e := newEnv(t, partitions)
	var args []string
	if sc.yaml != "" {
		args = append(args, "--config", testutil.WriteFile(t, "ltv.yaml", sc.yaml))
	}
	parts := [][]arithInput{sc.inputs}
	if lifecycleFirst {
		args = append(args, "--max-batch", "1", "--state-cache-bytes", "0")
		var life, orders []arithInput
		for _, in := range sc.inputs {
			if in.lifecycle {
				life = append(life, in)
			} else {
				orders = append(orders, in)
			}
		}
		parts = [][]arithInput{life, orders}
	}
	cfg := e.config(t, args...)
	ref := map[string]*arithCustomer{}
	streamTime := make([]time.Time, partitions)
	for _, part := range parts {
		// Partition p of the two topics, merged by event time (ties: the
		// orders topic), each in its log order: the order the service
		// applies them in.
		type timed struct {
			in arithInput
			ev arithEvent
		}
		lanes := make([][2][]timed, partitions)
		var msgs []kafka.Message
		for _, in := range part {
			ev, err := arithParse(in.value)
			if err != nil {
				t.Fatalf("reference cannot read %s: %v", in.value, err)
			}
			msg := kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte(in.cust), Value: []byte(in.value)}
			lane := 0
			if in.lifecycle {
				msg.Topic, lane = settings.DefaultLifecycleTopic, 1
			}
			p := partitionOf[in.cust]
			msg.Partition = p
			lanes[p][lane] = append(lanes[p][lane], timed{in, ev})
			msgs = append(msgs, msg)
			if ev.at.After(streamTime[p]) {
				streamTime[p] = ev.at
			}
		}
		for _, l := range lanes {
			orders, life := l[0], l[1]
			for len(orders) > 0 || len(life) > 0 {
				var next timed
				if len(orders) > 0 && (len(life) == 0 || !life[0].ev.at.Before(orders[0].ev.at)) {
					next, orders = orders[0], orders[1:]
				} else {
					next, life = life[0], life[1:]
				}
				c := ref[next.ev.cust]
				if c == nil {
					c = &arithCustomer{}
					ref[next.ev.cust] = c
				}
				sc.model.apply(c, next.ev)
			}
		}
		w := &kafka.Writer{
			Addr: kafka.TCP(e.brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
			Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		}
		err := w.WriteMessages(ctx, msgs...)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		run := startService(t, cfg)
		if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
			t.Fatal(err)
		}
		run.stop(t)
	}

	ids := slices.Sorted(maps.Keys(ref))

	// The hand-derived values check the reference (the single run's
	// order; the lifecycle-first run takes other tier paths).
	for cust, kv := range sc.hand {
		c := ref[cust]
		if c == nil {
			t.Fatalf("hand values for %s, which has no events", cust)
		}
		f := sc.model.fields(c)
		f["tier"] = c.tier
		f["segment"] = arithSegment(c, streamTime[partitionOf[cust]])
		for k, want := range kv {
			got := f[k]
			if k == "chain" {
				if lifecycleFirst {
					continue
				}
				var brief []string
				for _, ch := range c.changes {
					brief = append(brief, fmt.Sprintf("%s→%s %s", ch["previous_tier"], ch["tier"], unquote(ch["ltv"])))
				}
				got = strings.Join(brief, "; ")
				for _, tr := range sc.model.tiers {
					got = strings.ReplaceAll(got, jstr(tr.name), tr.name)
				}
			}
			if got != want {
				t.Errorf("reference disagrees with the hand-derived %s of %s: %q, by hand %q", k, cust, got, want)
			}
		}
	}

	public := map[string]bool{"updated_at": true, "segment": true, "segment_since": true, "tier": true}
	for _, id := range ids {
		c := ref[id]
		want := sc.model.fields(c)
		want["tier"] = c.tier
		if seg := arithSegment(c, streamTime[partitionOf[id]]); seg != "" {
			want["segment"] = seg
		}
		h, err := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range want {
			public[k] = true
			if g, ok := h[k]; !ok || g != w {
				t.Errorf("%s: stored %s = %q (present %v), reference %q", id, k, g, ok, w)
			}
		}
		for k, v := range h {
			if strings.HasPrefix(k, "_") || k == "updated_at" || k == "segment_since" {
				continue
			}
			if _, ok := want[k]; !ok {
				t.Errorf("%s: stored %s = %q, the reference has no such field", id, k, v)
			}
		}
		if u, err := time.Parse(time.RFC3339, h["updated_at"]); err != nil || !strings.HasSuffix(h["updated_at"], "Z") || u.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: updated_at %q is not a recent RFC 3339 UTC time", id, h["updated_at"])
		}
	}

	// Change events: per customer, the reference's, field for field;
	// copies only byte-identical.
	msgs, err := testutil.ReadAll(ctx, e.brokers, settings.DefaultChangesTopic)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	got := map[string][]map[string]json.RawMessage{}
	for _, m := range msgs {
		if err := schemas.Validate(m.Value); err != nil {
			t.Errorf("change event against its schema: %v: %s", err, m.Value)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatalf("change event is not JSON: %v: %s", err, m.Value)
		}
		var eid string
		_ = json.Unmarshal(doc["event_id"], &eid)
		if prev, ok := byID[eid]; ok {
			if prev != string(m.Value) {
				t.Errorf("event_id %s published with other content:\n%s\n%s", eid, prev, m.Value)
			}
			continue
		}
		byID[eid] = string(m.Value)
		if cid := unquote(string(doc["customer_id"])); cid != string(m.Key) {
			t.Errorf("change of %s keyed %q", cid, m.Key)
		}
		got[string(m.Key)] = append(got[string(m.Key)], doc)
	}
	for _, id := range ids {
		want, have := ref[id].changes, got[id]
		if len(have) != len(want) {
			t.Errorf("%s: %d change events, reference %d", id, len(have), len(want))
		}
		for i := 0; i < min(len(have), len(want)); i++ {
			for k, w := range want[i] {
				if g := canonJSON(have[i][k]); g != w {
					t.Errorf("%s change %d: %s = %s, reference %s", id, i, k, g, w)
				}
			}
		}
	}
	changes := 0
	for _, c := range ref {
		changes += len(c.changes)
	}
	t.Logf("%d customers, %d change events compared", len(ids), changes)
	for id := range got {
		if ref[id] == nil {
			t.Errorf("change events for unknown customer %s", id)
		}
	}
}

// arithSegment is SPEC §8's segment of c at its partition's final stream
// time now, with the default 90 and 180 days ("" for none).
func arithSegment(c *arithCustomer, now time.Time) string {
	switch {
	case c.churned():
		return "churned"
	case c.orders == 0:
		return ""
	case now.Sub(c.last) >= 180*24*time.Hour:
		return "lapsed"
	case now.Sub(c.last) >= 90*24*time.Hour:
		return "at_risk"
	case c.orders == 1:
		return "new"
	}
	return "active"
}

// jstr is s as a JSON string, as encoding/json writes it.
func jstr(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// canonJSON re-encodes a JSON value the way jstr and the reference write
// it, so that a string's escapes (\u00e9 or é, \u003c or <) do not count
// as a difference; numbers keep their text.
func canonJSON(raw json.RawMessage) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "invalid JSON " + string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "invalid JSON " + string(raw)
	}
	return string(b)
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// TestArithRound pins the references' own rounding (roundRat): half away from zero,
// no minus sign on a value that rounds to zero.
func TestArithRound(t *testing.T) {
	for _, c := range []struct {
		in     string
		places int
		want   string
	}{
		{"0.125", 2, "0.13"}, {"-0.125", 2, "-0.13"}, {"0.124999", 2, "0.12"}, {"-0.001", 2, "0.00"},
		{"-0.005", 2, "-0.01"}, {"1/3", 4, "0.3333"}, {"2/3", 2, "0.67"}, {"99999999999999999.995", 2, "100000000000000000.00"},
		{"0", 4, "0.0000"}, {"7", 0, "7"},
	} {
		if got := roundRat(rat(c.in), c.places); got != c.want {
			t.Errorf("roundRat(%s, %d) = %s, want %s", c.in, c.places, got, c.want)
		}
	}
}
