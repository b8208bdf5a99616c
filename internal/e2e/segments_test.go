package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/segmentio/kafka-go"
)

// segmentOutcome is what a run left: each customer's stored segment and
// the distinct segment events published, with how many of them timers
// made, in all and per segment they moved to (so a test can demand that
// its stream exercised the clock).
type segmentOutcome struct {
	stored      map[string]string
	ids         map[string]bool
	timerCaused int
	timerTo     map[string]int
}

// segmentRule is the pair of SPEC §8 thresholds a service under test runs
// with, for the segment checks: idle time since the last order after which
// a customer is at risk, and lapsed.
type segmentRule struct{ atRisk, lapsed time.Duration }

// defaultSegmentRule is SPEC §7's defaults (90 and 180 days), written out
// here rather than taken from the service's constants, so a wrong default
// there cannot agree with itself.
var defaultSegmentRule = segmentRule{atRisk: 90 * 24 * time.Hour, lapsed: 180 * 24 * time.Hour}

// segmentRule is the thresholds e's services run with.
func (e *env) segmentRule() segmentRule {
	if e.segments == (segmentRule{}) {
		return defaultSegmentRule
	}
	return e.segments
}

// validInputs is what the segment checks need of the valid records: each
// input partition's expected final stream time (the latest valid
// occurred_at, SPEC §8), where a key goes (murmur2, the Java clients'
// partitioner, as the test's producers place it), and the occurred_at of
// every valid event by customer and event_id, so that a segment change's
// caused_by and occurred_at can be traced to its input.
type validInputs struct {
	streamTime  map[int]time.Time
	partitionOf func(key []byte) int
	occurredAt  map[[2]string]time.Time // {customer_id, event_id} → occurred_at
}

