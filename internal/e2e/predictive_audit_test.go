package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
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

// This file drives the real service with generated streams and checks,
// customer by customer, every SPEC §9 number it stores against the
// reference of predictive_ref_test.go, replayed through an independent
// model of SPEC §3–§5 and §8 (stream time, timers, the tier ladder) that
// says when each customer was last scored and what its tier chain is.
//
// Where SPEC leaves a choice, docs/predictive.md and docs/guarantees.md
// decide: a customer without orders is not scored; a churned one keeps the
// Gamma-Gamma spend of its own repeat orders; the tier timer is the first
// whole day (24 h) after the scoring at which the tier would fall, looked
// for up to 3653 days ahead; each partition's records of the two input
// topics are merged by event time (ties: orders first), which is
// deterministic when the whole stream is written before the service
// starts.

// prDay is SPEC §8's day: 24 hours of event time.
const prDay = 24 * time.Hour

// prTierSearchDays is how far ahead (docs/predictive.md: "up to ten years")
// the day a tier would fall is looked for.
const prTierSearchDays = 3653

// prCase is one configuration and its stream.
type prCase struct {
	name       string
	params     prParams
	tiers      []ratTier
	hysteresis *big.Rat
	defMargin  *big.Rat // default_gross_margin
	atRisk     time.Duration
	lapsed     time.Duration
	customers  int
	seed       uint64
	maxBurst   int      // most orders of a frequent buyer
	args       []string // further service flags (batching)
}

// yaml is the case's LTV_CONFIG file.
func (c *prCase) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hysteresis: %s\n", c.hysteresis.FloatString(4))
	fmt.Fprintf(&b, "default_gross_margin: %s\n", c.defMargin.FloatString(2))
	fmt.Fprintf(&b, "at_risk_after_days: %d\nlapsed_after_days: %d\n", c.atRisk/prDay, c.lapsed/prDay)
	b.WriteString("tiers:\n")
	for _, t := range c.tiers {
		fmt.Fprintf(&b, "  - {name: %s, min: %s}\n", t.name, t.min.FloatString(2))
	}
	b.WriteString(c.params.yaml())
	return b.String()
}

// tierIndex and nextTier are the ladder's (SPEC §5, ladder_test.go).
func (c *prCase) tierIndex(name string) int { return c.ladder().index(name) }

func (c *prCase) nextTier(current string, ltv *big.Rat) string {
	return c.ladder().next(current, ltv)
}

func (c *prCase) ladder() ratLadder { return ratLadder{tiers: c.tiers, hysteresis: c.hysteresis} }

// prEvent is one input event as produced.
type prEvent struct {
	id, cust, kind, order string
	amount, margin        string // decimal text; margin "" = absent
	at                    time.Time
	produceAt             time.Time // where the producer writes it (late events: after later ones)
}

func (e *prEvent) lifecycle() bool { return strings.HasPrefix(e.kind, "customer_") }

