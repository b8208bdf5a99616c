package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// walkFixture is a Redis holding n customers written under the default
// thresholds (90/180 days), each with one order on 2026-01-01 read from
// partition 1, and those rules recorded; changed is a model with 10/20 days.
type walkFixture struct {
	st      *store.Redis
	srv     *testutil.RedisServer
	old     *aggregate.Model
	changed *aggregate.Model
	n       int
}

func newWalkFixture(t *testing.T, ctx context.Context, n int) *walkFixture {
	t.Helper()
	srv := testutil.StartRedis(t)
	st := store.NewRedis(srv.StoreClient(), store.Config{})
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	f := &walkFixture{st: st, srv: srv, old: aggregate.DefaultModel(), changed: aggregate.DefaultModel(), n: n}
	f.changed.AtRiskAfter, f.changed.LapsedAfter = 10*aggregate.Day, 20*aggregate.Day
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seedOrders(t, ctx, st, f.old, n, func(int) (int32, time.Time) { return 1, day0 })
	return f
}

// seedOrders records m's timer rules and stores n customers c000, c001, …
// under m, each with one order: the i-th read from partition and at the
// time placed(i) gives. It returns their ids.
func seedOrders(t *testing.T, ctx context.Context, st *store.Redis, m *aggregate.Model, n int, placed func(i int) (int32, time.Time)) (ids []string) {
	t.Helper()
	if err := st.SetTimerRules(ctx, store.TimerRulesOf(m)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprintf("c%03d", i))
	}
	snaps, _, err := st.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var writes []store.Write
	for i := range snaps {
		s := snaps[i].State
		partition, at := placed(i)
		ev := aggregate.Event{Kind: aggregate.OrderPlaced, EventID: "e-" + ids[i], CustomerID: ids[i], OrderID: "o-" + ids[i],
			Currency: "SEK", OccurredAt: at}
		m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: partition, Offset: int64(i)})
		writes = append(writes, store.Encode(m, &snaps[i], &s, nil, store.EncodeOptions{Figures: true, Now: time.Now()}))
	}
	if c, err := st.Save(ctx, writes); err != nil || len(c) != 0 {
		t.Fatal(c, err)
	}
	return ids
}

// indexed is how many customers have an entry at the new rule's due time
// (2026-01-11, 10 days after the order).
func (f *walkFixture) indexed(ctx context.Context) int64 {
	due := float64(time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC).Unix())
	n, _ := f.srv.Client().ZCount(ctx, store.TimersKey(1), fmt.Sprint(due), fmt.Sprint(due)).Result()
	return n
}

func (f *walkFixture) recorded(ctx context.Context) string {
	rc := f.srv.Client()
	return rc.HGet(ctx, store.TimerRulesKey, "at_risk_after").Val() + "/" + rc.HGet(ctx, store.TimerRulesKey, "lapsed_after").Val()
}

func (f *walkFixture) leaseHeld(ctx context.Context) bool {
	return f.srv.Client().Exists(ctx, "ltv:timer_rules:pass").Val() != 0
}

// slowWalker is a reindexer under the changed rules that reads pageSize
// customers a page and perSecond a second, retrying every 20 ms.
func (f *walkFixture) slowWalker(log *zap.Logger, page, perSecond int) *reindexer {
	r := newReindexer(f.st, f.changed, log)
	r.retry, r.page, r.perSecond = 20*time.Millisecond, page, perSecond
	return r
}

const (
	oldRules     = "2160h0m0s/4320h0m0s"
	changedRules = "240h0m0s/480h0m0s"
)

