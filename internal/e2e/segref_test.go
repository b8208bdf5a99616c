package e2e

// An independent reference of SPEC §3, §4 and §8 (lifecycle segments,
// stream time, timers and churn), written from SPEC and docs/guarantees.md
// alone, sharing no code with internal/aggregate, internal/oracle or the
// other e2e references, and the hand-built streams that try to break the
// consumer binary against it: late orders, events exactly at the
// thresholds (to the nanosecond, written with offsets), churn and order at
// one instant, reactivation and churn without orders, duplicates, dead
// letters with far-off times, timers due at another record's very instant,
// many timers in one batch, a partition whose stream time jumps years
// ahead, and thresholds in fractions of days.
//
// Where SPEC leaves a choice, the reference follows the project's written
// promise (docs/guarantees.md, "Segments and timers"):
//   - a timer fires once its partition's stream time has reached its due
//     time (due ≤ stream time), and a customer is brought to the stream
//     time just before each of its records;
//   - an event first fires its customer's timers due strictly before its
//     own time, not one due at that very instant;
//   - an event's segment is judged at the stream time once it is read
//     (later than its own time for a late event); the change's occurred_at
//     is still the event's own;
//   - a duplicate event_id changes nothing but still moves stream time.

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/segmentio/kafka-go"
)

// srDay is a day of event time.
const srDay = 24 * time.Hour

// srRec is one hand-built input record.
type srRec struct {
	lifecycle bool
	part      int
	key       string
	value     string
	bad       bool // the consumer must dead-letter it (built so)
	phase     int  // produced after the consumers of the phases before it stopped
}

// srStream is one configuration and its hand-built records, per topic in
// the order they are produced.
type srStream struct {
	name           string
	yaml           string // "" = no config file
	atRisk, lapsed time.Duration
	parts          int
	recs           []srRec
	seq            int
	phase          int // of the records added next
	// hand are chains derived by hand from SPEC, to keep the reference
	// honest: customer → its segment changes as "prev>seg cause@at; …"
	// with cause "e" (an input event) or "t" (a timer) and at in UTC.
	hand map[string]string
}

// srAt is a time written with an offset of off hours, to the nanosecond.
func srAt(t time.Time, off int) string {
	return t.In(time.FixedZone("", off*3600)).Format(time.RFC3339Nano)
}

func (s *srStream) nextID(cust string) string {
	s.seq++
	return fmt.Sprintf("%s-e%03d", cust, s.seq)
}

func (s *srStream) orderRec(part int, typ, id, cust, order, amount, currency, at string) string {
	if id == "" {
		id = s.nextID(cust)
	}
	s.recs = append(s.recs, srRec{part: part, phase: s.phase, key: cust, value: fmt.Sprintf(
		`{"schema":"ltv.order.v1","event_id":%q,"type":%q,"customer_id":%q,"order_id":%q,"amount":%q,"currency":%q,"occurred_at":%q}`,
		id, typ, cust, order, amount, currency, at)})
	return id
}

// place adds an order_placed of amount at at (offset off hours).
func (s *srStream) place(part int, cust, amount string, at time.Time, off int) string {
	return s.orderRec(part, "order_placed", "", cust, "o-"+strconv.Itoa(s.seq+1), amount, "SEK", srAt(at, off))
}

// placeID is place with a given event_id (for duplicates).
func (s *srStream) placeID(part int, id, cust, amount string, at time.Time) {
	s.orderRec(part, "order_placed", id, cust, "o-"+id, amount, "SEK", srAt(at, 0))
}

func (s *srStream) refund(part int, cust, order, amount string, at time.Time, off int) string {
	return s.orderRec(part, "order_refunded", "", cust, order, amount, "SEK", srAt(at, off))
}

func (s *srStream) life(part int, typ, cust string, at time.Time) string {
	return s.lifeID(part, typ, s.nextID(cust), cust, at)
}

// lifeID is life with a given event_id.
func (s *srStream) lifeID(part int, typ, id, cust string, at time.Time) string {
	s.recs = append(s.recs, srRec{lifecycle: true, part: part, phase: s.phase, key: cust, value: fmt.Sprintf(
		`{"schema":"ltv.lifecycle.v1","event_id":%q,"type":%q,"customer_id":%q,"occurred_at":%q,"reason":"audit"}`,
		id, typ, cust, srAt(at, 0))})
	return id
}

func (s *srStream) churn(part int, cust string, at time.Time) string {
	return s.life(part, "customer_churned", cust, at)
}

func (s *srStream) reactivate(part int, cust string, at time.Time) string {
	return s.life(part, "customer_reactivated", cust, at)
}

// badRec adds a record the consumer must dead-letter.
func (s *srStream) badRec(part int, lifecycle bool, key, value string) {
	s.recs = append(s.recs, srRec{lifecycle: lifecycle, part: part, phase: s.phase, key: key, value: value, bad: true})
}

// srEvent is a decoded valid input event.
type srEvent struct {
	id, typ, cust string
	amount        *big.Rat
	at            time.Time
}

