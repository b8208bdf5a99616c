package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"
)

// This file holds an independent reference of SPEC §5 (the tier ladder
// with hysteresis and the ltv.change.v1 events), written from SPEC and
// docs/configuration.md alone, over internal/oracle's exact SPEC §3–§4
// figures after every event, and drives the real service with streams that stress the tiers: custom
// ladders (1, 2, 3, 6 and 12 tiers, thresholds with cents, a lowest
// threshold above 0), hysteresis 0, 0.05, 0.1, 0.2 and 0.5, promotions and demotions past several
// tiers in one event, demotions by refunds and by churn, an LTV exactly at
// a threshold and exactly at threshold × (1 − hysteresis), reactivation,
// late events, duplicate event ids and absent or zero margins.
//
// Where SPEC is silent, docs/configuration.md decides: a demotion lands in
// the tier the LTV reaches (possibly several lower, possibly none at all
// when the lowest threshold is above 0: tier ""). The LTV the ladder is
// applied to is the stored one (2 places), so the stored tier always
// agrees with the stored ltv.

// refTier is one rung of the reference's ladder.
type refTier struct {
	name string
	min  decimal.Decimal
}

// refModel is the reference's configuration.
type refModel struct {
	tiers      []refTier // ascending
	hysteresis decimal.Decimal
	lifespan   decimal.Decimal
	minWindow  decimal.Decimal
	defMargin  decimal.Decimal
}

// oracle returns an empty oracle of the model's SPEC §4 settings.
func (m *refModel) oracle() *oracle.Oracle {
	return oracle.New(oracle.Params{LifespanYears: m.lifespan.Rat(), MinWindowYears: m.minWindow.Rat(), DefaultMargin: m.defMargin.Rat()})
}

// refEvent is one input event as produced.
type refEvent struct {
	lifecycle bool // on the lifecycle topic (else orders)
	id, cust  string
	typ       string // order_placed, order_refunded, customer_churned, customer_reactivated
	order     string
	amount    string
	margin    string // "" = absent
	at        string // occurred_at as sent
}

func (e refEvent) time() time.Time {
	t, err := time.Parse(time.RFC3339Nano, e.at)
	if err != nil {
		panic(err)
	}
	return t
}

func (e refEvent) json() []byte {
	var b strings.Builder
	if e.lifecycle {
		fmt.Fprintf(&b, `{"schema":"ltv.lifecycle.v1","event_id":%q,"type":%q,"customer_id":%q,"occurred_at":%q}`,
			e.id, e.typ, e.cust, e.at)
		return []byte(b.String())
	}
	fmt.Fprintf(&b, `{"schema":"ltv.order.v1","event_id":%q,"type":%q,"customer_id":%q,"order_id":%q,"amount":%q,"currency":"SEK"`,
		e.id, e.typ, e.cust, e.order, e.amount)
	if e.margin != "" {
		fmt.Fprintf(&b, `,"gross_margin":%q`, e.margin)
	}
	fmt.Fprintf(&b, `,"occurred_at":%q}`, e.at)
	return []byte(b.String())
}

// refChange is an expected ltv.change.v1 event.
type refChange struct {
	prev, tier, direction   string
	ltv, prevLTV, aov, freq string
	orders                  int64
	churned                 bool
	causedBy                string
	occurredAt              time.Time
}

func (c refChange) String() string {
	return fmt.Sprintf("%q→%q %s ltv %s prev %s aov %s freq %s orders %d churned %v by %s at %s",
		c.prev, c.tier, c.direction, c.ltv, c.prevLTV, c.aov, c.freq, c.orders, c.churned, c.causedBy, c.occurredAt.UTC().Format(time.RFC3339Nano))
}

// refCustomer is the reference's tier state of one customer; its SPEC
// §3–§4 figures are the oracle's.
type refCustomer struct {
	tier    string
	ltv     decimal.Decimal // stored, 2 places
	changes []refChange
}

// index and next are SPEC §5's ladder (exactref_test.go) on the model's
// tiers.
func (m *refModel) index(name string) int { return m.ladder().index(name) }

func (m *refModel) next(cur string, ltv decimal.Decimal) string {
	return m.ladder().next(cur, ltv.Rat())
}

func (m *refModel) ladder() ratLadder {
	l := ratLadder{hysteresis: m.hysteresis.Rat()}
	for _, t := range m.tiers {
		l.tiers = append(l.tiers, ratTier{name: t.name, min: t.min.Rat()})
	}
	return l
}

// apply folds one event into the oracle, in the order the service applies
// them (a duplicate event_id counts once there), and c's tier by SPEC §5.
func (m *refModel) apply(t *testing.T, o *oracle.Oracle, c *refCustomer, e refEvent) {
	t.Helper()
	if err := o.Add(e.json()); err != nil {
		t.Fatal(err)
	}
	f, _ := o.Expect(e.cust)
	ltv := dec(f.Fields["ltv"])
	if next := m.next(c.tier, ltv); next != c.tier {
		dir := "down"
		if m.index(next) > m.index(c.tier) {
			dir = "up"
		}
		orders, _ := strconv.ParseInt(f.Fields["orders"], 10, 64)
		c.changes = append(c.changes, refChange{
			prev: c.tier, tier: next, direction: dir,
			ltv: f.Fields["ltv"], prevLTV: c.ltv.StringFixed(2),
			aov: f.Fields["aov"], freq: f.Fields["frequency"],
			orders: orders, churned: f.Fields["churned"] == "1", causedBy: e.id, occurredAt: e.time(),
		})
		c.tier = next
	}
	c.ltv = ltv
}

