package aggregate_test

import (
	"fmt"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// TestDuplicateEventID: a second delivery of an event_id (as a new Kafka
// record, i.e. a producer retry) is DuplicateEvent and leaves everything
// but the offset guard untouched.
func TestDuplicateEventID(t *testing.T) {
	const t0 = "2026-01-01T00:00:00Z"
	rows := []struct {
		name  string
		prior []aggregate.Event
		dup   aggregate.Event
	}{
		{"order placed twice", []aggregate.Event{placed("e1", "100", t0)}, placed("e1", "100", t0)},
		{"same id, different payload", []aggregate.Event{placed("e1", "100", t0)}, placed("e1", "999", "2027-01-01T00:00:00Z")},
		{"refund twice", []aggregate.Event{placed("e1", "100", t0), refunded("e2", "10", t0)}, refunded("e2", "10", t0)},
		{"churn twice", []aggregate.Event{placed("e1", "100", t0), churned("e2", "2026-02-01T00:00:00Z")}, churned("e2", "2026-02-01T00:00:00Z")},
		{"reactivation twice", []aggregate.Event{churned("e1", t0), reactivated("e2", "2026-02-01T00:00:00Z")}, reactivated("e2", "2026-02-01T00:00:00Z")},
		{"id reused across topics", []aggregate.Event{placed("e1", "100", t0)}, churned("e1", "2026-02-01T00:00:00Z")},
		{"first event of an id after other ids", []aggregate.Event{placed("e1", "1", t0), placed("e2", "2", t0), placed("e3", "3", t0)}, placed("e1", "1", t0)},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCustomer(t, nil)
			c.applyAll(r.prior...)
			before := c.s.Clone()
			nChanges := len(c.changes)
			res := c.apply(r.dup)
			if res.Outcome != aggregate.DuplicateEvent {
				t.Fatalf("outcome = %v, want duplicate", res.Outcome)
			}
			if res.Changed || len(c.changes) != nChanges {
				t.Errorf("duplicate produced a tier change: %+v", res.Change)
			}
			if !res.Dirty() {
				t.Errorf("duplicate moved the guard, so it must be written back (Dirty)")
			}
			if ok, field := stateEqual(&before, &c.s, true); !ok {
				t.Errorf("duplicate changed %s", field)
			}
			// The guard did move: a redelivery of the duplicate's record is
			// now caught without looking at the id.
			topic := topicOf(r.dup.Kind)
			src := aggregate.SourceOffset{Topic: aggregate.TopicOf(topic), Offset: c.offsets[topic]}
			if !c.s.Redelivered(src) {
				t.Errorf("guard not advanced to %+v: %+v", src, c.s.Applied)
			}
		})
	}
}

// TestDedupeWindowBound shows the exact bound of the dedupe window: an id
// is caught as long as fewer than window further distinct ids were applied
// after it, and forgotten once window further ids were.
func TestDedupeWindowBound(t *testing.T) {
	rows := []struct {
		name   string
		window int // 0: default model
		after  int // distinct ids applied after id #1
		want   aggregate.Outcome
	}{
		{"default window, no ids after", 0, 0, aggregate.DuplicateEvent},
		{"default window, 1 id after", 0, 1, aggregate.DuplicateEvent},
		{"default window, 31 ids after: still caught", 0, 31, aggregate.DuplicateEvent},
		{"default window, 32 ids after: forgotten", 0, 32, aggregate.Applied},
		{"default window, 100 ids after: forgotten", 0, 100, aggregate.Applied},
		{"window 64, 63 ids after: still caught", 64, 63, aggregate.DuplicateEvent},
		{"window 64, 64 ids after: forgotten", 64, 64, aggregate.Applied},
		{"window 1024, 1023 ids after: still caught", 1024, 1023, aggregate.DuplicateEvent},
		{"window 1024, 1024 ids after: forgotten", 1024, 1024, aggregate.Applied},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			m := aggregate.DefaultModel()
			window := aggregate.DefaultDedupeWindow
			if r.window != 0 {
				window = r.window
				m = mustModel(t, func(m *aggregate.Model) { m.DedupeWindow = r.window })
			}
			if window < 32 {
				t.Fatalf("test table: window %d below the SPEC §6 minimum", window)
			}
			c := newCustomer(t, m)
			first := placed("id-1", "10", "2026-01-01T00:00:00Z")
			c.applyAll(first)
			for i := 0; i < r.after; i++ {
				c.applyAll(placed(fmt.Sprintf("id-%d", i+2), "10", "2026-01-01T00:00:00Z"))
			}
			if got := c.apply(first).Outcome; got != r.want {
				t.Fatalf("id #1 after %d more distinct ids: %v, want %v", r.after, got, r.want)
			}
			wantOrders := int64(r.after + 1)
			if r.want == aggregate.Applied {
				wantOrders++ // the forgotten id counted twice: the documented bound
			}
			if c.s.Orders != wantOrders {
				t.Errorf("orders = %d, want %d", c.s.Orders, wantOrders)
			}
		})
	}
}

