package aggregate

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

// Lifecycle segments of SPEC §8.
const (
	SegmentNew     = "new"
	SegmentActive  = "active"
	SegmentAtRisk  = "at_risk"
	SegmentLapsed  = "lapsed"
	SegmentChurned = "churned"
)

// Defaults of the segment thresholds (SPEC §7/§8).
const (
	DefaultAtRiskAfterDays = 90
	DefaultLapsedAfterDays = 180
)

// SchemaSegment names the segment-change event (SPEC §8).
const SchemaSegment = "ltv.segment.v1"

// TimerCausePrefix starts the caused_by of a change a timer made: the
// cause is "timer:<due time RFC 3339>".
const TimerCausePrefix = "timer:"

// SegmentAt applies the segment rule of SPEC §8 to s at time now: churned
// when churned; else lapsed or at risk by the time since the last order;
// else new with one order and active with more; "" for a customer with no
// orders who is not churned.
func (m *Model) SegmentAt(s *State, now time.Time) string {
	segment, _ := m.segmentRule(s, now)
	return segment
}

// segmentRule is SegmentAt, and the moment after now at which the segment
// would change if nothing happened (zero: never): the next idle threshold.
// NextDue reads both from here, so the rule has one copy; idle >= after
// exactly when last_order_at + after is not after now.
func (m *Model) segmentRule(s *State, now time.Time) (segment string, changes time.Time) {
	if s.Churned() {
		return SegmentChurned, time.Time{}
	}
	if s.Orders == 0 || s.LastOrderAt.IsZero() {
		return "", time.Time{}
	}
	// Validate keeps AtRiskAfter below LapsedAfter.
	if at := s.LastOrderAt.Add(m.AtRiskAfter); at.After(now) {
		if s.Orders == 1 {
			return SegmentNew, at
		}
		return SegmentActive, at
	}
	if at := s.LastOrderAt.Add(m.LapsedAfter); at.After(now) {
		return SegmentAtRisk, at
	}
	return SegmentLapsed, time.Time{}
}

// NextDue is the customer's next due time (SPEC §8): the earliest moment
// after its clock at which, with no new event, its segment would change;
// false when none would (no orders, churned, or already lapsed). Only the
// segment thresholds make due times in the default model.
//
// A stored segment that is not the one the rule gives at the clock was
// set under other thresholds (at_risk_after_days or lapsed_after_days
// changed since), and a prediction that is missing (the predictive model
// turned on since) or left over (turned off) was made under other
// settings too: such a customer is due at once, one nanosecond after the
// clock (a timer's cause names its due time, and one at the clock itself
// could be the cause of the change that set the old segment), and the
// timer then re-scores it, or drops its prediction (advance). Under
// unchanged settings neither happens: every evaluation sets the segment
// and the clock together, and every event of a customer with orders is
// scored while the model is on.
func (m *Model) NextDue(s *State) (time.Time, bool) {
	if m.Predictive == nil {
		// The default model's only due times are the segment's: this runs
		// several times per event.
		due, _ := m.segmentDue(s)
		return due, !due.IsZero()
	}
	d := m.dues(s)
	return d.next()
}

// timerDues are a customer's next due times by kind, each after its clock
// (zero: none): the segment's next threshold (or the prompt re-evaluation
// of a stale segment or prediction, then the only one set), the tier
// timer, and the periodic re-scoring. advance tells a periodic re-scoring
// from the others: a run of them with nothing else due in between can be
// skipped to its last one.
type timerDues struct {
	segment, tier, rescore time.Time
}

// next is the earliest of the due times.
func (d *timerDues) next() (time.Time, bool) {
	next := d.segment
	if !d.tier.IsZero() && (next.IsZero() || d.tier.Before(next)) {
		next = d.tier
	}
	if !d.rescore.IsZero() && (next.IsZero() || d.rescore.Before(next)) {
		next = d.rescore
	}
	return next, !next.IsZero()
}

// dues are s's next due times by kind; NextDue is the earliest.
func (m *Model) dues(s *State) timerDues {
	var d timerDues
	var stale bool
	d.segment, stale = m.segmentDue(s)
	if p := m.Predictive; p != nil && s.Orders > 0 && !stale {
		// With the predictive model, also the day its tier would fall, and
		// the periodic re-scoring.
		if s.TierDue.After(s.Clock) {
			d.tier = s.TierDue
		}
		if p.RescoreEvery > 0 && !s.ScoredAt.IsZero() {
			if due := s.ScoredAt.Add(p.RescoreEvery); due.After(s.Clock) {
				d.rescore = due
			}
		}
	}
	return d
}

// segmentDue is the segment's next threshold after the clock (zero:
// none), or, when the stored segment or prediction is stale (NextDue), one
// nanosecond after the clock.
func (m *Model) segmentDue(s *State) (due time.Time, stale bool) {
	rule, next := m.segmentRule(s, s.Clock)
	if (rule != s.Segment || m.predictionStale(s)) && !s.Clock.IsZero() {
		return s.Clock.Add(time.Nanosecond), true
	}
	return next, false
}