// tierScenario is one configuration and the stream sent to it.
type tierScenario struct {
	name   string
	yaml   string
	model  refModel
	events []refEvent
	seq    int
	// want are hand-derived change chains (from SPEC, independently of the
	// reference) for some customers: "prev→tier ltv" per change.
	want map[string][]string
	// lifecycleLate sends every order first and the lifecycle events
	// only once the orders are applied (TestTiersWithLifecycleEventsLate).
	lifecycleLate bool
}

func (s *tierScenario) add(e refEvent) refEvent {
	if e.id == "" {
		s.seq++
		e.id = fmt.Sprintf("%s-e%03d", e.cust, s.seq)
	}
	s.events = append(s.events, e)
	return e
}

func (s *tierScenario) place(cust, order, amount, margin, at string) refEvent {
	return s.add(refEvent{id: "", cust: cust, typ: "order_placed", order: order, amount: amount, margin: margin, at: at})
}

func (s *tierScenario) refund(cust, order, amount, margin, at string) refEvent {
	return s.add(refEvent{cust: cust, typ: "order_refunded", order: order, amount: amount, margin: margin, at: at})
}

func (s *tierScenario) churn(cust, at string) refEvent {
	return s.add(refEvent{lifecycle: true, cust: cust, typ: "customer_churned", at: at})
}

func (s *tierScenario) reactivate(cust, at string) refEvent {
	return s.add(refEvent{lifecycle: true, cust: cust, typ: "customer_reactivated", at: at})
}

