// Package sim simulates customers and produces a realistic, deterministic
// stream of order and lifecycle events (SPEC §2), with producer-side
// faults on request: duplicates, late (out-of-order) events and bad
// records. Developers use it through cmd/producer-sim to test their own
// subscribers; the project's tests use it as their input.
//
// The customer model is Pareto/NBD for purchasing and drop-out and
// Gamma-Gamma for spend: each customer buys at their own Poisson rate
// λ ~ Gamma(r, α) until they drop out at rate μ ~ Gamma(s, β); each
// customer has a mean spend drawn from a Gamma, and each order's amount is
// Gamma-distributed around it. Some orders are refunded; some customers
// who drop out send a churn event, and some of those come back.
package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Topic is the logical input topic of a record; writers map it to the
// configured topic name.
type Topic uint8

// Logical topics.
const (
	TopicOrders Topic = iota + 1
	TopicLifecycle
)

// String is the default topic name (SPEC §1).
func (t Topic) String() string {
	if t == TopicLifecycle {
		return "customer-lifecycle"
	}
	return "orders"
}

// Label says what a record is, for test oracles and statistics.
type Label uint8

// Record labels.
const (
	LabelValid     Label = iota + 1
	LabelDuplicate       // the exact bytes of an earlier record again (a producer retry)
	LabelLate            // a valid event emitted after later ones
	LabelBad             // must be rejected by the consumer (DLQ)
)

// String names the label as in the JSON Lines format.
func (l Label) String() string {
	switch l {
	case LabelValid:
		return "valid"
	case LabelDuplicate:
		return "duplicate"
	case LabelLate:
		return "late"
	case LabelBad:
		return "bad"
	}
	return "unknown"
}

// ParseLabel is the inverse of Label.String.
func ParseLabel(s string) (Label, bool) {
	for _, l := range []Label{LabelValid, LabelDuplicate, LabelLate, LabelBad} {
		if l.String() == s {
			return l, true
		}
	}
	return 0, false
}

// Record is one simulated Kafka record.
type Record struct {
	Topic      Topic
	Key        []byte // customer_id
	Value      []byte // event JSON, or the bad bytes
	OccurredAt time.Time
	Label      Label
	BadReason  string // what is wrong, for LabelBad
}

// Config configures the generator. Zero values take the documented
// defaults; rates are probabilities in [0,1].
type Config struct {
	Seed      int64
	Customers int       // default 1000
	Events    int       // records to emit in total, default 10000
	Start     time.Time // default 2025-01-01T00:00:00Z: customers are acquired over the following year
	Currency  string    // default "SEK"

	DuplicateRate float64 // per record: re-send it shortly after (default 0)
	LateRate      float64 // per valid event: hold it back 100–500 records (default 0)
	BadRate       float64 // per record: emit a bad record (default 0)
	OversizeRate  float64 // per record: emit a value larger than OversizeBytes (default 0)
	OversizeBytes int     // default 1 MiB + 1 KiB

	RefundRate       float64 // per order: refunded later (default 0.08)
	ChurnRate        float64 // per drop-out: a customer_churned event (default 0.3)
	ReactivationRate float64 // per churn: a customer_reactivated later (default 0.2)
	MarginAbsentRate float64 // per order: no gross_margin field (default 0.1)
	NumberAmountRate float64 // per order: amount as a JSON number (default 0.1)

	// Model parameters (yearly rates). Defaults: purchase rate Gamma(0.9,
	// mean 4/year), drop-out Gamma(0.8, mean 0.5/year), mean spend
	// Gamma(2, mean 400).
	PurchaseShape, PurchaseMean float64
	DropoutShape, DropoutMean   float64
	SpendShape, SpendMean       float64
}

func (c *Config) setDefaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Customers == 0 {
		c.Customers = 1000
	}
	if c.Events == 0 {
		c.Events = 10000
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Currency == "" {
		c.Currency = "SEK"
	}
	if c.OversizeBytes == 0 {
		c.OversizeBytes = 1<<20 + 1024
	}
	def(&c.RefundRate, 0.08)
	def(&c.ChurnRate, 0.3)
	def(&c.ReactivationRate, 0.2)
	def(&c.MarginAbsentRate, 0.1)
	def(&c.NumberAmountRate, 0.1)
	def(&c.PurchaseShape, 0.9)
	def(&c.PurchaseMean, 4)
	def(&c.DropoutShape, 0.8)
	def(&c.DropoutMean, 0.5)
	def(&c.SpendShape, 2)
	def(&c.SpendMean, 400)
}