// predictionStale says s's prediction is not what the model's setting
// gives: none for a customer with orders while the predictive model is
// on, or one while it is off.
func (m *Model) predictionStale(s *State) bool {
	if m.Predictive == nil {
		return !s.ScoredAt.IsZero()
	}
	return s.Orders > 0 && s.ScoredAt.IsZero()
}

// SegmentChange is a change of a customer's stored segment, the payload of
// an `ltv.segment.v1` event (SPEC §8).
type SegmentChange struct {
	CustomerID string // also the key of the published record
	Previous   string // "" on the first assignment
	Segment    string // new segment: new, active, at_risk, lapsed or churned ("" only without orders)
	// LastOrderAt and Orders describe the customer when the change was
	// made; LastOrderAt is zero for a customer without orders.
	LastOrderAt time.Time
	Orders      int64       // distinct order_placed events so far
	LTV         money.Exact // stored LTV at the change, rendered with 2 places
	Tier        string      // stored tier at the change ("" before the first)
	// CausedBy is the event_id of the input event; empty for a change a
	// timer made (ByTimer).
	CausedBy string
	// ByTimer says a timer made the change: its caused_by is
	// "timer:<due time>" (Cause), rendered only when the event is, so the
	// hot path makes no string for it.
	ByTimer bool
	// OccurredAt is the cause's event time: the input event's occurred_at,
	// or the due time.
	OccurredAt time.Time
}

// Cause is the change's caused_by (SPEC §8).
func (c *SegmentChange) Cause() string { return causeText(c.CausedBy, c.ByTimer, c.OccurredAt) }

// evaluate re-derives s's segment as of asOf and, when it changed, records
// the change (caused by cause at event time at) and returns it. The
// customer's clock moves to asOf; it never moves back.
func (m *Model) evaluate(s *State, customerID string, asOf time.Time, cause string, at time.Time) (SegmentChange, bool) {
	if asOf.After(s.Clock) {
		s.Clock = asOf
	}
	next := m.SegmentAt(s, s.Clock)
	if next == s.Segment {
		return SegmentChange{}, false
	}
	c := SegmentChange{
		CustomerID: customerID, Previous: s.Segment, Segment: next,
		LastOrderAt: s.LastOrderAt, Orders: s.Orders, LTV: s.LTV, Tier: s.Tier,
		CausedBy: cause, OccurredAt: at,
	}
	s.Segment, s.SegmentSince = next, at
	return c, true
}

// Advance fires the customer's timers that are due at or before until, in
// order, each as of its due time, and appends the segment changes they
// make to out. It is how time that passes without events reaches a
// customer: the pipeline calls it with its partition's stream time, and
// Apply calls it with an event's time before applying the event. A timer
// fires at most once: the customer's clock moves past it.
func (m *Model) Advance(s *State, customerID string, until time.Time, out []SegmentChange) []SegmentChange {
	fx := Effects{Segments: out}
	m.AdvanceAll(s, customerID, until, &fx)
	return fx.Segments
}

// Effects collects what timers did to a customer: segment changes and,
// with the predictive model, tier changes.
type Effects struct {
	Segments []SegmentChange // in the order they happened
	Tiers    []Change        // tier changes made by timers (predictive model only)
}

// AdvanceAll is Advance that also collects the tier changes timers make
// with the predictive model (its customers are re-scored at every due
// time, and their tier falls when the predicted LTV has).
func (m *Model) AdvanceAll(s *State, customerID string, until time.Time, fx *Effects) {
	m.advance(s, customerID, until, true, fx)
}

// advance fires the timers due before until, and with inclusive those due
// at until too. An event fires its customer's timers due strictly before
// its own time: one due at that very instant would change the segment
// "with no new event" (SPEC §8), and there is one.
//
// A re-scoring's tier timer is searched for only when the loop may read
// it: when the next due time without it is at least a day after the
// re-scoring (the earliest the timer can be), or past until. Otherwise
// the next due fires first, in this call, and its re-scoring replaces the
// timer unread, so the result is the same, and the work of a periodic
// re-scoring shorter than a day is one scoring instead of some twenty.
//
// A run of periodic re-scorings with nothing else due among them goes
// straight to the last one that leaves the tier as it is
// (lastQuietRescoring): the work of a gap of stream time grows with the
// tier changes in it, not with gap / rescore_every_days.
func (m *Model) advance(s *State, customerID string, until time.Time, inclusive bool, fx *Effects) {
	var search tierSearch
	for {
		due, ok := m.NextDue(s)
		fires := ok && !due.After(until) && (inclusive || !due.Equal(until))
		if search.pending {
			if fires && due.Before(search.earliest()) {
				search.pending = false // replaced unread by the re-scoring at due
			} else {
				search.run(m, s)
				continue // the timer may be the next due
			}
		}
		if !fires {
			return
		}
		if p := m.Predictive; p != nil && p.RescoreEvery > 0 {
			if dues := m.dues(s); due.Equal(dues.rescore) {
				due = m.lastQuietRescoring(s, dues, until, inclusive)
			}
		}
		// Re-scored first, so a segment change the timer makes carries the
		// customer's ltv and tier as of the due time, as stored.
		if m.Predictive != nil && s.Orders > 0 {
			var c Change
			var changed bool
			if c, changed, search = m.rescore(s, customerID, due, "", due); changed {
				c.ByTimer = true
				fx.Tiers = append(fx.Tiers, c)
			}
		} else if m.Predictive == nil && !s.ScoredAt.IsZero() {
			// Scored while the model was on, first reached since it is off:
			// the store drops the prediction with this write, so the ltv
			// (and tier) it stores are §4's again, changed by this timer.
			s.forgetPrediction()
			if c, changed := m.retier(s, customerID, "", due); changed {
				c.ByTimer = true
				fx.Tiers = append(fx.Tiers, c)
			}
		}
		if c, changed := m.evaluate(s, customerID, due, "", due); changed {
			c.ByTimer = true
			fx.Segments = append(fx.Segments, c)
		}
	}
}

