package aggregate_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// segmentsOf drives a customer and collects its segment changes, as
// "previous→segment@cause".
type segmentLog struct {
	c   *customer
	out []string
}

func newSegmentLog(t *testing.T) *segmentLog { return &segmentLog{c: newCustomer(t, nil)} }

func (l *segmentLog) event(ev aggregate.Event) {
	l.c.t.Helper()
	r := l.c.apply(ev)
	l.record(r.Segments)
}

// eventRead applies ev as the pipeline does when its partition's stream
// time was streamTime before the record: the customer is brought to that
// time first, then the event applies as of the stream time once it is read.
func (l *segmentLog) eventRead(ev aggregate.Event, streamTime string) {
	l.c.t.Helper()
	before := at(streamTime)
	l.record(l.c.m.Advance(&l.c.s, testCustomer, before, nil))
	now := before
	if ev.OccurredAt.After(now) {
		now = ev.OccurredAt
	}
	topic := topicOf(ev.Kind)
	l.c.offsets[topic]++
	r := l.c.m.ApplyAt(&l.c.s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf(topic), Offset: l.c.offsets[topic]}, now)
	l.record(r.Segments)
}

func (l *segmentLog) advance(until string) {
	l.record(l.c.m.Advance(&l.c.s, testCustomer, at(until), nil))
}

func (l *segmentLog) record(cs []aggregate.SegmentChange) {
	for _, c := range cs {
		l.out = append(l.out, c.Previous+"→"+c.Segment+"@"+c.Cause())
	}
}