// Validate reports settings that cannot be simulated.
func (c *Config) Validate() error {
	if c.Customers < 1 || c.Customers > 99_999_999 {
		return fmt.Errorf("customers must be in [1, 99999999], got %d", c.Customers)
	}
	if c.Events < 0 {
		return fmt.Errorf("events must be >= 0, got %d", c.Events)
	}
	for name, r := range map[string]float64{
		"duplicate rate": c.DuplicateRate, "late rate": c.LateRate, "bad rate": c.BadRate,
		"oversize rate": c.OversizeRate, "refund rate": c.RefundRate, "churn rate": c.ChurnRate,
		"reactivation rate": c.ReactivationRate, "margin-absent rate": c.MarginAbsentRate,
		"number-amount rate": c.NumberAmountRate,
	} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("%s must be in [0,1], got %v", name, r)
		}
	}
	if c.DuplicateRate+c.BadRate+c.OversizeRate >= 1 {
		return errors.New("duplicate + bad + oversize rates must stay below 1")
	}
	for name, v := range map[string]float64{
		"purchase shape": c.PurchaseShape, "purchase mean": c.PurchaseMean, "dropout shape": c.DropoutShape,
		"dropout mean": c.DropoutMean, "spend shape": c.SpendShape, "spend mean": c.SpendMean,
	} {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%s must be > 0, got %v", name, v)
		}
	}
	return nil
}

// customer is one simulated customer's hidden parameters and progress.
type customer struct {
	id        string
	rate      float64 // purchases per year
	dropoutAt time.Time
	spendMean float64
	orders    int
	churned   bool
}

// scheduled is an event waiting in the time-ordered queue.
type scheduled struct {
	at       time.Time
	seq      uint64 // tie-breaker: keeps the order deterministic
	cust     int
	kind     uint8 // 0 next purchase/drop-out step, 1 refund, 2 reactivation
	orderID  string
	amount   float64
	refunded float64
	margin   string
}

type queue []*scheduled

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*scheduled)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

type delayed struct {
	due int // emit when this many records have been emitted
	rec Record
}

// Generator produces the stream. It is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand
	customers []customer
	q         queue
	seq       uint64
	emitted   int
	orderSeq  int
	held      []delayed // late events and duplicates waiting for their slot
	lastTime  time.Time
	revive    int
}

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg Config) (*Generator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6c74762d73696d))}
	g.customers = make([]customer, cfg.Customers)
	year := 365.25 * 24 * float64(time.Hour)
	for i := range g.customers {
		c := &g.customers[i]
		c.id = fmt.Sprintf("c-%06d", i)
		c.rate = g.gamma(cfg.PurchaseShape, cfg.PurchaseMean/cfg.PurchaseShape)
		c.spendMean = g.gamma(cfg.SpendShape, cfg.SpendMean/cfg.SpendShape)
		born := cfg.Start.Add(time.Duration(g.rng.Float64() * year))
		c.dropoutAt = born.Add(g.lifetime())
		g.push(&scheduled{at: born, cust: i})
	}
	return g, nil
}

// lifetime draws a time to drop-out from the customer's drop-out rate.
func (g *Generator) lifetime() time.Duration {
	mu := g.gamma(g.cfg.DropoutShape, g.cfg.DropoutMean/g.cfg.DropoutShape)
	years := g.rng.ExpFloat64() / mu
	if years > 50 {
		years = 50
	}
	return time.Duration(years * 365.25 * 24 * float64(time.Hour))
}

func (g *Generator) push(s *scheduled) {
	g.seq++
	s.seq = g.seq
	heap.Push(&g.q, s)
}

// gamma samples Gamma(shape k, scale θ) with Marsaglia and Tsang's method.
func (g *Generator) gamma(k, theta float64) float64 {
	if k < 1 {
		// Boost: Gamma(k) = Gamma(k+1) · U^(1/k)
		return g.gamma(k+1, theta) * math.Pow(g.rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := g.rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := g.rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * theta
		}
	}
}