func (e *prEvent) json() []byte {
	m := map[string]string{"event_id": e.id, "type": e.kind, "customer_id": e.cust, "occurred_at": e.at.Format(time.RFC3339)}
	if e.lifecycle() {
		m["schema"] = "ltv.lifecycle.v1"
	} else {
		m["schema"], m["order_id"], m["amount"], m["currency"] = "ltv.order.v1", e.order, e.amount, "SEK"
		if e.margin != "" {
			m["gross_margin"] = e.margin
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// prChange is an expected ltv.change.v1 event, with what its ltv came
// from (the gross profit and the unrounded predicted value, when scored).
type prChange struct {
	prev, tier, cause, ltv string
	at                     time.Time
	gp                     *big.Rat
	clv                    float64
	scored                 bool
}

// ltvAgrees: a change's published ltv is the reference's, or, where the
// reference's predicted_clv sits on a rounding boundary (renderedAgrees),
// the ltv the neighbouring rendering of predicted_clv gives.
func (w *prChange) ltvAgrees(got string) bool {
	if got == w.ltv {
		return true
	}
	if !w.scored {
		return false
	}
	for _, cents := range []int64{-1, 1} {
		clv := new(big.Rat).Add(rat(render(w.clv, 2)), big.NewRat(cents, 100))
		if renderedAgrees(clv.FloatString(2), w.clv, 2) && got == ltvFrom(w.gp, clv) {
			return true
		}
	}
	return false
}

// ltvFrom is SPEC §9's ltv: gross_profit + predicted_clv, never below 0,
// 2 places.
func ltvFrom(gp, clv *big.Rat) string {
	v := new(big.Rat).Add(gp, clv)
	if v.Sign() < 0 {
		v.SetInt64(0)
	}
	return roundRat(v, 2)
}

// prCustomer is the reference's state of one customer: exact sums, the
// net of each order, and what SPEC §8's clock and timers need.
type prCustomer struct {
	c                       *prCase
	id                      string
	partition               int
	seen                    map[string]bool
	orders                  int
	revenue, gp             *big.Rat
	net                     map[string]*big.Rat // order id → amount − refunds naming it
	firstID                 string
	first, last             time.Time
	churnAt, reactAt        time.Time
	tier, ltv               string
	clock                   time.Time // the latest time it was evaluated at
	scored                  bool
	scoredAt                time.Time
	score                   prScore
	tierDue, tierDueFrom    time.Time // the tier timer, and the scoring time it was found at
	changes                 []prChange
	timerFalls, dayStepping int
	fellToNone              bool // a timer took its last tier away (a ladder whose lowest tier is above 0)
	rescoredIdle            bool // its latest scoring was the periodic re-scoring
	segment                 string
	segmentSince            time.Time
	segs                    []prSeg
	sameInstant             int // timers at which the tier fell and the segment changed at once
}

// prSeg is an expected ltv.segment.v1 event; val holds the ltv it
// carries (the customer's stored ltv then) and what that came from.
type prSeg struct {
	prev, seg, cause string
	at, lastOrder    time.Time
	orders           int
	tier             string
	val              prChange
}

// judge is SPEC §8's segment rule applied at the customer's clock (which
// never moves back), recording a change caused by cause at event time at:
// the change carries the ltv and tier stored at that moment.
func (p *prCustomer) judge(cause string, at time.Time) bool {
	seg := ""
	switch {
	case p.churned():
		seg = "churned"
	case p.orders == 0:
	case p.clock.Sub(p.last) >= p.c.lapsed:
		seg = "lapsed"
	case p.clock.Sub(p.last) >= p.c.atRisk:
		seg = "at_risk"
	case p.orders == 1:
		seg = "new"
	default:
		seg = "active"
	}
	if seg == p.segment {
		return false
	}
	p.segs = append(p.segs, prSeg{prev: p.segment, seg: seg, cause: cause, at: at, lastOrder: p.last, orders: p.orders, tier: p.tier,
		val: prChange{ltv: p.ltv, gp: new(big.Rat).Set(p.gp), clv: p.score.clv, scored: p.scored}})
	p.segment, p.segmentSince = seg, at
	return true
}

func newPRCustomer(c *prCase, id string) *prCustomer {
	return &prCustomer{c: c, id: id, seen: map[string]bool{}, revenue: new(big.Rat), gp: new(big.Rat),
		net: map[string]*big.Rat{}, ltv: "0.00"}
}

// churned is SPEC §4: the latest lifecycle fact by event time is a churn,
// later than every order and every reactivation.
func (p *prCustomer) churned() bool {
	return !p.churnAt.IsZero() && p.churnAt.After(p.last) && p.churnAt.After(p.reactAt)
}

// inputs are SPEC §9's x, t_x, T (time units), m and the margin rate at now.
// m sums the nets of every order but the first; the stream's refunds of a
// scored customer all name one of its orders (a refund naming an order
// never placed, which SPEC does not place, is left out of the stream).
func (p *prCustomer) inputs(now time.Time) (x, tx, T, m, margin float64) {
	unit := p.c.params.unitDays * float64(prDay)
	x = float64(p.orders - 1)
	tx = float64(p.last.Sub(p.first)) / unit
	T = max(float64(now.Sub(p.first))/unit, tx)
	if p.orders > 1 {
		repeat := new(big.Rat)
		for id, n := range p.net {
			if id != p.firstID {
				repeat.Add(repeat, n)
			}
		}
		f, _ := repeat.Float64()
		m = f / x
	}
	if p.revenue.Sign() > 0 {
		margin, _ = new(big.Rat).Quo(p.gp, p.revenue).Float64()
	}
	return
}

// scoreAt is the §9 forecast as of now (churned: no future, its own spend).
func (p *prCustomer) scoreAt(t *testing.T, now time.Time) prScore {
	x, tx, T, m, margin := p.inputs(now)
	if p.churned() {
		return prScore{spend: p.c.params.expectedSpend(x, m)}
	}
	s, err := p.c.params.score(x, tx, T, m, margin)
	if err != nil {
		t.Fatalf("customer %s: %v", p.id, err)
	}
	return s
}

// ltvOf is the stored ltv given a forecast: gross_profit + predicted_clv
// (rendered with 2 places) when the customer has orders, else SPEC §4's
// (gross profit when churned, else 0); never below 0.
func (p *prCustomer) ltvOf(s prScore, scored bool) *big.Rat {
	v := new(big.Rat)
	switch {
	case scored:
		return rat(ltvFrom(p.gp, rat(render(s.clv, 2))))
	case p.churned():
		v.Set(p.gp)
	}
	return rat(ltvFrom(v, new(big.Rat)))
}

// falls reports whether, scored as of at with nothing new, the tier would
// leave tier (the tier rule applied to the ltv then).
func (p *prCustomer) falls(t *testing.T, tier string, at time.Time) bool {
	next := p.c.nextTier(tier, p.ltvOf(p.scoreAt(t, at), true))
	return p.c.tierIndex(next) < p.c.tierIndex(tier)
}

// findTierDue is SPEC §8's tier timer, found as it says, by bisection over
// the whole days 1..prTierSearchDays after now: with no new event only T
// grows and the forecast only decays, so "would have fallen by day d" is
// monotone in d. (checkTierFall verifies that by stepping day by day for
// every timer that fires.)
func (p *prCustomer) findTierDue(t *testing.T, now time.Time) time.Time {
	if p.orders == 0 || p.churned() || p.c.tierIndex(p.tier) < 0 {
		return time.Time{}
	}
	at := func(d int) time.Time { return now.Add(time.Duration(d) * prDay) }
	if !p.falls(t, p.tier, at(prTierSearchDays)) {
		return time.Time{}
	}
	lo, hi := 0, prTierSearchDays
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if p.falls(t, p.tier, at(mid)) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return at(hi)
}

// checkTierFall steps day by day from the scoring that set the timer
// which just lowered the tier: every day before the due day keeps the
// tier, the due day leaves it.
func (p *prCustomer) checkTierFall(t *testing.T, from, due time.Time, tier string) {
	p.dayStepping++
	for d := 1; ; d++ {
		at := from.Add(time.Duration(d) * prDay)
		fell := p.falls(t, tier, at)
		if at.Equal(due) {
			if !fell {
				t.Fatalf("customer %s: the reference's timer at %s does not lower %s", p.id, due, tier)
			}
			return
		}
		if fell || at.After(due) {
			t.Fatalf("customer %s: stepping from %s, %s falls on %s, the bisection said %s", p.id, from, tier, at, due)
		}
	}
}

// rescore is a scoring as of now and the tier rule applied to its ltv,
// with the cause of a change; then the tier timer from now.
func (p *prCustomer) rescore(t *testing.T, now time.Time, cause string, at time.Time) {
	p.scored = p.orders > 0
	if p.scored {
		p.score, p.scoredAt = p.scoreAt(t, now), now
	}
	ltv := p.ltvOf(p.score, p.scored)
	if next := p.c.nextTier(p.tier, ltv); next != p.tier {
		p.changes = append(p.changes, prChange{prev: p.tier, tier: next, cause: cause, ltv: ltv.FloatString(2), at: at,
			gp: new(big.Rat).Set(p.gp), clv: p.score.clv, scored: p.scored})
		p.tier = next
	}
	p.ltv = ltv.FloatString(2)
	p.tierDue, p.tierDueFrom = p.findTierDue(t, now), now
}

// nextDue is SPEC §8's next due time after the clock: the segment's next
// threshold, the tier timer, the periodic re-scoring.
func (p *prCustomer) nextDue() (time.Time, bool) {
	var next time.Time
	consider := func(d time.Time) {
		if !d.IsZero() && d.After(p.clock) && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if p.orders > 0 && !p.churned() {
		if d := p.last.Add(p.c.atRisk); d.After(p.clock) {
			consider(d)
		} else {
			consider(p.last.Add(p.c.lapsed))
		}
	}
	if p.orders > 0 {
		consider(p.tierDue)
		if p.c.params.rescoreDays > 0 && p.scored {
			consider(p.scoredAt.Add(time.Duration(p.c.params.rescoreDays * float64(prDay))))
		}
	}
	return next, !next.IsZero()
}

// advance fires the timers due by until (those at until too when
// inclusive), each as of its due time.
func (p *prCustomer) advance(t *testing.T, until time.Time, inclusive bool) {
	for {
		due, ok := p.nextDue()
		if !ok || due.After(until) || (!inclusive && due.Equal(until)) {
			return
		}
		tierBefore, timerFrom, tierDue := p.tier, p.tierDueFrom, p.tierDue
		periodic := p.c.params.rescoreDays > 0 && p.scored && due.Equal(p.scoredAt.Add(time.Duration(p.c.params.rescoreDays*float64(prDay))))
		if p.orders > 0 {
			p.rescoredIdle = periodic
			p.rescore(t, due, "timer:"+due.UTC().Format(time.RFC3339Nano), due)
			if p.c.tierIndex(p.tier) < p.c.tierIndex(tierBefore) {
				p.timerFalls++
				p.fellToNone = p.fellToNone || p.tier == ""
				// Another timer (a segment's, a re-scoring between whole
				// days of the tier timer's search) may find the tier
				// fallen before the tier timer's day; the tier timer
				// itself must be exactly the first day it falls.
				if due.Equal(tierDue) {
					p.checkTierFall(t, timerFrom, due, tierBefore)
				}
			}
		}
		if due.After(p.clock) {
			p.clock = due
		}
		if p.judge("timer:"+due.UTC().Format(time.RFC3339Nano), due) && p.c.tierIndex(p.tier) < p.c.tierIndex(tierBefore) {
			p.sameInstant++
		}
	}
}

// apply is one record of the customer read when its partition's stream
// time was before (docs/guarantees.md: time first reaches the customer,
// then timers due before the event's own time fire, then the event).
func (p *prCustomer) apply(t *testing.T, ev *prEvent, before time.Time) {
	p.advance(t, before, true)
	if p.seen[ev.id] {
		return
	}
	p.seen[ev.id] = true
	p.advance(t, ev.at, false)
	now := before
	if ev.at.After(now) {
		now = ev.at
	}
	switch ev.kind {
	case "order_placed":
		if p.orders == 0 || ev.at.Before(p.first) {
			p.first, p.firstID = ev.at, ev.order
		}
		if p.last.IsZero() || ev.at.After(p.last) {
			p.last = ev.at
		}
		p.orders++
		p.book(ev, 1)
	case "order_refunded":
		p.book(ev, -1)
	case "customer_churned":
		if ev.at.After(p.churnAt) {
			p.churnAt = ev.at
		}
	case "customer_reactivated":
		if ev.at.After(p.reactAt) {
			p.reactAt = ev.at
		}
	}
	p.rescore(t, now, ev.id, ev.at)
	p.rescoredIdle = false
	if now.After(p.clock) {
		p.clock = now
	}
	p.judge(ev.id, ev.at)
}

// book adds an order's amount (sign 1) or takes a refund's (sign −1) to
// revenue, gross profit (at its margin, else the configured default) and
// the net of the order it names.
func (p *prCustomer) book(ev *prEvent, sign int64) {
	amount := new(big.Rat).Mul(rat(ev.amount), big.NewRat(sign, 1))
	margin := p.c.defMargin
	if ev.margin != "" {
		margin = rat(ev.margin)
	}
	p.revenue.Add(p.revenue, amount)
	p.gp.Add(p.gp, new(big.Rat).Mul(amount, margin))
	if p.net[ev.order] == nil {
		p.net[ev.order] = new(big.Rat)
	}
	p.net[ev.order].Add(p.net[ev.order], amount)
}

// generate makes the case's stream: customers of every kind SPEC §9 cares
// about, in the order the producer writes them.
func (c *prCase) generate() []*prEvent {
	rng := rand.New(rand.NewPCG(c.seed, 17))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(1, 0, 0)
	var evs []*prEvent
	money := func(lo, hi int) string {
		v := lo*100 + rng.IntN((hi-lo)*100)
		return fmt.Sprintf("%d.%02d", v/100, v%100)
	}
	for i := range c.customers {
		cust := fmt.Sprintf("%s-%04d", c.name, i)
		n := 0
		add := func(kind, order, amount, margin string, at time.Time) *prEvent {
			n++
			ev := &prEvent{id: fmt.Sprintf("%s-e%d", cust, n), cust: cust, kind: kind, order: order, amount: amount,
				margin: margin, at: at, produceAt: at}
			evs = append(evs, ev)
			return ev
		}
		margin := func() string {
			if rng.IntN(3) == 0 {
				return "" // the configured default applies
			}
			return fmt.Sprintf("0.%02d", 5+rng.IntN(90))
		}
		kind := i % 8
		orders := 1
		gap := 3 + rng.IntN(40)
		switch kind {
		case 1:
			orders = 2 + rng.IntN(3)
		case 2: // frequent big spenders who go quiet: their tier falls by timers
			orders, gap = 6+rng.IntN(c.maxBurst-5), 2+rng.IntN(8)
		case 3, 4, 5, 7:
			orders = 2 + rng.IntN(6)
		}
		first := start.Add(time.Duration(rng.IntN(300*24*3600)) * time.Second)
		if kind == 2 {
			first = start.Add(time.Duration(rng.IntN(100*24*3600)) * time.Second)
		}
		at := first
		var placed []*prEvent
		for k := 0; k < orders && at.Before(end); k++ {
			lo, hi := 20, 800
			if kind == 2 {
				lo, hi = 300, 3000
			}
			ev := add("order_placed", fmt.Sprintf("o-%s-%d", cust, k), money(lo, hi), margin(), at)
			placed = append(placed, ev)
			at = at.Add(time.Duration(gap)*prDay + time.Duration(rng.IntN(2*gap*24*3600))*time.Second)
		}
		last := placed[len(placed)-1].at
		refund := func(o *prEvent, amount string, after time.Duration) *prEvent {
			return add("order_refunded", o.order, amount, o.margin, o.at.Add(after))
		}
		switch kind {
		case 3: // refunds naming earlier orders, the first one among them
			refund(placed[0], money(1, 15), 2*prDay+time.Hour)
			for _, o := range placed[1:] {
				if rng.IntN(2) == 0 {
					refund(o, money(1, 15), time.Duration(1+rng.IntN(10))*prDay)
				}
			}
			if rng.IntN(2) == 0 {
				refund(placed[len(placed)-1], placed[len(placed)-1].amount, 3*prDay) // in full
			}
		case 4: // churn after the last order; some come back (with or without a new order)
			churn := last.Add(time.Duration(5+rng.IntN(60)) * prDay)
			add("customer_churned", "", "", "", churn)
			switch rng.IntN(3) {
			case 0:
				add("customer_reactivated", "", "", "", churn.Add(time.Duration(10+rng.IntN(40))*prDay))
			case 1:
				add("order_placed", fmt.Sprintf("o-%s-back", cust), money(20, 800), margin(), churn.Add(time.Duration(10+rng.IntN(40))*prDay))
			}
		case 5: // late events: an order earlier than the first, read weeks later, and its refund read before it
			early := add("order_placed", fmt.Sprintf("o-%s-late", cust), money(20, 800), margin(), first.Add(-time.Duration(1+rng.IntN(20))*prDay))
			early.produceAt = last.Add(time.Duration(20+rng.IntN(30)) * prDay)
			r := refund(early, money(1, 15), prDay)
			r.produceAt = early.produceAt.Add(-prDay)
			if rng.IntN(2) == 0 { // and a late refund of a repeat order
				r2 := refund(placed[len(placed)-1], money(1, 15), time.Hour)
				r2.produceAt = r2.at.Add(time.Duration(30+rng.IntN(30)) * prDay)
			}
			if rng.IntN(2) == 0 { // a refund of the order that is first until the late one is read
				refund(placed[0], money(1, 15), 3*prDay)
			}
		case 6: // no order: a refund only, or a churn only
			if rng.IntN(2) == 0 {
				evs = evs[:len(evs)-len(placed)]
				add("order_refunded", "o-unknown", money(1, 50), "", first)
			} else {
				evs = evs[:len(evs)-len(placed)]
				add("customer_churned", "", "", "", first)
			}
		case 7: // repeat orders refunded beyond their value: a negative mean
			if rng.IntN(3) == 0 { // and the first in full: revenue ≤ 0, margin rate 0
				refund(placed[0], placed[0].amount, 4*prDay)
			}
			for _, o := range placed[1:] {
				refund(o, rat(o.amount).Add(rat(o.amount), big.NewRat(int64(1+rng.IntN(500)), 100)).FloatString(2), prDay)
			}
		}
		// A few copies of events already sent (producer retries).
		if rng.IntN(10) == 0 {
			o := evs[len(evs)-1]
			cp := *o
			cp.produceAt = o.produceAt.Add(time.Duration(rng.IntN(20)) * prDay)
			evs = append(evs, &cp)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].produceAt.Before(evs[j].produceAt) })
	return evs
}

// expect replays the stream through the reference, partition by
// partition in the service's merged order, and returns every customer.
// runs are the parts of the stream each run of the service reads (each
// written before that run starts, so each is merged on its own); stream
// time and the customers carry over from one run to the next.
func (c *prCase) expect(t *testing.T, runs [][]*prEvent, partitions int) (map[string]*prCustomer, map[int]time.Time) {
	custs := map[string]*prCustomer{}
	final := map[int]time.Time{}
	for _, evs := range runs {
		c.expectRun(t, evs, partitions, custs, final)
	}
	return custs, final
}

// expectRun is expect for one run's records.
func (c *prCase) expectRun(t *testing.T, evs []*prEvent, partitions int, custs map[string]*prCustomer, final map[int]time.Time) {
	bal := &kafka.Murmur2Balancer{}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	type lane struct{ orders, lifecycle []*prEvent }
	lanes := make([]lane, partitions)
	for _, ev := range evs {
		p := bal.Balance(kafka.Message{Key: []byte(ev.cust)}, parts...)
		if ev.lifecycle() {
			lanes[p].lifecycle = append(lanes[p].lifecycle, ev)
		} else {
			lanes[p].orders = append(lanes[p].orders, ev)
		}
	}
	for p, l := range lanes {
		streamTime := final[p]
		i, j := 0, 0
		for i < len(l.orders) || j < len(l.lifecycle) {
			var ev *prEvent
			if i < len(l.orders) && (j == len(l.lifecycle) || !l.lifecycle[j].at.Before(l.orders[i].at)) {
				ev, i = l.orders[i], i+1
			} else {
				ev, j = l.lifecycle[j], j+1
			}
			cu := custs[ev.cust]
			if cu == nil {
				cu = newPRCustomer(c, ev.cust)
				cu.partition = p
				custs[ev.cust] = cu
			}
			cu.apply(t, ev, streamTime)
			if ev.at.After(streamTime) {
				streamTime = ev.at
			}
		}
		// Time reaches every customer of the partition, of this run or
		// an earlier one.
		for _, cu := range custs {
			if cu.partition == p {
				cu.advance(t, streamTime, true)
			}
		}
		final[p] = streamTime
	}
}

// prCases are the configurations: both purchase models, both time units,
// a < 1 (the CDNOW fit) and a > 1, with and without discounting and
// periodic re-scoring, ladders whose lowest tier starts at 0 or above it.
func prCases() []*prCase {
	return []*prCase{
		{
			name: "bgnbd-week",
			params: prParams{modelName: "bgnbd", timeUnitName: "week", unitDays: 7,
				r: 0.243, alpha: 4.414, a: 0.793, b: 2.426, p: 6.25, q: 3.74, v: 15.44, horizon: 12, discount: 0.01},
			tiers:      []ratTier{{"bronze", rat("0")}, {"silver", rat("800")}, {"gold", rat("4000")}, {"platinum", rat("15000")}},
			hysteresis: rat("0.05"), defMargin: rat("1"), atRisk: 90 * prDay, lapsed: 180 * prDay,
			customers: 240, seed: 1, maxBurst: 20,
		},
		{
			name: "mbgnbd-day",
			params: prParams{mbg: true, modelName: "mbgnbd", timeUnitName: "day", unitDays: 1,
				r: 0.5248, alpha: 6.1830 * 7, a: 0.8914, b: 1.6140, p: 6.25, q: 3.74, v: 15.44, horizon: 6, discount: 0.02, rescoreDays: 2.5},
			tiers:      []ratTier{{"member", rat("50")}, {"plus", rat("1500")}, {"vip", rat("9000.50")}},
			hysteresis: rat("0.1"), defMargin: rat("0.55"), atRisk: 60 * prDay, lapsed: 120 * prDay,
			customers: 240, seed: 2, maxBurst: 20, args: []string{"--max-batch", "5", "--state-cache-bytes", "0"},
		},
		{
			name: "bgnbd-day-a-above-1",
			params: prParams{modelName: "bgnbd", timeUnitName: "day", unitDays: 1,
				r: 1.1, alpha: 45, a: 2.3, b: 3.1, p: 4, q: 5.5, v: 900, horizon: 24, discount: 0},
			tiers:      []ratTier{{"basic", rat("0")}, {"vip", rat("3000")}},
			hysteresis: rat("0"), defMargin: rat("0.4"), atRisk: 90 * prDay, lapsed: 180 * prDay,
			customers: 200, seed: 3, maxBurst: 45,
		},
		{
			name: "mbgnbd-week-rescore",
			params: prParams{mbg: true, modelName: "mbgnbd", timeUnitName: "week", unitDays: 7,
				r: 0.5248, alpha: 6.1830, a: 0.8914, b: 1.6140, p: 3, q: 2.2, v: 200, horizon: 3, discount: 0.005, rescoreDays: 30},
			tiers:      []ratTier{{"low", rat("100")}, {"mid", rat("1000")}, {"high", rat("6000")}},
			hysteresis: rat("0.05"), defMargin: rat("1"), atRisk: 90 * prDay, lapsed: 180 * prDay,
			customers: 200, seed: 4, maxBurst: 20, args: []string{"--max-batch", "1"},
		},
	}
}

// TestPredictiveNumbersAgainstReference drives the real service (kfake
// broker, real redis-server) with each case's stream (for two of them
// also in two runs, the second started on the state, stream times and
// timers the first left in Redis) and compares, for
// every customer, the stored p_alive, expected_orders, expected_spend,
// predicted_clv, ltv, tier and scored_at with the reference, and the
// customer's whole ltv-changes chain (previous tier, tier, caused_by, ltv)
// with the reference's: so every tier change a timer made (caused_by
// timer:<due>) came on the day SPEC §8 says, which the reference found by
// bisection and confirmed by stepping day by day.
func TestPredictiveNumbersAgainstReference(t *testing.T) {
	for i, c := range prCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runPredictiveCase(t, c, false)
		})
		if i%2 == 0 {
			t.Run(c.name+"/restart", func(t *testing.T) {
				t.Parallel()
				runPredictiveCase(t, c, true)
			})
		}
	}
}