// TestDedupeWindowIsFirstSeenOrder: a caught duplicate does not refresh
// the id's place in the window; the window is the last N distinct ids.
func TestDedupeWindowIsFirstSeenOrder(t *testing.T) {
	c := newCustomer(t, nil)
	first := placed("id-1", "10", "2026-01-01T00:00:00Z")
	c.applyAll(first)
	for i := 0; i < 30; i++ {
		c.applyAll(placed(fmt.Sprintf("a-%d", i), "10", "2026-01-01T00:00:00Z"))
	}
	if got := c.apply(first).Outcome; got != aggregate.DuplicateEvent {
		t.Fatalf("after 30 ids: %v", got)
	}
	c.applyAll(placed("b-0", "10", "2026-01-01T00:00:00Z")) // 31 after id-1
	if got := c.apply(first).Outcome; got != aggregate.DuplicateEvent {
		t.Fatalf("after 31 ids: %v", got)
	}
	c.applyAll(placed("b-1", "10", "2026-01-01T00:00:00Z")) // 32 after id-1
	if got := c.apply(first).Outcome; got != aggregate.Applied {
		t.Fatalf("after 32 ids: %v, want applied (the duplicate must not have refreshed id-1)", got)
	}
}

// TestSeenNeverExceedsWindow: len(Seen) = min(distinct ids, window) after
// every event, also when a state built under a larger window is used with
// a smaller one.
func TestSeenNeverExceedsWindow(t *testing.T) {
	for _, window := range []int{32, 33, 64, 100} {
		t.Run(fmt.Sprint(window), func(t *testing.T) {
			m := mustModel(t, func(m *aggregate.Model) { m.DedupeWindow = window })
			c := newCustomer(t, m)
			for i := 1; i <= 3*window; i++ {
				c.applyAll(placed(fmt.Sprintf("e-%d", i), "1", "2026-01-01T00:00:00Z"))
				want := min(i, window)
				if len(c.s.Seen) != want {
					t.Fatalf("after %d ids: len(Seen) = %d, want %d", i, len(c.s.Seen), want)
				}
				// duplicates do not grow it
				c.apply(placed(fmt.Sprintf("e-%d", i), "1", "2026-01-01T00:00:00Z"))
				if len(c.s.Seen) != want {
					t.Fatalf("after duplicate of %d: len(Seen) = %d, want %d", i, len(c.s.Seen), want)
				}
			}
			// the window holds exactly the last `window` ids, oldest first
			for j, dg := range c.s.Seen {
				id := fmt.Sprintf("e-%d", 2*window+1+j)
				if dg != aggregate.EventDigest(id) {
					t.Fatalf("Seen[%d] is not the digest of %s", j, id)
				}
			}
		})
	}
	t.Run("shrunk window", func(t *testing.T) {
		big := mustModel(t, func(m *aggregate.Model) { m.DedupeWindow = 100 })
		c := newCustomer(t, big)
		for i := 1; i <= 100; i++ {
			c.applyAll(placed(fmt.Sprintf("e-%d", i), "1", "2026-01-01T00:00:00Z"))
		}
		c.m = aggregate.DefaultModel()
		c.applyAll(placed("new", "1", "2026-01-01T00:00:00Z"))
		if len(c.s.Seen) != aggregate.DefaultDedupeWindow {
			t.Fatalf("len(Seen) = %d, want %d", len(c.s.Seen), aggregate.DefaultDedupeWindow)
		}
		if c.s.Seen[31] != aggregate.EventDigest("new") || c.s.Seen[0] != aggregate.EventDigest("e-70") {
			t.Fatalf("window after shrinking does not hold the newest 32 ids")
		}
	})
}