// TimerCause is the caused_by of a change made by the timer due at due.
func TimerCause(due time.Time) string {
	var buf [64]byte // the prefix and the longest RFC 3339 time: one allocation, the string
	return string(appendCause(buf[:0], "", true, due))
}

// causeText is a change's caused_by: the input event's id, or a timer's
// "timer:<due time>" (its event time).
func causeText(eventID string, byTimer bool, at time.Time) string {
	if byTimer {
		return TimerCause(at)
	}
	return eventID
}

// appendCause appends a change's caused_by (causeText) to dst without
// allocating.
func appendCause(dst []byte, eventID string, byTimer bool, at time.Time) []byte {
	if byTimer {
		return AppendTimeText(append(dst, TimerCausePrefix...), at)
	}
	return append(dst, eventID...)
}

// EventID derives the change's id from its cause, as Change.EventID does:
// one cause changes a customer's segment at most once (an input event is
// applied once, and a timer fires once because the customer's clock moves
// past it), so (customer, cause) names the change and a re-emission
// carries the same id.
func (c *SegmentChange) EventID() string {
	var out [36]byte
	return string(appendCauseID(out[:0], SchemaSegment, c.CustomerID, c.CausedBy, c.ByTimer, c.OccurredAt))
}

// AppendJSON appends the `ltv.segment.v1` JSON document to dst.
func (c *SegmentChange) AppendJSON(dst []byte, emittedAt time.Time) []byte {
	dst = append(dst, `{"schema":"`...)
	dst = append(dst, SchemaSegment...)
	dst = append(dst, `","event_id":"`...)
	dst = appendCauseID(dst, SchemaSegment, c.CustomerID, c.CausedBy, c.ByTimer, c.OccurredAt)
	dst = append(dst, `","customer_id":`...)
	dst = AppendJSONString(dst, c.CustomerID)
	dst = append(dst, `,"previous_segment":`...)
	dst = AppendJSONString(dst, c.Previous)
	dst = append(dst, `,"segment":`...)
	dst = AppendJSONString(dst, c.Segment)
	if !c.LastOrderAt.IsZero() {
		dst = append(dst, `,"last_order_at":"`...)
		dst = AppendTimeText(dst, c.LastOrderAt)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"orders":`...)
	dst = strconv.AppendInt(dst, c.Orders, 10)
	dst = append(dst, `,"ltv":"`...)
	dst = c.LTV.AppendFixed(dst, 2)
	dst = append(dst, `","tier":`...)
	dst = AppendJSONString(dst, c.Tier)
	return appendEventTail(dst, c.CausedBy, c.ByTimer, c.OccurredAt, emittedAt)
}

// appendCauseID appends the UUID-shaped id of the (schema, customer,
// cause) triple, the cause being causeText(eventID, byTimer, at): SHA-256
// of the length-prefixed parts, as version 8 (RFC 9562 "custom"). The
// input is built in stack buffers when it fits, so the hot path allocates
// nothing.
//
// An input event's id may itself start with "timer:" (SPEC §2 allows any
// id), and its text may then equal a timer's cause. The two are different
// causes, so such an input cause gets a fourth part (inputCauseMark):
// length-prefixed encodings of three and of four parts never coincide, so
// its id differs from the timer's, while the ids of all other causes stay
// what they always were.
func appendCauseID(dst []byte, schema, customerID, eventID string, byTimer bool, at time.Time) []byte {
	var stack [256]byte
	var causeBuf [64]byte
	cause := appendCause(causeBuf[:0], eventID, byTimer, at)
	in := stack[:0]
	for _, part := range [...]string{schema, customerID} {
		in = binary.AppendUvarint(in, uint64(len(part)))
		in = append(in, part...)
	}
	in = binary.AppendUvarint(in, uint64(len(cause)))
	in = append(in, cause...)
	if !byTimer && strings.HasPrefix(eventID, TimerCausePrefix) {
		in = binary.AppendUvarint(in, uint64(len(inputCauseMark)))
		in = append(in, inputCauseMark...)
	}
	sum := sha256.Sum256(in)
	return appendUUID(dst, &sum)
}

// inputCauseMark is the fourth part of the id input of a change caused by
// an input event whose id starts with TimerCausePrefix (appendCauseID).
const inputCauseMark = "input"