func validInputsOf(t *testing.T, ctx context.Context, e *env, p produced) validInputs {
	t.Helper()
	parts, err := stream.Partitions(ctx, e.brokers, settings.DefaultOrdersTopic)
	if err != nil {
		t.Fatal(err)
	}
	balancer := &kafka.Murmur2Balancer{}
	in := validInputs{
		streamTime:  map[int]time.Time{},
		partitionOf: func(key []byte) int { return balancer.Balance(kafka.Message{Key: key}, parts...) },
		occurredAt:  map[[2]string]time.Time{},
	}
	for _, r := range p.valid {
		var ev struct {
			EventID    string `json:"event_id"`
			CustomerID string `json:"customer_id"`
			OccurredAt string `json:"occurred_at"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, ev.OccurredAt)
		if err != nil {
			t.Fatal(err)
		}
		in.occurredAt[[2]string{ev.CustomerID, ev.EventID}] = at
		if part := in.partitionOf(r.Key); at.After(in.streamTime[part]) {
			in.streamTime[part] = at
		}
	}
	return in
}

// checkSegments checks SPEC §8 after a drained run: every partition's
// stored stream time is the latest valid event's time of that partition;
// every customer's stored segment is the rule (e's thresholds) applied to
// its state at that time; the segment chains read from topic are
// unbroken, start at "", end at the stored segment, and hold copies only
// as exact re-emissions; segment_since is the occurred_at of the chain's
// last event; and every event traces to its cause (checkSegmentCause).
func checkSegments(t *testing.T, ctx context.Context, e *env, p produced, o *oracle.Oracle, topic string) segmentOutcome {
	t.Helper()
	in := validInputsOf(t, ctx, e, p)
	rule := e.segmentRule()
	for part, want := range in.streamTime {
		got, err := e.rc.Get(ctx, fmt.Sprintf("ltv:{p%d}:stream_time", part)).Result()
		if err != nil {
			t.Fatalf("stream time of partition %d: %v", part, err)
		}
		if gotT, err := time.Parse(time.RFC3339Nano, got); err != nil || !gotT.Equal(want) {
			t.Errorf("partition %d stream time %q, want %s", part, got, want.Format(time.RFC3339Nano))
		}
	}
	out := segmentOutcome{stored: map[string]string{}, ids: map[string]bool{}, timerTo: map[string]int{}}
	storedSince := map[string]string{}
	bad := 0
	for _, id := range o.Customers() {
		h, err := e.rc.HMGet(ctx, "ltv:{"+id+"}", "segment", "segment_since").Result()
		if err != nil {
			t.Fatal(err)
		}
		seg, _ := h[0].(string)
		since, _ := h[1].(string)
		out.stored[id], storedSince[id] = seg, since
		part := in.partitionOf([]byte(id))
		now := in.streamTime[part]
		want := o.Segment(id, now, rule.atRisk, rule.lapsed)
		if seg != want {
			if bad++; bad <= 20 {
				t.Errorf("customer %s segment %q, want %q at its partition's stream time %s", id, seg, want, now.Format(time.RFC3339))
				sc, zerr := e.rc.ZScore(ctx, fmt.Sprintf("ltv:{p%d}:timers", part), id).Result()
				ver, _ := e.rc.HGet(ctx, fmt.Sprintf("ltv:{p%d}:timer_versions", part), id).Result()
				h2, _ := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
				t.Logf("  %s: index entry of partition %d due %s (%v), version %q; segment_since %s, last_order_at %s",
					id, part, time.Unix(int64(sc), 0).UTC().Format(time.RFC3339), zerr, ver, h2["segment_since"], h2["last_order_at"])
			}
		}
		if (seg != "") != (since != "") {
			t.Errorf("customer %s segment %q with segment_since %q", id, seg, since)
		}
	}
	if bad > 0 {
		t.Fatalf("%d customers in the wrong segment", bad)
	}

	chains, published := readChains(ctx, t, e.brokers, topic, aggregate.SchemaSegment)
	wrongCause := 0
	for id, chain := range chains {
		if _, ok := out.stored[id]; !ok {
			t.Errorf("%d segment events for customer %q, who has no valid event", len(chain), id)
		}
		final := in.streamTime[in.partitionOf([]byte(id))]
		for _, s := range chain {
			out.ids[s.EventID] = true
			if strings.HasPrefix(s.CausedBy, aggregate.TimerCausePrefix) {
				out.timerCaused++
				out.timerTo[s.Segment]++
			}
			if err := checkSegmentCause(s, rule, in.occurredAt, final); err != nil {
				if wrongCause++; wrongCause <= 20 {
					t.Errorf("customer %s segment event %s (%q→%q, caused by %s at %s): %v",
						id, s.EventID, s.PreviousSegment, s.Segment, s.CausedBy, s.OccurredAt, err)
				}
			}
		}
	}
	for id, seg := range out.stored {
		prev, lastAt := "", ""
		for _, s := range chains[id] {
			if s.PreviousSegment != prev {
				t.Errorf("customer %s segment chain broken: %q then %q→%q", id, prev, s.PreviousSegment, s.Segment)
			}
			prev, lastAt = s.Segment, s.OccurredAt
		}
		if prev != seg {
			t.Errorf("customer %s segment chain ends at %q, stored %q", id, prev, seg)
		}
		if seg != "" && !sameInstant(storedSince[id], lastAt) {
			t.Errorf("customer %s segment_since %q, but the change to %q occurred at %q", id, storedSince[id], seg, lastAt)
		}
	}
	t.Logf("segments: %d customers, %d segment events (%d distinct, %d caused by timers: %v)",
		len(out.stored), published.total, published.distinct, out.timerCaused, out.timerTo)
	return out
}

// checkSegmentCause checks that a segment change traces to its cause. One
// an input event made names a valid event of the same customer and carries
// its occurred_at. One a timer made (caused_by "timer:<due>") occurred at
// its due time, which is no later than its partition's final stream time
// (a timer fires only once stream time passes it), and is the moment its
// segment begins by SPEC §8: last_order_at + at_risk_after_days for
// at_risk, + lapsed_after_days for lapsed. Without the predictive model a
// timer can make no other change.
func checkSegmentCause(s schemas.Change, rule segmentRule, occurredAt map[[2]string]time.Time, finalStreamTime time.Time) error {
	at, err := time.Parse(time.RFC3339Nano, s.OccurredAt)
	if err != nil {
		return fmt.Errorf("occurred_at: %w", err)
	}
	due, byTimer := strings.CutPrefix(s.CausedBy, aggregate.TimerCausePrefix)
	if !byTimer {
		want, ok := occurredAt[[2]string{s.CustomerID, s.CausedBy}]
		switch {
		case !ok:
			return errors.New("caused_by names no valid event of this customer")
		case !at.Equal(want):
			return fmt.Errorf("its cause occurred at %s", want.Format(time.RFC3339Nano))
		}
		return nil
	}
	dueAt, err := time.Parse(time.RFC3339Nano, due)
	if err != nil {
		return fmt.Errorf("timer due time: %w", err)
	}
	lastOrder, err := time.Parse(time.RFC3339Nano, s.LastOrderAt)
	if err != nil {
		return fmt.Errorf("a timer change needs last_order_at: %w", err)
	}
	after, ok := timerSteps[s.Segment]
	switch {
	case !at.Equal(dueAt):
		return errors.New("a timer change occurs at its due time")
	case dueAt.After(finalStreamTime):
		return fmt.Errorf("fired past its partition's final stream time %s", finalStreamTime.Format(time.RFC3339Nano))
	case !ok:
		return errors.New("a timer can only make a customer at_risk or lapsed")
	case !slices.Contains(after.from, s.PreviousSegment):
		return fmt.Errorf("a timer moves a customer to %s only from %v", s.Segment, after.from)
	case !dueAt.Equal(lastOrder.Add(after.idle(rule))):
		return fmt.Errorf("due %s after last_order_at %s, want %s", dueAt.Sub(lastOrder), s.LastOrderAt, after.idle(rule))
	}
	return nil
}

// timerSteps are the changes a timer can make without the predictive
// model (SPEC §8): the segment it moves a customer to, from which, and at
// which idle time since the last order. Due times come one after the
// other (at risk, then lapsed), and the customer is re-evaluated at each,
// so a timer never skips a step: active → lapsed by a timer would mean
// the at-risk timer was lost.
var timerSteps = map[string]struct {
	from []string
	idle func(segmentRule) time.Duration
}{
	"at_risk": {from: []string{"new", "active"}, idle: func(r segmentRule) time.Duration { return r.atRisk }},
	"lapsed":  {from: []string{"at_risk"}, idle: func(r segmentRule) time.Duration { return r.lapsed }},
}

// sameInstant reports whether two RFC 3339 texts name the same instant.
func sameInstant(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Equal(tb)
}

// TestReplayGivesTheSameSegments drains a simulated stream with late and
// duplicate events, then replays the same topics with a new group into a
// fresh Redis and fresh output topics: the final segments and the set of
// segment event ids are the same, whatever the interleaving of the two
// input topics in each run, and so are the tier changes (ids and content
// but emitted_at).
func TestReplayGivesTheSameSegments(t *testing.T) {
	replayGivesTheSameSegments(t, 4)
}

// TestReplayGivesTheSameSegmentsWithManyPartitionsPerWorker: the same
// with one worker reading 48 partitions of both topics and small batches,
// so the merge's bound (8 batches, 320 records) is far below what 96
// fetchers would hold at half a batch each (1,920), and each partition
// gets only a few records ahead. The fetchers share the bound, and a
// record waits for a partition that keeps delivering however long it
// takes, so the merge never lets records go in fetch order. (Without
// either, thousands of segment event ids differed between the runs.)
func TestReplayGivesTheSameSegmentsWithManyPartitionsPerWorker(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "replays a stream twice")
	replayGivesTheSameSegments(t, 48, "--workers", "1", "--max-batch", "40")
}

func replayGivesTheSameSegments(t *testing.T, partitions int, args ...string) {
	ctx := testutil.Context(t, 4*time.Minute)
	e := newEnv(t, partitions)
	p := produce(t, ctx, e.brokers, simConfig(20_000, 2_000))
	first := startService(t, e.config(t, args...))
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	first.stop(t)
	live := check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
	if live.timerCaused == 0 {
		t.Fatal("no segment change was caused by a timer: the stream does not exercise the clock")
	}

	replay := withRedis(&env{kafka: e.kafka, brokers: e.brokers}, testutil.StartRedis(t))
	for _, topic := range []string{"replay-changes", "replay-segments", "replay-dlq"} {
		if err := testutil.CreateTopic(ctx, e.brokers, topic, partitions); err != nil {
			t.Fatal(err)
		}
	}
	cfg := replay.config(t, args...)
	cfg.GroupID, cfg.ChangesTopic, cfg.SegmentsTopic, cfg.DLQTopic = "replay", "replay-changes", "replay-segments", "replay-dlq"
	second := startService(t, cfg)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, "replay", settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	second.stop(t)
	o := oracleOf(t, p)
	again := checkSegments(t, ctx, replay, p, o, "replay-segments")
	for id, seg := range live.stored {
		if again.stored[id] != seg {
			t.Errorf("customer %s: segment %q live, %q in the replay", id, seg, again.stored[id])
		}
	}
	var onlyLive, onlyReplay []string
	for id := range live.ids {
		if !again.ids[id] {
			onlyLive = append(onlyLive, id)
		}
	}
	for id := range again.ids {
		if !live.ids[id] {
			onlyReplay = append(onlyReplay, id)
		}
	}
	sort.Strings(onlyLive)
	sort.Strings(onlyReplay)
	if len(onlyLive)+len(onlyReplay) > 0 {
		t.Fatalf("segment event ids differ: %d only live %v, %d only in the replay %v",
			len(onlyLive), head(onlyLive), len(onlyReplay), head(onlyReplay))
	}
	sameChanges(t, ctx, e.brokers, settings.DefaultChangesTopic, "replay-changes")
}

// sameChanges checks SPEC §5's promise that a change's event_id derives
// from its cause on a replay: the tier changes of the live run (on topic
// live) and of the replay (on topic replay) are the same events, with the
// same ids and, but for emitted_at (the wall clock), the same content.
func sameChanges(t *testing.T, ctx context.Context, brokers []string, live, replay string) {
	t.Helper()
	byID := func(topic string) map[string]schemas.Change {
		chains, _ := readChains(ctx, t, brokers, topic, "ltv.change.v1")
		out := map[string]schemas.Change{}
		for _, chain := range chains {
			for _, c := range chain {
				c.EmittedAt = ""
				out[c.EventID] = c
			}
		}
		return out
	}
	a, b := byID(live), byID(replay)
	if len(a) == 0 {
		t.Fatal("no tier change in the live run")
	}
	var differ []string
	for id, c := range a {
		if r, ok := b[id]; !ok || r != c {
			differ = append(differ, fmt.Sprintf("%s: live %+v, replay %+v", id, c, r))
		}
	}
	for id, r := range b {
		if _, ok := a[id]; !ok {
			differ = append(differ, fmt.Sprintf("%s: only in the replay %+v", id, r))
		}
	}
	sort.Strings(differ)
	if len(differ) > 0 {
		t.Fatalf("%d of %d tier changes differ between the live run and the replay: %v", len(differ), len(a), head(differ))
	}
	t.Logf("%d tier changes, the same in the replay", len(a))
}

func head(s []string) []string { return s[:min(len(s), 5)] }
