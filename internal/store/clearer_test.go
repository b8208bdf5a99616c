// Tests of the Redis store's clearer against a real server, with no cache
// in front: the store's own ClearPending is queued and retried.

package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// With the state cache off the pipeline calls Redis.ClearPending itself:
// while the clearer runs, that returns at once, a failed attempt is
// retried by the loop (the caller keeps nothing), and the retry clears
// both the pending key and its flag.
func TestRedisClearerRetriesFailedClearsWithoutACache(t *testing.T) {
	r, srv := newStore(t)
	gate, cleared := holdClears(r)
	stop := r.Clearer().Start(time.Millisecond)
	t.Cleanup(stop)
	rc := srv.Client()
	pending := func() (key, flag bool) {
		return rc.Exists(ctxT(t), store.PendingKey("c-1")).Val() == 1, rc.HExists(ctxT(t), store.Key("c-1"), "_p").Val()
	}
	w, _ := applyAndWrite(t, r, aggregate.DefaultModel(), "c-1",
		[]aggregate.Event{order("e1", "c-1", "100.00", "", "2026-01-01T00:00:00Z")}, 0)
	if key, flag := pending(); !key || !flag {
		t.Fatalf("no pending change to clear: key %v flag %v", key, flag)
	}
	if err := r.ClearPending(ctxT(t), []store.Acked{{CustomerID: "c-1", Token: w.Token}}); err != nil {
		t.Fatalf("a queued clear reported %v", err)
	}
	gate <- errors.New("redis down") // the loop's first attempt fails
	if key, flag := pending(); !key || !flag {
		t.Fatalf("cleared although the attempt failed: key %v flag %v", key, flag)
	}
	gate <- nil // the retry goes through
	if got := <-cleared; len(got) != 1 || got[0].CustomerID != "c-1" {
		t.Fatalf("retried %v, want c-1", got)
	}
	if key, flag := pending(); key || flag {
		t.Fatalf("after the retry: key %v flag %v", key, flag)
	}
}