// TestReindexerStoppedMidWalkWalksAgain: a consumer stopped (its context
// cancelled, as SIGTERM does) while it walks the customers leaves the old
// rules recorded and the lease free; the next start walks every customer
// and records the new rules. A consumer that died holding the lease (no
// release) holds the next start back only until the lease expires.
func TestReindexerStoppedMidWalkWalksAgain(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	f := newWalkFixture(t, ctx, 120)

	// 5 customers a page, 20 a second: the walk would take 6 seconds.
	first := f.slowWalker(zap.NewNop(), 5, 20)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		first.run(runCtx)
	}()
	for f.indexed(ctx) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the walk never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the reindexer did not stop with its context")
	}
	if n := f.indexed(ctx); n == 0 || n >= int64(f.n) {
		t.Fatalf("%d of %d customers re-indexed when stopped; the test wants it stopped mid-walk", n, f.n)
	}
	if got := f.recorded(ctx); got != oldRules {
		t.Fatalf("stopped mid-walk, the rules recorded are %q, want the old %q", got, oldRules)
	}
	if f.leaseHeld(ctx) {
		t.Fatal("stopped mid-walk, the lease is still held")
	}

	// The next start walks again, to the end.
	second := f.slowWalker(zap.NewNop(), 50, 100000)
	second.run(ctx)
	if n := f.indexed(ctx); n != int64(f.n) {
		t.Fatalf("after the next start %d of %d customers re-indexed", n, f.n)
	}
	if got := f.recorded(ctx); got != changedRules {
		t.Fatalf("after the next start the rules recorded are %q, want %q", got, changedRules)
	}
	if f.leaseHeld(ctx) {
		t.Fatal("the lease is held after the walk")
	}

	// A holder that died (SIGKILL: no release) holds the next start back
	// only until its lease expires.
	f.srv.Client().Del(ctx, store.TimersKey(1))
	if err := f.st.SetTimerRules(ctx, store.TimerRulesOf(f.old)); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.st.TakeReindexLease(ctx, "killed", 300*time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	start := time.Now()
	third := f.slowWalker(zap.NewNop(), 50, 100000)
	third.run(ctx)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("walked after %s, while the dead holder's lease (300 ms) was still there", took)
	}
	if n, got := f.indexed(ctx), f.recorded(ctx); n != int64(f.n) || got != changedRules {
		t.Fatalf("after the dead holder's lease expired: %d of %d re-indexed, rules %q", n, f.n, got)
	}
}

// TestTwoReindexersStartedTogetherWalkOnce: two consumers started together
// under changed rules: one walks, the other waits and ends once the new
// rules are recorded, without walking.
func TestTwoReindexersStartedTogetherWalkOnce(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	f := newWalkFixture(t, ctx, 100)
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		r := f.slowWalker(log.With(zap.Int("consumer", i)), 10, 200) // half a second
		r.owner = fmt.Sprint("consumer-", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx)
		}()
	}
	ended := make(chan struct{})
	go func() {
		wg.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatal("the two reindexers did not both end")
	}
	started := logs.FilterMessage("timer rules changed: re-indexing every customer's due time").Len()
	finished := logs.FilterMessage("timer rules changed: every customer re-indexed").Len()
	if started != 1 || finished != 1 {
		t.Fatalf("%d walks started and %d finished, want one of each", started, finished)
	}
	if n, got := f.indexed(ctx), f.recorded(ctx); n != int64(f.n) || got != changedRules {
		t.Fatalf("%d of %d re-indexed, rules %q", n, f.n, got)
	}
	if f.leaseHeld(ctx) {
		t.Fatal("the lease is held after the walk")
	}
}

// TestReindexerLooksAgainUnderTheLease: a consumer that saw the old rules
// recorded, and takes the lease only after the group mate that held it has
// walked every customer, recorded the new rules and released it, does not
// walk every customer a second time.
func TestReindexerLooksAgainUnderTheLease(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	f := newWalkFixture(t, ctx, 10)
	core, logs := observer.New(zapcore.InfoLevel)
	r := f.slowWalker(zap.New(core), 50, 100000)
	r.beforeLease = func() {
		// The group mate's walk ends here: the new rules recorded, the
		// lease released (it never held it in this test: free already).
		if err := f.st.SetTimerRules(ctx, store.TimerRulesOf(f.changed)); err != nil {
			t.Error(err)
		}
	}
	r.run(ctx)
	if n := logs.FilterMessage("timer rules changed: re-indexing every customer's due time").Len(); n != 0 {
		t.Fatalf("walked every customer again after the group mate had recorded the rules (%d walks)", n)
	}
	if f.leaseHeld(ctx) {
		t.Fatal("the lease is held")
	}
	if got := f.recorded(ctx); got != changedRules {
		t.Fatalf("rules %q, want %q", got, changedRules)
	}
}

