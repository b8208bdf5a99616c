// Tests of the state cache against a real server: its copies mirror Redis,
// answer repeat loads, are fenced when stale, and follow pending clears.

package store_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// countingBacking counts the customers that reach Redis's Load.
type countingBacking struct {
	*store.Redis
	loaded int
}

func (b *countingBacking) Load(ctx context.Context, ids []string) ([]store.Snapshot, []error, error) {
	b.loaded += len(ids)
	return b.Redis.Load(ctx, ids)
}

// LoadTo is what Cached calls on a Redis store (it decodes into the
// batch's array); counted like Load.
func (b *countingBacking) LoadTo(ctx context.Context, ids []string, dst []*store.Snapshot) ([]error, error) {
	b.loaded += len(ids)
	return b.Redis.LoadTo(ctx, ids, dst)
}

// step loads one customer through s, applies ev at offset and saves the
// result, optionally with the change as a pending event.
func step(t *testing.T, s store.Store, m *aggregate.Model, ev aggregate.Event, offset int64, withPending bool) (store.Write, []int) {
	t.Helper()
	ctx := ctxT(t)
	snaps, errs, err := s.Load(ctx, []string{ev.CustomerID})
	if err != nil || errs[0] != nil {
		t.Fatalf("load: %v %v", err, errs[0])
	}
	st := snaps[0].State
	res := m.Apply(&st, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: offset})
	var pending [][]byte
	if withPending {
		pending = append(pending, snaps[0].Pending...)
		if res.Changed {
			pending = append(pending, res.Change.AppendJSON(nil, ev.OccurredAt))
		}
	}
	w := store.Encode(m, &snaps[0], &st, pending, store.EncodeOptions{Figures: res.Outcome == aggregate.Applied, Now: ev.OccurredAt})
	conflicts, err := s.Save(ctx, []store.Write{w})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return w, conflicts
}

// The copy must be the hash as Redis holds it after every kind of write:
// new customers, orders, refunds with exact sums, lifecycle facts,
// duplicates (bookkeeping only), pending events set and cleared, and a
// dedupe window that grows past several chunks and then slides.
func TestCachedCopyMirrorsTheStoredHash(t *testing.T) {
	r, srv := newStore(t)
	c := store.NewCached(r, store.CacheConfig{})
	m := aggregate.DefaultModel()
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("c-%d", rng.IntN(3))
		var ev aggregate.Event
		switch k := rng.IntN(10); {
		case k < 6:
			ev = aggregate.Event{Kind: aggregate.OrderPlaced, Amount: money.NewExact(int64(rng.IntN(900_000)), -2),
				Margin: money.NewExact(int64(rng.IntN(1000)), -3), HasMargin: true}
		case k < 7:
			ev = aggregate.Event{Kind: aggregate.OrderRefunded, Amount: money.NewExact(int64(rng.IntN(5000)), -2)}
		case k < 8:
			ev = aggregate.Event{Kind: aggregate.CustomerChurned}
		default:
			ev = aggregate.Event{Kind: aggregate.CustomerReactivated}
		}
		ev.CustomerID, ev.Currency = id, "SEK"
		ev.OccurredAt = base.Add(time.Duration(rng.IntN(400*24)) * time.Hour)
		ev.EventID = fmt.Sprintf("e-%d", i)
		if len(ids) > 0 && rng.IntN(8) == 0 {
			ev.EventID = ids[rng.IntN(len(ids))] // a duplicate
		}
		ids = append(ids, ev.EventID)
		w, conflicts := step(t, c, m, ev, int64(i), rng.IntN(2) == 0)
		if len(conflicts) != 0 {
			t.Fatalf("step %d: conflict %v", i, conflicts)
		}
		checkMirror(t, c, srv.Client().HGetAll(ctxT(t), store.Key(id)).Val(), id, fmt.Sprintf("step %d after save", i))
		if len(w.Pending) > 0 && rng.IntN(3) > 0 {
			if err := c.ClearPending(ctxT(t), []store.Acked{{CustomerID: id, Token: w.Token}}); err != nil {
				t.Fatal(err)
			}
			checkMirror(t, c, srv.Client().HGetAll(ctxT(t), store.Key(id)).Val(), id, fmt.Sprintf("step %d after clear", i))
		}
	}
	if s := c.Stats(); s.Hits < 100 {
		t.Fatalf("too few loads answered from the cache: %+v", s)
	}
}

