package sim

import (
	"container/heap"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
)

// Topic is the logical topic of a record. Sinks map it to a real topic
// name (SPEC §1 defaults: "orders" and "customer-lifecycle").
type Topic uint8

// The logical topics.
const (
	TopicOrders    Topic = iota + 1 // order_placed and order_refunded events
	TopicLifecycle                  // customer_churned and customer_reactivated events
)

// topicNames are the topics' default names, which are also their names in
// JSON Lines files.
var topicNames = []string{TopicOrders: settings.DefaultOrdersTopic, TopicLifecycle: settings.DefaultLifecycleTopic}

// String returns the topic's default name.
func (t Topic) String() string { return enumString(topicNames, t, "Topic") }

// In returns the topic t is written to when the two input topics are
// named orders and lifecycle (a replay onto configured topics).
func (t Topic) In(orders, lifecycle string) string {
	if t == TopicLifecycle {
		return lifecycle
	}
	return orders
}

// ParseTopic parses a topic name as String writes it.
func ParseTopic(s string) (Topic, error) {
	if t, ok := enumParse[Topic](topicNames, s); ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown topic %q (want \"orders\" or \"customer-lifecycle\")", s)
}

// Label says what a record is, for test oracles and statistics. It is not
// part of what is sent to Kafka unless a sink is asked to add it as a
// header.
type Label uint8

// The labels.
const (
	// LabelValid is a valid event, emitted in event-time order.
	LabelValid Label = iota + 1
	// LabelDuplicate is an exact copy (key and value bytes) of a valid
	// or late record emitted shortly before: a producer retry. It must
	// count once.
	LabelDuplicate
	// LabelLate is a valid event emitted after events that happened
	// later: it is out of event-time order and must count normally.
	LabelLate
	// LabelBad violates SPEC §2 and must be rejected (dead-lettered);
	// BadReason says how.
	LabelBad
)

// labelNames are the labels' names in JSON Lines files.
var labelNames = []string{LabelValid: "valid", LabelDuplicate: "duplicate", LabelLate: "late", LabelBad: "bad"}

// String returns the label's name.
func (l Label) String() string { return enumString(labelNames, l, "Label") }

// ParseLabel parses a label name as String writes it.
func ParseLabel(s string) (Label, error) {
	if l, ok := enumParse[Label](labelNames, s); ok {
		return l, nil
	}
	return 0, fmt.Errorf("unknown label %q (want valid, duplicate, late or bad)", s)
}