// again sends e once more (a duplicate event_id, same or other content).
func (s *tierScenario) again(e refEvent) { s.events = append(s.events, e) }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// tierScenarios are the ladders and streams; the times lie in the past.
func tierScenarios() []*tierScenario {
	// A: two tiers, hysteresis 0, every model default (margin 1.0,
	// lifespan 3, window 1): flapping at a threshold with cents.
	a := &tierScenario{name: "two-tiers-h0", yaml: `
tiers:
  - {name: basic, min: 0}
  - {name: vip, min: 999.99}
hysteresis: 0
`, model: refModel{
		tiers:      []refTier{{"basic", dec("0")}, {"vip", dec("999.99")}},
		hysteresis: dec("0"), lifespan: dec("3"), minWindow: dec("1"), defMargin: dec("1"),
	}}
	a.place("a1", "o1", "333.33", "", "2024-01-10T10:00:00Z")    // 999.99: "" → vip
	a.refund("a1", "o1", "0.01", "", "2024-01-11T10:00:00Z")     // 999.96: vip → basic
	d := a.place("a1", "o2", "0.01", "", "2024-01-12T10:00:00Z") // 999.99: basic → vip
	a.again(d)                                                   // duplicate
	a.refund("a1", "o2", "0.01", "0", "2024-01-13T10:00:00Z")    // margin 0: ltv unchanged
	a.refund("a1", "o1", "0.01", "", "2024-01-14T10:00:00Z")     // 999.96: vip → basic
	a.want = map[string][]string{"a1": {`""→vip 999.99`, `vip→basic 999.96`, `basic→vip 999.99`, `vip→basic 999.96`}}

	a.place("a2", "o1", "100", "0", "2024-01-05T00:00:00Z") // ltv 0: "" → basic
	a.place("a2", "o2", "500", "1", "2024-02-01T00:00:00Z") // 1500: vip
	a.churn("a2", "2024-03-01T00:00:00Z")                   // 500: basic
	a.reactivate("a2", "2024-04-01T00:00:00Z")              // 1500: vip
	a.churn("a2", "2024-05-01T00:00:00Z")                   // 500: basic
	// The merge takes the churn of 05-01 before this refund, and the late
	// order after both.
	a.refund("a2", "o2", "50", "1", "2024-05-10T00:00:00Z") // churned 450
	a.place("a2", "o3", "100", "1", "2024-04-15T00:00:00Z") // late, before the churn: churned 550
	a.place("a2", "o4", "10", "1", "2024-06-01T00:00:00Z")  // after the churn: 1680 vip
	a.want["a2"] = []string{`""→basic 0.00`, `basic→vip 1500.00`, `vip→basic 500.00`, `basic→vip 1500.00`, `vip→basic 500.00`, `basic→vip 1680.00`}

	a.refund("a3", "ox", "200", "", "2024-03-01T00:00:00Z") // refund read before its order: no orders, ltv 0
	a.place("a3", "ox", "200", "", "2024-02-01T00:00:00Z")  // revenue 0: ltv 0
	a.place("a3", "oy", "400", "", "2024-02-15T00:00:00Z")  // 1200: vip

	a.place("a4", "o1", "1000", "0.37", "2022-01-01T00:00:00Z")
	a.place("a4", "o2", "250.5", "0.41", "2023-06-17T08:30:00Z")
	a.place("a4", "o3", "99.99", "", "2024-09-30T23:59:59Z")
	a.place("a4", "o4", "600", "0.5", "2024-10-01T00:00:00Z")
	a.place("a4", "o5", "100", "", "2024-10-03T01:00:00+02:00") // another offset
	a.place("a4", "o6", "12.345", "0.123", "2024-10-04T00:00:00.25Z")

	x := a.place("a5", "o1", "600", "", "2024-01-01T00:00:00Z") // 1800: "" → vip
	x2 := x
	x2.amount = "5000" // same event_id, other content: counts once
	a.again(x2)
	a.add(refEvent{lifecycle: true, id: x.id, cust: "a5", typ: "customer_churned", at: "2024-06-01T00:00:00Z"}) // a lifecycle event reusing the id
	a.want["a5"] = []string{`""→vip 1800.00`}

	a.churn("a6", "2024-02-01T00:00:00Z") // no orders: ltv 0, basic, churned
	a.reactivate("a6", "2024-03-01T00:00:00Z")
	a.churn("a6", "2024-01-15T00:00:00Z") // late: the reactivation is later
	a.want["a6"] = []string{`""→basic 0.00`}

	// B: six tiers given as an unsorted mapping, lowest above 0, cents,
	// hysteresis 0.5, default margin 0.4.
	b := &tierScenario{name: "six-tiers-h50", yaml: `
tiers:
  t3: 999.99
  t1: 100
  t6: 50000
  t2: 500
  t5: 10000
  t4: 2500.50
hysteresis: 0.5
default_gross_margin: 0.4
`, model: refModel{
		tiers: []refTier{{"t1", dec("100")}, {"t2", dec("500")}, {"t3", dec("999.99")},
			{"t4", dec("2500.50")}, {"t5", dec("10000")}, {"t6", dec("50000")}},
		hysteresis: dec("0.5"), lifespan: dec("3"), minWindow: dec("1"), defMargin: dec("0.4"),
	}}
	b.place("b1", "o1", "10", "1", "2024-01-01T00:00:00Z")      // 30: below every tier
	b.place("b1", "o2", "5000", "1", "2024-01-02T00:00:00Z")    // 15030: "" → t5
	b.refund("b1", "o2", "4000", "1", "2024-01-03T00:00:00Z")   // 3030: t5 → t4
	b.refund("b1", "o2", "943.34", "1", "2024-01-04T00:00:00Z") // 199.98: t4 → t1
	b.refund("b1", "o1", "66.66", "1", "2024-01-05T00:00:00Z")  // 0: t1 → ""
	b.place("b1", "o3", "20000", "1", "2024-01-06T00:00:00Z")   // 60000: "" → t6
	b.want = map[string][]string{"b1": {`""→t5 15030.00`, `t5→t4 3030.00`, `t4→t1 199.98`, `t1→"" 0.00`, `""→t6 60000.00`}}

	b.place("b2", "o1", "833.50", "1", "2024-01-01T00:00:00Z")   // 2500.50: "" → t4
	b.refund("b2", "o1", "416.75", "1", "2024-01-02T00:00:00Z")  // 1250.25 = 2500.50 × 0.5: stays
	b.refund("b2", "o1", "0.01", "0.33", "2024-01-03T00:00:00Z") // 1250.2401 → 1250.24: t4 → t3
	b.refund("b2", "o1", "83.41", "1", "2024-01-04T00:00:00Z")   // 1000.01
	b.refund("b2", "o1", "0.01", "0.67", "2024-01-05T00:00:00Z") // 999.99 exactly: t3
	b.refund("b2", "o1", "166.66", "1", "2024-01-06T00:00:00Z")  // 500.01
	b.refund("b2", "o1", "0.01", "0.5", "2024-01-07T00:00:00Z")  // 499.995 → 500.00: stays t3
	b.refund("b2", "o1", "0.01", "0.1", "2024-01-08T00:00:00Z")  // 499.992 → 499.99 < 499.995: t3 → t1
	b.want["b2"] = []string{`""→t4 2500.50`, `t4→t3 1250.24`, `t3→t1 499.99`}

	b.place("b3", "o1", "12500", "", "2024-01-01T00:00:00Z") // gp 5000, 15000: "" → t5
	b.churn("b3", "2024-02-01T00:00:00Z")                    // 5000.00 = 10000 × 0.5: stays t5
	b.refund("b3", "o1", "0.03", "", "2024-02-02T00:00:00Z") // churned 4999.99: t5 → t4
	r := b.reactivate("b3", "2024-03-01T00:00:00Z")          // 14999.96: t4 → t5
	b.again(r)
	b.want["b3"] = []string{`""→t5 15000.00`, `t5→t4 4999.99`, `t4→t5 14999.96`}

	b.place("b4", "o1", "300", "1", "2024-01-01T00:00:00Z") // 900: t2
	b.place("b4", "o2", "600", "1", "2024-01-10T00:00:00Z") // 2700: t4
	b.churn("b4", "2024-02-01T00:00:00Z")                   // 900: t4 → t2
	b.refund("b4", "o1", "1", "0", "2024-02-05T00:00:00Z")  // holds the late events behind the churn in the merge
	b.reactivate("b4", "2024-01-20T00:00:00Z")              // late: still churned
	b.place("b4", "o3", "100", "1", "2024-01-25T00:00:00Z") // late order: churned 1000 → t3
	b.place("b4", "o4", "1", "0", "2024-02-15T00:00:00Z")   // after the churn: 3000 → t4
	b.want["b4"] = []string{`""→t2 900.00`, `t2→t4 2700.00`, `t4→t2 900.00`, `t2→t3 1000.00`, `t3→t4 3000.00`}

	b.place("b5", "o1", "5000", "0", "2024-01-01T00:00:00Z") // margin 0: 0, no tier
	b.place("b5", "o2", "40", "", "2024-01-02T00:00:00Z")    // default 0.4: 48
	b.place("b5", "o3", "13.34", "1", "2024-01-03T00:00:00Z")
	b.place("b5", "o4", "6.66", "1", "2024-01-04T00:00:00Z") // gp 36: 108 → t1

	// C: a list with `threshold`, lowest above 0, default hysteresis
	// 0.05, lifespan 10, window 2, default margin 0.
	c := &tierScenario{name: "three-tiers-h5", yaml: `
tiers:
  - {name: member, threshold: 250}
  - {name: plus, threshold: 999.98}
  - {name: pro, threshold: 5000.05}
lifespan_years: 10
min_window_years: 2
default_gross_margin: 0
`, model: refModel{
		tiers:      []refTier{{"member", dec("250")}, {"plus", dec("999.98")}, {"pro", dec("5000.05")}},
		hysteresis: dec("0.05"), lifespan: dec("10"), minWindow: dec("2"), defMargin: dec("0"),
	}}
	c.place("c1", "o1", "100", "", "2024-01-01T00:00:00Z")       // margin absent = 0: ltv 0, no tier
	c.place("c1", "o2", "399.99", "0.5", "2024-01-02T00:00:00Z") // 999.975 → 999.98: "" → plus
	c.refund("c1", "o2", "0.02", "0.5", "2024-01-03T00:00:00Z")  // 999.925 → 999.93
	c.refund("c1", "o2", "99.87", "0.1", "2024-01-04T00:00:00Z") // 949.99 ≥ 949.981: stays
	c.refund("c1", "o2", "0.02", "0.1", "2024-01-05T00:00:00Z")  // 949.98: plus → member
	c.want = map[string][]string{"c1": {`""→plus 999.98`, `plus→member 949.98`}}

	c.place("c2", "o1", "100", "1", "2024-01-01T00:00:00Z") // 500: "" → member
	c.churn("c2", "2024-02-01T00:00:00Z")                   // 100: member → ""
	c.reactivate("c2", "2024-03-01T00:00:00Z")              // 500: "" → member
	c.want["c2"] = []string{`""→member 500.00`, `member→"" 100.00`, `""→member 500.00`}

	c.place("c3", "o1", "1000.01", "1", "2024-01-01T00:00:00Z") // 5000.05: "" → pro
	c.churn("c3", "2024-02-01T00:00:00Z")                       // 1000.01: pro → plus
	c.refund("c3", "o1", "0.04", "1", "2024-02-02T00:00:00Z")   // 999.97: stays plus
	c.refund("c3", "o1", "50", "1", "2024-02-03T00:00:00Z")     // 949.97: plus → member
	c.reactivate("c3", "2024-03-01T00:00:00Z")                  // 4749.85: member → plus
	c.want["c3"] = []string{`""→pro 5000.05`, `pro→plus 1000.01`, `plus→member 949.97`, `member→plus 4749.85`}

	c.place("c4", "o1", "500", "0.3", "2021-03-01T00:00:00Z")
	c.place("c4", "o2", "500", "0.3", "2024-03-01T12:00:00Z")
	c.place("c4", "o3", "1", "1", "2024-03-01T12:00:00.5Z")
	c.place("c4", "o4", "2", "1", "2024-03-02T12:00:00Z")

	// D: a single tier above 0, hysteresis 0.2: the only changes are
	// "" → vip and back.
	one := &tierScenario{name: "one-tier-h20", yaml: `
tiers:
  - {name: vip, min: 1000}
hysteresis: 0.2
`, model: refModel{
		tiers:      []refTier{{"vip", dec("1000")}},
		hysteresis: dec("0.2"), lifespan: dec("3"), minWindow: dec("1"), defMargin: dec("1"),
	}}
	one.place("d1", "o1", "333.33", "", "2024-01-01T00:00:00Z")   // 999.99: no tier
	one.place("d1", "o2", "0.01", "0.34", "2024-01-02T00:00:00Z") // gp 333.3334: 1000.00: "" → vip
	one.refund("d1", "o1", "66.66", "1", "2024-01-03T00:00:00Z")  // 800.02 ≥ 800: stays
	one.refund("d1", "o1", "0.01", "1", "2024-01-04T00:00:00Z")   // 799.99: vip → ""
	one.churn("d1", "2024-01-05T00:00:00Z")                       // 266.66
	one.reactivate("d1", "2024-01-06T00:00:00Z")                  // 799.99
	one.place("d1", "o3", "66.67", "1", "2024-01-07T00:00:00Z")   // 1000.00: "" → vip
	one.want = map[string][]string{"d1": {`""→vip 1000.00`, `vip→"" 799.99`, `""→vip 1000.00`}}
	one.place("d2", "o1", "5000", "", "2024-01-01T00:00:00Z")     // 15000: "" → vip
	one.churn("d2", "2024-02-01T00:00:00Z")                       // 5000: stays
	one.refund("d2", "o1", "4200.01", "", "2024-02-02T00:00:00Z") // churned 799.99: vip → ""
	one.want["d2"] = []string{`""→vip 15000.00`, `vip→"" 799.99`}

	// E: twelve tiers from 0, hysteresis 0.1, for a random stream.
	twelve := &tierScenario{name: "random-twelve-tiers-h10", yaml: `
tiers: {t00: 0, t01: 50, t02: 100, t03: 250, t04: 500, t05: 1000, t06: 2000, t07: 3500, t08: 5000, t09: 10000, t10: 20000, t11: 50000}
hysteresis: 0.1
`, model: refModel{hysteresis: dec("0.1"), lifespan: dec("3"), minWindow: dec("1"), defMargin: dec("1")}}
	for i, m := range []string{"0", "50", "100", "250", "500", "1000", "2000", "3500", "5000", "10000", "20000", "50000"} {
		twelve.model.tiers = append(twelve.model.tiers, refTier{fmt.Sprintf("t%02d", i), dec(m)})
	}
	for _, s := range []*tierScenario{a, b, c, one} {
		s.separate()
	}
	return []*tierScenario{a, b, c, one, randomTierScenario("random-six-tiers-h50", b.yaml, b.model, 1),
		randomTierScenario("random-two-tiers-h0", a.yaml, a.model, 2),
		randomTierScenario(twelve.name, twelve.yaml, twelve.model, 3)}
}