func checkMirror(t *testing.T, c *store.Cached, h map[string]string, id, when string) {
	t.Helper()
	got, ok := c.Copy(id)
	if !ok {
		t.Fatalf("%s: no copy of %s", when, id)
	}
	want := maps.Clone(h)
	delete(want, store.FieldUpdatedAt)
	if !maps.Equal(got, want) {
		t.Fatalf("%s: copy differs from Redis\ncopy:  %q\nredis: %q", when, got, want)
	}
}

// A customer updated again is loaded from the copy, and what the copy
// yields is what Redis would have: same state, same token.
func TestCachedAnswersRepeatLoadsFromMemory(t *testing.T) {
	r, _ := newStore(t)
	b := &countingBacking{Redis: r}
	c := store.NewCached(b, store.CacheConfig{})
	m := aggregate.DefaultModel()
	for i := 0; i < 5; i++ {
		ev := order(fmt.Sprintf("e%d", i), "c-7", "250.00", "0.4", fmt.Sprintf("2026-0%d-01T00:00:00Z", i+1))
		if _, conflicts := step(t, c, m, ev, int64(i), false); len(conflicts) != 0 {
			t.Fatal(conflicts)
		}
	}
	if b.loaded != 1 {
		t.Fatalf("Redis loaded the customer %d times, want once (the first time)", b.loaded)
	}
	fromCache, _, err := c.Load(ctxT(t), []string{"c-7"})
	if err != nil {
		t.Fatal(err)
	}
	fromRedis, _, err := r.Load(ctxT(t), []string{"c-7"})
	if err != nil {
		t.Fatal(err)
	}
	a, z := fromCache[0], fromRedis[0]
	if a.Token != z.Token || !a.Exists || a.State.Orders != 5 || !a.State.Revenue.Equal(z.State.Revenue) ||
		!a.State.GrossProfit.Equal(z.State.GrossProfit) || a.State.Tier != z.State.Tier ||
		!a.State.LastOrderAt.Equal(z.State.LastOrderAt) || len(a.State.Seen) != len(z.State.Seen) {
		t.Fatalf("cached snapshot differs from Redis's:\ncache %+v\nredis %+v", a, z)
	}
}

// A copy made stale by another writer (the partition moved to another
// consumer and back, a zombie) is caught by the compare-and-set: the write
// conflicts, the copy is dropped and the next load reads what the other
// writer stored.
func TestCachedStaleCopyIsFencedAndReloaded(t *testing.T) {
	r, srv := newStore(t)
	c := store.NewCached(r, store.CacheConfig{})
	m := aggregate.DefaultModel()
	step(t, c, m, order("e1", "c-9", "100.00", "", "2026-01-01T00:00:00Z"), 1, false)
	// Another consumer writes the customer directly.
	if _, conflicts := step(t, r, m, order("e2", "c-9", "50.00", "", "2026-01-02T00:00:00Z"), 2, false); len(conflicts) != 0 {
		t.Fatal(conflicts)
	}
	// This one still has its copy from before: its write must not land.
	_, conflicts := step(t, c, m, order("e3", "c-9", "1.00", "", "2026-01-03T00:00:00Z"), 3, false)
	if len(conflicts) != 1 {
		t.Fatalf("write from a stale copy was not fenced: conflicts %v", conflicts)
	}
	if got := srv.Client().HGet(ctxT(t), "ltv:{c-9}", "revenue").Val(); got != "150.00" {
		t.Fatalf("revenue %s after the fenced write, want 150.00", got)
	}
	if _, ok := c.Copy("c-9"); ok {
		t.Fatal("the stale copy was kept after the conflict")
	}
	if _, conflicts := step(t, c, m, order("e3", "c-9", "1.00", "", "2026-01-03T00:00:00Z"), 3, false); len(conflicts) != 0 {
		t.Fatalf("retry after reload conflicted: %v", conflicts)
	}
	if got := srv.Client().HGet(ctxT(t), "ltv:{c-9}", "revenue").Val(); got != "151.00" {
		t.Fatalf("revenue %s after the retry, want 151.00", got)
	}
}

