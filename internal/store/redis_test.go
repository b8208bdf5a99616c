// Tests of the Redis store against a real server: load, save with its
// compare-and-set, the pending key and its flag, clear, script reloads;
// and its benchmark, one customer update as the pipeline makes it.

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestSaveWritesPublicFieldsAndRoundTrips(t *testing.T) {
	st, srv := newStore(t)
	m := aggregate.DefaultModel()
	evs := []aggregate.Event{
		order("e1", "c-1", "499.00", "0.40", "2026-03-01T12:00:00Z"),
		order("e2", "c-1", "100.05", "0.333", "2026-09-01T12:00:00Z"),
	}
	if _, conflicts := applyAndWrite(t, st, m, "c-1", evs, 10); len(conflicts) != 0 {
		t.Fatalf("unexpected conflicts %v", conflicts)
	}
	h := srv.Client().HGetAll(ctxT(t), "ltv:{c-1}").Val()
	want := map[string]string{
		"orders": "2", "revenue": "599.05", "gross_profit": "232.92", "refunds": "0.00",
		"first_order_at": "2026-03-01T12:00:00Z", "last_order_at": "2026-09-01T12:00:00Z",
		"aov": "299.53", "frequency": "2.0000", "tenure_days": "184.00", "churned": "0",
		"tier": "bronze", "updated_at": "2026-11-01T00:00:00Z",
		"segment": "active", "segment_since": "2026-09-01T12:00:00Z",
		// gross profit exact = 199.6 + 33.31665 = 232.91665 (kept in the
		// bookkeeping blob); ltv = gp × 3 / 1
		"ltv": "698.75",
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("field %s = %q, want %q", k, h[k], v)
		}
	}
	// Besides the public fields: the bookkeeping blob and the pending flag.
	for k := range h {
		if _, public := want[k]; !public && k != "_g" && k != "_p" {
			t.Errorf("unexpected field %s = %q", k, h[k])
		}
	}
	// Round trip: the loaded state equals the applied one.
	snaps, errs, err := st.Load(ctxT(t), []string{"c-1"})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs[0])
	}
	s := snaps[0].State
	if s.Orders != 2 || !s.GrossProfit.Equal(money.MustParse("232.91665")) || len(s.Seen) != 2 || s.Tier != "bronze" {
		t.Errorf("round trip state wrong: %+v", s)
	}
	if len(snaps[0].Pending) != 1 || !strings.Contains(string(snaps[0].Pending[0]), `"tier":"bronze"`) {
		t.Errorf("pending change not stored: %q", snaps[0].Pending)
	}
	if !s.Redelivered(aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 11}) {
		t.Errorf("guard lost: %+v", s.Applied)
	}
}

func TestCompareAndSetFencesStaleWriter(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	// Both "instances" load the same snapshot.
	snaps, _, err := st.Load(ctx, []string{"c-2"})
	if err != nil {
		t.Fatal(err)
	}
	owner, zombie := snaps[0].State.Clone(), snaps[0].State.Clone()
	e1 := order("e1", "c-2", "10.00", "", "2026-01-01T00:00:00Z")
	e2 := order("e2", "c-2", "20.00", "", "2026-01-02T00:00:00Z")
	m.Apply(&owner, &e1, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 1, Offset: 5})
	m.Apply(&owner, &e2, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 1, Offset: 6})
	m.Apply(&zombie, &e1, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 1, Offset: 5})
	opt := store.EncodeOptions{Figures: true, Now: time.Now()}
	wOwner := store.Encode(m, &snaps[0], &owner, nil, opt)
	wZombie := store.Encode(m, &snaps[0], &zombie, nil, opt)
	if c, err := st.Save(ctx, []store.Write{wOwner}); err != nil || len(c) != 0 {
		t.Fatalf("owner save: %v %v", c, err)
	}
	c, err := st.Save(ctx, []store.Write{wZombie})
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 1 || c[0] != 0 {
		t.Fatalf("zombie write not fenced: conflicts %v", c)
	}
	if got := rc.HGet(ctx, "ltv:{c-2}", "revenue").Val(); got != "30.00" {
		t.Fatalf("zombie overwrote state: revenue %s", got)
	}
	// Another writer that applied the very same records computes the same
	// token but its own pending events: it must get a conflict too, never
	// "already written", or it would publish its copy with another
	// emitted_at under the same event_id.
	same := store.Encode(m, &snaps[0], &owner, [][]byte{[]byte(`{"other":"copy"}`)}, opt)
	if c, err := st.Save(ctx, []store.Write{same}); err != nil || len(c) != 1 {
		t.Fatalf("same-token write by another writer: conflicts %v, err %v", c, err)
	}
}