// randomTierScenario is a seeded random stream on a ladder: 150 customers
// of 2 to 24 events each, interleaved, with absent, zero and random
// margins, refunds (some larger than what was bought), churns and
// reactivations, late events (event time before the customer's previous
// event) and duplicate event ids (a recent event sent again, sometimes
// with other content).
func randomTierScenario(name, yaml string, model refModel, seed uint64) *tierScenario {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := &tierScenario{name: name, yaml: yaml, model: model}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	amount := func() string {
		switch rng.IntN(10) {
		case 0:
			return fmt.Sprintf("%d.%03d", rng.IntN(300), rng.IntN(1000))
		case 1:
			return fmt.Sprintf("%d", 5000+rng.IntN(20000))
		}
		return fmt.Sprintf("%d.%02d", rng.IntN(3000), 1+rng.IntN(99))
	}
	margin := func() string {
		switch rng.IntN(10) {
		case 0, 1, 2:
			return ""
		case 3:
			return "0"
		case 4:
			return "1"
		}
		return fmt.Sprintf("0.%02d", rng.IntN(100))
	}
	var streams [][]refEvent
	for i := 0; i < 150; i++ {
		cust := fmt.Sprintf("r%03d", i)
		at := base.Add(time.Duration(rng.IntN(3*365*24)) * time.Hour)
		var evs, orders []refEvent
		n := 2 + rng.IntN(23)
		for len(evs) < n {
			// Mostly forward in time, sometimes late, sometimes at the
			// same instant.
			switch k := rng.IntN(10); {
			case k < 7:
				at = at.Add(time.Duration(rng.IntN(120*24)) * time.Hour)
			case k < 9:
				at = at.Add(-time.Duration(rng.IntN(200*24)) * time.Hour)
			}
			text := at.Format(time.RFC3339)
			seq := len(evs)
			id := fmt.Sprintf("%s-%02d", cust, seq)
			switch k := rng.IntN(20); {
			case k < 10 || len(orders) == 0 && k < 14:
				o := refEvent{id: id, cust: cust, typ: "order_placed", order: fmt.Sprintf("o%02d", seq), amount: amount(), margin: margin(), at: text}
				orders = append(orders, o)
				evs = append(evs, o)
			case k < 14:
				o := orders[rng.IntN(len(orders))]
				amt := amount()
				if rng.IntN(3) > 0 {
					amt = decimal.RequireFromString(o.amount).Mul(decimal.NewFromFloat(rng.Float64()).Round(2)).String()
					if amt == "0" {
						amt = "0.01"
					}
				}
				m := o.margin
				if rng.IntN(4) == 0 {
					m = margin()
				}
				evs = append(evs, refEvent{id: id, cust: cust, typ: "order_refunded", order: o.order, amount: amt, margin: m, at: text})
			case k < 17:
				evs = append(evs, refEvent{lifecycle: true, id: id, cust: cust, typ: "customer_churned", at: text})
			case k < 19:
				evs = append(evs, refEvent{lifecycle: true, id: id, cust: cust, typ: "customer_reactivated", at: text})
			default:
				if len(evs) == 0 {
					continue
				}
				d := evs[len(evs)-1-rng.IntN(min(len(evs), 5))]
				if !d.lifecycle && rng.IntN(2) == 0 {
					d.amount = amount() // same id, other content
				}
				evs = append(evs, d)
			}
		}
		streams = append(streams, evs)
	}
	// Interleave the customers, each keeping its own order.
	for left := len(streams); left > 0; {
		i := rng.IntN(len(streams))
		if len(streams[i]) == 0 {
			continue
		}
		s.events = append(s.events, streams[i][0])
		if streams[i] = streams[i][1:]; len(streams[i]) == 0 {
			left--
		}
	}
	return s
}