// Pending change events live in Redis only: while a customer has them,
// loads go to Redis and return them; once cleared, the copy serves again.
func TestCachedLoadsCustomersWithPendingEvents(t *testing.T) {
	r, _ := newStore(t)
	b := &countingBacking{Redis: r}
	c := store.NewCached(b, store.CacheConfig{})
	m := aggregate.DefaultModel()
	w, _ := step(t, c, m, order("e1", "c-5", "100.00", "", "2026-01-01T00:00:00Z"), 1, true)
	if len(w.Pending) != 1 {
		t.Fatalf("expected the first tier assignment as a pending event, got %d", len(w.Pending))
	}
	b.loaded = 0
	snaps, _, err := c.Load(ctxT(t), []string{"c-5"})
	if err != nil || len(snaps[0].Pending) != 1 || b.loaded != 1 {
		t.Fatalf("pending events not loaded from Redis: %d pending, %d Redis loads, %v", len(snaps[0].Pending), b.loaded, err)
	}
	if err := c.ClearPending(ctxT(t), []store.Acked{{CustomerID: "c-5", Token: w.Token}}); err != nil {
		t.Fatal(err)
	}
	b.loaded = 0
	snaps, _, err = c.Load(ctxT(t), []string{"c-5"})
	if err != nil || len(snaps[0].Pending) != 0 || b.loaded != 0 {
		t.Fatalf("after the clear: %d pending, %d Redis loads, %v", len(snaps[0].Pending), b.loaded, err)
	}
}

// The copies stay within MaxBytes; evicted customers are simply loaded.
func TestCachedStaysWithinItsBudget(t *testing.T) {
	r, _ := newStore(t)
	const budget = 4096
	c := store.NewCached(r, store.CacheConfig{MaxBytes: budget})
	m := aggregate.DefaultModel()
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("c-%d", i)
		step(t, c, m, order("e-"+id, id, "10.00", "", "2026-01-01T00:00:00Z"), int64(i), false)
		if s := c.Stats(); s.Bytes > budget {
			t.Fatalf("after %d customers the cache holds %d bytes, budget %d", i+1, s.Bytes, budget)
		}
	}
	s := c.Stats()
	if s.Entries == 0 || s.Entries >= 200 {
		t.Fatalf("%d entries cached of 200 with a %d-byte budget", s.Entries, budget)
	}
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("c-%d", i)
		snaps, _, err := c.Load(ctxT(t), []string{id})
		if err != nil || snaps[0].State.Orders != 1 {
			t.Fatalf("%s: orders %d, %v", id, snaps[0].State.Orders, err)
		}
	}
}

