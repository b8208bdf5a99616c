package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// segmentOutcome is what a run left: each customer's stored segment and
// the distinct segment events published.
type segmentOutcome struct {
	stored      map[string]string
	ids         map[string]bool
	timerCaused int
}

// streamTimes computes each input partition's expected final stream time
// from the valid records, placing each key as the test's producer does
// (murmur2, the Java clients' partitioner).
func streamTimes(t *testing.T, ctx context.Context, e *env, p produced) (map[int]time.Time, func(key []byte) int) {
	t.Helper()
	parts, err := stream.Partitions(ctx, e.brokers, settings.DefaultOrdersTopic)
	if err != nil {
		t.Fatal(err)
	}
	balancer := &kafka.Murmur2Balancer{}
	partitionOf := func(key []byte) int { return balancer.Balance(kafka.Message{Key: key}, parts...) }
	out := map[int]time.Time{}
	for _, r := range p.valid {
		var ev struct {
			OccurredAt string `json:"occurred_at"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, ev.OccurredAt)
		if err != nil {
			t.Fatal(err)
		}
		if part := partitionOf(r.Key); at.After(out[part]) {
			out[part] = at
		}
	}
	return out, partitionOf
}

// checkSegments checks SPEC §8 after a drained run: every partition's
// stored stream time is the latest valid event's time of that partition;
// every customer's stored segment is the rule applied to its state at that
// time; segment_since and the channel are set; the segment chains read
// from topic are unbroken, start at "", end at the stored segment, and
// hold copies only as exact re-emissions.
func checkSegments(t *testing.T, ctx context.Context, e *env, p produced, o *oracle.Oracle, topic string) segmentOutcome {
	t.Helper()
	times, partitionOf := streamTimes(t, ctx, e, p)
	for part, want := range times {
		got, err := e.rc.Get(ctx, fmt.Sprintf("ltv:{p%d}:stream_time", part)).Result()
		if err != nil {
			t.Fatalf("stream time of partition %d: %v", part, err)
		}
		if gotT, err := time.Parse(time.RFC3339Nano, got); err != nil || !gotT.Equal(want) {
			t.Errorf("partition %d stream time %q, want %s", part, got, want.Format(time.RFC3339Nano))
		}
	}
	out := segmentOutcome{stored: map[string]string{}, ids: map[string]bool{}}
	bad := 0
	for _, id := range o.Customers() {
		h, err := e.rc.HMGet(ctx, "ltv:{"+id+"}", "segment", "segment_since").Result()
		if err != nil {
			t.Fatal(err)
		}
		seg, _ := h[0].(string)
		since, _ := h[1].(string)
		out.stored[id] = seg
		now := times[partitionOf([]byte(id))]
		want := o.Segment(id, now, aggregate.DefaultAtRiskAfterDays*aggregate.Day, aggregate.DefaultLapsedAfterDays*aggregate.Day)
		if seg != want {
			if bad++; bad <= 20 {
				t.Errorf("customer %s segment %q, want %q at its partition's stream time %s", id, seg, want, now.Format(time.RFC3339))
				part := partitionOf([]byte(id))
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
	for _, chain := range chains {
		for _, s := range chain {
			out.ids[s.EventID] = true
			if strings.HasPrefix(s.CausedBy, aggregate.TimerCausePrefix) {
				out.timerCaused++
				if s.OccurredAt != strings.TrimPrefix(s.CausedBy, aggregate.TimerCausePrefix) {
					t.Errorf("timer change %s occurred at %s", s.CausedBy, s.OccurredAt)
				}
			}
		}
	}
	for id, seg := range out.stored {
		prev := ""
		for _, s := range chains[id] {
			if s.PreviousSegment != prev {
				t.Errorf("customer %s segment chain broken: %q then %q→%q", id, prev, s.PreviousSegment, s.Segment)
			}
			prev = s.Segment
		}
		if prev != seg {
			t.Errorf("customer %s segment chain ends at %q, stored %q", id, prev, seg)
		}
	}
	t.Logf("segments: %d customers, %d segment events (%d distinct, %d caused by timers)", len(out.stored), published.total, published.distinct, out.timerCaused)
	return out
}

// TestReplayGivesTheSameSegments drains a simulated stream with late and
// duplicate events, then replays the same topics with a new group into a
// fresh Redis and fresh output topics: the final segments and the set of
// segment event ids are the same, whatever the interleaving of the two
// input topics in each run.
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
}

func head(s []string) []string { return s[:min(len(s), 5)] }