// enumString is the name of v in names (indexed by value), or type(v)
// for a value without one.
func enumString[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// enumParse is the value whose name in names is s.
func enumParse[T ~uint8](names []string, s string) (T, bool) {
	for v, name := range names {
		if name != "" && name == s {
			return T(v), true
		}
	}
	return 0, false
}

// Record is one message of the simulated stream. Records are immutable:
// Key and Value must not be modified.
type Record struct {
	// Topic is the logical topic.
	Topic Topic
	// Key is the customer id (the Kafka message key).
	Key []byte
	// Value is the event JSON, or the bad bytes of a LabelBad record.
	Value []byte
	// OccurredAt is the event time, used to pace replays. For a bad
	// record it is the stream time of the slot it was emitted in.
	OccurredAt time.Time
	// Label classifies the record.
	Label Label
	// BadReason is a short description of what is wrong with a LabelBad
	// record; empty otherwise.
	BadReason string
}

// DatedAfter reports whether r is an event (not a bad record) dated after
// t: with t = the consumer's clock + max_future_skew, one the consumer
// dead-letters as lying too far ahead (SPEC §2), which a user of a stream
// whose histories run past today should be told about.
func (r Record) DatedAfter(t time.Time) bool {
	return r.Label != LabelBad && r.OccurredAt.After(t)
}

// Generator produces a deterministic simulated stream: the same Config
// gives byte-identical records in the same order. Valid events come in
// event-time order; faults are mixed in at their configured rates. The
// valid events depend only on the model settings and the Seed, not on the
// fault rates (a separate random stream drives the faults).
//
// The stream is generated lazily with memory bounded by the number of
// customers, the pending refunds and the held-back late events, never by
// Events. A Generator is not safe for concurrent use.
type Generator struct {
	cfg   Config
	m     *model
	fr    *rand.Rand // fault stream
	total int
	pos   int // records emitted

	// Conditional probabilities for a slot not taken by a late release,
	// so that the label fractions match the configured rates.
	pOversize, pBad, pDup, pHold float64

	held    queue[heldRecord] // late records waiting for their slot
	maxHeld int
	recent  []Record // ring of recent valid/late records, for duplicates
	rnext   int
	clock   int64 // latest event time emitted (unix seconds)
	holdSeq int64
	badSeq  int64
}

type heldRecord struct {
	due int // emit at or after this position
	seq int64
	rec Record
}

// before orders held records by (due position, hold order).
//
//nolint:unused // called through queue[heldRecord]'s type constraint
func (r heldRecord) before(o heldRecord) bool {
	return r.due < o.due || (r.due == o.due && r.seq < o.seq)
}

// queue is a container/heap priority queue of items ordered by their
// before method: the held late records, the pending refunds.
type queue[T interface{ before(T) bool }] []T

func (h queue[T]) Len() int           { return len(h) }
func (h queue[T]) Less(i, j int) bool { return h[i].before(h[j]) }
func (h queue[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *queue[T]) Push(x any)        { *h = append(*h, x.(T)) }
func (h *queue[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	var zero T
	old[len(old)-1] = zero // keep no reference to what left the queue
	*h = old[:len(old)-1]
	return x
}

// NewGenerator applies the defaults to cfg, validates it and returns a
// generator positioned at the first record.
func NewGenerator(cfg Config) (*Generator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:    cfg,
		fr:     newRand(cfg.Seed, streamFaults),
		total:  cfg.Events,
		recent: make([]Record, 0, cfg.DuplicateWindow),
	}
	g.m = newModel(&g.cfg)
	g.clock = g.m.now
	// A slot is first offered to a due late record (a share LateRate of
	// all slots); the others are split with these conditional rates.
	rest := 1 - cfg.LateRate
	g.pOversize = cfg.OversizeRate / rest
	g.pBad = cfg.BadRate / rest
	g.pDup = cfg.DuplicateRate / rest
	// Fresh events are held back so that releases fill LateRate of the
	// slots: holds / fresh draws = L / (1 − B − D − O).
	if cfg.LateRate > 0 {
		g.pHold = cfg.LateRate / (1 - cfg.BadRate - cfg.DuplicateRate - cfg.OversizeRate)
	}
	return g, nil
}

// Config returns the effective configuration, defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Next returns the next record, or false once Config.Events records have
// been emitted.
func (g *Generator) Next() (Record, bool) {
	if g.pos >= g.total {
		return Record{}, false
	}
	rec := g.slot()
	g.pos++
	return rec, true
}

// All yields the records Next returns, in order, until Config.Events
// records have been emitted or the loop stops. The programs and tests that
// feed the stream somewhere (the demo, the benchmarks, the suites) range
// over it instead of each writing Next's loop.
func (g *Generator) All() iter.Seq[Record] {
	return func(yield func(Record) bool) {
		for {
			rec, ok := g.Next()
			if !ok || !yield(rec) {
				return
			}
		}
	}
}

func (g *Generator) slot() Record {
	remaining := g.total - g.pos
	if n := len(g.held); n > 0 && (g.held[0].due <= g.pos || remaining <= n) {
		h := heap.Pop(&g.held).(heldRecord)
		rec := h.rec
		// Late only if something later really went out before it.
		if rec.OccurredAt.Unix() < g.clock {
			rec.Label = LabelLate
		}
		g.emitted(rec)
		return rec
	}
	u := g.fr.Float64()
	switch {
	case u < g.pOversize:
		return g.oversize()
	case u < g.pOversize+g.pBad:
		return g.bad()
	case u < g.pOversize+g.pBad+g.pDup && len(g.recent) > 0:
		src := g.recent[g.fr.IntN(len(g.recent))]
		rec := src
		rec.Key = append([]byte(nil), src.Key...)
		rec.Value = append([]byte(nil), src.Value...)
		rec.Label = LabelDuplicate
		return rec
	}
	for {
		rec := g.m.render(g.m.next())
		// Hold it back only if there is room to release it before the end.
		if g.pHold > 0 && g.fr.Float64() < g.pHold && remaining-1 > len(g.held) {
			delay := g.cfg.LateMinDelay + g.fr.IntN(g.cfg.LateMaxDelay-g.cfg.LateMinDelay+1)
			g.holdSeq++
			heap.Push(&g.held, heldRecord{due: g.pos + delay, seq: g.holdSeq, rec: rec})
			g.maxHeld = max(g.maxHeld, len(g.held))
			continue
		}
		g.emitted(rec)
		return rec
	}
}

// emitted records a valid or late record going out.
func (g *Generator) emitted(rec Record) {
	if t := rec.OccurredAt.Unix(); t > g.clock {
		g.clock = t
	}
	if len(g.recent) < cap(g.recent) {
		g.recent = append(g.recent, rec)
	} else {
		g.recent[g.rnext] = rec
		g.rnext = (g.rnext + 1) % len(g.recent)
	}
}