// separate moves each customer's events into a 4-year block of its own
// (the last customer keeps its times, earlier ones move back), in the
// order of the customers' first events: the service merges the two input
// topics of a partition by event time, so with the customers' blocks in
// order each customer's events are applied in the order its own stream
// gives, not one that depends on its neighbours.
func (s *tierScenario) separate() {
	var order []string
	index := map[string]int{}
	for _, e := range s.events {
		if _, ok := index[e.cust]; !ok {
			index[e.cust] = len(order)
			order = append(order, e.cust)
		}
	}
	for i := range s.events {
		e := &s.events[i]
		years := 4 * (index[e.cust] - (len(order) - 1))
		e.at = e.time().AddDate(years, 0, 0).Format(time.RFC3339Nano)
	}
}

// TestTiersAgainstReference runs each scenario through the real service
// and compares Redis and ltv-changes with the reference: once in one run,
// and once in two runs (the second half of the stream produced after the
// first instance has stopped) with one record per batch and no state
// cache, so every event's tier decision starts from the state read back
// from Redis.
//
// With the predictive model (SPEC §9) on as well, the LTV is no longer
// §4's, but the ladder still applies to it (also when a timer lowers it):
// every change must then follow the tier rule from its previous tier and
// its own ltv, and the stored tier must agree with the stored ltv.
func TestTiersAgainstReference(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	for _, sc := range tierScenarios() {
		t.Run(sc.name, func(t *testing.T) { runTierScenario(t, sc, false, false) })
		t.Run(sc.name+"/restart", func(t *testing.T) { runTierScenario(t, sc, true, false) })
		if strings.HasPrefix(sc.name, "random") {
			t.Run(sc.name+"/predictive", func(t *testing.T) { runTierScenario(t, sc, false, true) })
		}
	}
}

