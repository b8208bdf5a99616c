// The clock's keys, pinned like the customer hashes (format_test.go): a
// deployment's Redis holds each partition's stream time and due-time index
// as the build before an upgrade wrote them.

package store_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
)

// clockFormatFile pins what Settle writes (see formatFile for the rule).
const clockFormatFile = "stored-clock-format.json"

// clockKeys is a partition's clock keys as Redis holds them.
type clockKeys struct {
	StreamTime string            `json:"stream_time"`    // ltv:{p<p>}:stream_time
	Timers     map[string]string `json:"timers"`         // ltv:{p<p>}:timers, member → score (shortest decimal of the float)
	Versions   map[string]string `json:"timer_versions"` // ltv:{p<p>}:timer_versions
}

// TestClockKeysFormatIsPinned: this build's Settle writes exactly the
// stream time, index entries and versions clockFormatFile pins; and the
// pinned keys, put into an empty Redis, read back as the same times and
// due customers, and keep refusing an update derived from an older state.
func TestClockKeysFormatIsPinned(t *testing.T) {
	ctx := ctxT(t)
	const part = int32(3)
	streamTime := mustTime("2026-03-01T12:00:00.123456789Z")
	dueSoon, dueLater := mustTime("2026-02-27T06:30:00Z"), mustTime("2026-05-30T12:00:00.5Z")
	updates := []store.TimerUpdate{
		{Partition: part, CustomerID: "c-due", Due: dueSoon, Version: "00000000000000000042:1001772964800.000000000"},
		{Partition: part, CustomerID: "c-later", Due: dueLater, Version: "00000000000000001234:0000000000000.000000000"},
		{Partition: part, CustomerID: "c-gone", Due: dueSoon, Version: "00000000000000000007:0000000000000.000000000"},
	}
	st, srv := newStore(t)
	rc := srv.Client()
	if _, _, err := st.Settle(ctx, updates, map[int32]time.Time{part: streamTime}, nil); err != nil {
		t.Fatal(err)
	}
	// A customer whose timer went: its entry is removed, its version kept.
	if _, _, err := st.Settle(ctx, []store.TimerUpdate{{Partition: part, CustomerID: "c-gone", None: true, Version: "00000000000000000008:0000000000000.000000000"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	got := readClockKeys(t, rc, part)

	path := filepath.Join("testdata", clockFormatFile)
	if *updateFormat {
		writePinned(t, path, got)
	}
	var pinned clockKeys
	readPinned(t, path, &pinned)
	if !slices.Equal(sortedPairs(got.Timers), sortedPairs(pinned.Timers)) || got.StreamTime != pinned.StreamTime ||
		!slices.Equal(sortedPairs(got.Versions), sortedPairs(pinned.Versions)) {
		t.Errorf("this build writes other clock keys than %s pins:\n got %+v\npinned %+v", path, got, pinned)
	}

	// The pinned keys, as an earlier build left them, read back.
	old, oldSrv := newStore(t)
	orc := oldSrv.Client()
	if err := orc.Set(ctx, store.StreamTimeKey(part), pinned.StreamTime, 0).Err(); err != nil {
		t.Fatal(err)
	}
	for m, score := range pinned.Timers {
		f, err := strconv.ParseFloat(score, 64)
		if err != nil {
			t.Fatalf("score %q: %v", score, err)
		}
		if err := orc.ZAdd(ctx, store.TimersKey(part), redis.Z{Score: f, Member: m}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for f, v := range pinned.Versions {
		if err := orc.HSet(ctx, store.TimerVersionsKey(part), f, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	times, err := old.StreamTimes(ctx, []int32{part})
	if err != nil || !times[part].Equal(streamTime) {
		t.Fatalf("stream time read back %v (%v), want %v", times[part], err, streamTime)
	}
	pages, err := old.DueTimers(ctx, []store.DueQuery{{Partition: part, Until: streamTime, Limit: 10}})
	if err != nil || len(pages) != 1 || !slices.Equal(pages[0], []string{"c-due"}) {
		t.Fatalf("due customers read back %v (%v), want [c-due]", pages, err)
	}
	pages, err = old.DueTimers(ctx, []store.DueQuery{{Partition: part, Until: dueLater, Limit: 10}})
	if err != nil || len(pages) != 1 || !slices.Equal(pages[0], []string{"c-due", "c-later"}) {
		t.Fatalf("due customers by the later due time %v (%v), want [c-due c-later]", pages, err)
	}
	// An update from an older state than a pinned version is still refused.
	if _, _, err := old.Settle(ctx, []store.TimerUpdate{{Partition: part, CustomerID: "c-gone", Due: dueSoon, Version: "00000000000000000007:0000000000000.000000000"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := orc.ZScore(ctx, store.TimersKey(part), "c-gone").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("a stale update put back c-gone's entry (score %v, %v)", n, err)
	}
}

func readClockKeys(t *testing.T, rc *redis.Client, part int32) clockKeys {
	t.Helper()
	ctx := ctxT(t)
	var k clockKeys
	var err error
	if k.StreamTime, err = rc.Get(ctx, store.StreamTimeKey(part)).Result(); err != nil {
		t.Fatal(err)
	}
	zs, err := rc.ZRangeWithScores(ctx, store.TimersKey(part), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	k.Timers = map[string]string{}
	for _, z := range zs {
		k.Timers[z.Member.(string)] = strconv.FormatFloat(z.Score, 'f', -1, 64)
	}
	if k.Versions, err = rc.HGetAll(ctx, store.TimerVersionsKey(part)).Result(); err != nil {
		t.Fatal(err)
	}
	return k
}

// sortedPairs flattens a map into key, value pairs in key order.
func sortedPairs(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, k, m[k])
	}
	return out
}