// TestReindexerOnRedisCluster: the walk on a Redis Cluster of three
// masters: the timer rules and the lease (keys without a hash tag) are
// recorded and taken, every customer of every master is read (SCAN per
// master), each gets its entry in the index of its own partition (four
// partitions, each index in its own slot) at the new rule's due time, and
// the new rules are recorded; a second start under them walks nothing.
func TestReindexerOnRedisCluster(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	cluster := testutil.StartRedisCluster(t, 3)
	rc := cluster.Client()
	st := store.NewRedis(rc, store.Config{})
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	old, changed := aggregate.DefaultModel(), aggregate.DefaultModel()
	changed.AtRiskAfter, changed.LapsedAfter = 10*aggregate.Day, 20*aggregate.Day
	const n, partitions = 200, 4
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := seedOrders(t, ctx, st, old, n, func(i int) (int32, time.Time) {
		return int32(i % partitions), day0.Add(time.Duration(i) * time.Hour)
	})
	// The customers are spread over the three masters.
	var mu sync.Mutex
	var perMaster []int
	if err := rc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, "ltv:{c*}").Result()
		mu.Lock()
		defer mu.Unlock()
		perMaster = append(perMaster, len(keys))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(perMaster) != 3 || slices.Contains(perMaster, 0) {
		t.Fatalf("customers per master %v, want some on each of 3", perMaster)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	r := newReindexer(st, changed, zap.New(core))
	r.retry, r.page = 20*time.Millisecond, 16 // many pages per master
	r.run(ctx)
	if logs.FilterMessage("timer rules changed: every customer re-indexed").Len() != 1 {
		t.Fatalf("the walk did not finish: %v", logs.All())
	}
	if got := logs.FilterMessage("timer rules changed: every customer re-indexed").All()[0].ContextMap()["customers"]; fmt.Sprint(got) != fmt.Sprint(n) {
		t.Errorf("the walk read %v customers, want %d", got, n)
	}
	for i, id := range ids {
		due := time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		score, err := rc.ZScore(ctx, store.TimersKey(int32(i%partitions)), id).Result()
		if err != nil || score != float64(due.Unix()) {
			t.Errorf("%s: entry in partition %d %v (%v), want %s", id, i%partitions, score, err, due)
		}
	}
	got := rc.HGet(ctx, store.TimerRulesKey, "at_risk_after").Val() + "/" + rc.HGet(ctx, store.TimerRulesKey, "lapsed_after").Val()
	if got != changedRules {
		t.Fatalf("rules recorded %q, want %q", got, changedRules)
	}
	if rc.Exists(ctx, "ltv:timer_rules:pass").Val() != 0 {
		t.Fatal("the lease is held after the walk")
	}
	again := newReindexer(st, changed, zap.New(core))
	again.run(ctx)
	if k := logs.FilterMessage("timer rules changed: re-indexing every customer's due time").Len(); k != 1 {
		t.Fatalf("%d walks, want 1 (a start under recorded rules walks nothing)", k)
	}
}

// TestReindexerWalksAStateWithoutRecordedRules: customers stored by a
// build before ltv:timer_rules existed, perhaps under other thresholds,
// are walked once at the first start that finds no record (here under new
// thresholds, which a record-on-first-start would have taken as the ones
// the index holds), and the rules are recorded then.
func TestReindexerWalksAStateWithoutRecordedRules(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	f := newWalkFixture(t, ctx, 30)
	f.srv.Client().Del(ctx, store.TimerRulesKey)
	f.slowWalker(zap.NewNop(), 10, 1000).run(ctx)
	if n := f.indexed(ctx); n != int64(f.n) {
		t.Fatalf("%d of %d customers indexed at the new rule's due time", n, f.n)
	}
	if got := f.recorded(ctx); got != changedRules {
		t.Fatalf("recorded %q, want %q", got, changedRules)
	}
}

// TestReindexerOnlyRecordsOnAnEmptyDatabase: a first start with no
// customers records the rules without walking, so the customers its
// batches create meanwhile are not read a second time.
func TestReindexerOnlyRecordsOnAnEmptyDatabase(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	srv := testutil.StartRedis(t)
	st := store.NewRedis(srv.StoreClient(), store.Config{})
	core, logs := observer.New(zapcore.InfoLevel)
	newReindexer(st, aggregate.DefaultModel(), zap.New(core)).run(ctx)
	if got := srv.Client().HGet(ctx, store.TimerRulesKey, "at_risk_after").Val(); got != "2160h0m0s" {
		t.Fatalf("recorded %q", got)
	}
	if n := logs.FilterMessageSnippet("re-indexing").Len(); n != 0 {
		t.Fatalf("walked an empty database (%d log lines)", n)
	}
}