func TestSegmentRuleAtTheBoundaries(t *testing.T) {
	m := aggregate.DefaultModel()
	last := at("2026-01-01T12:00:00Z")
	one := aggregate.State{Orders: 1, FirstOrderAt: last, LastOrderAt: last}
	two := aggregate.State{Orders: 2, FirstOrderAt: last.AddDate(0, -1, 0), LastOrderAt: last}
	churnedState := two
	churnedState.LastChurnAt = last.Add(time.Hour)
	reactivatedState := churnedState
	reactivatedState.LastReactivatedAt = last.Add(2 * time.Hour)
	cases := []struct {
		name string
		s    aggregate.State
		now  time.Time
		want string
	}{
		{"no orders", aggregate.State{}, last, ""},
		{"one order, same instant", one, last, aggregate.SegmentNew},
		{"two orders", two, last, aggregate.SegmentActive},
		{"a nanosecond before 90 days", one, last.Add(90*aggregate.Day - 1), aggregate.SegmentNew},
		{"exactly 90 days", one, last.Add(90 * aggregate.Day), aggregate.SegmentAtRisk},
		{"exactly 90 days, two orders", two, last.Add(90 * aggregate.Day), aggregate.SegmentAtRisk},
		{"a nanosecond before 180 days", two, last.Add(180*aggregate.Day - 1), aggregate.SegmentAtRisk},
		{"exactly 180 days", two, last.Add(180 * aggregate.Day), aggregate.SegmentLapsed},
		{"years later", two, last.AddDate(5, 0, 0), aggregate.SegmentLapsed},
		{"churned after the last order", churnedState, last.Add(200 * aggregate.Day), aggregate.SegmentChurned},
		{"churned without orders", aggregate.State{LastChurnAt: last}, last, aggregate.SegmentChurned},
		{"reactivated after the churn", reactivatedState, last.Add(10 * aggregate.Day), aggregate.SegmentActive},
		{"churn before the last order does not count", aggregate.State{Orders: 2, LastOrderAt: last, LastChurnAt: last.Add(-time.Hour)}, last, aggregate.SegmentActive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.SegmentAt(&tc.s, tc.now); got != tc.want {
				t.Fatalf("SegmentAt = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTimersFireOnceAtTheirDueTimes(t *testing.T) {
	l := newSegmentLog(t)
	l.event(placed("e1", "100.00", "2026-01-01T00:00:00Z"))
	l.advance("2026-03-31T23:59:59Z") // 89 days, 23:59:59 later: nothing due
	l.advance("2026-04-01T00:00:00Z") // exactly 90 days
	l.advance("2026-06-30T00:00:00Z") // exactly 180 days
	l.advance("2027-01-01T00:00:00Z") // nothing left
	l.advance("2026-04-01T00:00:00Z") // stream time never goes back, but a repeat must not fire again
	want := []string{
		"→new@e1",
		"new→at_risk@timer:2026-04-01T00:00:00Z",
		"at_risk→lapsed@timer:2026-06-30T00:00:00Z",
	}
	if !reflect.DeepEqual(l.out, want) {
		t.Fatalf("changes\n got %q\nwant %q", l.out, want)
	}
	if s := l.c.s; s.Segment != aggregate.SegmentLapsed || !s.SegmentSince.Equal(at("2026-06-30T00:00:00Z")) {
		t.Fatalf("stored segment %q since %s", s.Segment, s.SegmentSince)
	}
	if _, ok := l.c.m.NextDue(&l.c.s); ok {
		t.Fatal("a lapsed customer still has a due time")
	}
}

func TestOrdersReviveACustomer(t *testing.T) {
	cases := []struct {
		name   string
		events func(l *segmentLog)
		want   []string
	}{
		{"a new order after the lapse", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.advance("2026-08-01T00:00:00Z")
			l.event(placed("e2", "10.00", "2026-08-02T00:00:00Z"))
		}, []string{"→new@e1", "new→at_risk@timer:2026-04-01T00:00:00Z", "at_risk→lapsed@timer:2026-06-30T00:00:00Z", "lapsed→active@e2"}},
		{"an order before the due time, read before stream time passed it", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.event(placed("e2", "10.00", "2026-03-31T00:00:00Z"))
			l.advance("2026-05-01T00:00:00Z")
		}, []string{"→new@e1", "new→active@e2"}},
		{"a late order, read after the customer was judged lapsed, moves it back to at risk", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			// Occurred in March, read in July: the customer is judged at the
			// stream time (July 10th): 101 days idle.
			l.eventRead(placed("e2", "10.00", "2026-03-31T00:00:00Z"), "2026-07-10T00:00:00Z")
		}, []string{"→new@e1", "new→at_risk@timer:2026-04-01T00:00:00Z", "at_risk→lapsed@timer:2026-06-30T00:00:00Z", "lapsed→at_risk@e2"}},
		{"an order at the very instant the customer would go at risk: it never does", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.event(placed("e2", "10.00", "2026-04-01T00:00:00Z")) // 90 days to the nanosecond
		}, []string{"→new@e1", "new→active@e2"}},
		{"a churn at the very instant of the at-risk due time", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-04-01T00:00:00Z"))
			l.event(churned("c1", "2026-06-30T00:00:00Z"))
		}, []string{"→new@e1", "new→churned@c1"}},
		{"an order at the lapse instant, stream time a second before it", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.eventRead(placed("e2", "10.00", "2026-06-30T00:00:00Z"), "2026-06-29T23:59:59Z")
		}, []string{"→new@e1", "new→at_risk@timer:2026-04-01T00:00:00Z", "at_risk→active@e2"}},
		{"a late order that leaves the customer idle long enough at stream time changes nothing", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			// Occurred on January 6th, read on April 11th: 95 days idle at
			// stream time, so still at risk since April 1st (judged at its
			// own time it would flap to active and back on April 6th).
			l.eventRead(placed("e2", "10.00", "2026-01-06T00:00:00Z"), "2026-04-11T00:00:00Z")
			l.advance("2026-12-01T00:00:00Z")
		}, []string{"→new@e1", "new→at_risk@timer:2026-04-01T00:00:00Z", "at_risk→lapsed@timer:2026-07-05T00:00:00Z"}},
		{"a late first order is judged at stream time: one change, straight to lapsed", func(l *segmentLog) {
			l.eventRead(placed("e1", "10.00", "2026-01-01T00:00:00Z"), "2026-08-01T00:00:00Z")
		}, []string{"→lapsed@e1"}},
		{"a late order older than the last one changes nothing", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.event(placed("e2", "10.00", "2026-02-01T00:00:00Z"))
			l.advance("2026-09-01T00:00:00Z")
			l.event(placed("e0", "10.00", "2025-12-01T00:00:00Z"))
		}, []string{"→new@e1", "new→active@e2", "active→at_risk@timer:2026-05-02T00:00:00Z", "at_risk→lapsed@timer:2026-07-31T00:00:00Z"}},
		{"churn and reactivation by event time", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.event(churned("c1", "2026-02-01T00:00:00Z"))
			l.advance("2026-12-01T00:00:00Z") // a churned customer has no timers
			l.event(reactivated("r1", "2026-12-02T00:00:00Z"))
		}, []string{"→new@e1", "new→churned@c1", "churned→lapsed@r1"}},
		{"a churn that arrives late but is older than the last order changes nothing", func(l *segmentLog) {
			l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
			l.event(placed("e2", "10.00", "2026-03-01T00:00:00Z"))
			l.event(churned("c1", "2026-02-01T00:00:00Z"))
		}, []string{"→new@e1", "new→active@e2"}},
		{"a customer who churns without ever ordering", func(l *segmentLog) {
			l.event(churned("c1", "2026-02-01T00:00:00Z"))
			l.event(reactivated("r1", "2026-03-01T00:00:00Z"))
		}, []string{"→churned@c1", "churned→@r1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newSegmentLog(t)
			tc.events(l)
			if !reflect.DeepEqual(l.out, tc.want) {
				t.Fatalf("changes\n got %q\nwant %q", l.out, tc.want)
			}
		})
	}
}

