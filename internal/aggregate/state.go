package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/ltv-stream/ltv-stream/internal/money"
)

// MaxGuardEntries bounds the offset guard of one customer. A customer keyed
// consistently lives on one partition of each input topic, so two entries
// are used in normal operation; the extra room covers a repartitioning.
const MaxGuardEntries = 4

// SourceOffset identifies where an event was read: the offset guard keeps
// the highest applied offset per topic partition.
type SourceOffset struct {
	Topic     TopicID // hashed input topic name
	Partition int32   // Kafka partition of that topic
	Offset    int64   // Kafka offset of the record
}

// TopicID stands for an input topic in the offset guard: 32 bits of a hash
// of its name, so a guard entry stored with every customer costs 4 bytes
// instead of the name. The service refuses to start when its input topics'
// ids collide (see TopicsCollide).
type TopicID uint32

// TopicOf returns the id of the topic with this name.
func TopicOf(name string) TopicID { return TopicID(xxhash.Sum64String(name)) }

// TopicsCollide reports whether two different topic names share an id, in
// which case their offsets could not be told apart.
func TopicsCollide(a, b string) bool { return a != b && TopicOf(a) == TopicOf(b) }

// State is everything the updater knows about one customer. The exact sums
// are kept unrounded; the public Redis fields are rendered from them by
// Figures. The zero value is a customer never seen before.
type State struct {
	Orders      int64       // distinct order_placed events
	Revenue     money.Exact // Σ placed − Σ refunded, exact
	GrossProfit money.Exact // Σ amount×margin placed − refunded, exact
	Refunds     money.Exact // Σ refunded, exact

	FirstOrderAt      time.Time // earliest order_placed; zero when none
	LastOrderAt       time.Time // latest order_placed; zero when none
	LastChurnAt       time.Time // latest customer_churned; zero when none
	LastReactivatedAt time.Time // latest customer_reactivated; zero when none

	// LTV and Tier are the last published values; tier changes are decided
	// against them (hysteresis needs the current tier).
	LTV  money.Exact
	Tier string // "" before the first assignment

	// FirstOrder and FirstOrderNet identify the earliest order_placed (a
	// digest of its order_id) and its net amount (placed minus the refunds
	// naming it): the predictive model's mean spend m is over the repeat
	// orders only (SPEC §9), so the first order's share must be taken out.
	FirstOrder    uint64
	FirstOrderNet money.Exact // exact, unrounded
	// UnmatchedRefunds remembers what was refunded of orders other than
	// the first one known, per order (the refund log, encoded as below),
	// so that an order read after its refunds, which may turn out to be
	// the earliest, takes them along: m does not depend on arrival order.
	// Once an order is read its entry goes. At most MaxUnmatchedRefunds
	// orders, the oldest dropped first; "" for a customer without refunds
	// of other orders.
	UnmatchedRefunds string

	// Channel is the acquisition channel: the channel of the earliest
	// order_placed (the one at FirstOrderAt; "" when it had none).
	Channel string
	// Segment is the stored lifecycle segment (SPEC §8), SegmentSince the
	// event time of the change that set it.
	Segment      string
	SegmentSince time.Time // zero before the first segment change
	// The predictive model's public fields (SPEC §9), as rendered, and its
	// tier timer: when the predicted LTV would fall through the tier's
	// hysteresis band if nothing happened (zero: never). Unset while the
	// model is off or the customer has no orders.
	PAlive, ExpectedOrders, ExpectedSpend, PredictedCLV money.Exact
	ScoredAt, TierDue                                   time.Time // stream time of the last scoring; tier timer (zero: none)

	// Clock is the event time the customer was last evaluated at: the
	// latest of its partition's stream times when its events were read and
	// its fired timers' due times. It never moves back, so a timer fires
	// once and a late event is judged at the stream time, not its own past.
	Clock time.Time

	// Seen holds xxhash64 digests of the most recent distinct event ids,
	// oldest first, at most Model.DedupeWindow of them.
	Seen []uint64
	// Applied is the offset guard: the highest applied offset per input
	// partition, least recently used first, at most MaxGuardEntries.
	Applied []SourceOffset
}

// MaxUnmatchedRefunds bounds State.UnmatchedRefunds: the refunds of the
// latest this many other orders are remembered. A customer with more
// refunded orders than that, read before the earliest order, charges the
// oldest of them to its repeat orders.
const MaxUnmatchedRefunds = 4

// The refund log (State.UnmatchedRefunds) is a sequence of entries, oldest
// first: the order's digest (8 bytes, little endian), the length of the
// refunded amount's decimal text (1 byte), the text.

// refundEntry is one entry of a refund log: its order, its amount's text,
// and where the entry ends.
type refundEntry struct {
	order  uint64
	amount string
	end    int
}

// nextRefund reads the refund log's entry at i (ok false at the end or on
// a damaged log).
func nextRefund(log string, i int) (refundEntry, bool) {
	if i+9 > len(log) {
		return refundEntry{}, false
	}
	n := int(log[i+8])
	if n == 0 || i+9+n > len(log) {
		return refundEntry{}, false
	}
	return refundEntry{order: binary.LittleEndian.Uint64([]byte(log[i : i+8])), amount: log[i+9 : i+9+n], end: i + 9 + n}, true
}

