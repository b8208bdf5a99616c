package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// flakyTimers fails the next index writes (Settle calls with entries to
// write), as a crash between a customer's hash write and its index write
// would leave things.
type flakyTimers struct {
	*store.Redis
	failSets int
	// beforeSettle, when set, runs once just before the next Settle that
	// writes entries, as another consumer's write landing while the batch
	// runs would.
	beforeSettle func()
}

func (f *flakyTimers) Settle(ctx context.Context, u []store.TimerUpdate, times map[int32]time.Time, due []store.DueQuery) (map[int32]time.Time, [][]string, error) {
	if f.failSets > 0 && len(u) > 0 {
		f.failSets--
		return nil, nil, errors.New("injected: index write lost")
	}
	if hook := f.beforeSettle; hook != nil && len(u) > 0 {
		f.beforeSettle = nil
		hook()
	}
	return f.Redis.Settle(ctx, u, times, due)
}

// setupTimers is setup with the timer index written through flakyTimers
// and at most two due customers fired per round.
func setupTimers(t *testing.T) (*pipeline.Processor, *recordingPublisher, *redis.Client, *flakyTimers) {
	t.Helper()
	var timers *flakyTimers
	p, pub, rc := setupConfig(t, func(c *pipeline.Config) {
		timers = &flakyTimers{Redis: c.Timers.(*store.Redis)}
		c.Timers, c.MaxTimersPerRound = timers, 2
	})
	return p, pub, rc, timers
}

// segmentLog renders the published segment changes as
// "customer previous→segment@caused_by".
func segmentLog(t *testing.T, pub *recordingPublisher) []string {
	t.Helper()
	var out []string
	for _, m := range pub.topic("ltv-segments") {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		out = append(out, doc["customer_id"].(string)+" "+doc["previous_segment"].(string)+"→"+doc["segment"].(string)+"@"+doc["caused_by"].(string))
	}
	sort.Strings(out)
	return out
}