func runPredictiveCase(t *testing.T, c *prCase, restart bool) {
	runPredictiveCaseWith(t, c, restart, nil)
}

// runPredictiveCaseWith is runPredictiveCase; with crashes not nil the
// stream is consumed by consumer binaries that kill themselves at random
// right after a batch's Redis write or its publish (consumeCrashing), and
// *crashes counts the deaths.
func runPredictiveCaseWith(t *testing.T, c *prCase, restart bool, crashes *int) {
	const partitions = 3
	ctx := testutil.Context(t, 4*time.Minute)
	e := newEnv(t, partitions)
	evs := c.generate()
	runs := [][]*prEvent{evs}
	if restart {
		runs = [][]*prEvent{evs[:len(evs)/2], evs[len(evs)/2:]}
	}
	ref, final := c.expect(t, runs, partitions)

	cfg := e.config(t, append([]string{"--config", testutil.WriteFile(t, "ltv.yaml", c.yaml())}, c.args...)...)
	for _, run := range runs {
		var msgs []kafka.Message
		for _, ev := range run {
			topic := settings.DefaultOrdersTopic
			if ev.lifecycle() {
				topic = settings.DefaultLifecycleTopic
			}
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(ev.cust), Value: ev.json()})
		}
		// The run's records are all in the broker before the service
		// starts, so the event-time merge of the two topics is the
		// reference's.
		write(t, ctx, e.brokers, msgs)
		if crashes != nil {
			*crashes += consumeCrashing(t, ctx, e, c)
			continue
		}
		svc := startService(t, cfg)
		if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
			t.Fatal(err)
		}
		svc.stop(t)
	}

	for p, want := range final {
		got, err := e.rc.Get(ctx, fmt.Sprintf("ltv:{p%d}:stream_time", p)).Result()
		if gotT, perr := time.Parse(time.RFC3339Nano, got); err != nil || perr != nil || !gotT.Equal(want) {
			t.Fatalf("partition %d stream time %q (%v), the reference's %s", p, got, err, want)
		}
	}
	chains, _ := readChains(ctx, t, e.brokers, settings.DefaultChangesTopic, "ltv.change.v1")
	ids := slices.Sorted(maps.Keys(ref))
	bad, scored, timerFalls, stepped, churnedScored, toNone, idle := 0, 0, 0, 0, 0, 0, 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 25 {
			t.Errorf(format, args...)
		}
	}
	for _, id := range ids {
		r := ref[id]
		h, err := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		timerFalls += r.timerFalls
		stepped += r.dayStepping
		if r.fellToNone {
			toNone++
		}
		if r.rescoredIdle {
			idle++
		}
		if r.scored {
			scored++
			if r.churned() {
				churnedScored++
			}
			checks := []struct {
				field  string
				v      float64
				places int
			}{{"p_alive", r.score.pAlive, 4}, {"expected_orders", r.score.orders, 4}, {"expected_spend", r.score.spend, 2}, {"predicted_clv", r.score.clv, 2}}
			for _, f := range checks {
				if !renderedAgrees(h[f.field], f.v, f.places) {
					fail("customer %s %s = %q, the reference's %.12g renders %s (scored at %s)", id, f.field, h[f.field], f.v, render(f.v, f.places), r.scoredAt.Format(time.RFC3339))
				}
			}
			if at, err := time.Parse(time.RFC3339Nano, h["scored_at"]); err != nil || !at.Equal(r.scoredAt) {
				fail("customer %s scored_at %q, the reference's %s", id, h["scored_at"], r.scoredAt.Format(time.RFC3339Nano))
			}
			// ltv is gross_profit + the stored predicted_clv, exactly
			// (the only freedom is predicted_clv's on a boundary).
			if want := r.ltvWith(h["predicted_clv"]); h["ltv"] != want {
				fail("customer %s ltv %q, want %s (gross profit %s + predicted_clv %s)", id, h["ltv"], want, r.gp.FloatString(4), h["predicted_clv"])
			}
		} else {
			for _, f := range []string{"p_alive", "expected_orders", "expected_spend", "predicted_clv", "scored_at"} {
				if _, ok := h[f]; ok {
					fail("customer %s without orders has %s = %q", id, f, h[f])
				}
			}
			if h["ltv"] != r.ltv {
				fail("customer %s ltv %q, the reference's %s", id, h["ltv"], r.ltv)
			}
		}
		if h["tier"] != r.tier {
			fail("customer %s tier %q, the reference's %q (ltv %s)", id, h["tier"], r.tier, h["ltv"])
		}
		got := chains[id]
		if len(got) != len(r.changes) {
			fail("customer %s: %d tier changes published, the reference has %d:\n%s", id, len(got), len(r.changes), describeChains(got, r.changes))
			continue
		}
		for k, w := range r.changes {
			g := got[k]
			down := c.tierIndex(w.tier) < c.tierIndex(w.prev)
			if g.PreviousTier != w.prev || g.Tier != w.tier || g.CausedBy != w.cause || !w.ltvAgrees(g.LTV) || (g.Direction == "down") != down {
				fail("customer %s change %d differs:\n%s", id, k, describeChains(got, r.changes))
				break
			}
			if at, err := time.Parse(time.RFC3339Nano, g.OccurredAt); err != nil || !at.Equal(w.at) {
				fail("customer %s change %d occurred_at %q, want %s", id, k, g.OccurredAt, w.at.Format(time.RFC3339))
			}
		}
	}
	segChains := readSegmentChains(ctx, t, e.brokers)
	segEvents, segTimers, bothAtOnce := 0, 0, 0
	for _, id := range ids {
		r := ref[id]
		bothAtOnce += r.sameInstant
		h, err := e.rc.HMGet(ctx, "ltv:{"+id+"}", "segment", "segment_since").Result()
		if err != nil {
			t.Fatal(err)
		}
		if seg, _ := h[0].(string); seg != r.segment {
			fail("customer %s segment %q, the reference's %q", id, seg, r.segment)
		} else if since, _ := h[1].(string); r.segment != "" && !sameInstant(since, r.segmentSince.Format(time.RFC3339Nano)) {
			fail("customer %s segment_since %q, the reference's %s", id, since, r.segmentSince.Format(time.RFC3339))
		}
		got := segChains[id]
		if len(got) != len(r.segs) {
			fail("customer %s: %d segment changes published, the reference has %d:\n%s", id, len(got), len(r.segs), describeSegs(got, r.segs))
			continue
		}
		for k, w := range r.segs {
			g := got[k]
			segEvents++
			if strings.HasPrefix(w.cause, "timer:") {
				segTimers++
			}
			at, err := time.Parse(time.RFC3339Nano, g.OccurredAt)
			lastOK := g.LastOrderAt == "" && w.lastOrder.IsZero() || !w.lastOrder.IsZero() && sameInstant(g.LastOrderAt, w.lastOrder.Format(time.RFC3339Nano))
			if g.PreviousSegment != w.prev || g.Segment != w.seg || g.CausedBy != w.cause || err != nil || !at.Equal(w.at) ||
				!lastOK || g.Orders != int64(w.orders) || g.Tier != w.tier || !w.val.ltvAgrees(g.LTV) {
				fail("customer %s segment change %d differs:\n%s", id, k, describeSegs(got, r.segs))
				break
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d differences over %d customers", bad, len(ids))
	}
	t.Logf("%d segment changes compared, %d by timers, %d at a timer that also lowered the tier", segEvents, segTimers, bothAtOnce)
	// The stream must have exercised what the test is about.
	if scored < len(ids)/2 || churnedScored == 0 || timerFalls == 0 || stepped < timerFalls/2 ||
		(c.tiers[0].min.Sign() > 0) != (toNone > 0) || (c.params.rescoreDays > 0) != (idle > 0) {
		t.Fatalf("too little exercised: %d customers scored (%d churned), %d tiers fallen by timers (%d checked by stepping, %d to no tier), %d last scored by the periodic re-scoring",
			scored, churnedScored, timerFalls, stepped, toNone, idle)
	}
	t.Logf("%d customers (%d scored, %d churned), %d events; %d tier falls by timers (%d to no tier; %d by the tier timer, each on the day stepping gives); %d last scored by the periodic re-scoring",
		len(ids), scored, churnedScored, len(evs), timerFalls, toNone, stepped, idle)
}

// ltvWith is the ltv SPEC §9 gives with the stored predicted_clv text.
func (p *prCustomer) ltvWith(clv string) string {
	r, ok := new(big.Rat).SetString(clv)
	if !ok {
		return "<predicted_clv " + clv + " is not a decimal>"
	}
	return ltvFrom(p.gp, r)
}

func describeChains(got []schemas.Change, want []prChange) string {
	var b strings.Builder
	for _, g := range got {
		fmt.Fprintf(&b, "  published %q → %q ltv %s by %s\n", g.PreviousTier, g.Tier, g.LTV, g.CausedBy)
	}
	for _, w := range want {
		fmt.Fprintf(&b, "  reference %q → %q ltv %s by %s\n", w.prev, w.tier, w.ltv, w.cause)
	}
	return b.String()
}

// prSegDoc is a published ltv.segment.v1 event, as the reference compares it.
type prSegDoc struct {
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

// readSegmentChains reads every customer's segment changes in order,
// re-emissions (same event_id, same content) dropped.
func readSegmentChains(ctx context.Context, t *testing.T, brokers []string) map[string][]prSegDoc {
	msgs, err := testutil.ReadAll(ctx, brokers, settings.DefaultSegmentsTopic)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	out := map[string][]prSegDoc{}
	for _, m := range msgs {
		var d prSegDoc
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatalf("segment event is not JSON: %v: %s", err, m.Value)
		}
		if prev, ok := byID[d.EventID]; ok {
			if prev != string(m.Value) {
				t.Errorf("segment event_id %s published with other content:\n%s\n%s", d.EventID, prev, m.Value)
			}
			continue
		}
		byID[d.EventID] = string(m.Value)
		out[d.CustomerID] = append(out[d.CustomerID], d)
	}
	return out
}

func describeSegs(got []prSegDoc, want []prSeg) string {
	var b strings.Builder
	for _, g := range got {
		fmt.Fprintf(&b, "  published %q → %q ltv %s tier %q by %s at %s\n", g.PreviousSegment, g.Segment, g.LTV, g.Tier, g.CausedBy, g.OccurredAt)
	}
	for _, w := range want {
		fmt.Fprintf(&b, "  reference %q → %q ltv %s tier %q by %s at %s\n", w.prev, w.seg, w.val.ltv, w.tier, w.cause, w.at.Format(time.RFC3339))
	}
	return b.String()
}

// TestPredictiveNumbersAgainstReferenceThroughCrashes is
// TestPredictiveNumbersAgainstReference with the consumer binary killing
// itself (SIGKILL) at random right after a batch's Redis write or right
// after its outputs are acknowledged, timer firings included, and started
// again each time: every timer effect (a tier fallen by the tier timer, a
// segment moved, a periodic re-scoring) is applied once, neither lost nor
// doubled, and the numbers, chains and causes are the reference's.
func TestPredictiveNumbersAgainstReferenceThroughCrashes(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "consumer binaries killed and restarted")
	for _, c := range prCases() {
		if c.name != "bgnbd-week" && c.name != "mbgnbd-day" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			crashes := 0
			runPredictiveCaseWith(t, c, true, &crashes)
			if crashes == 0 {
				t.Fatal("the consumer never crashed: the test exercised nothing")
			}
			t.Logf("%d crashes", crashes)
		})
	}
}

