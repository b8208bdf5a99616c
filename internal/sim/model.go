package sim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// The customer model: a population of customers, each with its own
// purchase rate, drop-out rate and spend level, simulated lazily. Memory
// is O(customers + pending refunds): a min-heap holds every customer that
// has a future event, keyed by the time of that event, and a second heap
// holds refunds due later. Nothing grows with the number of events.

const (
	secondsPerDay = 86400
	never         = math.MaxInt64
	// maxUnix is 9999-12-31T23:59:59Z, the last instant RFC 3339 can
	// write; event times are clamped to it.
	maxUnix = 253402300799
	// maxGapDays caps any single drawn delay (100 years) so that a tiny
	// rate cannot produce an absurd time.
	maxGapDays = 36500
	// resumeWindowDays: a returning customer orders again within this
	// many days.
	resumeWindowDays = 14
	// Order amounts are clamped to [minCents, maxCents].
	minCents = 100
	maxCents = 1_000_000_000
)

// Value sets. Margins are product categories; channels and reasons are
// the small vocabularies a real shop would send.
var (
	margins             = [...]string{"0.25", "0.40", "0.55", "0.62"}
	channels            = [...]string{"paid_search", "organic", "email", "direct", "social"}
	channelWeights      = [...]float64{0.30, 0.25, 0.15, 0.20, 0.10}
	churnReasons        = [...]string{"subscription_cancelled", "inactivity", "account_closed", "moved_to_competitor", "payment_failed"}
	reactivationReasons = [...]string{"win_back_campaign", "returned", "subscription_renewed"}
)

type evKind uint8

const (
	evPlaced evKind = iota + 1
	evRefunded
	evChurned
	evReactivated
)

func (k evKind) String() string {
	switch k {
	case evPlaced:
		return "order_placed"
	case evRefunded:
		return "order_refunded"
	case evChurned:
		return "customer_churned"
	case evReactivated:
		return "customer_reactivated"
	}
	return ""
}

// modelEvent is one valid event before rendering.
type modelEvent struct {
	kind    evKind
	cust    int32 // customer index; the id is c-(index+1)
	at      int64 // unix seconds
	order   int64 // order number (orders and refunds)
	cents   int64 // amount in minor units (orders and refunds)
	margin  int8  // index into margins, -1 when absent
	channel uint8 // index into channels (order_placed)
	reason  uint8 // index into churnReasons or reactivationReasons
}

type custState uint8

const (
	stNew     custState = iota // not acquired yet: next is the first order
	stActive                   // ordering until dropAt
	stChurned                  // dropped out with a churn event; returns at resumeAt unless never
	stDormant                  // dropped out silently; returns at resumeAt unless never
)

type customer struct {
	next      int64 // heap key: time of the next event
	nextOrder int64
	dropAt    int64
	resumeAt  int64
	lambda    float64 // purchases per day
	mu        float64 // drop-out rate per day
	nu        float64 // Gamma-Gamma spend rate: order amount ~ Gamma(p, nu)
	state     custState
	channel   uint8 // preferred channel
}

type pendingRefund struct {
	at     int64
	order  int64
	cents  int64
	cust   int32
	margin int8
}

// before orders pending refunds by (time, order number).
//
//nolint:unused // called through queue[pendingRefund]'s type constraint
func (r pendingRefund) before(o pendingRefund) bool {
	return r.at < o.at || (r.at == o.at && r.order < o.order)
}

// modelStats counts what the model did, for tests and diagnostics.
type modelStats struct {
	acquired, orders, refunds, churns, reactivations int
	dropouts, reactScheduled, winBacks               int
	marginAbsent, numeric                            int
}

type model struct {
	cfg     *Config
	r       *rand.Rand
	cust    []customer
	heap    []int32 // customer indices with a future event, min-heap on (next, index)
	refunds queue[pendingRefund]
	orders  int64
	now     int64
	stats   modelStats
}

