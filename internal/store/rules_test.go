package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
)

func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(at.Unix()) + float64(at.Nanosecond())/1e9, Member: member}
}

// TestRecordedTimerRules: none recorded is not the same as any rules (a
// first start, or a state from a build before the record, walks once);
// recorded ones compare by their text, which an operator can read.
func TestRecordedTimerRules(t *testing.T) {
	st, _, ctx, rc := fixture(t)
	old := store.TimerRules{AtRiskAfter: 90 * aggregate.Day, LapsedAfter: 180 * aggregate.Day}
	changed := store.TimerRules{AtRiskAfter: 30 * aggregate.Day, LapsedAfter: 60 * aggregate.Day, RescoreEvery: 7 * aggregate.Day, Predictive: true}

	if rec, same, err := st.RecordedTimerRules(ctx, old); err != nil || same || rec != (store.TimerRules{}) {
		t.Fatalf("none recorded: recorded %v, same %v, err %v; want nothing, not the same", rec, same, err)
	}
	if rc.Exists(ctx, store.TimerRulesKey).Val() != 0 {
		t.Fatal("looking recorded them")
	}
	if err := st.SetTimerRules(ctx, old); err != nil {
		t.Fatal(err)
	}
	if rec, same, err := st.RecordedTimerRules(ctx, old); err != nil || !same || rec != old {
		t.Fatalf("recorded: %v, same %v, err %v", rec, same, err)
	}
	if rec, same, err := st.RecordedTimerRules(ctx, changed); err != nil || same || rec != old {
		t.Fatalf("changed rules: recorded %v, same %v, err %v; want the old ones, not the same", rec, same, err)
	}
	if err := st.SetTimerRules(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if rec, same, err := st.RecordedTimerRules(ctx, changed); err != nil || !same || rec != changed {
		t.Fatalf("after SetTimerRules: recorded %v, same %v, err %v", rec, same, err)
	}
	// An operator reads them as text.
	if got := rc.HMGet(ctx, store.TimerRulesKey, "at_risk_after", "rescore_every", "predictive").Val(); fmt.Sprint(got) != "[720h0m0s 168h0m0s on]" {
		t.Fatalf("recorded as %v", got)
	}
	// A field someone mangled is a change, not a match.
	rc.HSet(ctx, store.TimerRulesKey, "lapsed_after", "sixty days")
	if _, same, err := st.RecordedTimerRules(ctx, changed); err != nil || same {
		t.Fatalf("a mangled field: same %v, err %v", same, err)
	}
}

func TestReindexLeaseHasOneHolder(t *testing.T) {
	st, _, ctx, _ := fixture(t)
	if ok, err := st.TakeReindexLease(ctx, "a", time.Minute); err != nil || !ok {
		t.Fatalf("a takes the free lease: %v %v", ok, err)
	}
	if ok, err := st.TakeReindexLease(ctx, "b", time.Minute); err != nil || ok {
		t.Fatalf("b takes a held lease: %v %v", ok, err)
	}
	if err := st.RenewReindexLease(ctx, "b", time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("b renews a's lease: %v", err)
	}
	if err := st.ReleaseReindexLease(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := st.RenewReindexLease(ctx, "a", time.Minute); err != nil {
		t.Fatalf("b's release took a's lease: %v", err)
	}
	if err := st.ReleaseReindexLease(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.TakeReindexLease(ctx, "b", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("b after a's release: %v %v", ok, err)
	}
	// An expired lease (its holder died) is free again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := st.TakeReindexLease(ctx, "c", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired lease stayed taken")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReindexBringsEntriesForward: under new thresholds each customer's
// entry, in the index of the partition of its latest record, is its due
// time by the new rule, unless the entry was earlier already; customers
// without a due time get none.
func TestReindexBringsEntriesForward(t *testing.T) {
	st, old, ctx, rc := fixture(t)
	t0 := "2026-01-01T00:00:00Z"
	save := func(id string, partition int32, clock time.Time, evs ...aggregate.Event) {
		t.Helper()
		snaps, _, err := st.Load(ctx, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		s := snaps[0].State
		for i := range evs {
			old.Apply(&s, &evs[i], aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: partition, Offset: int64(i)})
		}
		old.Advance(&s, id, clock, nil)
		w := store.Encode(old, &snaps[0], &s, nil, store.EncodeOptions{Figures: true, Now: time.Now()})
		if c, err := st.Save(ctx, []store.Write{w}); err != nil || len(c) != 0 {
			t.Fatal(c, err)
		}
	}
	save("quiet", 3, mustTime(t0), order("q1", "quiet", "10.00", "", t0))
	rc.ZAdd(ctx, store.TimersKey(3), redisZ(mustTime("2026-04-01T00:00:00Z"), "quiet")) // 90 days
	save("early", 3, mustTime(t0), order("e1", "early", "10.00", "", t0))
	rc.ZAdd(ctx, store.TimersKey(3), redisZ(mustTime("2026-01-05T00:00:00Z"), "early"))
	save("lapsed", 5, mustTime("2026-07-01T00:00:00Z"), order("l1", "lapsed", "10.00", "", t0))
	churn := aggregate.Event{Kind: aggregate.CustomerChurned, EventID: "c2", CustomerID: "gone", OccurredAt: mustTime("2026-01-02T00:00:00Z")}
	save("gone", 5, mustTime(t0), order("g1", "gone", "10.00", "", t0), churn)

	changed := aggregate.DefaultModel()
	changed.AtRiskAfter, changed.LapsedAfter = 30*aggregate.Day, 400*aggregate.Day
	snaps, errs, err := st.Load(ctx, []string{"quiet", "early", "lapsed", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
	n, err := st.Reindex(ctx, changed, snaps)
	if err != nil || n != 3 {
		t.Fatalf("Reindex: %d entries, %v; want 3 (the churned customer has no due time)", n, err)
	}
	want := map[string]struct {
		partition int32
		due       string
	}{
		"quiet":  {3, "2026-01-31T00:00:00Z"},           // 30 days
		"early":  {3, "2026-01-05T00:00:00Z"},           // earlier already: kept
		"lapsed": {5, "2026-06-30T00:00:00.000000001Z"}, // at risk again, just after its clock (its lapse)
	}
	for id, w := range want {
		score, err := rc.ZScore(ctx, store.TimersKey(w.partition), id).Result()
		if err != nil {
			t.Fatalf("%s: no entry in partition %d: %v", id, w.partition, err)
		}
		due := mustTime(w.due)
		if wantScore := float64(due.Unix()) + float64(due.Nanosecond())/1e9; score != wantScore {
			t.Errorf("%s scored %v, want %v (%s)", id, score, wantScore, w.due)
		}
	}
	if rc.ZScore(ctx, store.TimersKey(5), "gone").Err() == nil {
		t.Error("the churned customer got an entry")
	}
}

// TestHasCustomers: the partitions' keys and the records under ltv: are
// not customers; one customer hash is.
func TestHasCustomers(t *testing.T) {
	st, m, ctx, rc := fixture(t)
	rc.ZAdd(ctx, store.TimersKey(0), redis.Z{Score: 1, Member: "c"})
	rc.Set(ctx, store.StreamTimeKey(0), "2026-01-01T00:00:00.000000000Z", 0)
	rc.HSet(ctx, store.InputsKey, "cluster_id", "x")
	if found, err := st.HasCustomers(ctx); err != nil || found {
		t.Fatalf("no customers: %v %v", found, err)
	}
	applyAndWrite(t, st, m, "c-1", []aggregate.Event{order("e1", "c-1", "10.00", "", "2026-01-01T00:00:00Z")}, 1)
	if found, err := st.HasCustomers(ctx); err != nil || !found {
		t.Fatalf("one customer: %v %v", found, err)
	}
}