// Next returns the next record; false when Events records were emitted.
func (g *Generator) Next() (Record, bool) {
	if g.emitted >= g.cfg.Events {
		return Record{}, false
	}
	g.emitted++
	// Held records (late events, duplicates) whose slot has come.
	for i, h := range g.held {
		if h.due <= g.emitted {
			g.held = append(g.held[:i], g.held[i+1:]...)
			return h.rec, true
		}
	}
	switch r := g.rng.Float64(); {
	case r < g.cfg.BadRate:
		return g.badRecord(), true
	case r < g.cfg.BadRate+g.cfg.OversizeRate:
		return g.oversized(), true
	}
	rec := g.nextValid()
	slot := g.emitted // where the event itself is emitted
	late := g.cfg.LateRate > 0 && g.rng.Float64() < g.cfg.LateRate
	if late {
		slot = g.emitted + 100 + g.rng.IntN(400)
		held := rec
		held.Label = LabelLate
		g.held = append(g.held, delayed{due: slot, rec: held})
	}
	if g.cfg.DuplicateRate > 0 && g.rng.Float64() < g.cfg.DuplicateRate {
		dup := rec
		dup.Label = LabelDuplicate
		g.held = append(g.held, delayed{due: slot + 1 + g.rng.IntN(50), rec: dup})
	}
	if late {
		// Emit something else in this slot.
		return g.fill(), true
	}
	return rec, true
}

// fill returns a record for a slot whose event was held back.
func (g *Generator) fill() Record { return g.nextValid() }

// nextValid advances the simulation to its next event.
func (g *Generator) nextValid() Record {
	for {
		if g.q.Len() == 0 {
			g.reviveOne()
		}
		s := heap.Pop(&g.q).(*scheduled)
		if rec, ok := g.step(s); ok {
			return rec
		}
	}
}

// reviveOne brings a customer back so an exhausted population keeps the
// stream going (small populations, long streams).
func (g *Generator) reviveOne() {
	i := g.revive % len(g.customers)
	g.revive++
	at := g.lastTime.Add(time.Duration(1+g.rng.IntN(72)) * time.Hour)
	g.push(&scheduled{at: at, cust: i, kind: 2})
}

// step turns a scheduled item into a record (ok=false: nothing to emit).
func (g *Generator) step(s *scheduled) (Record, bool) {
	c := &g.customers[s.cust]
	g.lastTime = s.at
	switch s.kind {
	case 1: // refund
		return g.refund(c, s), true
	case 2: // reactivation
		c.churned = false
		c.dropoutAt = s.at.Add(g.lifetime())
		g.push(&scheduled{at: s.at.Add(g.interPurchase(c)), cust: s.cust})
		return g.lifecycle(c, "customer_reactivated", s.at, ""), true
	}
	if c.churned {
		return Record{}, false
	}
	if !s.at.Before(c.dropoutAt) {
		// Dropped out: maybe a churn event, maybe a comeback later.
		c.churned = true
		if g.rng.Float64() < g.cfg.ChurnRate {
			if g.rng.Float64() < g.cfg.ReactivationRate {
				back := time.Duration(g.rng.ExpFloat64() * 180 * 24 * float64(time.Hour))
				g.push(&scheduled{at: s.at.Add(time.Hour + back), cust: s.cust, kind: 2})
			}
			return g.lifecycle(c, "customer_churned", s.at, churnReasons[g.rng.IntN(len(churnReasons))]), true
		}
		return Record{}, false
	}
	rec := g.order(c, s)
	g.push(&scheduled{at: s.at.Add(g.interPurchase(c)), cust: s.cust})
	return rec, true
}

func (g *Generator) interPurchase(c *customer) time.Duration {
	years := g.rng.ExpFloat64() / c.rate
	if years > 20 {
		years = 20
	}
	return time.Duration(years*365.25*24*float64(time.Hour)) + time.Minute
}

var (
	margins      = []string{"0.25", "0.40", "0.55", "0.62"}
	channels     = []string{"paid_search", "organic", "email", "direct", "social"}
	churnReasons = []string{"subscription_cancelled", "inactive_365d", "account_closed", "support_request"}
)