// TestEventDigest: the dedupe digest is a pure function of the id.
func TestEventDigest(t *testing.T) {
	if first, again := aggregate.EventDigest("e-1"), aggregate.EventDigest("e-1"); first != again {
		t.Fatal("digest not deterministic")
	}
	ids := []string{"", "e-1", "e-2", "E-1", "e-1 ", "8f1c"}
	seen := map[uint64]string{}
	for _, id := range ids {
		dg := aggregate.EventDigest(id)
		if prev, ok := seen[dg]; ok {
			t.Fatalf("digest collision between %q and %q", prev, id)
		}
		seen[dg] = id
	}
}

// TestOffsetGuard covers the Kafka-redelivery guard.
func TestOffsetGuard(t *testing.T) {
	src := func(topic string, p int32, off int64) aggregate.SourceOffset {
		return aggregate.SourceOffset{Topic: aggregate.TopicOf(topic), Partition: p, Offset: off}
	}
	type step struct {
		ev   aggregate.Event
		src  aggregate.SourceOffset
		want aggregate.Outcome
	}
	const t0 = "2026-01-01T00:00:00Z"
	rows := []struct {
		name       string
		steps      []step
		wantOrders int64
	}{
		{"same record again", []step{
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Applied},
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Redelivered},
		}, 1},
		{"same offset, different event id: still redelivered", []step{
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Applied},
			{placed("e2", "10", t0), src("orders", 0, 5), aggregate.Redelivered},
		}, 1},
		{"lower offset", []step{
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Applied},
			{placed("e0", "10", t0), src("orders", 0, 4), aggregate.Redelivered},
			{placed("e9", "10", t0), src("orders", 0, 0), aggregate.Redelivered},
		}, 1},
		{"higher offset with a gap", []step{
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Applied},
			{placed("e2", "10", t0), src("orders", 0, 50), aggregate.Applied},
			{placed("e3", "10", t0), src("orders", 0, 49), aggregate.Redelivered},
		}, 2},
		{"other partition, same offset", []step{
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Applied},
			{placed("e2", "10", t0), src("orders", 1, 5), aggregate.Applied},
			{placed("e3", "10", t0), src("orders", 1, 3), aggregate.Redelivered},
		}, 2},
		{"other topic, same partition and offset", []step{
			{placed("e1", "10", t0), src("orders", 0, 5), aggregate.Applied},
			{churned("e2", "2025-01-01T00:00:00Z"), src("customer-lifecycle", 0, 5), aggregate.Applied},
			{churned("e3", "2025-01-01T00:00:00Z"), src("customer-lifecycle", 0, 5), aggregate.Redelivered},
		}, 1},
		{"offset 0 first", []step{
			{placed("e1", "10", t0), src("orders", 0, 0), aggregate.Applied},
			{placed("e2", "10", t0), src("orders", 0, 1), aggregate.Applied},
		}, 2},
		{"redelivered duplicate id after a retry", []step{
			{placed("e1", "10", t0), src("orders", 0, 1), aggregate.Applied},
			{placed("e1", "10", t0), src("orders", 0, 2), aggregate.DuplicateEvent},
			{placed("e1", "10", t0), src("orders", 0, 2), aggregate.Redelivered},
			{placed("e1", "10", t0), src("orders", 0, 1), aggregate.Redelivered},
		}, 1},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCustomer(t, nil)
			for i, st := range r.steps {
				before := c.s.Clone()
				res := c.applyAt(st.ev, st.src)
				if res.Outcome != st.want {
					t.Fatalf("step %d: outcome %v, want %v", i, res.Outcome, st.want)
				}
				if st.want == aggregate.Redelivered {
					if res.Changed || res.Dirty() {
						t.Errorf("step %d: redelivery is Changed=%v Dirty=%v", i, res.Changed, res.Dirty())
					}
					if ok, field := stateEqual(&before, &c.s, false); !ok {
						t.Errorf("step %d: redelivery changed %s", i, field)
					}
				}
			}
			if c.s.Orders != r.wantOrders {
				t.Errorf("orders = %d, want %d", c.s.Orders, r.wantOrders)
			}
		})
	}
}

