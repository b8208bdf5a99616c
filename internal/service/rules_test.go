package service

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestReindexerWaitsForTheLeaseHolder: under changed timer rules a
// consumer whose group mate holds the re-indexing lease does not walk the
// customers; it records nothing until the holder is gone (its lease
// expired or released), then walks them itself and records the new rules.
// Under unchanged rules it returns at once.
func TestReindexerWaitsForTheLeaseHolder(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	srv := testutil.StartRedis(t)
	st := store.NewRedis(srv.StoreClient(), store.Config{})
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	rc := srv.Client()
	old := aggregate.DefaultModel()
	if err := st.SetTimerRules(ctx, store.TimerRulesOf(old)); err != nil {
		t.Fatal(err)
	}
	// A customer whose entry the old rules put at 90 days.
	ev := aggregate.Event{Kind: aggregate.OrderPlaced, EventID: "e1", CustomerID: "c1", OrderID: "o1",
		Currency: "SEK", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	snaps, _, err := st.Load(ctx, []string{"c1"})
	if err != nil {
		t.Fatal(err)
	}
	s := snaps[0].State
	old.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 2, Offset: 7})
	w := store.Encode(old, &snaps[0], &s, nil, store.EncodeOptions{Figures: true, Now: time.Now()})
	if c, err := st.Save(ctx, []store.Write{w}); err != nil || len(c) != 0 {
		t.Fatal(c, err)
	}

	changed := aggregate.DefaultModel()
	changed.AtRiskAfter, changed.LapsedAfter = 10*aggregate.Day, 20*aggregate.Day
	if ok, err := st.TakeReindexLease(ctx, "group-mate", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	r := newReindexer(st, changed, zap.NewNop())
	r.retry = 20 * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	time.Sleep(200 * time.Millisecond) // ten looks at the lease
	if n := rc.ZCard(ctx, store.TimersKey(2)).Val(); n != 0 {
		t.Fatalf("walked while a group mate held the lease: %d entries", n)
	}
	if got := rc.HGet(ctx, store.TimerRulesKey, "at_risk_after").Val(); got != "2160h0m0s" {
		t.Fatalf("recorded %q while the walk had not run", got)
	}
	if err := st.ReleaseReindexLease(ctx, "group-mate"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the reindexer did not finish once the lease was free")
	}
	due := time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC)
	if score, err := rc.ZScore(ctx, store.TimersKey(2), "c1").Result(); err != nil || score != float64(due.Unix()) {
		t.Fatalf("c1's entry %v (%v), want %s", score, err, due)
	}
	if got := rc.HGet(ctx, store.TimerRulesKey, "at_risk_after").Val(); got != "240h0m0s" {
		t.Fatalf("recorded %q after the walk, want the new 240h0m0s", got)
	}
	if rc.Exists(ctx, "ltv:timer_rules:pass").Val() != 0 {
		t.Fatal("the lease was kept after the walk")
	}
	// Started again under the same rules: nothing to do.
	rc.Del(ctx, store.TimersKey(2))
	again := newReindexer(st, changed, zap.NewNop())
	again.run(ctx)
	if n := rc.ZCard(ctx, store.TimersKey(2)).Val(); n != 0 {
		t.Fatalf("walked again under unchanged rules: %d entries", n)
	}
}