// TestSegmentsDoNotDependOnWhenStreamTimeArrives: the same events of a
// customer, with the partition's stream time reaching its due times at
// different moments (or only at the end), give the same segment changes
// with the same causes, hence the same event ids. This is what makes a
// replay reproduce the live run whatever the interleaving of the two
// input topics.
func TestSegmentsDoNotDependOnWhenStreamTimeArrives(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for trial := 0; trial < 300; trial++ {
		// Orders at increasing times with gaps of up to 250 days, a churn
		// and a reactivation now and then.
		var evs []aggregate.Event
		when := at("2025-01-01T00:00:00Z")
		for i := 0; i < 2+r.IntN(8); i++ {
			when = when.Add(time.Duration(r.IntN(250*24)) * time.Hour)
			id := "e" + string(rune('a'+i))
			ev := placed(id, "10.00", when.Format(time.RFC3339))
			switch r.IntN(6) {
			case 0:
				ev = churned(id, when.Format(time.RFC3339))
			case 1:
				ev = reactivated(id, when.Format(time.RFC3339))
			}
			evs = append(evs, ev)
		}
		end := when.AddDate(1, 0, 0)
		var runs [][]string
		for variant := 0; variant < 3; variant++ {
			l := newSegmentLog(t)
			for i, ev := range evs {
				// Stream time reaches somewhere between this event and the next.
				if variant > 0 && i > 0 {
					prev := evs[i-1].OccurredAt
					gap := ev.OccurredAt.Sub(prev)
					if gap > 0 {
						l.record(l.c.m.Advance(&l.c.s, testCustomer, prev.Add(time.Duration(r.Int64N(int64(gap)))), nil))
					}
				}
				l.event(ev)
			}
			l.advance(end.Format(time.RFC3339))
			runs = append(runs, l.out)
		}
		if !reflect.DeepEqual(runs[0], runs[1]) || !reflect.DeepEqual(runs[0], runs[2]) {
			t.Fatalf("trial %d: changes depend on stream time:\n%q\n%q\n%q", trial, runs[0], runs[1], runs[2])
		}
		// The chain is unbroken and ends at the stored segment.
		l := newSegmentLog(t)
		for _, ev := range evs {
			l.event(ev)
		}
		l.advance(end.Format(time.RFC3339))
		prev := ""
		for _, c := range l.out {
			from, _, _ := strings.Cut(c, "→")
			if from != prev {
				t.Fatalf("trial %d: chain broken at %q after %q", trial, c, prev)
			}
			to, _, _ := strings.Cut(strings.SplitN(c, "→", 2)[1], "@")
			prev = to
		}
		if prev != l.c.s.Segment || l.c.s.Segment != l.c.m.SegmentAt(&l.c.s, end) {
			t.Fatalf("trial %d: chain ends at %q, stored %q, rule at the end %q", trial, prev, l.c.s.Segment, l.c.m.SegmentAt(&l.c.s, end))
		}
	}
}

func TestChannelIsTheEarliestOrders(t *testing.T) {
	with := func(ev aggregate.Event, ch string) aggregate.Event { ev.Channel = ch; return ev }
	c := newCustomer(t, nil)
	c.applyAll(
		with(placed("e2", "10.00", "2026-02-01T00:00:00Z"), "email"),
		refunded("r1", "5.00", "2026-01-01T00:00:00Z"), // refunds have no channel
		with(placed("e3", "10.00", "2026-03-01T00:00:00Z"), "paid_search"),
	)
	if c.s.Channel != "email" {
		t.Fatalf("channel %q, want email", c.s.Channel)
	}
	c.applyAll(placed("e1", "10.00", "2026-01-15T00:00:00Z")) // a late, earlier order without a channel
	if c.s.Channel != "" {
		t.Fatalf("channel %q, want none: the earliest order had none", c.s.Channel)
	}
	c.applyAll(with(placed("e0", "10.00", "2026-01-15T00:00:00Z"), "organic")) // same instant: the first read keeps it
	if c.s.Channel != "" {
		t.Fatalf("channel %q after a tie, want the first read's", c.s.Channel)
	}
}