// TestTiersWithLifecycleEventsLate: the churns and reactivations of each
// scenario reach the service only after all the orders have been applied,
// so each is applied after orders later than it in event time. SPEC §4
// decides churn by event time, so the final state is the same as in any
// arrival order; the tiers move along another path (hysteresis), which
// the reference follows, and each chain must still be unbroken and end at
// the stored tier.
func TestTiersWithLifecycleEventsLate(t *testing.T) {
	for _, sc := range tierScenarios() {
		if sc.name == "random-two-tiers-h0" {
			continue
		}
		late := *sc
		late.lifecycleLate = true
		t.Run(sc.name, func(t *testing.T) { runTierScenario(t, &late, false, false) })
	}
}

// TestTiersAgainstReferenceUnderCrashes runs the scenarios through the
// consumer binary with small batches that kill themselves (SIGKILL) at
// random right after a batch's Redis write or right after its outputs are
// acknowledged, before the commit; each is restarted at once until the
// group has caught up. The stored state and every customer's distinct
// change events must still be the reference's, to the previous_ltv
// (copies are allowed only byte-identical, with the same event_id).
func TestTiersAgainstReferenceUnderCrashes(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "restarts a crashing consumer binary")
	for _, sc := range tierScenarios() {
		if strings.HasPrefix(sc.name, "random") && sc.name != "random-six-tiers-h50" {
			continue // one random stream is enough here
		}
		t.Run(sc.name, func(t *testing.T) { t.Parallel(); runTierScenarioCrashing(t, sc, false) })
		if strings.HasPrefix(sc.name, "random") {
			// Timers lower tiers too (SPEC §9), in batches that crash.
			t.Run(sc.name+"/predictive", func(t *testing.T) { t.Parallel(); runTierScenarioCrashing(t, sc, true) })
		}
	}
}

// maxTierCrashes bounds the crashes of one run of
// TestTiersAgainstReferenceUnderCrashes.
const maxTierCrashes = 8

