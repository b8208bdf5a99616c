package store_test

import (
	"fmt"
	"strings"
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
		if _, _, err := st.Settle(ctx, []store.TimerUpdate{{Partition: 0, CustomerID: "c", Due: due, None: none, Version: store.StateVersion(s)}}, nil, nil); err != nil {
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

// A version is fixed-width text, so versions compare as strings the way
// states are ordered: the offset sum in 20 digits, then the clock.
func TestStateVersionText(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	for _, tt := range []struct {
		st   aggregate.State
		want string
	}{
		{aggregate.State{}, "00000000000000000000:0000000000000.000000000"},
		{aggregate.State{Applied: []aggregate.SourceOffset{{Offset: 7}, {Offset: 35}}, Clock: at},
			fmt.Sprintf("%020d:%013d.%09d", 42, at.Unix()+1e12, 5)},
		{aggregate.State{Applied: []aggregate.SourceOffset{{Offset: 1 << 62}}, Clock: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
			fmt.Sprintf("%020d:%013d.%09d", int64(1)<<62, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()+1e12, 999999999)},
		{aggregate.State{Clock: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
			fmt.Sprintf("%020d:%013d.%09d", 0, time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()+1e12, 0)},
		// Never stored (offsets are not negative), but still what Sprintf writes.
		{aggregate.State{Applied: []aggregate.SourceOffset{{Offset: -5}}}, fmt.Sprintf("%020d:%013d.%09d", -5, 0, 0)},
	} {
		if got := store.StateVersion(&tt.st); got != tt.want {
			t.Errorf("StateVersion = %q, want %q", got, tt.want)
		}
	}
}

func TestStreamTimeNeverMovesBack(t *testing.T) {
	st, _ := newStore(t)
	ctx := ctxT(t)
	later := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	for _, at := range []time.Time{later, later.Add(-time.Nanosecond), later.AddDate(-1, 0, 0)} {
		if _, _, err := st.Settle(ctx, nil, map[int32]time.Time{3: at}, nil); err != nil {
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

// TestTimerCallsOfManyPartitionsInOneTrip: the index writes, stream times
// and due pages of several partitions go in one pipeline, each partition
// answered on its own (its own due time, offset and limit), and they
// survive a Redis whose script cache was flushed (a restart or failover).
func TestTimerCallsOfManyPartitionsInOneTrip(t *testing.T) {
	st, srv := newStore(t)
	ctx := ctxT(t)
	rc := srv.Client()
	if err := rc.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	var updates []store.TimerUpdate
	for _, u := range []struct {
		part int32
		id   string
		due  int
	}{{0, "a", 3}, {0, "b", 1}, {0, "c", 2}, {0, "late", 20}, {5, "x", 4}, {5, "y", 9}} {
		updates = append(updates, store.TimerUpdate{Partition: u.part, CustomerID: u.id, Due: day(u.due), Version: "v1"})
	}
	if _, _, err := st.Settle(ctx, updates, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := rc.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Settle(ctx, nil, map[int32]time.Time{0: day(10), 5: day(5)}, nil); err != nil {
		t.Fatal(err)
	}
	times, err := st.StreamTimes(ctx, []int32{0, 5})
	if err != nil || !times[0].Equal(day(10)) || !times[5].Equal(day(5)) {
		t.Fatalf("stream times %v, %v", times, err)
	}
	pages, err := st.DueTimers(ctx, []store.DueQuery{
		{Partition: 0, Until: day(10), Offset: 1, Limit: 2},
		{Partition: 5, Until: day(5), Limit: 10},
		{Partition: 7, Until: day(5), Limit: 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"c", "a"}, {"x"}, {}}
	if len(pages) != len(want) {
		t.Fatalf("%d pages, want %d", len(pages), len(want))
	}
	for i := range want {
		if strings.Join(pages[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("page %d = %q, want %q", i, pages[i], want[i])
		}
	}
}

// Settle's reads come after its writes: the stream time it stores never
// moves back (a later one stored meanwhile is what it reads), and the due
// pages include the entries it wrote.
func TestSettleReadsWhatItWrote(t *testing.T) {
	st, srv := newStore(t)
	ctx := ctxT(t)
	rc := srv.Client()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	if _, _, err := st.Settle(ctx, nil, map[int32]time.Time{2: day(20)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := rc.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	stored, pages, err := st.Settle(ctx,
		[]store.TimerUpdate{{Partition: 1, CustomerID: "a", Due: day(3), Version: "v"}, {Partition: 2, CustomerID: "b", Due: day(4), Version: "v"}},
		map[int32]time.Time{1: day(9), 2: day(9)},
		[]store.DueQuery{{Partition: 1, Until: day(9), Limit: 5}, {Partition: 2, Until: day(3), Limit: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if !stored[1].Equal(day(9)) || !stored[2].Equal(day(20)) {
		t.Errorf("stored stream times %v: want partition 1 at the 9th, 2 kept at the later 20th", stored)
	}
	if len(pages) != 2 || strings.Join(pages[0], ",") != "a" || len(pages[1]) != 0 {
		t.Errorf("due pages %q: want a on partition 1 and nothing due by the 3rd on partition 2", pages)
	}
}

// A due time with a fraction of a second is found as soon as stream time
// passes it, also within the same second (SPEC §8: the timer fires in the
// batch whose stream time passed it), and not while stream time is before
// it; CountDue agrees.
func TestDueTimesToTheNanosecond(t *testing.T) {
	st, _ := newStore(t)
	ctx := ctxT(t)
	sec := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	at := func(ns int) time.Time { return sec.Add(time.Duration(ns)) }
	updates := []store.TimerUpdate{
		{Partition: 0, CustomerID: "half", Due: at(500_000_000), Version: "v1"},
		{Partition: 0, CustomerID: "whole", Due: sec, Version: "v1"},
		{Partition: 0, CustomerID: "last-ns", Due: at(999_999_999), Version: "v1"},
		{Partition: 0, CustomerID: "ms", Due: at(123_000_000), Version: "v1"},
	}
	if _, _, err := st.Settle(ctx, updates, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		until time.Time
		want  string
	}{
		{sec.Add(-time.Microsecond), ""}, // closer than that, two times may score alike (timeScore)
		{sec, "whole"},
		{at(122_999_000), "whole"},
		{at(123_000_000), "whole,ms"},
		{at(499_000_000), "whole,ms"},
		{at(500_000_000), "whole,ms,half"},
		{at(800_000_000), "whole,ms,half"},
		{at(999_999_000), "whole,ms,half"},
		{at(999_999_999), "whole,ms,half,last-ns"},
		{sec.Add(time.Second), "whole,ms,half,last-ns"},
	} {
		pages, err := st.DueTimers(ctx, []store.DueQuery{{Partition: 0, Until: tt.until, Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(pages[0], ","); got != tt.want {
			t.Errorf("due by %s: %q, want %q", tt.until.Format(time.RFC3339Nano), got, tt.want)
		}
		n, err := st.CountDue(ctx, 0, tt.until)
		if want := len(strings.FieldsFunc(tt.want, func(r rune) bool { return r == ',' })); err != nil || n != int64(want) {
			t.Errorf("CountDue by %s = %d, %v; want %d", tt.until.Format(time.RFC3339Nano), n, err, want)
		}
	}
}

// TestDuePagesAfterAMemberAreTheOffsetPages: paging with After (each page
// continuing after the previous page's last customer) gives exactly the
// pages skipping Offset entries gives: earliest first, ties by id, entries
// due after Until never, whatever the page size; due times tied across a
// page boundary included, and to the nanosecond. When After is no longer
// in the index the page is the Offset one. The Redis script cache flushed
// first, as a restart leaves it.
func TestDuePagesAfterAMemberAreTheOffsetPages(t *testing.T) {
	st, srv := newStore(t)
	ctx := ctxT(t)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var updates []store.TimerUpdate
	for i := range 500 {
		// Groups of up to 7 customers share a due time; some due times are
		// a nanosecond apart; ids do not sort in due order.
		due := base.Add(time.Duration(i/7)*time.Hour + time.Duration(i%3))
		updates = append(updates, store.TimerUpdate{Partition: 2, CustomerID: fmt.Sprintf("c-%03d", (i*37)%500), Due: due, Version: "v1"})
	}
	if _, _, err := st.Settle(ctx, updates, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	until := base.Add(60*time.Hour + 1) // ~430 of the 500 are due
	all, err := st.DueTimers(ctx, []store.DueQuery{{Partition: 2, Until: until, Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all[0]); n < 400 || n >= 500 {
		t.Fatalf("%d due of 500: the test wants most but not all due", n)
	}
	for _, limit := range []int{1, 6, 7, 50, 429, 1000} {
		var got []string
		q := store.DueQuery{Partition: 2, Until: until, Limit: limit}
		for {
			pages, err := st.DueTimers(ctx, []store.DueQuery{q})
			if err != nil {
				t.Fatal(err)
			}
			byOffset, err := st.DueTimers(ctx, []store.DueQuery{{Partition: 2, Until: until, Offset: q.Offset, Limit: limit}})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(pages[0], ",") != strings.Join(byOffset[0], ",") {
				t.Fatalf("limit %d, after %q: page %v, by offset %d %v", limit, q.After, pages[0], q.Offset, byOffset[0])
			}
			got = append(got, pages[0]...)
			if len(pages[0]) < limit {
				break
			}
			q.Offset += len(pages[0])
			q.After = pages[0][len(pages[0])-1]
		}
		if strings.Join(got, ",") != strings.Join(all[0], ",") {
			t.Errorf("limit %d: paged %d customers, want the %d of one page in its order", limit, len(got), len(all[0]))
		}
	}
	// A customer no longer indexed: the page skips Offset entries instead.
	pages, err := st.DueTimers(ctx, []store.DueQuery{{Partition: 2, Until: until, Offset: 10, Limit: 5, After: "gone"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(all[0][10:15], ","); strings.Join(pages[0], ",") != want {
		t.Errorf("after a customer not indexed: %v, want the offset page %s", pages[0], want)
	}
}