func newModel(cfg *Config) *model {
	m := &model{
		cfg:  cfg,
		r:    newRand(cfg.Seed, streamModel),
		cust: make([]customer, cfg.Customers),
		heap: make([]int32, cfg.Customers),
	}
	start := cfg.Start.Unix()
	m.now = start
	span := cfg.AcquisitionDays * secondsPerDay
	for i := range m.cust {
		m.cust[i] = customer{next: clampAdd(start, m.r.Float64()*span), state: stNew, resumeAt: never}
		m.heap[i] = int32(i)
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m
}

// clampAdd adds secs seconds to t, clamped to maxUnix.
func clampAdd(t int64, secs float64) int64 {
	if secs <= 0 {
		return t
	}
	if secs > maxGapDays*secondsPerDay {
		secs = maxGapDays * secondsPerDay
	}
	u := t + int64(secs)
	if u > maxUnix {
		return maxUnix
	}
	return u
}

func (m *model) days(d float64) float64 { return d * secondsPerDay }

func (m *model) less(a, b int32) bool {
	ca, cb := m.cust[a].next, m.cust[b].next
	return ca < cb || (ca == cb && a < b)
}

func (m *model) down(i int) {
	h := m.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && m.less(h[r], h[l]) {
			j = r
		}
		if !m.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (m *model) up(i int) {
	h := m.heap
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

// next returns the next valid event in event-time order.
func (m *model) next() modelEvent {
	for {
		if len(m.heap) == 0 && len(m.refunds) == 0 {
			m.winBack()
			continue
		}
		// Refunds due strictly before the next customer event go first.
		if len(m.refunds) > 0 && (len(m.heap) == 0 || m.refunds[0].at < m.cust[m.heap[0]].next) {
			rf := heap.Pop(&m.refunds).(pendingRefund)
			m.advance(rf.at)
			m.stats.refunds++
			return modelEvent{kind: evRefunded, cust: rf.cust, at: rf.at, order: rf.order, cents: rf.cents, margin: rf.margin}
		}
		i := m.heap[0]
		c := &m.cust[i]
		t := c.next
		m.advance(t)
		var ev modelEvent
		emit := false
		switch c.state {
		case stNew:
			m.acquire(c, t)
			ev, emit = m.order(i, c, t), true
		case stActive:
			if c.nextOrder <= c.dropAt {
				ev, emit = m.order(i, c, t), true
				break
			}
			m.stats.dropouts++
			c.resumeAt = never
			if m.r.Float64() < m.cfg.ChurnRate {
				c.state = stChurned
				m.stats.churns++
				ev = modelEvent{kind: evChurned, cust: i, at: t, reason: uint8(m.r.IntN(len(churnReasons)))}
				emit = true
				if m.r.Float64() < m.cfg.ReactivationRate {
					m.stats.reactScheduled++
					c.resumeAt = clampAdd(t, m.days(1+expo(m.r, m.cfg.ReactivationMeanDays)))
				}
			} else {
				c.state = stDormant
			}
		case stChurned, stDormant:
			if c.state == stChurned {
				m.stats.reactivations++
				ev = modelEvent{kind: evReactivated, cust: i, at: t, reason: uint8(m.r.IntN(len(reactivationReasons)))}
				emit = true
			}
			c.state = stActive
			c.nextOrder = clampAdd(t, m.days(m.r.Float64()*resumeWindowDays))
			c.dropAt = clampAdd(c.nextOrder, m.days(expo(m.r, 1/c.mu)))
			c.resumeAt = never
		}
		m.reschedule(c)
		if emit {
			return ev
		}
	}
}

func (m *model) advance(t int64) {
	if t > m.now {
		m.now = t
	}
}

// acquire draws a new customer's parameters; its first order is at t.
func (m *model) acquire(c *customer, t int64) {
	cfg := m.cfg
	m.stats.acquired++
	c.lambda = math.Max(gamma(m.r, cfg.PurchaseShape)/cfg.PurchaseAlpha, 1e-9)
	c.mu = math.Max(gamma(m.r, cfg.DropoutShape)/cfg.DropoutBeta, 1e-9)
	c.nu = math.Max(gamma(m.r, cfg.SpendQ)/cfg.SpendGamma, 1e-12)
	u := m.r.Float64()
	c.channel = uint8(len(channels) - 1)
	for k, w := range channelWeights {
		if u < w {
			c.channel = uint8(k)
			break
		}
		u -= w
	}
	c.state = stActive
	c.nextOrder = t
	c.dropAt = clampAdd(t, m.days(expo(m.r, 1/c.mu)))
}

// order emits an order placed at t and schedules the customer's next one
// and, perhaps, its refund.
func (m *model) order(i int32, c *customer, t int64) modelEvent {
	cfg := m.cfg
	m.orders++
	m.stats.orders++
	cents := int64(math.Round(gamma(m.r, cfg.SpendP) / c.nu * 100))
	cents = min(max(cents, minCents), maxCents)
	ev := modelEvent{kind: evPlaced, cust: i, at: t, order: m.orders, cents: cents, margin: -1, channel: c.channel}
	if m.r.Float64() >= cfg.MarginAbsentRate {
		ev.margin = int8(m.r.IntN(len(margins)))
	} else {
		m.stats.marginAbsent++
	}
	if m.r.Float64() >= 0.7 {
		ev.channel = uint8(m.r.IntN(len(channels)))
	}
	if m.r.Float64() < cfg.RefundRate {
		rc := cents
		if m.r.Float64() < 0.5 { // partial: 20–100 % of the amount
			rc = int64(math.Round(float64(cents) * (0.2 + 0.8*m.r.Float64())))
			rc = min(max(rc, 1), cents)
		}
		delay := 1 + m.r.Float64()*(cfg.RefundMaxDays-1)
		heap.Push(&m.refunds, pendingRefund{
			at: clampAdd(t, m.days(delay)), order: m.orders, cents: rc, cust: i, margin: ev.margin,
		})
	}
	c.nextOrder = clampAdd(t, m.days(expo(m.r, 1/c.lambda)))
	return ev
}

// reschedule updates the heap after the top customer changed.
func (m *model) reschedule(c *customer) {
	switch c.state {
	case stActive:
		c.next = min(c.nextOrder, c.dropAt)
	default:
		c.next = c.resumeAt
	}
	if c.next == never {
		last := len(m.heap) - 1
		m.heap[0] = m.heap[last]
		m.heap = m.heap[:last]
	}
	if len(m.heap) > 0 {
		m.down(0)
	}
}

// winBack runs when every customer has dropped out for good and nothing is
// pending, before Events records were emitted: every customer is won back
// (a churned one with a customer_reactivated event) after an exponential
// delay with mean ReactivationMeanDays, so the stream always reaches its
// length. With the default parameters this needs far more events than
// customers × 20.
func (m *model) winBack() {
	m.stats.winBacks++
	for i := range m.cust {
		c := &m.cust[i]
		if c.state != stChurned && c.state != stDormant {
			continue
		}
		c.resumeAt = clampAdd(m.now, m.days(1+expo(m.r, m.cfg.ReactivationMeanDays)))
		c.next = c.resumeAt
		m.heap = append(m.heap, int32(i))
		m.up(len(m.heap) - 1)
	}
}

// render turns a model event into a Record. Key and Value share one
// allocation; Key's capacity is capped so neither can overwrite the other.
func (m *model) render(ev modelEvent) Record {
	cfg := m.cfg
	b := make([]byte, 0, 320)
	b = appendCustomerID(b, ev.cust)
	key := b[:len(b):len(b)]
	start := len(b)
	rec := Record{Key: key, OccurredAt: time.Unix(ev.at, 0).UTC(), Label: LabelValid}
	switch ev.kind {
	case evPlaced, evRefunded:
		rec.Topic = TopicOrders
		numeric := m.r.Float64() < cfg.NumericAmountRate
		if numeric {
			m.stats.numeric++
		}
		b = m.appendHead(b, "ltv.order.v1", ev.kind, key)
		b = append(b, `","order_id":"`...)
		b = appendOrderID(b, ev.order)
		b = append(b, `","amount":`...)
		b = appendDecimal(b, ev.cents, numeric)
		b = append(b, `,"currency":"`...)
		b = append(b, cfg.BaseCurrency...)
		b = append(b, '"')
		if ev.margin >= 0 {
			b = append(b, `,"gross_margin":`...)
			if numeric {
				b = append(b, margins[ev.margin]...)
			} else {
				b = append(b, '"')
				b = append(b, margins[ev.margin]...)
				b = append(b, '"')
			}
		}
		b = append(b, `,"occurred_at":"`...)
		b = appendTime(b, ev.at)
		b = append(b, '"')
		if ev.kind == evPlaced {
			b = append(b, `,"channel":"`...)
			b = append(b, channels[ev.channel]...)
			b = append(b, '"')
		}
		b = append(b, '}')
	default:
		rec.Topic = TopicLifecycle
		b = m.appendHead(b, "ltv.lifecycle.v1", ev.kind, key)
		b = append(b, `","occurred_at":"`...)
		b = appendTime(b, ev.at)
		b = append(b, `","reason":"`...)
		if ev.kind == evChurned {
			b = append(b, churnReasons[ev.reason]...)
		} else {
			b = append(b, reactivationReasons[ev.reason]...)
		}
		b = append(b, `"}`...)
	}
	rec.Value = b[start:]
	return rec
}

// appendHead appends what every input document starts with: the schema,
// a random event_id, the type and the customer_id (its string left open).
func (m *model) appendHead(b []byte, schema string, kind evKind, key []byte) []byte {
	b = append(b, `{"schema":"`...)
	b = append(b, schema...)
	b = append(b, `","event_id":"`...)
	b = appendUUID(b, m.r)
	b = append(b, `","type":"`...)
	b = append(b, kind.String()...)
	b = append(b, `","customer_id":"`...)
	return append(b, key...)
}

// appendCustomerID appends c-%06d of index+1.
func appendCustomerID(b []byte, idx int32) []byte {
	b = append(b, 'c', '-')
	return appendPadded(b, int64(idx)+1, 6)
}

// appendOrderID appends o-%09d.
func appendOrderID(b []byte, n int64) []byte {
	b = append(b, 'o', '-')
	return appendPadded(b, n, 9)
}

func appendPadded(b []byte, n int64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], n, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendDecimal appends cents as a decimal with exactly two places, quoted
// unless numeric.
func appendDecimal(b []byte, cents int64, numeric bool) []byte {
	if !numeric {
		b = append(b, '"')
	}
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	f := cents % 100
	b = append(b, '.', byte('0'+f/10), byte('0'+f%10))
	if !numeric {
		b = append(b, '"')
	}
	return b
}

func appendTime(b []byte, unix int64) []byte {
	return time.Unix(unix, 0).UTC().AppendFormat(b, time.RFC3339)
}