func TestStreamTimeFiresOtherCustomersTimers(t *testing.T) {
	p, pub, rc, _ := setupTimers(t)
	ctx := ctxT(t)
	// Five customers order in January on partition 0; one on partition 1.
	var jan []pipeline.Record
	for i, c := range []string{"a", "b", "c", "d", "e"} {
		jan = append(jan, orderRec(int64(i), "e-"+c, c, "10.00", "2026-01-01T00:00:00Z"))
	}
	other := orderRec(0, "e-z", "z", "10.00", "2026-01-01T00:00:00Z")
	other.Partition = 1
	jan = append(jan, other)
	if _, err := p.Process(ctx, jan); err != nil {
		t.Fatal(err)
	}
	// In May (120 days later) customer f orders on partition 0: stream
	// time passes the others' at-risk due time (April 1st), in rounds of
	// two (MaxTimersPerRound); partition 1 has had no event and waits.
	stats, err := p.Process(ctx, []pipeline.Record{orderRec(5, "e-f", "f", "10.00", "2026-05-01T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if stats.TimersDue != 5 || stats.TimersFired != 5 {
		t.Fatalf("stats %+v: want 5 due customers, 5 timer-caused changes", stats)
	}
	for _, c := range []string{"a", "e"} {
		if got := rc.HGet(ctx, "ltv:{"+c+"}", "segment").Val(); got != aggregate.SegmentAtRisk {
			t.Errorf("customer %s segment %q", c, got)
		}
		if got := rc.HGet(ctx, "ltv:{"+c+"}", "segment_since").Val(); got != "2026-04-01T00:00:00Z" {
			t.Errorf("customer %s segment_since %q", c, got)
		}
	}
	if got := rc.HGet(ctx, "ltv:{z}", "segment").Val(); got != aggregate.SegmentNew {
		t.Errorf("customer z (idle partition) segment %q, want new: its partition's stream time has not moved", got)
	}
	// The index holds each customer's next due time; the stream times are
	// stored.
	if got := rc.ZScore(ctx, "ltv:{p0}:timers", "a").Val(); got != float64(time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC).Unix()) {
		t.Errorf("a's next due %v, want June 30th (lapsed)", got)
	}
	if got := rc.Get(ctx, "ltv:{p0}:stream_time").Val(); got != "2026-05-01T00:00:00.000000000Z" {
		t.Errorf("stream time of partition 0 %q", got)
	}
	if got := rc.Get(ctx, "ltv:{p1}:stream_time").Val(); got != "2026-01-01T00:00:00.000000000Z" {
		t.Errorf("stream time of partition 1 %q", got)
	}
	log := segmentLog(t, pub)
	want := []string{
		"a new→at_risk@timer:2026-04-01T00:00:00Z", "a →new@e-a",
		"b new→at_risk@timer:2026-04-01T00:00:00Z", "b →new@e-b",
		"c new→at_risk@timer:2026-04-01T00:00:00Z", "c →new@e-c",
		"d new→at_risk@timer:2026-04-01T00:00:00Z", "d →new@e-d",
		"e new→at_risk@timer:2026-04-01T00:00:00Z", "e →new@e-e",
		"f →new@e-f", "z →new@e-z",
	}
	if len(log) != len(want) {
		t.Fatalf("segment changes\n got %q\nwant %q", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("segment changes\n got %q\nwant %q", log, want)
		}
	}
}

// TestLostIndexWriteIsRederivedOnRedelivery: the hash is written but the
// index write never succeeds before the batch gives up (the batch fails,
// nothing is committed). The
// redelivered batch finds the customer's records already applied and
// writes its index entry from the stored state, so the due time is not
// lost, and nothing is published with a different result.
func TestLostIndexWriteIsRederivedOnRedelivery(t *testing.T) {
	p, pub, rc, timers := setupTimers(t)
	ctx := ctxT(t)
	batch := []pipeline.Record{orderRec(0, "e-a", "a", "10.00", "2026-01-01T00:00:00Z")}
	// The index write keeps failing (retried in place) until the batch's
	// context ends, as when the process stops: the batch fails.
	timers.failSets = 1 << 30
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := p.Process(short, batch); err == nil {
		t.Fatal("the failed index write was not reported")
	}
	timers.failSets = 0
	if rc.Exists(ctx, "ltv:{p0}:timers").Val() != 0 {
		t.Fatal("the index was written although the write failed")
	}
	if rc.Exists(ctx, "ltv:{p0}:stream_time").Val() != 0 {
		t.Fatal("stream time was stored although the batch failed")
	}
	stats, err := p.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Redelivered != 1 {
		t.Fatalf("stats %+v", stats)
	}
	if got := rc.ZScore(ctx, "ltv:{p0}:timers", "a").Val(); got != float64(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Unix()) {
		t.Fatalf("index entry after the redelivery %v, want April 1st", got)
	}
	// The segment change was published before the index write failed,
	// and again by the redelivery (its clear had not run): an exact copy.
	segs := pub.topic("ltv-segments")
	if len(segs) != 2 || string(segs[0].Value) != string(segs[1].Value) {
		t.Fatalf("segment changes %q, want one change published twice, byte for byte", segs)
	}
	if log := segmentLog(t, pub); log[0] != "a →new@e-a" {
		t.Fatalf("segment changes %q", log)
	}
	// Stream time later reaches the due time: it fires once.
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(1, "e-b", "b", "10.00", "2026-04-02T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(2, "e-c", "c", "10.00", "2026-04-03T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range segmentLog(t, pub) {
		if l == "a new→at_risk@timer:2026-04-01T00:00:00Z" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("a's at-risk timer fired %d times", n)
	}
}

// TestStaleIndexEntryFiresNothing: an index entry earlier than the
// customer's real due time (left by a write whose state moved on) loads
// the customer, fires nothing and is corrected.
func TestStaleIndexEntryFiresNothing(t *testing.T) {
	p, pub, rc, _ := setupTimers(t)
	ctx := ctxT(t)
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(0, "e-a", "a", "10.00", "2026-03-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	rc.ZAdd(ctx, "ltv:{p0}:timers", redis.Z{Score: float64(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()), Member: "a"})
	stats, err := p.Process(ctx, []pipeline.Record{orderRec(1, "e-b", "b", "10.00", "2026-03-10T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if stats.TimersDue != 1 || stats.TimersFired != 0 {
		t.Fatalf("stats %+v: want the stale entry loaded and nothing fired", stats)
	}
	if got := rc.ZScore(ctx, "ltv:{p0}:timers", "a").Val(); got != float64(time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC).Unix()) {
		t.Fatalf("corrected entry %v, want May 30th", got)
	}
	if n := len(pub.topic("ltv-segments")); n != 2 {
		t.Fatalf("%d segment changes, want the two customers' first", n)
	}
}

// TestIndexWriteRetriedWithoutPublishingAgain: once the outputs are out, a
// failing index write is retried in place, so the batch's events and dead
// letters are not published a second time.
func TestIndexWriteRetriedWithoutPublishingAgain(t *testing.T) {
	p, pub, rc, timers := setupTimers(t)
	ctx := ctxT(t)
	timers.failSets = 2
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(0, "e-a", "a", "10.00", "2026-01-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if n := len(pub.topic("ltv-segments")); n != 1 {
		t.Fatalf("published %d segment changes, want 1", n)
	}
	if rc.ZScore(ctx, "ltv:{p0}:timers", "a").Err() != nil {
		t.Fatal("the index entry was not written after the retries")
	}
}

// TestEntryWrittenMeanwhileIsFiredBeforeTheBatchEnds: while a batch runs,
// another consumer (a fenced-off one finishing a late batch) writes a
// customer's entry that is already due. The batch fires it before it ends,
// so nothing due is left behind when the stream ends.
func TestEntryWrittenMeanwhileIsFiredBeforeTheBatchEnds(t *testing.T) {
	p, _, rc, timers := setupTimers(t)
	ctx := ctxT(t)
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(0, "e-z", "z", "10.00", "2026-01-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	entry := rc.ZScore(ctx, "ltv:{p0}:timers", "z").Val()
	rc.ZRem(ctx, "ltv:{p0}:timers", "z") // not written yet, as far as this batch's due query can tell
	timers.beforeSettle = func() { rc.ZAdd(ctx, "ltv:{p0}:timers", redis.Z{Score: entry, Member: "z"}) }
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(1, "e-y", "y", "10.00", "2026-05-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if got := rc.HGet(ctx, "ltv:{z}", "segment").Val(); got != aggregate.SegmentAtRisk {
		t.Fatalf("z's segment %q: its entry, written while the batch ran, was left due", got)
	}
}

// TestDueCustomerWithAStaleCopyIsLoadedAgain: consumer A caches the
// customer it wrote (churned: nothing due); the partition moves to
// consumer B, where the customer orders again, so it has an entry due in
// April. Back on A, stream time passes April: A's stale copy shows nothing
// due and writes nothing, so no compare-and-set exposes it; the customer
// is loaded again from Redis and moves to at risk.
func TestDueCustomerWithAStaleCopyIsLoadedAgain(t *testing.T) {
	srv := testutil.StartRedis(t)
	ctx := ctxT(t)
	newConsumer := func() *pipeline.Processor {
		st := srv.Store()
		p, err := pipeline.New(pipeline.Config{Model: aggregate.DefaultModel(), Decoder: jsonDecoder{},
			Store: store.NewCached(st, store.CacheConfig{MaxBytes: 1 << 20}), Out: &recordingPublisher{}, Timers: st})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := newConsumer(), newConsumer()
	churn := pipeline.Record{Topic: "customer-lifecycle", Partition: 0, Offset: 0, Key: []byte("z"),
		Value: []byte(`{"event_id":"e-zc","type":"customer_churned","customer_id":"z","occurred_at":"2026-01-02T00:00:00Z"}`)}
	if _, err := a.Process(ctx, []pipeline.Record{orderRec(0, "e-z1", "z", "10.00", "2026-01-01T00:00:00Z"), churn}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Process(ctx, []pipeline.Record{orderRec(1, "e-z2", "z", "10.00", "2026-01-03T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	rc := srv.Client()
	if n := rc.ZCard(ctx, "ltv:{p0}:timers").Val(); n != 1 {
		t.Fatalf("index holds %d entries after z ordered again, want 1", n)
	}
	if _, err := a.Process(ctx, []pipeline.Record{orderRec(2, "e-y", "y", "10.00", "2026-05-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if got := rc.HGet(ctx, "ltv:{z}", "segment").Val(); got != aggregate.SegmentAtRisk {
		t.Fatalf("z's segment %q, want at_risk: its due entry was judged by a stale cached copy", got)
	}
}

// withCache puts a state cache in front of the test processor's store.
func withCache(cached **store.Cached) func(*pipeline.Config) {
	return func(c *pipeline.Config) {
		*cached = store.NewCached(c.Store.(*store.Redis), store.CacheConfig{MaxBytes: 1 << 20})
		c.Store = *cached
	}
}

// fireByAnotherOrder writes customer z in January; then, after between,
// customer y's order in May takes the partition's stream time past z's
// at-risk due time. It returns that batch's stats, having checked that z
// moved to at risk.
func fireByAnotherOrder(t *testing.T, p *pipeline.Processor, rc *redis.Client, between func()) pipeline.BatchStats {
	t.Helper()
	ctx := ctxT(t)
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(0, "e-z", "z", "10.00", "2026-01-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	between()
	stats, err := p.Process(ctx, []pipeline.Record{orderRec(1, "e-y", "y", "10.00", "2026-05-01T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if got := rc.HGet(ctx, "ltv:{z}", "segment").Val(); got != aggregate.SegmentAtRisk {
		t.Fatalf("z's segment %q, want at_risk", got)
	}
	return stats
}

// TestDueCustomerWithACurrentCopyIsNotLoaded: the customer this consumer
// wrote last is fired from its cached copy, without a Redis read, and its
// timer still fires within the batch that passed its due time.
func TestDueCustomerWithACurrentCopyIsNotLoaded(t *testing.T) {
	var cached *store.Cached
	p, _, rc := setupConfig(t, withCache(&cached))
	var before store.CacheStats
	stats := fireByAnotherOrder(t, p, rc, func() { before = cached.Stats() })
	after := cached.Stats()
	if stats.TimersDue != 1 || after.Hits-before.Hits != 1 || after.Misses-before.Misses != 1 {
		t.Fatalf("%d due; cache hits +%d, misses +%d: want z from its copy (1 hit) and only new customer y read (1 miss)",
			stats.TimersDue, after.Hits-before.Hits, after.Misses-before.Misses)
	}
}

// countingSaves records the customers of each save call of the store it
// wraps.
type countingSaves struct {
	*store.Cached
	calls [][]string
}

func (c *countingSaves) Save(ctx context.Context, writes []store.Write) ([]int, error) {
	var ids []string
	for _, w := range writes {
		ids = append(ids, w.CustomerID)
	}
	c.calls = append(c.calls, ids)
	return c.Cached.Save(ctx, writes)
}

// TestDueCustomersAreSavedWithTheBatch: a customer the batch's stream time
// makes due is written in the same save call as the batch's own
// customers, one round trip instead of two.
func TestDueCustomersAreSavedWithTheBatch(t *testing.T) {
	var cached *store.Cached
	saves := &countingSaves{}
	p, _, rc := setupConfig(t, func(c *pipeline.Config) {
		withCache(&cached)(c)
		saves.Cached = cached
		c.Store = saves
	})
	stats := fireByAnotherOrder(t, p, rc, func() { saves.calls = nil })
	if stats.TimersDue != 1 || fmt.Sprint(saves.calls) != "[[y z]]" {
		t.Fatalf("%d due; save calls %v, want one with y and z", stats.TimersDue, saves.calls)
	}
}

// failingLast fails the publication of every call that carries a message
// of customer key, as the batch's own delivery of that customer's outputs.
type failingLast struct {
	pipeline.Publisher
	key  string
	fail bool
}

func (f *failingLast) Publish(ctx context.Context, msgs []pipeline.Message) error {
	for _, m := range msgs {
		if f.fail && string(m.Key) == f.key {
			return errors.New("injected: broker gone")
		}
	}
	return f.Publisher.Publish(ctx, msgs)
}

// TestManyDueCustomersGoOutInChunks: a batch whose stream time makes more
// customers due than one round loads publishes them round by round, ahead
// of its own outputs, instead of holding them all. If the batch then
// fails, their index entries are still due; the redelivered batch fires
// nothing twice, and every event published in both attempts is the same.
func TestManyDueCustomersGoOutInChunks(t *testing.T) {
	var gate *failingLast
	var rec *recordingPublisher
	p, _, rc := setupConfig(t, func(c *pipeline.Config) {
		rec = c.Out.(*recordingPublisher)
		gate = &failingLast{Publisher: rec, key: "late"}
		c.Out, c.MaxTimersPerRound = gate, 2
	})
	ctx := ctxT(t)
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	var jan []pipeline.Record
	for i, c := range ids {
		jan = append(jan, orderRec(int64(i), "e-"+c, c, "10.00", "2026-01-01T00:00:00Z"))
	}
	if _, err := p.Process(ctx, jan); err != nil {
		t.Fatal(err)
	}
	calls := len(rec.attempts)
	may := []pipeline.Record{orderRec(7, "e-late", "late", "10.00", "2026-05-01T00:00:00Z")}
	gate.fail = true
	if _, err := p.Process(ctx, may); err == nil {
		t.Fatal("the batch's own publication failed, yet it succeeded")
	}
	early := 0
	for _, call := range rec.attempts[calls:] {
		if len(call) > 0 && string(call[0].Key) != "late" {
			early++
		}
	}
	if early < 2 {
		t.Fatalf("%d publications of fired timers ahead of the batch's own, want at least 2 (7 due, 2 per round)", early)
	}
	for _, c := range ids {
		if rc.ZScore(ctx, "ltv:{p0}:timers", c).Val() > float64(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Unix()) {
			t.Fatalf("customer %s: its index entry moved before the batch settled", c)
		}
	}
	gate.fail = false
	stats, err := p.Process(ctx, may)
	if err != nil {
		t.Fatal(err)
	}
	if stats.TimersFired != 0 {
		t.Errorf("the redelivery fired %d timers again", stats.TimersFired)
	}
	byID := map[string]string{}
	var atRisk []string
	for _, m := range rec.topic("ltv-segments") {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		id := doc["event_id"].(string)
		if prev, ok := byID[id]; ok && prev != string(m.Value) {
			t.Fatalf("event %s published with different bytes:\n%s\n%s", id, prev, m.Value)
		}
		if _, ok := byID[id]; !ok && doc["segment"] == aggregate.SegmentAtRisk {
			atRisk = append(atRisk, doc["customer_id"].(string))
		}
		byID[id] = string(m.Value)
	}
	wantEachAtRiskOnce(ctx, t, rc, atRisk, ids)
	for _, c := range ids {
		if rc.ZScore(ctx, "ltv:{p0}:timers", c).Val() <= float64(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Unix()) {
			t.Errorf("customer %s: index entry not moved on after the batch settled", c)
		}
	}
}

// countingTimers counts the batches that read stored stream times.
type countingTimers struct {
	*store.Redis
	reads int
}

func (c *countingTimers) StreamTimes(ctx context.Context, partitions []int32) (map[int32]time.Time, error) {
	c.reads++
	return c.Redis.StreamTimes(ctx, partitions)
}

// A partition's next batch starts from the stream time its last settle
// read back, without reading it again; one moved meanwhile by another
// writer still fires the timers it makes due within the next batch (its
// settle reads the later time back and the sweep fires by it); a
// forgotten partition (revoked) is read again.
func TestStreamTimeIsReadOncePerHeldPartition(t *testing.T) {
	var timers *countingTimers
	p, _, rc := setupConfig(t, func(c *pipeline.Config) {
		timers = &countingTimers{Redis: c.Timers.(*store.Redis)}
		c.Timers = timers
	})
	ctx := ctxT(t)
	for i, rec := range []pipeline.Record{
		orderRec(0, "e-a", "a", "10.00", "2026-01-01T00:00:00Z"),
		orderRec(1, "e-b", "b", "10.00", "2026-01-02T00:00:00Z"),
	} {
		if _, err := p.Process(ctx, []pipeline.Record{rec}); err != nil {
			t.Fatal(err)
		}
		if timers.reads != 1 {
			t.Fatalf("after batch %d: stream times read %d times, want once", i+1, timers.reads)
		}
	}
	// Another writer moves partition 0 to May: a's and b's at-risk times
	// (April) have passed, and so has c's, who orders in January next.
	if _, _, err := timers.Settle(ctx, nil, map[int32]time.Time{0: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}, nil); err != nil {
		t.Fatal(err)
	}
	stats, err := p.Process(ctx, []pipeline.Record{orderRec(2, "e-c", "c", "10.00", "2026-01-03T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if timers.reads != 1 {
		t.Fatalf("stream times read %d times, want once", timers.reads)
	}
	if stats.TimersFired != 3 {
		t.Errorf("stats %+v: want a's, b's and c's timers fired in the batch after the move", stats)
	}
	for _, c := range []string{"a", "b", "c"} {
		if got := rc.HGet(ctx, "ltv:{"+c+"}", "segment").Val(); got != aggregate.SegmentAtRisk {
			t.Errorf("customer %s segment %q, want at_risk", c, got)
		}
	}
	p.ForgetStreamTime(0)
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(3, "e-d", "d", "10.00", "2026-05-02T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if timers.reads != 2 {
		t.Errorf("after forgetting partition 0: stream times read %d times, want twice", timers.reads)
	}
}

// Event times with fractions of a second: a customer's timer fires in the
// batch whose stream time passed its due time, also when that is within
// the same second, and not before.
func TestSubSecondDueTimeFiresInTheBatchThatPassedIt(t *testing.T) {
	p, pub, rc, _ := setupTimers(t)
	ctx := ctxT(t)
	if _, err := p.Process(ctx, []pipeline.Record{orderRec(0, "e-x", "x", "10.00", "2026-01-01T00:00:00.5Z")}); err != nil {
		t.Fatal(err)
	}
	// x's at-risk due time is 2026-04-01T00:00:00.5Z.
	for i, step := range []struct {
		id, at, want string
	}{
		{"e-y", "2026-04-01T00:00:00.4Z", aggregate.SegmentNew},
		{"e-z", "2026-04-01T00:00:00.8Z", aggregate.SegmentAtRisk},
	} {
		rec := orderRec(int64(i+1), step.id, step.id, "10.00", step.at)
		if _, err := p.Process(ctx, []pipeline.Record{rec}); err != nil {
			t.Fatal(err)
		}
		if got := rc.HGet(ctx, "ltv:{x}", "segment").Val(); got != step.want {
			t.Fatalf("x's segment at stream time %s: %q, want %q (%q)", step.at, got, step.want, segmentLog(t, pub))
		}
	}
	if got := rc.HGet(ctx, "ltv:{x}", "segment_since").Val(); got != "2026-04-01T00:00:00.5Z" {
		t.Errorf("x's segment_since %q, want the due time", got)
	}
}

// A late event is judged at its partition's stream time (SPEC §8: the
// segment at `now`), not at its own time: an order from January read in
// April, when the customer has been idle 95 days by then, leaves it at
// risk (no flap to active and back), and segment_since stays the day the
// timer set it. The late order moves the lapse to 180 days after it.
func TestLateEventIsJudgedAtStreamTime(t *testing.T) {
	p, pub, rc, _ := setupTimers(t)
	ctx := ctxT(t)
	for i, rec := range []pipeline.Record{
		orderRec(0, "e-x1", "x", "10.00", "2026-01-01T00:00:00Z"),
		orderRec(1, "e-y", "y", "10.00", "2026-04-11T00:00:00Z"),  // x at risk on April 1st
		orderRec(2, "e-x2", "x", "10.00", "2026-01-06T00:00:00Z"), // late
	} {
		if _, err := p.Process(ctx, []pipeline.Record{rec}); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	var xs []string
	for _, c := range segmentLog(t, pub) {
		if strings.HasPrefix(c, "x ") {
			xs = append(xs, c)
		}
	}
	if want := []string{"x new→at_risk@timer:2026-04-01T00:00:00Z", "x →new@e-x1"}; strings.Join(xs, "|") != strings.Join(want, "|") {
		t.Errorf("x's segment changes %q, want %q", xs, want)
	}
	h := rc.HGetAll(ctx, "ltv:{x}").Val()
	if h["segment"] != aggregate.SegmentAtRisk || h["segment_since"] != "2026-04-01T00:00:00Z" || h["orders"] != "2" {
		t.Errorf("x: segment %q since %q, %s orders", h["segment"], h["segment_since"], h["orders"])
	}
	// Its next due time is the lapse, 180 days after the late order.
	lapse := time.Date(2026, 7, 5, 0, 0, 0, 0, time.UTC)
	if got := rc.ZScore(ctx, "ltv:{p0}:timers", "x").Val(); got != float64(lapse.Unix()) {
		t.Errorf("x's next due %v, want July 5th", time.Unix(int64(got), 0).UTC())
	}
	// Stream time past June 30th (the first order's lapse) but not July 5th:
	// x is still at risk; past July 5th it lapses, by that timer, and
	// leaves the index (no timer after lapsed).
	for i, step := range []struct{ id, at, want string }{
		{"e-y2", "2026-07-02T00:00:00Z", aggregate.SegmentAtRisk},
		{"e-y3", "2026-07-06T00:00:00Z", aggregate.SegmentLapsed},
	} {
		if _, err := p.Process(ctx, []pipeline.Record{orderRec(int64(3+i), step.id, "y", "10.00", step.at)}); err != nil {
			t.Fatal(err)
		}
		if got := rc.HGet(ctx, "ltv:{x}", "segment").Val(); got != step.want {
			t.Fatalf("x's segment at stream time %s: %q, want %q", step.at, got, step.want)
		}
	}
	if got := rc.HGet(ctx, "ltv:{x}", "segment_since").Val(); got != lapse.Format(time.RFC3339) {
		t.Errorf("x lapsed since %q, want its due time %s", got, lapse.Format(time.RFC3339))
	}
	if got := rc.ZScore(ctx, "ltv:{p0}:timers", "x"); got.Err() == nil {
		t.Errorf("x still indexed at %v after its last timer", time.Unix(int64(got.Val()), 0).UTC())
	}
}

// pageRecorder records the page sizes asked for in each request for due
// customers (the batch's first pages, read by Settle, and later rounds').
type pageRecorder struct {
	*store.Redis
	rounds [][]int
}

func (r *pageRecorder) record(due []store.DueQuery) {
	if len(due) == 0 {
		return
	}
	limits := make([]int, len(due))
	for i, q := range due {
		limits[i] = q.Limit
	}
	r.rounds = append(r.rounds, limits)
}

func (r *pageRecorder) Settle(ctx context.Context, u []store.TimerUpdate, times map[int32]time.Time, due []store.DueQuery) (map[int32]time.Time, [][]string, error) {
	r.record(due)
	return r.Redis.Settle(ctx, u, times, due)
}

func (r *pageRecorder) DueTimers(ctx context.Context, queries []store.DueQuery) ([][]string, error) {
	r.record(queries)
	return r.Redis.DueTimers(ctx, queries)
}

// A worker holding many partitions loads about MaxTimersPerRound due
// customers per round in all, not that many per partition: a replay that
// makes every partition's customers due at once stays within the memory
// a batch is sized for. Every due customer still fires within the batch.
func TestDueCustomersPerRoundAreSharedByThePartitions(t *testing.T) {
	const perRound, parts, perPart = 4, 4, 5
	var timers *pageRecorder
	p, pub, rc := setupConfig(t, func(c *pipeline.Config) {
		timers = &pageRecorder{Redis: c.Timers.(*store.Redis)}
		c.Timers, c.MaxTimersPerRound = timers, perRound
	})
	ctx := ctxT(t)
	var jan, may []pipeline.Record
	var ids []string
	for part := int32(0); part < parts; part++ {
		for i := 0; i < perPart; i++ {
			id := fmt.Sprintf("c%d-%d", part, i)
			ids = append(ids, id)
			r := orderRec(int64(i), "e-"+id, id, "10.00", "2026-01-01T00:00:00Z")
			r.Partition = part
			jan = append(jan, r)
		}
		late := fmt.Sprintf("late%d", part)
		r := orderRec(perPart, "e-"+late, late, "10.00", "2026-05-01T00:00:00Z")
		r.Partition = part
		may = append(may, r)
	}
	if _, err := p.Process(ctx, jan); err != nil {
		t.Fatal(err)
	}
	timers.rounds = nil
	stats, err := p.Process(ctx, may)
	if err != nil {
		t.Fatal(err)
	}
	if stats.TimersDue != parts*perPart {
		t.Fatalf("stats %+v: want all %d customers due", stats, parts*perPart)
	}
	if len(timers.rounds) < 2 {
		t.Fatalf("due customers asked for in %d rounds, want several (%d due, %d a round)", len(timers.rounds), parts*perPart, perRound)
	}
	for i, limits := range timers.rounds {
		sum := 0
		for _, l := range limits {
			sum += l
		}
		if sum > max(perRound, len(limits)) {
			t.Errorf("round %d asked for pages of %v: %d customers, want at most %d", i, limits, sum, perRound)
		}
	}
	var atRisk []string
	for _, m := range pub.topic("ltv-segments") {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["segment"] == aggregate.SegmentAtRisk {
			atRisk = append(atRisk, doc["customer_id"].(string))
		}
	}
	wantEachAtRiskOnce(ctx, t, rc, atRisk, ids)
}

// wantEachAtRiskOnce checks that the customers whose segment changes to
// at_risk were published (movedToAtRisk) are ids, each once, and that each
// one's stored segment is at_risk.
func wantEachAtRiskOnce(ctx context.Context, t *testing.T, rc *redis.Client, movedToAtRisk, ids []string) {
	t.Helper()
	sort.Strings(movedToAtRisk)
	if strings.Join(movedToAtRisk, ",") != strings.Join(ids, ",") {
		t.Fatalf("customers moved to at risk: %v, want each of %v once", movedToAtRisk, ids)
	}
	for _, id := range ids {
		if got := rc.HGet(ctx, "ltv:{"+id+"}", "segment").Val(); got != aggregate.SegmentAtRisk {
			t.Errorf("customer %s segment %q", id, got)
		}
	}
}