func TestSegmentChangeDocument(t *testing.T) {
	c := aggregate.SegmentChange{CustomerID: "c-000042", Previous: "active", Segment: "at_risk",
		LastOrderAt: at("2026-03-03T12:00:00Z"), Orders: 7, LTV: d("5230.1"), Tier: "gold",
		ByTimer: true, OccurredAt: at("2026-06-01T12:00:00Z")}
	doc := c.AppendJSON(nil, at("2026-12-05T10:00:00.5Z"))
	// A timer's cause is rendered from its due time: the same caused_by
	// as the cause spelled out. An input event whose id is that text is
	// another cause, though, so its event_id differs (and only that).
	spelled := c
	spelled.ByTimer, spelled.CausedBy = false, aggregate.TimerCause(c.OccurredAt)
	spelledDoc := string(spelled.AppendJSON(nil, at("2026-12-05T10:00:00.5Z")))
	if c.EventID() == spelled.EventID() || strings.Replace(spelledDoc, spelled.EventID(), c.EventID(), 1) != string(doc) ||
		c.Cause() != spelled.CausedBy {
		t.Fatalf("a timer's cause differs from its text, or shares its id with an input event of that id: %s vs %s", doc, spelledDoc)
	}
	var got map[string]any
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	want := map[string]any{"schema": "ltv.segment.v1", "event_id": c.EventID(), "customer_id": "c-000042",
		"previous_segment": "active", "segment": "at_risk", "last_order_at": "2026-03-03T12:00:00Z", "orders": 7.0,
		"ltv": "5230.10", "tier": "gold", "caused_by": "timer:2026-06-01T12:00:00Z", "occurred_at": "2026-06-01T12:00:00Z",
		"emitted_at": "2026-12-05T10:00:00.5Z"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("document\n got %v\nwant %v", got, want)
	}
	other := c
	other.ByTimer, other.CausedBy = false, "e-1"
	tierChange := aggregate.Change{CustomerID: c.CustomerID, ByTimer: true, OccurredAt: c.OccurredAt}
	if c.EventID() == other.EventID() || c.EventID() == tierChange.EventID() || len(c.EventID()) != 36 {
		t.Fatal("ids must differ by cause and by schema, and be UUID-shaped")
	}
	c.LastOrderAt = time.Time{}
	if strings.Contains(string(c.AppendJSON(nil, time.Time{})), "last_order_at") {
		t.Fatal("a customer without orders has no last_order_at")
	}
}

func TestSegmentThresholdsAreValidated(t *testing.T) {
	for _, tc := range []struct{ atRisk, lapsed time.Duration }{{0, 10}, {-1, 10}, {10, 10}, {20, 10}} {
		m := aggregate.DefaultModel()
		m.AtRiskAfter, m.LapsedAfter = tc.atRisk*aggregate.Day, tc.lapsed*aggregate.Day
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "0 < at_risk_after_days < lapsed_after_days") {
			t.Errorf("%v/%v: got %v", tc.atRisk, tc.lapsed, err)
		}
	}
}

// TestFirstOrderIsTracked: the earliest order and its net amount (refunds
// naming it taken off) are known, for the predictive model's repeat spend.
func TestFirstOrderIsTracked(t *testing.T) {
	refund := func(id, order, amount, when string) aggregate.Event {
		ev := refunded(id, amount, when)
		ev.OrderID = order
		return ev
	}
	c := newCustomer(t, nil)
	c.applyAll(placed("e2", "100.00", "2026-02-01T00:00:00Z"), refund("r1", "o-e2", "30.00", "2026-02-03T00:00:00Z"))
	if c.s.FirstOrder != aggregate.OrderDigest("o-e2") || !c.s.FirstOrderNet.Equal(d("70")) {
		t.Fatalf("first order %x net %s", c.s.FirstOrder, c.s.FirstOrderNet)
	}
	c.applyAll(placed("e1", "50.00", "2026-01-01T00:00:00Z")) // a late, earlier order becomes the first
	c.applyAll(refund("r2", "o-e1", "5.00", "2026-01-05T00:00:00Z"), refund("r3", "o-e9", "1.00", "2026-01-06T00:00:00Z"))
	if c.s.FirstOrder != aggregate.OrderDigest("o-e1") || !c.s.FirstOrderNet.Equal(d("45")) {
		t.Fatalf("first order %x net %s", c.s.FirstOrder, c.s.FirstOrderNet)
	}
}