// consumeCrashing runs consumer binaries over what the topics hold, one at
// a time, each killing itself at random right after a batch's Redis write
// or publish (odds per batch such that a run of the case's stream dies a
// few times), starting a new one whenever one dies, until the group has
// caught up; it returns how many died.
func consumeCrashing(t *testing.T, ctx context.Context, e *env, c *prCase) int {
	t.Helper()
	extra := map[string]string{
		"LTV_CONFIG":    testutil.WriteFile(t, "ltv.yaml", c.yaml()),
		"LTV_MAX_BATCH": "40",
	}
	for i := 0; i+1 < len(c.args); i += 2 {
		extra["LTV_"+strings.ToUpper(strings.ReplaceAll(strings.TrimLeft(c.args[i], "-"), "-", "_"))] = c.args[i+1]
	}
	batch, err := strconv.Atoi(extra["LTV_MAX_BATCH"])
	if err != nil {
		t.Fatal(err)
	}
	odds := min(0.08, 3*float64(batch)/float64(c.customers*6)) // ~6 events a customer
	extra["LTV_FAULT_INJECT"] = fmt.Sprintf("after-save:%g,after-publish:%g", odds, odds)
	caught := make(chan error, 1)
	go func() {
		caught <- testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
	}()
	deaths := 0
	for {
		p := startCrashingProc(t, fmt.Sprintf("consumer-%d", deaths), e.envFor(extra))
		select {
		case err := <-caught:
			if err != nil {
				t.Fatalf("%v\n%s", err, p.logTail())
			}
			select {
			case <-p.exited: // died as the group caught up: nothing left to stop
				return deaths + 1
			default:
			}
			if code, err := p.terminate(30 * time.Second); err != nil || code != 0 {
				t.Fatalf("exit %d, %v\n%s", code, err, p.logTail())
			}
			return deaths
		case <-p.exited:
			deaths++
		}
	}
}