func TestSaveManyCustomersGroupsAndReportsConflictIndexes(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, fmt.Sprintf("c-%02d", i))
	}
	snaps, _, err := st.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var writes []store.Write
	for i := range ids {
		s := snaps[i].State
		ev := order("e-"+ids[i], ids[i], "5.00", "", "2026-01-01T00:00:00Z")
		m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: int64(i)})
		writes = append(writes, store.Encode(m, &snaps[i], &s, nil, store.EncodeOptions{Figures: true, Now: time.Now()}))
	}
	// Another writer stores customers 3 and 7 first, so their expected
	// token is stale.
	for _, i := range []int{3, 7} {
		if err := rc.HSet(ctx, store.Key(ids[i]), "_g", "\x80another writer").Err(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.Save(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c) != "[3 7]" {
		t.Fatalf("conflicts = %v, want [3 7]", c)
	}
}

func TestClearPendingOnlyWhenTokenUnchanged(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	w1, _ := applyAndWrite(t, st, m, "c-3", []aggregate.Event{order("e1", "c-3", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	if !(rc.Exists(ctx, "ltv:{c-3}:pending").Val() == 1) {
		t.Fatal("no pending stored")
	}
	// Someone writes after us: our clear must not drop their pending.
	applyAndWrite(t, st, m, "c-3", []aggregate.Event{order("e2", "c-3", "5000.00", "", "2026-01-02T00:00:00Z")}, 1)
	if err := st.ClearPending(ctx, []store.Acked{{CustomerID: "c-3", Token: w1.Token}}); err != nil {
		t.Fatal(err)
	}
	if !(rc.Exists(ctx, "ltv:{c-3}:pending").Val() == 1) {
		t.Fatal("pending of a newer write was cleared")
	}
	tok := rc.HGet(ctx, "ltv:{c-3}", "_g").Val()
	if err := st.ClearPending(ctx, []store.Acked{{CustomerID: "c-3", Token: tok}}); err != nil {
		t.Fatal(err)
	}
	if rc.Exists(ctx, "ltv:{c-3}:pending").Val() == 1 {
		t.Fatal("pending not cleared")
	}
}

// A clear that meets a customer key another program overwrote with
// another type (WRONGTYPE) leaves that key alone and still clears the
// other customers of its call: the script raised the error, so the clears
// after it in the call failed too, and every retry of the queue failed the
// same way for as long as the key stayed.
func TestClearPendingPassesOverAKeyOfAnotherType(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	var acked []store.Acked
	for _, id := range []string{"c-foreign", "c-a", "c-b"} {
		w, _ := applyAndWrite(t, st, m, id, []aggregate.Event{order("e-"+id, id, "10.00", "", "2026-01-01T00:00:00Z")}, 0)
		if rc.Exists(ctx, store.PendingKey(id)).Val() != 1 {
			t.Fatalf("%s: no pending stored", id)
		}
		acked = append(acked, store.Acked{CustomerID: id, Token: w.Token})
	}
	if err := rc.Set(ctx, store.Key("c-foreign"), "foreign", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.ClearPending(ctx, acked); err != nil {
		t.Fatalf("clear: %v", err)
	}
	for _, id := range []string{"c-a", "c-b"} {
		if rc.Exists(ctx, store.PendingKey(id)).Val() != 0 {
			t.Errorf("%s: pending not cleared", id)
		}
	}
	if got := rc.Get(ctx, store.Key("c-foreign")).Val(); got != "foreign" || rc.Exists(ctx, store.PendingKey("c-foreign")).Val() != 1 {
		t.Errorf("the foreign key is now %q, or the pending key beside it went", got)
	}
}

// The hash's _p flag mirrors the pending key through every step that
// creates or removes it, because Load reads the pending key only when the
// flag says it exists.
func TestPendingFlagMirrorsThePendingKey(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	state := func() (flag bool, key bool) {
		return rc.HExists(ctx, "ltv:{c-7}", "_p").Val(), rc.Exists(ctx, "ltv:{c-7}:pending").Val() == 1
	}
	// A write with a change: key and flag.
	w1, _ := applyAndWrite(t, st, m, "c-7", []aggregate.Event{order("e1", "c-7", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	if flag, key := state(); !flag || !key {
		t.Fatalf("after a write with a change: flag %v, key %v; want both", flag, key)
	}
	snaps, _, err := st.Load(ctx, []string{"c-7"})
	if err != nil || len(snaps[0].Pending) != 1 {
		t.Fatalf("load did not return the pending change: %v %q", err, snaps[0].Pending)
	}
	// Acknowledged: both gone.
	if err := st.ClearPending(ctx, []store.Acked{{CustomerID: "c-7", Token: w1.Token}}); err != nil {
		t.Fatal(err)
	}
	if flag, key := state(); flag || key {
		t.Fatalf("after the clear: flag %v, key %v; want neither", flag, key)
	}
	// Another change, then a write that carries no pending events (the
	// caller published the old ones itself): the save removes both.
	applyAndWrite(t, st, m, "c-7", []aggregate.Event{order("e2", "c-7", "5000.00", "", "2026-01-02T00:00:00Z")}, 1)
	snaps, _, err = st.Load(ctx, []string{"c-7"})
	if err != nil || len(snaps[0].Pending) != 1 {
		t.Fatalf("second change not pending: %v %q", err, snaps[0].Pending)
	}
	if res := saveOnto(t, st, m, &snaps[0], order("e3", "c-7", "1.00", "", "2026-01-03T00:00:00Z"), 2, false); res.Changed {
		t.Fatal("test needs an event without a tier change")
	}
	if flag, key := state(); flag || key {
		t.Fatalf("after a save without pending events: flag %v, key %v; want neither", flag, key)
	}
	// A flag whose key is gone (say, deleted by hand) would cost every
	// later load a GET: the next write drops it.
	if err := rc.HSet(ctx, "ltv:{c-7}", "_p", "1").Err(); err != nil {
		t.Fatal(err)
	}
	snaps, _, err = st.Load(ctx, []string{"c-7"})
	if err != nil {
		t.Fatal(err)
	}
	saveOnto(t, st, m, &snaps[0], order("e4", "c-7", "1.00", "", "2026-01-04T00:00:00Z"), 3, false)
	if flag, key := state(); flag || key {
		t.Fatalf("after a save over a stray flag: flag %v, key %v; want neither", flag, key)
	}
}

// Writer A's clear can land between writer B's load (which saw A's
// pending events and flag) and B's save (same token: a clear does not
// change it). B's save must still set the flag next to the pending key,
// or a crash of B before its own clear would hide those events forever.
func TestSaveSetsTheFlagEvenWhenTheSnapshotHadIt(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	wa, _ := applyAndWrite(t, st, m, "c-6", []aggregate.Event{order("e1", "c-6", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	snaps, _, err := st.Load(ctx, []string{"c-6"}) // B loads: flag and pending seen
	if err != nil || len(snaps[0].Pending) != 1 {
		t.Fatalf("load: %v, pending %d", err, len(snaps[0].Pending))
	}
	if err := st.ClearPending(ctx, []store.Acked{{CustomerID: "c-6", Token: wa.Token}}); err != nil { // A's clear
		t.Fatal(err)
	}
	saveOnto(t, st, m, &snaps[0], order("e2", "c-6", "6000.00", "", "2026-01-02T00:00:00Z"), 1, true)
	if !rc.HExists(ctx, "ltv:{c-6}", "_p").Val() || rc.Exists(ctx, "ltv:{c-6}:pending").Val() != 1 {
		t.Fatal("pending key written without its flag: a later load would never see these events")
	}
	again, _, err := st.Load(ctx, []string{"c-6"})
	if err != nil || len(again[0].Pending) != 2 {
		t.Fatalf("reload: %v, pending %d, want 2", err, len(again[0].Pending))
	}
}

// A write with a change costs the save script one HGET, one HSET (the flag
// rides along with the fields) and one SET: the flag needs no call of its
// own.
func TestSaveSetsTheFlagWithoutAnExtraCall(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	if err := rc.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	applyAndWrite(t, st, m, "c-5", []aggregate.Event{order("e1", "c-5", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	if !rc.HExists(ctx, "ltv:{c-5}", "_p").Val() {
		t.Fatal("flag not set")
	}
	stats := rc.Info(ctx, "commandstats").Val()
	for _, want := range []string{"cmdstat_hset:calls=1,", "cmdstat_set:calls=1,", "cmdstat_hget:calls=1,"} {
		if !strings.Contains(stats, want) {
			t.Fatalf("want %s, commandstats:\n%s", want, stats)
		}
	}
}

// Without the flag, Load does not touch the pending keys at all: one
// HGETALL per customer and nothing else.
func TestLoadReadsPendingKeysOnlyWhenFlagged(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	w, _ := applyAndWrite(t, st, m, "c-8", []aggregate.Event{order("e1", "c-8", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	if err := st.ClearPending(ctx, []store.Acked{{CustomerID: "c-8", Token: w.Token}}); err != nil {
		t.Fatal(err)
	}
	applyAndWrite(t, st, m, "c-9", []aggregate.Event{order("e2", "c-9", "10.00", "", "2026-01-01T00:00:00Z")}, 0)
	if err := rc.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	snaps, _, err := st.Load(ctx, []string{"c-8", "c-9", "c-new"})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps[0].Pending) != 0 || len(snaps[1].Pending) != 1 || len(snaps[2].Pending) != 0 {
		t.Fatalf("pending per customer: %d %d %d, want 0 1 0", len(snaps[0].Pending), len(snaps[1].Pending), len(snaps[2].Pending))
	}
	stats := rc.Info(ctx, "commandstats").Val()
	if !strings.Contains(stats, "cmdstat_get:calls=1,") || !strings.Contains(stats, "cmdstat_hgetall:calls=3,") {
		t.Fatalf("want 3 HGETALL and 1 GET (only the flagged customer), commandstats:\n%s", stats)
	}
}

func TestScriptsReloadAfterRedisRestart(t *testing.T) {
	st, srv := newStore(t)
	m := aggregate.DefaultModel()
	srv.Stop()
	srv.Start() // a fresh server: the script cache is empty
	if _, c := applyAndWrite(t, st, m, "c-4", []aggregate.Event{order("e1", "c-4", "1.00", "", "2026-01-01T00:00:00Z")}, 0); len(c) != 0 {
		t.Fatalf("conflicts %v", c)
	}
	if got := srv.Client().HGet(ctxT(t), "ltv:{c-4}", "orders").Val(); got != "1" {
		t.Fatalf("write after restart missing: orders=%q", got)
	}
}

func TestCorruptStateIsReportedNotReset(t *testing.T) {
	st, srv := newStore(t)
	ctx := ctxT(t)
	srv.Client().HSet(ctx, "ltv:{c-5}", "orders", "many", "revenue", "1.00")
	_, errs, err := st.Load(ctx, []string{"c-5", "c-6"})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "orders") {
		t.Fatalf("corrupt hash not reported: %v", errs[0])
	}
	if errs[1] != nil {
		t.Fatalf("absent customer reported as error: %v", errs[1])
	}
}

// TestKeyOfAnotherTypeIsReportedInItsSlot: a customer key that another
// program filled with something other than a hash fails only that
// customer's load, with an error naming the key, over RESP2 (the
// service's client), RESP3 and Redis Cluster alike; the other customers
// load as usual, so the pipeline can dead-letter the one customer's
// events and go on instead of failing the batch for ever.
func TestKeyOfAnotherTypeIsReportedInItsSlot(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T) (*store.Redis, redis.UniversalClient)
	}{
		{"RESP2", func(t *testing.T) (*store.Redis, redis.UniversalClient) {
			st, srv := newStore(t)
			return st, srv.Client()
		}},
		{"RESP3", func(t *testing.T) (*store.Redis, redis.UniversalClient) {
			_, srv := newStore(t)
			return store.NewRedis(srv.Client(), store.Config{}), srv.Client()
		}},
		{"cluster", func(t *testing.T) (*store.Redis, redis.UniversalClient) {
			c := testutil.StartRedisCluster(t, 3).Client()
			return store.NewRedis(c, store.Config{}), c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, rc := tc.setup(t)
			ctx := ctxT(t)
			m := aggregate.DefaultModel()
			if _, conflicts := applyAndWrite(t, st, m, "c-ok", []aggregate.Event{order("e1", "c-ok", "80.00", "0.5", "2026-01-01T00:00:00Z")}, 0); len(conflicts) != 0 {
				t.Fatalf("unexpected conflicts %v", conflicts)
			}
			if err := rc.Set(ctx, store.Key("c-str"), "foreign", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rc.SAdd(ctx, store.Key("c-set"), "foreign").Err(); err != nil {
				t.Fatal(err)
			}
			ids := []string{"c-str", "c-ok", "c-set", "c-absent"}
			snaps, errs, err := st.Load(ctx, ids)
			if err != nil {
				t.Fatalf("the whole load failed: %v", err)
			}
			for _, i := range []int{0, 2} {
				var notHash *store.NotHashError
				if !errors.As(errs[i], &notHash) || !strings.Contains(errs[i].Error(), "key "+store.Key(ids[i])+" is not a hash (WRONGTYPE)") {
					t.Errorf("%s: error %v, want a *store.NotHashError naming its key", ids[i], errs[i])
				}
			}
			if errs[1] != nil || !snaps[1].Exists || snaps[1].State.Orders != 1 {
				t.Errorf("c-ok: %v, %+v", errs[1], snaps[1].State)
			}
			if errs[3] != nil || snaps[3].Exists {
				t.Errorf("c-absent: %v, exists %v", errs[3], snaps[3].Exists)
			}
			if got, err := rc.Get(ctx, store.Key("c-str")).Result(); err != nil || got != "foreign" {
				t.Errorf("the foreign value is now %q (%v)", got, err)
			}
		})
	}
}

func TestMemoryPerCustomerStaysCompact(t *testing.T) {
	st, srv := newStore(t)
	m := aggregate.DefaultModel()
	var evs []aggregate.Event
	for i := 0; i < 40; i++ { // more than the dedupe window
		evs = append(evs, order(fmt.Sprintf("8f1c0000-0000-4000-8000-%012d", i), "c-000042", "123.45", "0.40",
			time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)))
	}
	applyAndWrite(t, st, m, "c-000042", evs, 0)
	enc := srv.Client().ObjectEncoding(ctxT(t), "ltv:{c-000042}").Val()
	if enc != "listpack" {
		t.Errorf("hash encoding = %s, want listpack (compact)", enc)
	}
	n, _ := srv.Client().MemoryUsage(ctxT(t), "ltv:{c-000042}").Result()
	t.Logf("memory usage of a customer with a full dedupe window: %d bytes", n)
}

// BenchmarkCustomerUpdate measures one customer update as the pipeline
// does it, against a real redis-server: load (pipelined HGETALL + GET),
// apply an order, compare-and-set save, clear the pending change, in
// batches of 500 customers. Besides ns/op (client wall time per customer)
// it reports redis-µs/op, the server's own CPU per customer from INFO, which
// is what bounds throughput when Redis is saturated.
func BenchmarkCustomerUpdate(b *testing.B) {
	srv := testutil.StartRedis(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer client.Close()
	st := store.NewRedis(client, store.Config{})
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	m := aggregate.DefaultModel()
	const batch = 500
	const customers = 20_000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cpu0 := redisCPU(b, client)
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("c-%06d", (done+i)%customers)
		}
		snaps, _, err := st.Load(ctx, ids)
		if err != nil {
			b.Fatal(err)
		}
		writes := make([]store.Write, n)
		var acked []store.Acked
		for i := range snaps {
			s := snaps[i].State
			ev := aggregate.Event{
				EventID: "e-" + strconv.Itoa(done+i), Kind: aggregate.OrderPlaced, CustomerID: ids[i],
				Amount: money.MustParse("123.45"), OccurredAt: at.Add(time.Duration(done+i) * time.Minute),
			}
			res := m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: int64(done + i)})
			var pending [][]byte
			if res.Changed {
				pending = [][]byte{res.Change.AppendJSON(nil, at)}
			}
			writes[i] = store.Encode(m, &snaps[i], &s, pending, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: at})
			if res.Changed {
				acked = append(acked, store.Acked{CustomerID: ids[i], Token: writes[i].Token})
			}
		}
		if c, err := st.Save(ctx, writes); err != nil || len(c) > 0 {
			b.Fatal(c, err)
		}
		if err := st.ClearPending(ctx, acked); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, client)-cpu0).Microseconds())/float64(b.N), "redis-µs/op")
}

// redisCPU is the server's user+system CPU time so far.
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, field := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, _ := store.InfoField(info, field)
		f, _ := strconv.ParseFloat(v, 64)
		total += f
	}
	return time.Duration(total * float64(time.Second))
}

// Pending events handed over already joined (one element, newline-
// separated, as the pipeline renders them) are stored as they are, and
// those handed over one by one are joined: either way they load back one
// by one, in order.
func TestPendingEventsStoreJoinedOrOneByOne(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	docs := [][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`)}
	joined := bytes.Join(docs, []byte("\n"))
	for _, tt := range []struct {
		id      string
		pending [][]byte
	}{
		{"c-joined", [][]byte{joined}},
		{"c-apart", docs},
	} {
		snaps, _, err := st.Load(ctx, []string{tt.id})
		if err != nil {
			t.Fatal(err)
		}
		s := snaps[0].State
		ev := order("e-"+tt.id, tt.id, "10.00", "", "2026-01-01T00:00:00Z")
		res := m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 1})
		w := store.Encode(m, &snaps[0], &s, tt.pending, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: time.Now()})
		if c, err := st.Save(ctx, []store.Write{w}); err != nil || len(c) != 0 {
			t.Fatal(c, err)
		}
		if got := rc.Get(ctx, store.PendingKey(tt.id)).Val(); got != string(joined) {
			t.Errorf("%s: pending key %q, want %q", tt.id, got, joined)
		}
		snaps, _, err = st.Load(ctx, []string{tt.id})
		if err != nil || len(snaps[0].Pending) != len(docs) {
			t.Fatalf("%s: loaded %q, %v", tt.id, snaps[0].Pending, err)
		}
		for i := range docs {
			if !bytes.Equal(snaps[0].Pending[i], docs[i]) {
				t.Errorf("%s: event %d is %q, want %q", tt.id, i, snaps[0].Pending[i], docs[i])
			}
		}
	}
}

// The store speaks RESP2 whatever the URL asks for: its loads read
// HGETALL's answer as field, value pairs, which RESP3 would send as a map.
// A client built from a URL with protocol=3 still loads what it saved, and
// the connection reports RESP2.
func TestClientSpeaksRESP2EvenWhenTheURLAsksForRESP3(t *testing.T) {
	srv := testutil.StartRedis(t)
	ctx := ctxT(t)
	client, err := store.NewClient(store.Config{URL: srv.URL() + "?protocol=3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	st := store.NewRedis(client, store.Config{})
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	m := aggregate.DefaultModel()
	if _, conflicts := applyAndWrite(t, st, m, "c-1", []aggregate.Event{order("e1", "c-1", "499.00", "0.40", "2026-03-01T12:00:00Z")}, 1); len(conflicts) != 0 {
		t.Fatalf("unexpected conflicts %v", conflicts)
	}
	snaps, errs, err := st.Load(ctx, []string{"c-1", "c-absent"})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if s := snaps[0].State; s.Orders != 1 || s.Tier != "bronze" || len(snaps[0].Pending) != 1 {
		t.Errorf("loaded %+v with pending %q", s, snaps[0].Pending)
	}
	if snaps[1].Exists {
		t.Error("an absent customer loaded as existing")
	}
	info, err := client.Do(ctx, "client", "info").Text()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, " resp=2") {
		t.Errorf("connection is not RESP2: %s", info)
	}
}

// A store over any go-redis client loads the same snapshot: one that
// speaks RESP3 gets HGETALL as a map and takes the slower way to pairs.
func TestStoreOverARESP3ClientLoadsTheSame(t *testing.T) {
	st, srv := newStore(t)
	ctx := ctxT(t)
	evs := []aggregate.Event{order("e1", "c-1", "80.00", "0.5", "2026-01-01T00:00:00Z"), order("e2", "c-1", "20.00", "0.5", "2026-02-01T00:00:00Z")}
	if _, conflicts := applyAndWrite(t, st, aggregate.DefaultModel(), "c-1", evs, 3); len(conflicts) != 0 {
		t.Fatalf("unexpected conflicts %v", conflicts)
	}
	resp3 := store.NewRedis(srv.Client(), store.Config{})
	if p := srv.Client().Options().Protocol; p == 2 {
		t.Fatalf("test client speaks RESP%d", p)
	}
	ids := []string{"c-1", "c-absent"}
	want, wantErrs, err := st.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	got, gotErrs, err := resp3.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if gotErrs[i] != nil || wantErrs[i] != nil {
			t.Fatalf("%s: %v / %v", ids[i], gotErrs[i], wantErrs[i])
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%s over RESP3:\n%+v\nover RESP2:\n%+v", ids[i], got[i], want[i])
		}
	}
	if !got[0].Exists || got[0].State.Orders != 2 || len(got[0].Pending) != 1 {
		t.Errorf("loaded %+v", got[0])
	}
}