// TestRedeliveredDirect exercises State.Redelivered on a literal guard.
func TestRedeliveredDirect(t *testing.T) {
	s := aggregate.State{Applied: []aggregate.SourceOffset{
		{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 100},
		{Topic: aggregate.TopicOf("customer-lifecycle"), Partition: 3, Offset: 7},
	}}
	rows := []struct {
		src  aggregate.SourceOffset
		want bool
	}{
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 100}, true},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 99}, true},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: -1}, true},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 101}, false},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 2, Offset: 50}, false},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("customer-lifecycle"), Partition: 3, Offset: 7}, true},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("customer-lifecycle"), Partition: 3, Offset: 8}, false},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("ORDERS"), Partition: 3, Offset: 1}, false},
		{aggregate.SourceOffset{Topic: aggregate.TopicOf("other"), Partition: 3, Offset: 1}, false},
	}
	for _, r := range rows {
		if got := s.Redelivered(r.src); got != r.want {
			t.Errorf("Redelivered(%+v) = %v, want %v", r.src, got, r.want)
		}
	}
	var empty aggregate.State
	if empty.Redelivered(aggregate.SourceOffset{Topic: aggregate.TopicOf("orders")}) {
		t.Errorf("an empty guard reports a redelivery")
	}
}

// TestOffsetGuardBounded: the guard holds at most MaxGuardEntries
// partitions; past that the oldest entry is dropped, and a redelivery from
// the dropped partition is then only caught by the dedupe window.
func TestOffsetGuardBounded(t *testing.T) {
	const parts = 10
	c := newCustomer(t, nil)
	for p := int32(0); p < parts; p++ {
		res := c.applyAt(placed(fmt.Sprintf("e-%d", p), "1", "2026-01-01T00:00:00Z"),
			aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: p, Offset: 10})
		if res.Outcome != aggregate.Applied {
			t.Fatalf("partition %d: %v", p, res.Outcome)
		}
		if len(c.s.Applied) > aggregate.MaxGuardEntries {
			t.Fatalf("guard has %d entries, bound %d", len(c.s.Applied), aggregate.MaxGuardEntries)
		}
		if want := min(int(p)+1, aggregate.MaxGuardEntries); len(c.s.Applied) != want {
			t.Fatalf("guard has %d entries, want %d", len(c.s.Applied), want)
		}
	}
	// the newest MaxGuardEntries partitions are kept, oldest first
	for i, a := range c.s.Applied {
		wantP := int32(parts - aggregate.MaxGuardEntries + i)
		if a.Topic != aggregate.TopicOf("orders") || a.Partition != wantP || a.Offset != 10 {
			t.Errorf("Applied[%d] = %+v, want orders/%d@10", i, a, wantP)
		}
	}
	// kept partition: guard catches it
	kept := aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: parts - 1, Offset: 10}
	if got := c.applyAt(placed(fmt.Sprintf("e-%d", parts-1), "1", "2026-01-01T00:00:00Z"), kept).Outcome; got != aggregate.Redelivered {
		t.Errorf("kept partition: %v, want redelivered", got)
	}
	// dropped partition: the guard forgot it, the dedupe window catches it
	dropped := aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 10}
	if c.s.Redelivered(dropped) {
		t.Errorf("dropped partition still in the guard")
	}
	if got := c.applyAt(placed("e-0", "1", "2026-01-01T00:00:00Z"), dropped).Outcome; got != aggregate.DuplicateEvent {
		t.Errorf("dropped partition: %v, want duplicate", got)
	}
	if len(c.s.Applied) != aggregate.MaxGuardEntries {
		t.Errorf("guard has %d entries after re-adding a partition", len(c.s.Applied))
	}
	if c.s.Orders != parts {
		t.Errorf("orders = %d, want %d", c.s.Orders, parts)
	}
}

// TestOffsetGuardKeepsMax: advancing never lowers a partition's offset and
// does not add a second entry for the same partition.
func TestOffsetGuardKeepsMax(t *testing.T) {
	c := newCustomer(t, nil)
	for i, off := range []int64{3, 9, 12} {
		c.applyAt(placed(fmt.Sprintf("e-%d", i), "1", "2026-01-01T00:00:00Z"),
			aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 2, Offset: off})
	}
	if len(c.s.Applied) != 1 || c.s.Applied[0].Offset != 12 {
		t.Fatalf("guard = %+v, want one entry at 12", c.s.Applied)
	}
}
