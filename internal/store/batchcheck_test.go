package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
)

// infoCalls is how many INFO commands the server has run, the INFO that
// asks included.
func infoCalls(t *testing.T, ctx context.Context, c *redis.Client) int {
	t.Helper()
	stats, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(stats) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_info:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// A batch's last settle reads the server's identity after its writes, so
// the batch's final check needs no round trip of its own; a write after
// that reading makes the check read again, and a settle outside a batch
// (no BatchCheck) reads nothing extra.
func TestFinalCheckUsesTheLastSettlesReading(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	want, err := st.Incarnation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := applyAndWrite(t, st, m, "c1", []aggregate.Event{order("e1", "c1", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	update := []store.TimerUpdate{{Partition: 0, CustomerID: "c1", Due: mustTime("2026-04-01T00:00:00Z"), Version: "1"}}
	times := map[int32]time.Time{0: mustTime("2026-01-01T00:00:00Z")}

	// extraInfos runs f and returns the INFO commands it made.
	extraInfos := func(f func()) int {
		before := infoCalls(t, ctx, rc)
		f()
		return infoCalls(t, ctx, rc) - before - 1 // the second count is an INFO too
	}
	if n := extraInfos(func() {
		if _, _, err := st.Settle(ctx, update, times, nil); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a settle outside a batch made %d INFO calls", n)
	}

	batch := store.WithBatchCheck(ctx, new(store.BatchCheck))
	if n := extraInfos(func() {
		if _, _, err := st.Settle(batch, update, times, []store.DueQuery{{Partition: 0, Until: times[0], Limit: 10}}); err != nil {
			t.Fatal(err)
		}
	}); n != 2 {
		t.Errorf("a batch's settle made %d INFO calls, want 2 (server, replication)", n)
	}
	if n := extraInfos(func() {
		if id, err := st.WaitReplicatedAfter(batch, store.ReplicaWait{}); err != nil || id != want {
			t.Errorf("WaitReplicatedAfter = %q, %v; want %q", id, err, want)
		}
	}); n != 0 {
		t.Errorf("the final check after the settle made %d INFO calls, want none", n)
	}

	// A save after the settle's reading: the check reads again.
	if _, err := st.Save(batch, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
	if n := extraInfos(func() {
		if id, err := st.WaitReplicatedAfter(batch, store.ReplicaWait{}); err != nil || id != want {
			t.Errorf("WaitReplicatedAfter = %q, %v; want %q", id, err, want)
		}
	}); n != 2 {
		t.Errorf("the final check after a later save made %d INFO calls, want 2", n)
	}

	// A check that needs a replica never answers from a reading.
	if _, _, err := st.Settle(batch, update, times, nil); err != nil {
		t.Fatal(err)
	}
	var nr *store.NotReplicatedError
	if _, err := st.WaitReplicatedAfter(batch, store.ReplicaWait{MinReplicas: 1, Timeout: 50 * time.Millisecond}); !errors.As(err, &nr) {
		t.Errorf("WaitReplicatedAfter(min 1) with no replica = %v, want NotReplicatedError", err)
	}
}

// On a server that refuses INFO the batch's settle still settles; the
// final check finds the masters unknown, as WaitReplicated does.
func TestSettleOfABatchOnAServerRefusingInfo(t *testing.T) {
	ctx := ctxT(t)
	st := store.NewRedis(clientWithoutInfo(t, ctx), store.Config{})
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	batch := store.WithBatchCheck(ctx, new(store.BatchCheck))
	at := mustTime("2026-01-01T00:00:00Z")
	stored, pages, err := st.Settle(batch,
		[]store.TimerUpdate{{Partition: 0, CustomerID: "c1", Due: at, Version: "1"}},
		map[int32]time.Time{0: at}, []store.DueQuery{{Partition: 0, Until: at, Limit: 10}})
	if err != nil {
		t.Fatalf("settle on a server refusing INFO: %v", err)
	}
	if !stored[0].Equal(at) || len(pages) != 1 || len(pages[0]) != 1 || pages[0][0] != "c1" {
		t.Errorf("settle read back %v, %v; want the stream time and c1 due", stored, pages)
	}
	if _, err := st.WaitReplicatedAfter(batch, store.ReplicaWait{}); !errors.Is(err, store.ErrIncarnationUnknown) {
		t.Errorf("WaitReplicatedAfter = %v, want ErrIncarnationUnknown", err)
	}
}