// srParse reads a valid record the stream built.
func srParse(value string) (srEvent, error) {
	var raw struct {
		EventID    string `json:"event_id"`
		Type       string `json:"type"`
		CustomerID string `json:"customer_id"`
		Amount     string `json:"amount"`
		OccurredAt string `json:"occurred_at"`
	}
	if err := json.Unmarshal([]byte(value), &raw); err != nil {
		return srEvent{}, fmt.Errorf("decode: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, raw.OccurredAt)
	if err != nil {
		return srEvent{}, fmt.Errorf("occurred_at: %w", err)
	}
	ev := srEvent{id: raw.EventID, typ: raw.Type, cust: raw.CustomerID, at: at}
	if raw.Amount != "" {
		r, ok := new(big.Rat).SetString(raw.Amount)
		if !ok {
			return srEvent{}, fmt.Errorf("amount %q", raw.Amount)
		}
		ev.amount = r
	}
	return ev, nil
}

// srMergeTime is the time a record is merged by, as the consumer's merge
// of its two input topics orders them (internal/stream/merge.go,
// service.mergeTime, read for facts): the first occurred_at when it is an
// RFC 3339 time no further than max_future_skew (24h) ahead of the wall
// clock; otherwise none, and such a record goes as soon as it heads its
// topic's queue.
func srMergeTime(value string) time.Time {
	var raw struct {
		OccurredAt string `json:"occurred_at"`
	}
	if json.Unmarshal([]byte(value), &raw) != nil {
		return time.Time{}
	}
	at, err := time.Parse(time.RFC3339Nano, raw.OccurredAt)
	if err != nil || time.Until(at) > 24*time.Hour {
		return time.Time{}
	}
	return at
}

// srHandlingOrder is the order the consumer handles a partition's records
// in, everything produced before it starts: each topic's records in log
// order; between the topics the head with the earlier merge time goes
// first (none counts as earliest), ties to the orders topic.
func srHandlingOrder(orders, life []srRec) []srRec {
	var out []srRec
	for len(orders) > 0 || len(life) > 0 {
		takeOrders := len(life) == 0
		if len(orders) > 0 && len(life) > 0 {
			takeOrders = !srMergeTime(life[0].value).Before(srMergeTime(orders[0].value))
		}
		if takeOrders {
			out, orders = append(out, orders[0]), orders[1:]
		} else {
			out, life = append(out, life[0]), life[1:]
		}
	}
	return out
}

// srSeg is one ltv.segment.v1 event as the reference expects it.
type srSeg struct {
	prev, seg string
	cause     string // event_id, or "" for a timer
	timer     bool
	at        time.Time
	lastOrder time.Time // zero: none
	orders    int64
	ltv, tier string
}

// srCustomer is the reference's state of one customer.
type srCustomer struct {
	id                        string
	part                      int
	orders                    int64
	placed, refunded, gp      big.Rat
	first, last               time.Time
	churnAt, reactAt          time.Time
	seen                      map[string]bool
	segment                   string
	since                     time.Time
	judgedAt                  time.Time // the latest time its segment was judged at
	ltv                       big.Rat
	tier                      string
	segs                      []srSeg
	atRiskAfter, lapsedAfter  time.Duration
	lifespan, minWindow, hyst *big.Rat
	tierMins                  []*big.Rat
	tierNames                 []string
}

// churned is SPEC §4: the latest lifecycle fact by event time is a churn,
// later than every order placed and every reactivation.
func (c *srCustomer) churned() bool {
	if c.churnAt.IsZero() || !c.churnAt.After(c.reactAt) {
		return false
	}
	return c.orders == 0 || c.churnAt.After(c.last)
}

// segmentAt is SPEC §8's rule at now.
func (c *srCustomer) segmentAt(now time.Time) string {
	if c.churned() {
		return "churned"
	}
	if c.orders == 0 {
		return ""
	}
	idle := now.Sub(c.last)
	switch {
	case idle >= c.lapsedAfter:
		return "lapsed"
	case idle >= c.atRiskAfter:
		return "at_risk"
	case c.orders == 1:
		return "new"
	}
	return "active"
}

// judge re-derives the segment at now and records a change caused by
// cause (timer: a timer) at event time at.
func (c *srCustomer) judge(now time.Time, cause string, timer bool, at time.Time) {
	if now.After(c.judgedAt) {
		c.judgedAt = now
	}
	seg := c.segmentAt(c.judgedAt)
	if seg == c.segment {
		return
	}
	c.segs = append(c.segs, srSeg{prev: c.segment, seg: seg, cause: cause, timer: timer, at: at,
		lastOrder: c.last, orders: c.orders, ltv: srRound(&c.ltv, 2), tier: c.tier})
	c.segment, c.since = seg, at
}

// catchUp fires the timers (SPEC §8: the moments the segment would change
// with no new event) due after the last judgement and before upto, or at
// upto too when inclusive, each as of its due time.
func (c *srCustomer) catchUp(upto time.Time, inclusive bool) {
	if c.orders == 0 || c.churned() {
		return
	}
	for _, due := range []time.Time{c.last.Add(c.atRiskAfter), c.last.Add(c.lapsedAfter)} {
		if due.After(c.judgedAt) && (due.Before(upto) || inclusive && due.Equal(upto)) {
			c.judge(due, "", true, due)
		}
	}
}

// apply folds a new (not duplicate) event into the figures and the tier.
func (c *srCustomer) apply(ev srEvent) {
	switch ev.typ {
	case "order_placed":
		c.orders++
		c.placed.Add(&c.placed, ev.amount)
		c.gp.Add(&c.gp, ev.amount) // margin 1 (default_gross_margin)
		if c.first.IsZero() || ev.at.Before(c.first) {
			c.first = ev.at
		}
		if c.last.IsZero() || ev.at.After(c.last) {
			c.last = ev.at
		}
	case "order_refunded":
		c.refunded.Add(&c.refunded, ev.amount)
		c.gp.Sub(&c.gp, ev.amount)
	case "customer_churned":
		if ev.at.After(c.churnAt) {
			c.churnAt = ev.at
		}
	case "customer_reactivated":
		if ev.at.After(c.reactAt) {
			c.reactAt = ev.at
		}
	}
	c.ltv.Set(c.ltvNow())
	c.tier = c.nextTier(c.tier, &c.ltv)
}

// ltvNow is SPEC §4's ltv.
func (c *srCustomer) ltvNow() *big.Rat {
	gp := new(big.Rat).Set(&c.gp)
	out := new(big.Rat)
	if c.churned() {
		out.Set(gp)
	} else if c.orders > 0 {
		revenue := new(big.Rat).Sub(&c.placed, &c.refunded)
		if revenue.Sign() > 0 {
			// last − first in ns, from seconds (UnixNano overflows before 1678).
			ns := new(big.Int).Mul(big.NewInt(c.last.Unix()-c.first.Unix()), big.NewInt(int64(time.Second)))
			ns.Add(ns, big.NewInt(int64(c.last.Nanosecond()-c.first.Nanosecond())))
			tenure := new(big.Rat).SetFrac(ns, big.NewInt(int64(36525*864)*int64(time.Second)))
			window := tenure
			if window.Cmp(c.minWindow) < 0 {
				window = c.minWindow
			}
			orders := new(big.Rat).SetInt64(c.orders)
			aov := new(big.Rat).Quo(revenue, orders)
			freq := new(big.Rat).Quo(orders, window)
			margin := new(big.Rat).Quo(gp, revenue)
			out.Mul(aov, freq).Mul(out, c.lifespan).Mul(out, margin)
		}
	}
	if out.Sign() < 0 {
		out.SetInt64(0)
	}
	return out
}

// nextTier is SPEC §5: up as soon as a higher threshold is reached; out of
// the held tier only below its threshold × (1 − hysteresis).
func (c *srCustomer) nextTier(cur string, ltv *big.Rat) string {
	reach := -1
	for i, m := range c.tierMins {
		if ltv.Cmp(m) >= 0 {
			reach = i
		}
	}
	if held := slices.Index(c.tierNames, cur); held > reach {
		keep := new(big.Rat).Mul(c.tierMins[held], new(big.Rat).Sub(big.NewRat(1, 1), c.hyst))
		if ltv.Cmp(keep) >= 0 {
			return cur
		}
	}
	if reach < 0 {
		return ""
	}
	return c.tierNames[reach]
}

// srRound renders r with places decimals, half away from zero.
func srRound(r *big.Rat, places int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil)
	x := new(big.Rat).Mul(new(big.Rat).Abs(r), new(big.Rat).SetInt(scale))
	x.Add(x, big.NewRat(1, 2))
	q := new(big.Int).Div(x.Num(), x.Denom())
	s := q.String()
	for len(s) <= places {
		s = "0" + s
	}
	s = s[:len(s)-places] + "." + s[len(s)-places:]
	if r.Sign() < 0 && q.Sign() != 0 {
		s = "-" + s
	}
	return s
}

// srResult is the reference's outcome of a stream.
type srResult struct {
	customers  map[string]*srCustomer
	streamTime map[int]time.Time
	dlq        int
}

// srReference runs the stream through the reference.
func srReference(s *srStream) (srResult, error) {
	res := srResult{customers: map[string]*srCustomer{}, streamTime: map[int]time.Time{}}
	for i := 0; i < (s.phase+1)*s.parts; i++ {
		phase, p := i/s.parts, i%s.parts // the phases one after the other
		var orders, life []srRec
		for _, r := range s.recs {
			if r.part != p || r.phase != phase {
				continue
			}
			if r.lifecycle {
				life = append(life, r)
			} else {
				orders = append(orders, r)
			}
		}
		st := res.streamTime[p] // the partition's stream time, kept across restarts
		for _, r := range srHandlingOrder(orders, life) {
			if r.bad {
				res.dlq++ // and stream time stays: valid events only
				continue
			}
			ev, err := srParse(r.value)
			if err != nil {
				return res, fmt.Errorf("reference cannot read %s: %w", r.value, err)
			}
			before := st
			if ev.at.After(st) {
				st = ev.at
			}
			c := res.customers[ev.cust]
			if c == nil {
				c = &srCustomer{id: ev.cust, part: p, seen: map[string]bool{}, atRiskAfter: s.atRisk, lapsedAfter: s.lapsed,
					lifespan: big.NewRat(3, 1), minWindow: big.NewRat(1, 1), hyst: big.NewRat(5, 100),
					tierNames: []string{"bronze", "silver", "gold", "platinum"},
					tierMins:  []*big.Rat{big.NewRat(0, 1), big.NewRat(1000, 1), big.NewRat(5000, 1), big.NewRat(20000, 1)}}
				res.customers[ev.cust] = c
			}
			c.catchUp(before, true)
			if c.seen[ev.id] {
				continue // counts once; its time still moved stream time
			}
			c.seen[ev.id] = true
			c.catchUp(ev.at, false)
			c.apply(ev)
			c.judge(st, ev.id, false, ev.at)
		}
		for _, c := range res.customers {
			if c.part == p {
				c.catchUp(st, true)
			}
		}
		if !st.IsZero() {
			res.streamTime[p] = st
		}
	}
	return res, nil
}

// srChain renders a customer's changes as the hand chains are written.
func srChain(segs []srSeg) string {
	var parts []string
	for _, g := range segs {
		kind := "e"
		if g.timer {
			kind = "t"
		}
		parts = append(parts, fmt.Sprintf("%s>%s %s@%s", g.prev, g.seg, kind, g.at.UTC().Format(time.RFC3339Nano)))
	}
	return strings.Join(parts, "; ")
}

// srDefaultStream is one partition, SPEC's default thresholds (90 and 180
// days), every customer sharing the partition's clock.
func srDefaultStream() *srStream {
	s := &srStream{name: "one-partition-defaults", parts: 1, atRisk: 90 * srDay, lapsed: 180 * srDay}
	b := time.Date(2022, 1, 3, 0, 0, 0, 0, time.UTC)
	d := func(days int) time.Time { return b.Add(time.Duration(days) * srDay) }
	hand := map[string]string{}
	s.hand = hand

	// Day 0: an order at 10:00:00.000000001Z written at +02:00.
	exact := b.Add(10*time.Hour + 1)
	s.place(0, "c-exact", "100.00", exact, 2)
	s.place(0, "c-late", "100.00", d(0).Add(11*time.Hour), 0)
	s.place(0, "c-due-own", "100.00", d(1), -7)
	s.place(0, "c-due-other", "100.00", d(2), 5)
	s.place(0, "c-due-other2", "400.00", d(2).Add(6*time.Hour), 0) // silver
	s.place(0, "c-due-own2", "100.00", d(2).Add(7*time.Hour), 0)
	for i := range 40 {
		s.place(0, fmt.Sprintf("c-b%02d", i), "50.00", d(3).Add(time.Duration(i)*time.Minute), 0)
	}
	s.churn(0, "c-churn0", d(4))                          // churned without orders
	s.reactivate(0, "c-react0", d(4).Add(time.Hour))      // reactivated without orders: no segment
	s.refund(0, "c-refund-only", "o-x", "30.00", d(5), 1) // refund only: no segment
	s.placeID(0, "dup-1", "c-dup", "70.00", d(6))
	s.placeID(0, "dup-1", "c-dup", "70.00", d(6)) // a producer retry: counts once
	// An input event_id that reads like a timer's cause, the very timer
	// of this customer at 90 days: two causes, two events.
	s.placeID(0, "timer:2022-04-04T00:00:00Z", "c-tid", "20.00", d(1))
	// One event_id on both topics: the churn is the order's duplicate.
	s.placeID(0, "dupx", "c-dupx", "20.00", d(6))
	s.lifeID(0, "customer_churned", "dupx", "c-dupx", d(7))
	s.place(0, "c-late", "100.00", d(10), 0)
	s.place(0, "c-cycle", "100.00", d(7), 0)
	s.churn(0, "c-cycle", d(8))
	s.reactivate(0, "c-cycle", d(9))
	s.churn(0, "c-cycle", d(12))
	s.place(0, "c-cycle", "100.00", d(13), 0) // after the churn: not churned
	// Churn and order at one instant: the order goes first (ties go to
	// the orders topic), and the churn is no later than it: not churned.
	s.place(0, "c-tie", "100.00", d(14), 0)
	s.churn(0, "c-tie", d(14))
	// Churn first, then an order at the churn's instant, read late (a
	// record of another customer one second later heads the orders topic).
	s.churn(0, "c-tie2", d(15))
	s.place(0, "c-x", "100.00", d(15).Add(time.Second), 0)
	s.place(0, "c-tie2", "100.00", d(15), 0)
	hand["c-tie2"] = ">churned e@2022-01-18T00:00:00Z; churned>new e@2022-01-18T00:00:00Z; " +
		"new>at_risk t@2022-04-18T00:00:00Z; at_risk>lapsed t@2022-07-17T00:00:00Z"
	s.reactivate(0, "c-churn0", d(16)) // back to no segment
	s.churn(0, "c-churn0", d(17))
	hand["c-churn0"] = ">churned e@2022-01-07T00:00:00Z; churned> e@2022-01-19T00:00:00Z; >churned e@2022-01-20T00:00:00Z"
	// The same event_id again with a later occurred_at: not counted, but
	// it moves stream time (docs/guarantees.md).
	s.placeID(0, "dup-1", "c-dup", "70.00", d(20))
	// c-exact: a refund at its at-risk due time exactly, written at -05:00,
	// read while stream time is before it: the refund makes it at risk.
	s.refund(0, "c-exact", "o-1", "10.00", exact.Add(90*srDay), -5)

	// c-due-own's second order at exactly its at-risk due time, read
	// while stream time is before it: new → active, never at risk.
	s.place(0, "c-due-own", "100.00", d(91), 3)
	hand["c-due-own"] = ">new e@2022-01-04T00:00:00Z; new>active e@2022-04-04T00:00:00Z; active>at_risk t@2022-07-03T00:00:00Z; at_risk>lapsed t@2022-10-01T00:00:00Z"
	// c-due-other's due time reached by another customer's record first:
	// the timer fires, then its order at that instant.
	s.place(0, "c-mover", "10.00", d(92), 0)
	s.place(0, "c-due-other", "100.00", d(92), 0)
	hand["c-due-other"] = ">new e@2022-01-05T00:00:00Z; new>at_risk t@2022-04-05T00:00:00Z; at_risk>active e@2022-04-05T00:00:00Z; " +
		"active>at_risk t@2022-07-04T00:00:00Z; at_risk>lapsed t@2022-10-02T00:00:00Z"
	// The same across the topics: a record of the orders topic moves
	// stream time to c-due-other2's due time, then its reactivation at
	// that instant (the tie goes to the orders topic).
	s.place(0, "c-mover", "10.00", d(92).Add(6*time.Hour), 0)
	s.reactivate(0, "c-due-other2", d(92).Add(6*time.Hour))
	// A reactivation (no churn before it) at exactly c-due-own2's due
	// time, read while stream time is before it: the event is there.
	s.reactivate(0, "c-due-own2", d(92).Add(7*time.Hour))
	// Stream time to 100 days: c-late's and the batch customers' at-risk
	// timers fire in one batch; then c-late's late order (older than
	// stream time) makes it idle 80 days: active again, occurred_at its own.
	s.place(0, "c-mover", "10.00", d(100), 0)
	s.place(0, "c-late", "100.00", d(20), 0)
	hand["c-late"] = ">new e@2022-01-03T11:00:00Z; new>active e@2022-01-13T00:00:00Z; active>at_risk t@2022-04-13T00:00:00Z; " +
		"at_risk>active e@2022-01-23T00:00:00Z; active>at_risk t@2022-04-23T00:00:00Z; at_risk>lapsed t@2022-07-22T00:00:00Z"
	// An order the dead letters below must not make late.
	s.place(0, "c-after", "100.00", d(150), 0)
	// One nanosecond before c-exact's lapsed due time, then exactly at it.
	s.place(0, "c-mover", "10.00", exact.Add(180*srDay-1), 0)
	s.place(0, "c-mover", "10.00", exact.Add(180*srDay), 4)
	hand["c-exact"] = ">new e@2022-01-03T10:00:00.000000001Z; new>at_risk e@2022-04-03T10:00:00.000000001Z; " +
		"at_risk>lapsed t@2022-07-02T10:00:00.000000001Z"

	// Dead letters. The lifecycle topic has nothing left before them, so
	// they do not reorder the valid records. A wrong currency dated two
	// years ahead (in the past still), an unknown type, a time beyond
	// max_future_skew, malformed JSON: none may move stream time.
	s.badRec(0, false, "c-dlq", `{"schema":"ltv.order.v1","event_id":"bad-1","type":"order_placed","customer_id":"c-dlq","order_id":"o","amount":"1.00","currency":"USD","occurred_at":"`+srAt(d(1000), 0)+`"}`)
	s.badRec(0, false, "c-dlq", `{"schema":"ltv.order.v1","event_id":"bad-2","type":"order_placed","customer_id":"c-dlq","order_id":"o","amount":"1.00","currency":"SEK","occurred_at":"`+srAt(time.Now().AddDate(10, 0, 0), 0)+`"}`)
	s.badRec(0, false, "c-dlq", `{"schema":"ltv.order.v1",`)
	s.badRec(0, false, "c-mover", `{"schema":"ltv.order.v1","event_id":"bad-3","type":"order_shipped","customer_id":"c-mover","order_id":"o","amount":"1.00","currency":"SEK","occurred_at":"`+srAt(d(900), 0)+`"}`)
	s.place(0, "c-mover", "10.00", d(190), 0)
	s.place(0, "c-after", "100.00", d(195), 0)
	hand["c-after"] = ">new e@2022-06-02T00:00:00Z; new>active e@2022-07-17T00:00:00Z; " +
		"active>at_risk t@2022-10-15T00:00:00Z; at_risk>lapsed t@2023-01-13T00:00:00Z"

	// Stream time jumps four years ahead: every customer with orders
	// lapses in that batch, each timer as of its own due time.
	s.place(0, "c-jump", "100.00", d(4*365), 0)
	s.churn(0, "c-cycle", d(4*365).Add(time.Hour))
	s.place(0, "c-cycle", "100.00", d(4*365).Add(time.Hour), 0) // at the churn's instant: not churned
	s.churn(0, "c-tie", d(4*365).Add(2*time.Hour))
	s.churn(0, "c-due-other2", d(4*365).Add(3*time.Hour)) // silver → bronze: the event carries the new tier
	hand["c-tid"] = ">new e@2022-01-04T00:00:00Z; new>at_risk t@2022-04-04T00:00:00Z; at_risk>lapsed t@2022-07-03T00:00:00Z"
	hand["c-dupx"] = ">new e@2022-01-09T00:00:00Z; new>at_risk t@2022-04-09T00:00:00Z; at_risk>lapsed t@2022-07-08T00:00:00Z"
	return s
}

// srCustomStream is three partitions and thresholds in fractions of days
// from the YAML: at risk after 2.5 days and 864 ns, lapsed after 7.25
// days. Partition 0 jumps years ahead; partition 1 must not follow it.
func srCustomStream() *srStream {
	atRisk := 60*time.Hour + 864
	lapsed := 174 * time.Hour
	s := &srStream{name: "three-partitions-custom", parts: 3, atRisk: atRisk, lapsed: lapsed,
		yaml: "at_risk_after_days: 2.50000000001\nlapsed_after_days: 7.25\n"}
	b := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	for p := range 3 {
		for i := range 6 {
			s.place(p, fmt.Sprintf("p%d-c%d", p, i), "20.00", b.Add(time.Duration(i)*time.Hour), p-1)
		}
	}
	// Partition 0: a customer's second order one nanosecond before its
	// at-risk due time, another's exactly at it, a third's reached by
	// another customer's record first; then years ahead.
	s.place(0, "p0-c1", "20.00", b.Add(time.Hour+atRisk-1), 0)
	s.place(0, "p0-c0", "20.00", b.Add(atRisk-1), 0) // late by an hour: read after p0-c1's
	s.place(0, "p0-c2", "20.00", b.Add(2*time.Hour+atRisk), -3)
	s.place(0, "p0-c4", "20.00", b.Add(4*time.Hour+atRisk), 0)
	s.place(0, "p0-c3", "20.00", b.Add(4*time.Hour+atRisk), 0) // its due passed: at risk first
	s.churn(0, "p0-c5", b.Add(5*time.Hour+lapsed))             // at its lapsed due: churn wins
	s.place(0, "p0-c9", "20.00", b.AddDate(3, 0, 0), 0)
	// Partition 1: stream time stays days in; one customer churned and
	// reactivated at one instant (not churned), one exactly at lapsed.
	s.churn(1, "p1-c0", b.Add(time.Hour))
	s.reactivate(1, "p1-c0", b.Add(time.Hour))
	s.place(1, "p1-c9", "20.00", b.Add(3*time.Hour+lapsed), 0)
	// Partition 2: only a dead letter after its orders, dated far ahead.
	s.badRec(2, true, "p2-c0", `{"schema":"ltv.lifecycle.v1","event_id":"bad-9","type":"customer_churned","customer_id":"p2-c0","occurred_at":"`+srAt(b.AddDate(2, 0, 0), 0)+`","reason":"x","extra":`)
	s.badRec(2, false, "p2-c1", `{"schema":"ltv.order.v1","event_id":"bad-10","type":"order_placed","customer_id":"p2-c1","order_id":"o","amount":"-1.00","currency":"SEK","occurred_at":"`+srAt(b.AddDate(2, 0, 0), 0)+`"}`)
	s.place(2, "p2-c5", "20.00", b.Add(5*time.Hour+atRisk), 0)
	// A customer of the year 1200, read late: lapsed at once (idle more
	// than time.Duration's 292 years), then an order of today.
	s.place(1, "p1-old", "20.00", time.Date(1200, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	s.place(1, "p1-old", "20.00", time.Date(1200, 1, 2, 0, 0, 0, 0, time.UTC), 9)
	s.place(1, "p1-old", "20.00", b.Add(6*time.Hour+lapsed), 0)
	return s
}

// srRestartStream is two partitions read by a consumer stopped and
// started again between phases: stream times and due times must survive
// the restarts. 1,500 customers of partition 0 fall due in one batch that
// holds none of their records (more than one page of the timer index, 1,000
// per round), first at risk, then lapsed; the phases begin with late
// records, older than the stored stream time, which must not move it back.
func srRestartStream() *srStream {
	s := &srStream{name: "restarts-and-many-timers", parts: 2, atRisk: 90 * srDay, lapsed: 180 * srDay}
	b := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	d := func(days int) time.Time { return b.Add(time.Duration(days) * srDay) }
	for i := range 1500 {
		s.place(0, fmt.Sprintf("m%04d", i), "10.00", b.Add(time.Duration(i)*time.Second), 0)
	}
	s.place(0, "r-late", "100.00", d(1), 0)
	s.place(0, "r-late", "100.00", d(30), 0)
	s.place(1, "q-a", "100.00", d(2), 0)
	s.place(1, "q-b", "100.00", d(50), 0)
	s.churn(1, "q-c", d(10))
	s.churn(1, "q-c", d(30))
	s.reactivate(1, "q-c", d(20)) // late, and older than the churn at 30: still churned

	s.phase = 1
	s.place(0, "r-late", "100.00", d(5), 0) // late: stream time stays at 30 days
	s.place(0, "r-tick", "1.00", d(91), 0)  // the 1,500 at-risk timers, in one batch
	s.place(1, "q-a", "100.00", d(1), 0)    // late, on the other partition
	s.reactivate(1, "q-c", d(40))
	s.churn(1, "q-c", d(35)) // late, older than the reactivation: not churned

	s.phase = 2
	s.place(0, "r-tick", "1.00", d(2*365), 0)    // years ahead: 1,500 lapse
	qb := s.place(1, "q-b", "100.00", d(139), 0) // one day before q-a's lapsed due (d(2)+180)

	s.phase = 3
	s.badRec(0, false, "r-bad", `{"schema":"ltv.order.v1","event_id":"bad-r","type":"order_placed","customer_id":"r-bad","order_id":"o","amount":"1.00","currency":"XXX","occurred_at":"`+srAt(d(3*365), 0)+`"}`)
	s.place(1, "q-a", "100.00", d(100), 0) // late: stream time stays at 139 days
	s.place(1, "q-d", "100.00", d(3), 0)   // a new customer, late: idle 136 days already
	// q-b's order again, its event_id reused with a later time: not
	// counted, but stream time moves to it (docs/guarantees.md), and
	// q-b's at-risk timer (229 days) fires.
	s.orderRec(1, "order_placed", qb, "q-b", "o-again", "100.00", "SEK", srAt(d(300), 0))
	s.hand = map[string]string{"q-b": ">new e@2021-04-20T00:00:00Z; new>active e@2021-07-18T00:00:00Z; active>at_risk t@2021-10-16T00:00:00Z"}
	return s
}

// TestSegmentsAgainstIndependentReference runs the consumer binary over
// hand-built streams and compares, customer by customer, the stored
// segment, segment_since, churned, orders, last_order_at, ltv and tier,
// each partition's stream time, the dead letters, and every segment event
// (previous_segment, segment, caused_by, occurred_at, last_order_at,
// orders, ltv, tier) with the reference; copies only byte-identical.
func TestSegmentsAgainstIndependentReference(t *testing.T) {
	testutil.SkipShort(t, "runs the consumer binary over hand-built streams")
	one := map[string]string{"LTV_MAX_BATCH": "1", "LTV_STATE_CACHE_BYTES": "0"}
	for _, c := range []struct {
		name      string
		stream    *srStream
		env       map[string]string
		consumers int
	}{
		{"", srDefaultStream(), nil, 1},
		{"batches-of-one", srDefaultStream(), one, 1},
		{"", srCustomStream(), nil, 1},
		{"", srRestartStream(), nil, 1},
		{"two-consumers-batches-of-one", srRestartStream(), one, 2},
	} {
		name := c.stream.name
		if c.name != "" {
			name += "/" + c.name
		}
		t.Run(name, func(t *testing.T) { runSegRef(t, c.stream, c.env, c.consumers) })
	}
}

// runSegRef produces s phase by phase, each drained by consumers (that
// many instances of the binary in one group, at least one) started after
// it was produced, and compares the outcome with the reference.
func runSegRef(t *testing.T, s *srStream, extra map[string]string, consumers int) {
	ref, err := srReference(s)
	if err != nil {
		t.Fatal(err)
	}
	for cust, want := range s.hand {
		c := ref.customers[cust]
		if c == nil {
			t.Fatalf("hand chain for %s, which has no valid event", cust)
		}
		if got := srChain(c.segs); got != want {
			t.Errorf("reference disagrees with the hand-derived chain of %s:\n ref  %s\n hand %s", cust, got, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	ctx := testutil.Context(t, 90*time.Second)
	e := newEnv(t, s.parts)
	env := map[string]string{}
	for k, v := range extra {
		env[k] = v
	}
	if s.yaml != "" {
		env["LTV_CONFIG"] = testutil.WriteFile(t, "ltv.yaml", s.yaml)
	}
	for phase := 0; phase <= s.phase; phase++ {
		var msgs []kafka.Message
		for _, r := range s.recs {
			if r.phase != phase {
				continue
			}
			topic := settings.DefaultOrdersTopic
			if r.lifecycle {
				topic = settings.DefaultLifecycleTopic
			}
			msgs = append(msgs, kafka.Message{Topic: topic, Partition: r.part, Key: []byte(r.key), Value: []byte(r.value)})
		}
		w := &kafka.Writer{
			Addr: kafka.TCP(e.brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 10000,
			Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		}
		err = w.WriteMessages(ctx, msgs...)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		// Everything of the phase is in the topics before the consumers
		// start, so the merge's order is the one srHandlingOrder models
		// (a new owner of a partition resumes it from the committed
		// offsets of both topics, and merges the rest the same way).
		var procs []*proc
		for i := range max(consumers, 1) {
			procs = append(procs, startProc(t, fmt.Sprintf("consumer-%d-%d", phase, i), e.envFor(env)))
		}
		if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
			t.Fatalf("%v\n%s", err, procs[0].logTail())
		}
		for _, proc := range procs {
			if code, err := proc.terminate(25 * time.Second); err != nil || code != 0 {
				t.Fatalf("exit code %d, err %v\n%s", code, err, proc.logTail())
			}
			if len(procs) > 1 {
				log, _ := os.ReadFile(proc.logPath)
				t.Logf("phase %d: %s joined %d generations", phase, proc.name, strings.Count(string(log), "consumer group generation started"))
			}
		}
	}

	// Stream times.
	for p := 0; p < s.parts; p++ {
		got, _ := e.rc.Get(ctx, fmt.Sprintf("ltv:{p%d}:stream_time", p)).Result()
		if want, ok := ref.streamTime[p]; !ok || !sameInstant(got, srAt(want, 0)) {
			t.Errorf("partition %d stream time %q, reference %s", p, got, srAt(want, 0))
		}
	}

	// Stored fields.
	ids := make([]string, 0, len(ref.customers))
	for id := range ref.customers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := ref.customers[id]
		h, err := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"orders": strconv.FormatInt(c.orders, 10), "churned": "0", "ltv": srRound(&c.ltv, 2), "tier": c.tier}
		if c.churned() {
			want["churned"] = "1"
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("%s: stored %s %q, reference %q", id, k, h[k], v)
			}
		}
		for _, f := range []struct {
			name string
			at   time.Time
			text string
		}{{"last_order_at", c.last, ""}, {"segment_since", c.since, ""}, {"segment", time.Time{}, c.segment}} {
			got, present := h[f.name]
			switch {
			case f.name == "segment" && f.text == "":
				if present {
					t.Errorf("%s: stored segment %q, reference none (field absent)", id, got)
				}
			case f.name == "segment":
				if got != f.text {
					t.Errorf("%s: stored segment %q, reference %q", id, got, f.text)
				}
			case f.at.IsZero() || (f.name == "segment_since" && c.segment == ""):
				if present {
					t.Errorf("%s: stored %s %q, reference none (field absent)", id, f.name, got)
				}
			case !sameInstant(got, srAt(f.at, 0)) || !strings.HasSuffix(got, "Z"):
				t.Errorf("%s: stored %s %q, reference %s (UTC)", id, f.name, got, srAt(f.at, 0))
			}
		}
	}

	// Segment events.
	out, err := testutil.ReadAll(ctx, e.brokers, settings.DefaultSegmentsTopic)
	if err != nil {
		t.Fatal(err)
	}
	type segDoc struct {
		Schema          string `json:"schema"`
		EventID         string `json:"event_id"`
		CustomerID      string `json:"customer_id"`
		PreviousSegment string `json:"previous_segment"`
		Segment         string `json:"segment"`
		LastOrderAt     string `json:"last_order_at"`
		Orders          int64  `json:"orders"`
		LTV             string `json:"ltv"`
		Tier            string `json:"tier"`
		CausedBy        string `json:"caused_by"`
		OccurredAt      string `json:"occurred_at"`
	}
	byID := map[string]string{}
	got := map[string][]segDoc{}
	for _, m := range out {
		if err := schemas.Validate(m.Value); err != nil {
			t.Errorf("segment event against its schema: %v: %s", err, m.Value)
		}
		var doc segDoc
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatalf("segment event is not JSON: %v: %s", err, m.Value)
		}
		if prev, ok := byID[doc.EventID]; ok {
			if prev != string(m.Value) {
				t.Errorf("event_id %s published with other content:\n%s\n%s", doc.EventID, prev, m.Value)
			}
			continue
		}
		byID[doc.EventID] = string(m.Value)
		if doc.CustomerID != string(m.Key) || doc.Schema != "ltv.segment.v1" {
			t.Errorf("segment event keyed %q: %s", m.Key, m.Value)
		}
		got[doc.CustomerID] = append(got[doc.CustomerID], doc)
	}
	total := 0
	for _, id := range ids {
		want, have := ref.customers[id].segs, got[id]
		total += len(want)
		if len(have) != len(want) {
			var brief []string
			for _, g := range have {
				brief = append(brief, fmt.Sprintf("%s>%s %s@%s", g.PreviousSegment, g.Segment, g.CausedBy, g.OccurredAt))
			}
			t.Errorf("%s: %d segment events, reference %d\n got %s\n ref %s", id, len(have), len(want), strings.Join(brief, "; "), srChain(want))
		}
		for i := 0; i < min(len(have), len(want)); i++ {
			g, w := have[i], want[i]
			cause := w.cause
			if w.timer {
				cause = "timer:" + srAt(w.at, 0)
			}
			causeOK := g.CausedBy == cause
			if w.timer {
				due, isTimer := strings.CutPrefix(g.CausedBy, "timer:")
				causeOK = isTimer && sameInstant(due, srAt(w.at, 0))
			}
			lastOK := g.LastOrderAt == "" && w.lastOrder.IsZero() || !w.lastOrder.IsZero() && sameInstant(g.LastOrderAt, srAt(w.lastOrder, 0))
			if g.PreviousSegment != w.prev || g.Segment != w.seg || !causeOK || !sameInstant(g.OccurredAt, srAt(w.at, 0)) ||
				!lastOK || g.Orders != w.orders || g.LTV != w.ltv || g.Tier != w.tier {
				t.Errorf("%s segment event %d:\n got %q>%q by %s at %s, last_order_at %q, orders %d, ltv %s, tier %q\n ref %q>%q by %s at %s, last_order_at %s, orders %d, ltv %s, tier %q",
					id, i, g.PreviousSegment, g.Segment, g.CausedBy, g.OccurredAt, g.LastOrderAt, g.Orders, g.LTV, g.Tier,
					w.prev, w.seg, cause, srAt(w.at, 0), srAt(w.lastOrder, 0), w.orders, w.ltv, w.tier)
			}
		}
	}
	for id := range got {
		if ref.customers[id] == nil {
			t.Errorf("segment events for %s, who has no valid event", id)
		}
	}

	dlq, err := testutil.ReadAll(ctx, e.brokers, settings.DefaultDLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(dlq) != ref.dlq {
		t.Errorf("%d dead letters, reference %d", len(dlq), ref.dlq)
	}
	t.Logf("%d customers, %d segment events compared, %d dead letters", len(ids), total, ref.dlq)
}

// TestSegRefRound pins the reference's own rounding.
func TestSegRefRound(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0.125", "0.13"}, {"-0.125", "-0.13"}, {"0.004", "0.00"}, {"-0.004", "0.00"}, {"1200", "1200.00"}, {"2/3", "0.67"},
	} {
		r, _ := new(big.Rat).SetString(c.in)
		if got := srRound(r, 2); got != c.want {
			t.Errorf("srRound(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestSegRefHandlingOrder pins the reference's model of the merge: ties
// to the orders topic, a record without a usable time first.
func TestSegRefHandlingOrder(t *testing.T) {
	rec := func(lifecycle bool, at string) srRec {
		return srRec{lifecycle: lifecycle, value: `{"occurred_at":"` + at + `"}`}
	}
	orders := []srRec{rec(false, "2022-01-02T00:00:00Z"), rec(false, "2022-01-01T00:00:00Z"), {value: "{"}}
	life := []srRec{rec(true, "2022-01-02T00:00:00Z"), rec(true, "2022-01-03T00:00:00Z")}
	var got []string
	for _, r := range srHandlingOrder(orders, life) {
		got = append(got, fmt.Sprintf("%v %s", r.lifecycle, srMergeTime(r.value).Format(time.DateOnly)))
	}
	want := []string{"false 2022-01-02", "false 2022-01-01", "false 0001-01-01", "true 2022-01-02", "true 2022-01-03"}
	if !slices.Equal(got, want) {
		t.Errorf("handling order %v, want %v", got, want)
	}
}