// With the store's clearer started, an acknowledged customer is served
// from its copy before its clear reaches Redis, its acknowledged events
// are not handed out again, and its next write removes the pending key
// itself; a clear that arrives later is a harmless no-op. A customer not
// written again is cleared by the background, and what is still queued
// when the clearer stops is cleared by Flush.
func TestCachedClearsPendingEventsInTheBackground(t *testing.T) {
	r, srv := newStore(t)
	gate, cleared := holdClears(r)
	b := &countingBacking{Redis: r}
	c := store.NewCached(b, store.CacheConfig{})
	m := aggregate.DefaultModel()
	// Start has turned queueing on when it returns: no need to wait for
	// the loop.
	stop := r.Clearer().Start(10 * time.Millisecond)
	t.Cleanup(stop)
	rc := srv.Client()
	hash := func(id string) map[string]string {
		t.Helper()
		h, err := rc.HGetAll(ctxT(t), store.Key(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	pendingInRedis := func(id string) (key bool, flag bool) {
		t.Helper()
		n, err := rc.Exists(ctxT(t), store.PendingKey(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1, hash(id)["_p"] == "1"
	}

	for _, tc := range []struct {
		name       string
		writeAgain bool
	}{{"written again before the clear", true}, {"not written again", false}} {
		t.Run(tc.name, func(t *testing.T) {
			id := "c-" + tc.name[:3]
			w, _ := step(t, c, m, order(id+"-e1", id, "100.00", "", "2026-01-01T00:00:00Z"), 1, true)
			if len(w.Pending) != 1 {
				t.Fatalf("expected the first tier assignment as a pending event, got %d", len(w.Pending))
			}
			if err := c.ClearPending(ctxT(t), []store.Acked{{CustomerID: id, Token: w.Token}}); err != nil {
				t.Fatal(err)
			}
			if key, flag := pendingInRedis(id); !key || !flag {
				t.Fatalf("the clear must still be queued (gate closed): key %v flag %v", key, flag)
			}
			b.loaded = 0
			snaps, _, err := c.Load(ctxT(t), []string{id})
			if err != nil || len(snaps[0].Pending) != 0 || b.loaded != 0 {
				t.Fatalf("acknowledged customer: %d pending handed out, %d Redis loads, %v", len(snaps[0].Pending), b.loaded, err)
			}
			if tc.writeAgain {
				w2, conflicts := step(t, c, m, order(id+"-e2", id, "20.00", "", "2026-01-02T00:00:00Z"), 2, true)
				if len(conflicts) != 0 || len(w2.Pending) != 0 {
					t.Fatalf("second write: conflicts %v, pending %d", conflicts, len(w2.Pending))
				}
				if key, flag := pendingInRedis(id); key || flag {
					t.Fatalf("the write must remove the acknowledged pending key and flag: key %v flag %v", key, flag)
				}
				checkMirror(t, c, hash(id), id, "after the write")
			}
			gate <- nil
			<-cleared
			if key, flag := pendingInRedis(id); key || flag {
				t.Fatalf("after the background clear: key %v flag %v", key, flag)
			}
			b.loaded = 0
			if _, _, err := c.Load(ctxT(t), []string{id}); err != nil || b.loaded != 0 {
				t.Fatalf("after the clear the copy serves: %d Redis loads, %v", b.loaded, err)
			}
		})
	}

	t.Run("flushed at shutdown", func(t *testing.T) {
		id := "c-shutdown"
		w, _ := step(t, c, m, order(id+"-e1", id, "100.00", "", "2026-01-01T00:00:00Z"), 1, true)
		if err := c.ClearPending(ctxT(t), []store.Acked{{CustomerID: id, Token: w.Token}}); err != nil {
			t.Fatal(err)
		}
		// The clearer has taken the acknowledgement and waits at the gate
		// (or is about to): stopping it gives that clear up and keeps it
		// queued.
		stop()
		if key, _ := pendingInRedis(id); !key {
			t.Fatal("cleared before the flush")
		}
		go func() { gate <- nil }()
		if err := r.Clearer().Flush(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		<-cleared
		if key, flag := pendingInRedis(id); key || flag {
			t.Fatalf("after Flush: key %v flag %v", key, flag)
		}
	})
}

// LoadInto fills the caller's array when it has room (a hit and a miss
// alike, every slot overwritten), and allocates one when it has not.
func TestCachedLoadIntoReusesTheCallersArray(t *testing.T) {
	r, _ := newStore(t)
	c := store.NewCached(r, store.CacheConfig{})
	m := aggregate.DefaultModel()
	step(t, c, m, order("e1", "c-hit", "10.00", "0.4", "2026-01-01T00:00:00Z"), 1, false)
	step(t, r, m, order("e2", "c-miss", "20.00", "0.4", "2026-01-01T00:00:00Z"), 1, false)
	dst := make([]store.Snapshot, 3)
	dst[0].CustomerID, dst[1].CustomerID = "stale-a", "stale-b" // what a previous batch left
	ids := []string{"c-hit", "c-miss"}
	got, errs, err := c.LoadInto(ctxT(t), ids, dst[:0])
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatal(err, errs)
	}
	if &got[0] != &dst[0] {
		t.Fatal("loaded into a new array although the caller's had room")
	}
	want, _, err := c.Load(ctxT(t), ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if got[i].CustomerID != ids[i] || got[i].Token != want[i].Token || got[i].State.Orders != 1 ||
			!got[i].State.Revenue.Equal(want[i].State.Revenue) {
			t.Errorf("slot %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	small := make([]store.Snapshot, 0, 1)
	got, _, err = c.LoadInto(ctxT(t), ids, small)
	if err != nil || len(got) != 2 || got[1].CustomerID != "c-miss" {
		t.Fatalf("into a too small array: %v %+v", err, got)
	}
}

// A snapshot decoded into a slot that held another customer (a bigger
// one: more digests, blob pieces, pending events, lifecycle times) is the
// snapshot a fresh load gives, whether it comes from the copy, from Redis
// or past the copies, or from a store without a cache; and the caller's
// array and the slot's dedupe and guard arrays are reused.
func TestLoadsIntoUsedSlotsLeaveNothingOfTheirLastCustomer(t *testing.T) {
	r, _ := newStore(t)
	c := store.NewCached(r, store.CacheConfig{})
	m := aggregate.DefaultModel()
	var big []string
	for k := 0; k < 3; k++ {
		id := fmt.Sprintf("c-big-%d", k)
		big = append(big, id)
		for i := 0; i < 40; i++ { // more digests than fit one blob piece
			at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 3*i).Format(time.RFC3339)
			step(t, c, m, order(fmt.Sprintf("b%d-%d", k, i), id, "900.00", "0.4", at), int64(i+1), false)
		}
		churn := aggregate.Event{Kind: aggregate.CustomerChurned, EventID: fmt.Sprintf("b%d-churn", k), CustomerID: id,
			OccurredAt: mustTime("2025-12-01T00:00:00Z")}
		step(t, c, m, churn, 100, false)
	}
	// The first big customer's last write left events pending.
	snaps, _, err := r.Load(ctxT(t), big[:1])
	if err != nil {
		t.Fatal(err)
	}
	st := snaps[0].State
	m.Apply(&st, new(order("b-last", big[0], "1.00", "0.4", "2025-12-02T00:00:00Z")), aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Offset: 101})
	w := store.Encode(m, &snaps[0], &st, [][]byte{[]byte(`{"pending":1}`), []byte(`{"pending":2}`)}, store.EncodeOptions{Figures: true, Now: time.Now()})
	if conflicts, err := r.Save(ctxT(t), []store.Write{w}); err != nil || len(conflicts) > 0 {
		t.Fatal(conflicts, err)
	}
	step(t, c, m, order("s1", "c-small-hit", "10.00", "0.4", "2026-01-01T00:00:00Z"), 1, false)
	step(t, r, m, order("s2", "c-small-miss", "20.00", "0.4", "2026-01-01T00:00:00Z"), 1, false)
	small := []string{"c-small-hit", "c-small-miss", "c-never-written"}
	want, werrs, err := r.Load(ctxT(t), small)
	if err != nil || werrs[0] != nil || werrs[1] != nil || werrs[2] != nil {
		t.Fatal(err, werrs)
	}

	loads := map[string]func(dst []store.Snapshot) ([]store.Snapshot, []error, error){
		"LoadInto": func(dst []store.Snapshot) ([]store.Snapshot, []error, error) { return c.LoadInto(ctxT(t), small, dst) },
		"LoadFreshInto": func(dst []store.Snapshot) ([]store.Snapshot, []error, error) {
			return c.LoadFreshInto(ctxT(t), small, dst)
		},
		// The store itself, when the state cache is off.
		"Redis.LoadInto": func(dst []store.Snapshot) ([]store.Snapshot, []error, error) { return r.LoadInto(ctxT(t), small, dst) },
	}
	for name, load := range loads {
		dst, errs, err := c.LoadFreshInto(ctxT(t), big, make([]store.Snapshot, 0, 3))
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		if len(dst[0].Pending) == 0 || len(dst[0].State.Seen) < 32 || dst[0].State.LastChurnAt.IsZero() {
			t.Fatalf("%s: the big customer is not as big as meant: %d pending, %d digests", name, len(dst[0].Pending), len(dst[0].State.Seen))
		}
		seenArrays := make([]*uint64, 3)
		for i := range dst {
			seenArrays[i] = &dst[i].State.Seen[:1][0]
		}
		got, errs, err := load(dst[:0])
		if err != nil || errs[0] != nil || errs[1] != nil || errs[2] != nil {
			t.Fatal(name, err, errs)
		}
		if &got[0] != &dst[0] {
			t.Errorf("%s: loaded into a new array although the caller's had room", name)
		}
		for i, id := range small {
			if !sameSnapshot(got[i], want[i]) {
				t.Errorf("%s, %s: loaded into a used slot\n%+v\nwant\n%+v", name, id, got[i], want[i])
			}
			// The same event on either snapshot makes the same write.
			ev := order("next-"+id, id, "5.00", "0.4", "2026-02-01T00:00:00Z")
			gw, ww := encodeOn(m, &got[i], ev), encodeOn(m, &want[i], ev)
			gset, gdel := gw.Changes()
			wset, wdel := ww.Changes()
			if gw.Token != ww.Token || !maps.Equal(gset, wset) || !slices.Equal(gdel, wdel) {
				t.Errorf("%s, %s: the next write differs\n%v %v\nwant\n%v %v", name, id, gset, gdel, wset, wdel)
			}
		}
		if got[0].State.Seen != nil && &got[0].State.Seen[:1][0] != seenArrays[0] {
			t.Errorf("%s: the slot's dedupe array was not reused", name)
		}
	}
}

// sameSnapshot compares what a snapshot says, an empty list and none
// being the same.
func sameSnapshot(a, b store.Snapshot) bool {
	norm := func(s store.Snapshot) store.Snapshot {
		if len(s.State.Seen) == 0 {
			s.State.Seen = nil
		}
		if len(s.State.Applied) == 0 {
			s.State.Applied = nil
		}
		if len(s.Pending) == 0 {
			s.Pending = nil
		}
		return s
	}
	a, b = norm(a), norm(b)
	return a.CustomerID == b.CustomerID && a.Token == b.Token && a.Exists == b.Exists &&
		reflect.DeepEqual(a.Pending, b.Pending) && reflect.DeepEqual(a.State, b.State)
}

func encodeOn(m *aggregate.Model, snap *store.Snapshot, ev aggregate.Event) store.Write {
	st := snap.State.Clone()
	res := m.Apply(&st, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 50})
	return store.Encode(m, snap, &st, nil, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: ev.OccurredAt})
}

// forgettingBacking forgets the cache's copies while a save is in flight,
// as a check that found a Redis master replaced does.
type forgettingBacking struct {
	*countingBacking
	cache *store.Cached
}

func (b *forgettingBacking) Save(ctx context.Context, writes []store.Write) ([]int, error) {
	conflicts, err := b.countingBacking.Save(ctx, writes)
	b.cache.Forget()
	return conflicts, err
}

// TestCachedForgetDropsCopiesAndSavesInFlight: after Forget every
// customer is loaded from Redis again, and a save that was in flight when
// it happened keeps no copy (its write may be one a failover lost).
func TestCachedForgetDropsCopiesAndSavesInFlight(t *testing.T) {
	r, _ := newStore(t)
	b := &countingBacking{Redis: r}
	c := store.NewCached(b, store.CacheConfig{})
	m := aggregate.DefaultModel()
	step(t, c, m, order("e1", "c-7", "250.00", "0.4", "2026-01-01T00:00:00Z"), 0, false)
	step(t, c, m, order("e2", "c-7", "250.00", "0.4", "2026-02-01T00:00:00Z"), 1, false)
	if b.loaded != 1 {
		t.Fatalf("loaded %d times before Forget, want once", b.loaded)
	}
	c.Forget()
	step(t, c, m, order("e3", "c-7", "250.00", "0.4", "2026-03-01T00:00:00Z"), 2, false)
	if b.loaded != 2 {
		t.Fatalf("loaded %d times after Forget, want twice", b.loaded)
	}

	f := &forgettingBacking{countingBacking: &countingBacking{Redis: r}}
	c = store.NewCached(f, store.CacheConfig{})
	f.cache = c
	step(t, c, m, order("e4", "c-7", "250.00", "0.4", "2026-04-01T00:00:00Z"), 3, false)
	if _, _, err := c.Load(ctxT(t), []string{"c-7"}); err != nil {
		t.Fatal(err)
	}
	if f.loaded != 2 || c.Stats().Entries != 0 {
		t.Fatalf("loaded %d times, %d copies: the save in flight during Forget kept its copy", f.loaded, c.Stats().Entries)
	}
}