// runTierScenarioCrashing is runTierScenario's one-run case with the
// crashing binary of TestTiersAgainstReferenceUnderCrashes.
func runTierScenarioCrashing(t *testing.T, sc *tierScenario, predictive bool) {
	runTierScenarioWith(t, sc, false, predictive, func(t *testing.T, ctx context.Context, e *env, yamlPath string) {
		// About 30 batches per partition, so about 5 crashes per run.
		batch := max(3, len(sc.events)/60)
		env := e.envFor(map[string]string{
			"LTV_CONFIG":    yamlPath,
			"LTV_MAX_BATCH": strconv.Itoa(batch),
		})
		var pr *proc
		crashes := 0
		start := func() {
			name := fmt.Sprintf("consumer-%d", time.Now().UnixNano())
			env["LTV_KAFKA_CLIENT_ID"] = name
			// The first instance dies after its first write, the second
			// after its first publish (so even a short stream has both
			// crashes), the later ones at random.
			env["LTV_FAULT_INJECT"] = [...]string{"after-save:1", "after-publish:1"}[min(crashes, 1)]
			switch {
			case crashes >= maxTierCrashes:
				// Enough crashes for one run: each restart costs seconds
				// (a process, a group join), and the rest of the stream
				// drains without faults.
				delete(env, "LTV_FAULT_INJECT")
			case crashes >= 2:
				env["LTV_FAULT_INJECT"] = "after-save:0.08,after-publish:0.08"
			}
			pr = startCrashingProc(t, name, env)
		}
		start()
		var lastEvict time.Time
		err := waitFor(ctx, "the group to catch up", func() bool {
			select {
			case <-pr.exited:
				crashes++
				start()
			default:
			}
			if time.Since(lastEvict) > 3*time.Second {
				// kfake keeps a member killed between join and sync
				// (testutil.EvictDeadMembers).
				_, _ = testutil.EvictDeadMembers(ctx, e.brokers, settings.DefaultGroupID, func(id string) bool { return id != pr.name })
				lastEvict = time.Now()
			}
			lag, err := testutil.Lag(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
			return err == nil && lag == 0
		})
		if err != nil {
			t.Fatalf("%v after %d crashes\n%s", err, crashes, pr.logTail())
		}
		if code, err := pr.terminate(25 * time.Second); err != nil || code != 0 {
			t.Fatalf("exit code %d, err %v\n%s", code, err, pr.logTail())
		}
		t.Logf("%d events in batches of %d, %d crashes", len(sc.events), batch, crashes)
		if crashes < 2 {
			t.Errorf("only %d crashes: the fault injection did not work", crashes)
		}
	})
}

func runTierScenario(t *testing.T, sc *tierScenario, split, predictive bool) {
	runTierScenarioWith(t, sc, split, predictive, nil)
}

// runTierScenarioWith is runTierScenario; a non-nil run replaces the
// in-process service: it is called once, after the whole stream has been
// produced, with the YAML file's path, and returns once the group has
// caught up and the consumer has stopped.
func runTierScenarioWith(t *testing.T, sc *tierScenario, split, predictive bool,
	run func(t *testing.T, ctx context.Context, e *env, yamlPath string)) {
	const partitions = 2
	ctx := testutil.Context(t, 2*time.Minute)
	e := newEnv(t, partitions)
	yaml := sc.yaml
	if predictive {
		yaml += spectest.Predictive
	}
	yamlPath := testutil.WriteFile(t, "ltv.yaml", yaml)
	args := []string{"--config", yamlPath}
	parts := [][]refEvent{sc.events}
	if split {
		args = append(args, "--max-batch", "1", "--state-cache-bytes", "0")
		half := len(sc.events) / 2
		parts = [][]refEvent{sc.events[:half], sc.events[half:]}
	}
	if sc.lifecycleLate {
		// Every order first; the lifecycle events only once those are
		// applied: churns and reactivations reach the service after
		// orders later than them in event time.
		var orders, life []refEvent
		for _, ev := range sc.events {
			if ev.lifecycle {
				life = append(life, ev)
			} else {
				orders = append(orders, ev)
			}
		}
		parts = [][]refEvent{orders, life}
	}
	cfg := e.config(t, args...)
	ref := map[string]*refCustomer{}
	o := sc.model.oracle()
	for _, part := range parts {
		// The service merges partition p of the two topics by event
		// time (ties: orders first), keeping each topic's order: the
		// reference applies the events in that order.
		type lane struct{ orders, lifecycle []refEvent }
		lanes := make([]lane, partitions)
		var orderMsgs, lifeMsgs []kafka.Message
		bal := &kafka.Murmur2Balancer{}
		for _, ev := range part {
			msg := kafka.Message{Key: []byte(ev.cust), Value: ev.json()}
			p := bal.Balance(msg, 0, 1)
			if ev.lifecycle {
				msg.Topic = settings.DefaultLifecycleTopic
				lifeMsgs = append(lifeMsgs, msg)
				lanes[p].lifecycle = append(lanes[p].lifecycle, ev)
			} else {
				msg.Topic = settings.DefaultOrdersTopic
				orderMsgs = append(orderMsgs, msg)
				lanes[p].orders = append(lanes[p].orders, ev)
			}
		}
		for _, l := range lanes {
			i, j := 0, 0
			for i < len(l.orders) || j < len(l.lifecycle) {
				var ev refEvent
				if i < len(l.orders) && (j == len(l.lifecycle) || !l.lifecycle[j].time().Before(l.orders[i].time())) {
					ev, i = l.orders[i], i+1
				} else {
					ev, j = l.lifecycle[j], j+1
				}
				c := ref[ev.cust]
				if c == nil {
					c = &refCustomer{}
					ref[ev.cust] = c
				}
				sc.model.apply(t, o, c, ev)
			}
		}
		if len(orderMsgs) > 0 {
			write(t, ctx, e.brokers, orderMsgs)
		}
		if len(lifeMsgs) > 0 {
			write(t, ctx, e.brokers, lifeMsgs)
		}
		if run != nil {
			run(t, ctx, e, yamlPath)
			continue
		}
		svc := startService(t, cfg)
		if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
			t.Fatal(err)
		}
		svc.stop(t)
	}

	// Copies (a pending event published again before its clear landed)
	// are allowed when identical, which readChains checks.
	chains, _ := readChains(ctx, t, e.brokers, settings.DefaultChangesTopic, "ltv.change.v1")
	raw, err := testutil.ReadAll(ctx, e.brokers, settings.DefaultChangesTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range raw {
		if err := schemas.Validate(m.Value); err != nil {
			t.Errorf("change event against schemas/change.v1.json: %v: %s", err, m.Value)
		}
	}
	ids := make([]string, 0, len(ref))
	for id := range ref {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if predictive {
		checkTierRule(t, ctx, e, sc, ids, chains)
		return
	}
	for _, id := range ids {
		c := ref[id]
		f, _ := o.Expect(id)
		h, err := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"tier": c.tier}
		for _, name := range []string{"orders", "revenue", "gross_profit", "refunds", "aov", "frequency", "ltv", "churned"} {
			want[name] = f.Fields[name]
		}
		for name, w := range want {
			if h[name] != w {
				t.Errorf("%s: stored %s = %q, want %q", id, name, h[name], w)
			}
		}
		got := chains[id]
		if len(got) != len(c.changes) {
			t.Errorf("%s: %d change events, want %d", id, len(got), len(c.changes))
		}
		for i := 0; i < max(len(got), len(c.changes)); i++ {
			var g, w string
			if i < len(got) {
				g = renderChange(t, got[i])
			}
			if i < len(c.changes) {
				w = c.changes[i].String()
			}
			if g != w {
				t.Errorf("%s change %d:\n got  %s\n want %s", id, i, g, w)
			}
		}
		if hand, ok := sc.want[id]; ok {
			var brief []string
			for _, ch := range c.changes {
				brief = append(brief, fmt.Sprintf("%q→%q %s", ch.prev, ch.tier, ch.ltv))
			}
			got, hw := strings.ReplaceAll(strings.Join(brief, "; "), `"`, ""), strings.ReplaceAll(strings.Join(hand, "; "), `"`, "")
			if !split && !sc.lifecycleLate && got != hw {
				t.Errorf("%s: reference chain %s, hand-derived %s", id, got, hw)
			}
		}
		if testing.Verbose() {
			for _, ch := range c.changes {
				t.Logf("%s: %s", id, ch)
			}
		}
	}
	// What the stream exercised, for the log.
	var ups, downs, multi, none, churnedDowns int
	for _, c := range ref {
		for _, ch := range c.changes {
			if ch.direction == "up" {
				ups++
			} else {
				downs++
				if ch.churned {
					churnedDowns++
				}
			}
			if d := sc.model.index(ch.tier) - sc.model.index(ch.prev); d > 1 || d < -1 {
				multi++
			}
			if ch.tier == "" {
				none++
			}
		}
	}
	t.Logf("%d customers: %d promotions, %d demotions (%d churned), %d past several tiers, %d to no tier",
		len(ref), ups, downs, churnedDowns, multi, none)
	for id := range chains {
		if ref[id] == nil {
			t.Errorf("change events for unknown customer %s", id)
		}
	}
}

// checkTierRule checks what holds whatever the LTV model: each change
// goes from the tier before it to the tier the rule gives for its own ltv
// (and is a change), in the right direction; a timer only lowers a tier;
// the chain is unbroken and ends at the stored tier, which the rule keeps
// for the stored ltv.
func checkTierRule(t *testing.T, ctx context.Context, e *env, sc *tierScenario, ids []string, chains map[string][]schemas.Change) {
	t.Helper()
	var changes, byTimer int
	for _, id := range ids {
		h, err := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		prev := ""
		for _, c := range chains[id] {
			changes++
			if c.PreviousTier != prev {
				t.Errorf("%s: chain broken: %q then %q→%q", id, prev, c.PreviousTier, c.Tier)
			}
			want := sc.model.next(c.PreviousTier, dec(c.LTV))
			dir := "down"
			if sc.model.index(c.Tier) > sc.model.index(c.PreviousTier) {
				dir = "up"
			}
			if c.Tier != want || c.Tier == c.PreviousTier || c.Direction != dir {
				t.Errorf("%s: change %q→%q %s at ltv %s (by %s); the rule gives %q", id, c.PreviousTier, c.Tier, c.Direction, c.LTV, c.CausedBy, want)
			}
			if due, ok := strings.CutPrefix(c.CausedBy, "timer:"); ok {
				byTimer++
				if c.Direction != "down" {
					t.Errorf("%s: a timer raised the tier: %q→%q", id, c.PreviousTier, c.Tier)
				}
				// SPEC §8: a timer's change happens at its due time.
				if due != c.OccurredAt {
					t.Errorf("%s: change caused by %s has occurred_at %s", id, c.CausedBy, c.OccurredAt)
				}
			}
			prev = c.Tier
		}
		if prev != h["tier"] {
			t.Errorf("%s: chain ends at %q, stored tier %q", id, prev, h["tier"])
		}
		if next := sc.model.next(h["tier"], dec(h["ltv"])); next != h["tier"] {
			t.Errorf("%s: stored tier %q with stored ltv %s; the rule gives %q", id, h["tier"], h["ltv"], next)
		}
	}
	t.Logf("%d customers, %d tier changes, %d by timers", len(ids), changes, byTimer)
}

// renderChange renders a published change in refChange's terms.
func renderChange(t *testing.T, c schemas.Change) string {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, c.OccurredAt)
	if err != nil || !strings.HasSuffix(c.OccurredAt, "Z") {
		t.Errorf("change %s: occurred_at %q is not RFC 3339 UTC", c.EventID, c.OccurredAt)
	}
	if _, err := time.Parse(time.RFC3339Nano, c.EmittedAt); err != nil || c.EventID == "" {
		t.Errorf("change %s: emitted_at %q", c.EventID, c.EmittedAt)
	}
	return refChange{
		prev: c.PreviousTier, tier: c.Tier, direction: c.Direction,
		ltv: c.LTV, prevLTV: c.PreviousLTV, aov: c.AOV, freq: c.Frequency,
		orders: c.Orders, churned: c.Churned, causedBy: c.CausedBy, occurredAt: at,
	}.String()
}
