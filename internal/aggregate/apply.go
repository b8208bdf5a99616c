package aggregate

import (
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

// Outcome says what Apply did with an event.
type Outcome uint8

const (
	// Applied: the event changed the state.
	Applied Outcome = iota + 1
	// DuplicateEvent: the event id is in the customer's dedupe window (a
	// producer retry or a replayed file); only the offset guard moved.
	DuplicateEvent
	// Redelivered: Kafka handed out a record already applied (offset at or
	// below the guard); nothing changed at all.
	Redelivered
)

// String names the outcome for logs and metrics.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case DuplicateEvent:
		return "duplicate"
	case Redelivered:
		return "redelivered"
	}
	return "unknown"
}

// Result is what Apply returns: the outcome and, when the stored tier
// changed, the change to publish.
type Result struct {
	Outcome Outcome // Applied, DuplicateEvent or Redelivered
	Changed bool    // the event changed the stored tier; Change is set only then
	Change  Change  // the event's own tier change, to publish on the changes topic
	// Segments are the segment changes the event made: those of timers
	// that fell due before the event's time (fired first, as of their due
	// times), then the event's own.
	Segments []SegmentChange
	// TimerChanges are tier changes those timers made (predictive model).
	TimerChanges []Change
	// Figures are the state's figures after an Applied event (zero
	// otherwise), so the caller can store them without computing them
	// again.
	Figures Figures
}

// Dirty reports whether the state must be written back.
func (r Result) Dirty() bool { return r.Outcome != Redelivered }

// Apply folds one validated event, read at src, into s (in place) and
// returns what happened. It is deterministic: the same events applied in
// the same order give the same state and the same changes, which is what
// makes replays and crash recovery reproduce the live run.
//
// Sums, earliest/latest timestamps and the churn decision are order
// independent, so out-of-order (late) events and arrival order across the
// two input topics do not change the figures. Only the tier path depends on
// order, through hysteresis.
func (m *Model) Apply(s *State, ev *Event, src SourceOffset) Result {
	return m.ApplyAt(s, ev, src, ev.OccurredAt)
}

// ApplyAt is Apply for an event read when its partition's stream time is
// now (SPEC §8): the customer's segment is evaluated, and the predictive
// model (SPEC §9) scores it, as of then (Apply: as of the event's own
// time).
func (m *Model) ApplyAt(s *State, ev *Event, src SourceOffset, now time.Time) Result {
	var fx Effects
	res := m.ApplyTo(s, ev, src, now, &fx)
	res.Segments, res.TimerChanges = fx.Segments, fx.Tiers
	return res
}

// ApplyTo is ApplyAt that appends the segment changes and the timers' tier
// changes to fx instead of returning them in the Result (whose Segments
// and TimerChanges stay nil; the event's own tier change is still
// Result.Change). A caller applying many events reuses fx's slices, so
// applying allocates nothing.
func (m *Model) ApplyTo(s *State, ev *Event, src SourceOffset, now time.Time, fx *Effects) Result {
	if s.Redelivered(src) {
		return Result{Outcome: Redelivered}
	}
	s.advance(src)
	digest := EventDigest(ev.EventID)
	if s.seen(digest) {
		return Result{Outcome: DuplicateEvent}
	}
	s.remember(digest, m.DedupeWindow)

	// Time passed before this event: timers due before its time fire
	// first, so the result does not depend on whether the partition's
	// stream time reached them before this event was read. One due at the
	// event's own instant does not: the event is there at that instant.
	m.advance(s, ev.CustomerID, ev.OccurredAt, false, fx)

	switch ev.Kind {
	case OrderPlaced:
		// Refunds of this order read before it: they count against it if
		// it is the earliest, and stay with the repeat orders otherwise.
		var refundedBefore money.Exact
		if s.UnmatchedRefunds != "" {
			refundedBefore = s.takeRefunds(OrderDigest(ev.OrderID))
		}
		if s.Orders == 0 || ev.OccurredAt.Before(s.FirstOrderAt) {
			// The earliest order names the acquisition channel; on a tie in
			// time the one read first (earlier in its partition) keeps it.
			s.Channel = ev.Channel
			s.FirstOrder, s.FirstOrderNet = OrderDigest(ev.OrderID), ev.Amount.Sub(refundedBefore)
		}
		s.Orders++
		s.Revenue = s.Revenue.Add(ev.Amount)
		s.GrossProfit = s.GrossProfit.Add(ev.Amount.Mul(m.margin(ev)))
		if s.FirstOrderAt.IsZero() || ev.OccurredAt.Before(s.FirstOrderAt) {
			s.FirstOrderAt = ev.OccurredAt
		}
		if s.LastOrderAt.IsZero() || ev.OccurredAt.After(s.LastOrderAt) {
			s.LastOrderAt = ev.OccurredAt
		}
	case OrderRefunded:
		// SPEC §9: a refund counts against the order it names. Refunds of
		// any other order are remembered until that order is read: it may
		// yet turn out to be the earliest (a late order).
		if order := OrderDigest(ev.OrderID); s.Orders > 0 && order == s.FirstOrder {
			s.FirstOrderNet = s.FirstOrderNet.Sub(ev.Amount)
		} else {
			s.logRefund(order, ev.Amount)
		}
		s.Revenue = s.Revenue.Sub(ev.Amount)
		s.Refunds = s.Refunds.Add(ev.Amount)
		s.GrossProfit = s.GrossProfit.Sub(ev.Amount.Mul(m.margin(ev)))
	case CustomerChurned:
		if ev.OccurredAt.After(s.LastChurnAt) {
			s.LastChurnAt = ev.OccurredAt
		}
	case CustomerReactivated:
		if ev.OccurredAt.After(s.LastReactivatedAt) {
			s.LastReactivatedAt = ev.OccurredAt
		}
	}

	h, pr := m.score(s, now)
	fig := m.Figures(s)
	res := Result{Outcome: Applied, Figures: fig}
	next := m.NextTier(s.Tier, fig.LTV)
	if next != s.Tier {
		res.Changed = true
		res.Change = Change{
			CustomerID:   ev.CustomerID,
			PreviousTier: s.Tier,
			Tier:         next,
			Up:           m.tierIndex(next) > m.tierIndex(s.Tier),
			LTV:          fig.LTV,
			PreviousLTV:  s.LTV,
			AOV:          fig.AOV,
			Frequency:    fig.Frequency,
			Orders:       s.Orders,
			Churned:      fig.Churned,
			CausedBy:     ev.EventID,
			OccurredAt:   ev.OccurredAt,
		}
		s.Tier = next
	}
	s.LTV = fig.LTV
	if m.Predictive != nil {
		s.TierDue = m.tierDue(s, now, h, pr.CLV)
	}
	// The segment is the one at the partition's stream time (SPEC §8), which
	// for a late event is past the event's own time: a late order that
	// leaves the customer idle long enough at stream time changes nothing.
	asOf := ev.OccurredAt
	if now.After(asOf) {
		asOf = now
	}
	if c, changed := m.evaluate(s, ev.CustomerID, asOf, ev.EventID, ev.OccurredAt); changed {
		fx.Segments = append(fx.Segments, c)
	}
	return res
}

func (m *Model) margin(ev *Event) money.Exact {
	if ev.HasMargin {
		return ev.Margin
	}
	return m.defaultMargin
}
