package store_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// TestTimerIndexKeepsTheNewestState: an entry derived from an older state
// of the customer (a fenced-off consumer writing late, a stale cached
// copy) never replaces one derived from a newer state, whatever order the
// writes arrive in; the same state may write again (a redelivery).
func TestTimerIndexKeepsTheNewestState(t *testing.T) {
	st, srv := newStore(t)
	ctx := ctxT(t)
	rc := srv.Client()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	older := aggregate.State{Applied: []aggregate.SourceOffset{{Partition: 0, Offset: 10}}}
	newer := aggregate.State{Applied: []aggregate.SourceOffset{{Partition: 0, Offset: 12}}}
	timerFired := newer
	timerFired.Clock = day(20)
	write := func(s *aggregate.State, due time.Time, none bool) {
		t.Helper()
		if err := st.SetTimers(ctx, []store.TimerUpdate{{Partition: 0, CustomerID: "c", Due: due, None: none, Version: store.StateVersion(s)}}); err != nil {
			t.Fatal(err)
		}
	}
	score := func() float64 { return rc.ZScore(ctx, store.TimersKey(0), "c").Val() }
	write(&newer, day(9), false)
	write(&older, day(5), false) // late and stale: ignored
	if score() != float64(day(9).Unix()) {
		t.Fatalf("a stale write moved the entry to %v", score())
	}
	write(&older, time.Time{}, true) // a stale removal: ignored
	if rc.ZScore(ctx, store.TimersKey(0), "c").Err() != nil {
		t.Fatal("a stale write removed the entry")
	}
	write(&newer, day(9), false) // the same state again: fine
	write(&timerFired, time.Time{}, true)
	if rc.ZScore(ctx, store.TimersKey(0), "c").Err() == nil {
		t.Fatal("the newest state's removal was not applied")
	}
	write(&newer, day(9), false) // an older state cannot bring it back
	if rc.ZScore(ctx, store.TimersKey(0), "c").Err() == nil {
		t.Fatal("an older state put the entry back")
	}
	if store.StateVersion(&older) >= store.StateVersion(&newer) || store.StateVersion(&newer) >= store.StateVersion(&timerFired) {
		t.Fatal("versions must grow with the guard, then the clock")
	}
}

func TestStreamTimeNeverMovesBack(t *testing.T) {
	st, _ := newStore(t)
	ctx := ctxT(t)
	later := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	for _, at := range []time.Time{later, later.Add(-time.Nanosecond), later.AddDate(-1, 0, 0)} {
		if err := st.SaveStreamTimes(ctx, map[int32]time.Time{3: at}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.StreamTimes(ctx, []int32{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !got[3].Equal(later) || !got[4].IsZero() {
		t.Fatalf("stream times %v, want partition 3 at %v and 4 unset", got, later)
	}
}