// CheckRefundLog reports whether log is a well-formed refund log of at
// most MaxUnmatchedRefunds orders with decimal amounts (for the store's
// decoder: a damaged one is an error, not a silent zero).
func CheckRefundLog(log string) error {
	count := 0
	for i := 0; i < len(log); count++ {
		e, ok := nextRefund(log, i)
		if !ok {
			return errors.New("refund log cut short")
		}
		if _, err := money.ParseExact(e.amount); err != nil {
			return fmt.Errorf("refund log amount: %w", err)
		}
		i = e.end
	}
	if count > MaxUnmatchedRefunds {
		return fmt.Errorf("refund log of %d orders, at most %d", count, MaxUnmatchedRefunds)
	}
	return nil
}

// takeRefunds removes order's entry from the refund log and returns its
// amount (zero when it has none).
func (s *State) takeRefunds(order uint64) money.Exact {
	for i := 0; i < len(s.UnmatchedRefunds); {
		e, ok := nextRefund(s.UnmatchedRefunds, i)
		if !ok {
			return money.Exact{}
		}
		if e.order == order {
			v, _ := money.ParseExact(e.amount) // checked when decoded or written
			s.UnmatchedRefunds = s.UnmatchedRefunds[:i] + s.UnmatchedRefunds[e.end:]
			return v
		}
		i = e.end
	}
	return money.Exact{}
}

// logRefund adds amount to order's entry of the refund log (the entry
// moves to the end), dropping the oldest entry beyond MaxUnmatchedRefunds.
func (s *State) logRefund(order uint64, amount money.Exact) {
	amount = amount.Add(s.takeRefunds(order))
	text := amount.String()
	if len(text) > 255 {
		return // beyond any amount the decoder accepts; never reached
	}
	log := s.UnmatchedRefunds
	count := 0
	for i := 0; i < len(log); count++ {
		e, ok := nextRefund(log, i)
		if !ok {
			break
		}
		i = e.end
	}
	if count >= MaxUnmatchedRefunds {
		if e, ok := nextRefund(log, 0); ok {
			log = log[e.end:]
		}
	}
	b := make([]byte, 0, len(log)+9+len(text))
	b = append(b, log...)
	b = binary.LittleEndian.AppendUint64(b, order)
	b = append(b, byte(len(text)))
	s.UnmatchedRefunds = string(append(b, text...))
}

// OrderDigest is the digest the state keeps of its first order's id: 64
// bits, so a refund of another order is mistaken for one of the first with
// odds of 2⁻⁶⁴, at no more cost than the id's 8 bytes.
func OrderDigest(orderID string) uint64 { return xxhash.Sum64String("order:" + orderID) }

// EventDigest is the dedupe digest of an event id. 64 bits keep a false
// match within a 32-id window below 2⁻⁵⁸ per event.
func EventDigest(eventID string) uint64 { return xxhash.Sum64String(eventID) }

// seen reports whether digest is in the dedupe window.
func (s *State) seen(digest uint64) bool {
	for _, d := range s.Seen {
		if d == digest {
			return true
		}
	}
	return false
}

// remember appends digest to the window, dropping the oldest beyond max.
// It reuses the backing array, so a steady-state customer costs no
// allocation here.
func (s *State) remember(digest uint64, max int) {
	if len(s.Seen) < max {
		s.Seen = append(s.Seen, digest)
		return
	}
	copy(s.Seen, s.Seen[len(s.Seen)-max+1:])
	s.Seen = s.Seen[:max]
	s.Seen[max-1] = digest
}

// Redelivered reports whether src is at or below the guard's offset for its
// partition, i.e. Kafka handed out a record whose effect is already in the
// state (a restart, a rebalance, a zombie consumer).
func (s *State) Redelivered(src SourceOffset) bool {
	for _, a := range s.Applied {
		if a.Topic == src.Topic && a.Partition == src.Partition {
			return src.Offset <= a.Offset
		}
	}
	return false
}

// advance records src as applied. The entry moves to the end, so when the
// guard is full the partition dropped is the one least recently used.
func (s *State) advance(src SourceOffset) {
	for i := range s.Applied {
		a := s.Applied[i]
		if a.Topic == src.Topic && a.Partition == src.Partition {
			if src.Offset > a.Offset {
				a.Offset = src.Offset
			}
			copy(s.Applied[i:], s.Applied[i+1:])
			s.Applied[len(s.Applied)-1] = a
			return
		}
	}
	if len(s.Applied) >= MaxGuardEntries {
		copy(s.Applied, s.Applied[1:])
		s.Applied = s.Applied[:MaxGuardEntries-1]
	}
	s.Applied = append(s.Applied, src)
}

// Churned applies SPEC §4: the latest lifecycle fact by event time is a
// churn that is later than every order placed and every reactivation.
func (s *State) Churned() bool {
	if s.LastChurnAt.IsZero() {
		return false
	}
	return s.LastChurnAt.After(s.LastOrderAt) && s.LastChurnAt.After(s.LastReactivatedAt)
}

// Clone returns a deep copy, for callers that must keep the pre-image.
func (s *State) Clone() State {
	c := *s
	c.Seen = append([]uint64(nil), s.Seen...)
	c.Applied = append([]SourceOffset(nil), s.Applied...)
	return c
}