func (g *Generator) order(c *customer, s *scheduled) Record {
	g.orderSeq++
	orderID := "o-" + strconv.Itoa(g.orderSeq)
	amount := math.Max(1, math.Round(g.gamma(4, c.spendMean/4)*100)/100)
	margin := ""
	if g.rng.Float64() >= g.cfg.MarginAbsentRate {
		margin = margins[g.rng.IntN(len(margins))]
	}
	c.orders++
	if g.rng.Float64() < g.cfg.RefundRate {
		refund := amount
		if g.rng.Float64() < 0.5 {
			refund = math.Max(0.01, math.Round(amount*(0.2+0.8*g.rng.Float64())*100)/100)
		}
		wait := time.Duration((1 + g.rng.ExpFloat64()*10) * 24 * float64(time.Hour))
		g.push(&scheduled{at: s.at.Add(wait), cust: s.cust, kind: 1, orderID: orderID, amount: amount, refunded: refund, margin: margin})
	}
	b := make([]byte, 0, 280)
	b = append(b, `{"schema":"ltv.order.v1","event_id":"`...)
	b = g.appendUUID(b)
	b = append(b, `","type":"order_placed","customer_id":"`...)
	b = append(b, c.id...)
	b = append(b, `","order_id":"`...)
	b = append(b, orderID...)
	b = append(b, `","amount":`...)
	b = g.appendAmount(b, amount)
	b = append(b, `,"currency":"`...)
	b = append(b, g.cfg.Currency...)
	b = append(b, '"')
	if margin != "" {
		b = append(b, `,"gross_margin":"`...)
		b = append(b, margin...)
		b = append(b, '"')
	}
	b = append(b, `,"occurred_at":"`...)
	b = s.at.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","channel":"`...)
	b = append(b, channels[g.rng.IntN(len(channels))]...)
	b = append(b, `"}`...)
	return Record{Topic: TopicOrders, Key: []byte(c.id), Value: b, OccurredAt: s.at, Label: LabelValid}
}

func (g *Generator) refund(c *customer, s *scheduled) Record {
	b := make([]byte, 0, 260)
	b = append(b, `{"schema":"ltv.order.v1","event_id":"`...)
	b = g.appendUUID(b)
	b = append(b, `","type":"order_refunded","customer_id":"`...)
	b = append(b, c.id...)
	b = append(b, `","order_id":"`...)
	b = append(b, s.orderID...)
	b = append(b, `","amount":`...)
	b = g.appendAmount(b, s.refunded)
	b = append(b, `,"currency":"`...)
	b = append(b, g.cfg.Currency...)
	b = append(b, '"')
	if s.margin != "" {
		b = append(b, `,"gross_margin":"`...)
		b = append(b, s.margin...)
		b = append(b, '"')
	}
	b = append(b, `,"occurred_at":"`...)
	b = s.at.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `"}`...)
	return Record{Topic: TopicOrders, Key: []byte(c.id), Value: b, OccurredAt: s.at, Label: LabelValid}
}

func (g *Generator) lifecycle(c *customer, typ string, at time.Time, reason string) Record {
	b := make([]byte, 0, 200)
	b = append(b, `{"schema":"ltv.lifecycle.v1","event_id":"`...)
	b = g.appendUUID(b)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, `","customer_id":"`...)
	b = append(b, c.id...)
	b = append(b, `","occurred_at":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	if reason != "" {
		b = append(b, `,"reason":"`...)
		b = append(b, reason...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return Record{Topic: TopicLifecycle, Key: []byte(c.id), Value: b, OccurredAt: at, Label: LabelValid}
}

// appendAmount writes a 2-decimal amount, mostly as a string, sometimes as
// a JSON number (to exercise exact number parsing).
func (g *Generator) appendAmount(b []byte, v float64) []byte {
	text := strconv.FormatFloat(v, 'f', 2, 64)
	if g.rng.Float64() < g.cfg.NumberAmountRate {
		return append(b, text...)
	}
	b = append(b, '"')
	b = append(b, text...)
	return append(b, '"')
}

func (g *Generator) appendUUID(b []byte) []byte {
	const hexd = "0123456789abcdef"
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^0xf000 | 0x4000         // version 4
	lo = lo&^(0xc<<60) | (0x8 << 60) // RFC 4122 variant
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	for i, x := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[x>>4], hexd[x&0xf])
	}
	return b
}
