package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestChangedSegmentThresholdsOnRedisCluster is
// TestChangedSegmentThresholdsReachQuietCustomers on a Redis Cluster of
// three masters, with three input partitions and thirty quiet customers
// (one or two orders between January 2025 and December 2025): new, active,
// at risk and lapsed under 90/180 days when the service restarts under
// 7/365. Once the walk has recorded the new rules, one event on every
// partition moves its stream time to March 2026, and then every customer's
// stored segment is the new rule's at its partition's final stream time
// (read from ltv:{p<N>}:stream_time), and its published chain starts at
// "", is unbroken and ends at the stored segment.
func TestChangedSegmentThresholdsOnRedisCluster(t *testing.T) {
	const partitions = 3
	ctx := testutil.Context(t, 3*time.Minute)
	e := newClusterEnv(t, partitions, 1, 3)
	partitionOf := func(key string) int {
		return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(key)}, 0, 1, 2)
	}

	var quiet []string
	var msgs []kafka.Message
	onPartition := map[int]int{}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		cust := fmt.Sprintf("q-%02d", i)
		quiet = append(quiet, cust)
		onPartition[partitionOf(cust)]++
		first := start.Add(time.Duration(i) * 11 * aggregate.Day)
		msgs = append(msgs, tenSEKOrder(cust+"-1", cust, first.Format(time.RFC3339)))
		if i%3 == 0 {
			msgs = append(msgs, tenSEKOrder(cust+"-2", cust, first.Add(4*aggregate.Day).Format(time.RFC3339)))
		}
	}
	if len(onPartition) != partitions {
		t.Fatalf("the quiet customers are on partitions %v, want all %d", onPartition, partitions)
	}
	// A tick customer per partition: its orders move that partition's
	// stream time.
	ticks := map[int]string{}
	for i := 0; len(ticks) < partitions; i++ {
		cust := fmt.Sprintf("tick-%d", i)
		if _, ok := ticks[partitionOf(cust)]; !ok {
			ticks[partitionOf(cust)] = cust
		}
	}
	for p, cust := range ticks {
		msgs = append(msgs, tenSEKOrder(cust+"-1", cust, fmt.Sprintf("2025-12-%02dT00:00:00Z", 20+p)))
	}
	write(t, ctx, e.brokers, msgs)
	svc := startService(t, e.config(t))
	caughtUp(ctx, t, e)
	waitTimerRules(ctx, t, e, "2160h0m0s/4320h0m0s", "at_risk_after", "lapsed_after")
	svc.stop(t)
	before := map[string]int{}
	for _, cust := range quiet {
		before[e.rc.HGet(ctx, store.Key(cust), "segment").Val()]++
	}
	for _, seg := range []string{aggregate.SegmentNew, aggregate.SegmentActive, aggregate.SegmentAtRisk, aggregate.SegmentLapsed} {
		if before[seg] == 0 {
			t.Fatalf("under 90/180 days the quiet customers' segments are %v; the test wants each of new, active, at_risk, lapsed", before)
		}
	}

	svc = startService(t, e.config(t, "--config", testutil.WriteFile(t, "rules.yaml", "at_risk_after_days: 7\nlapsed_after_days: 365\n")))
	defer svc.stop(t)
	waitTimerRules(ctx, t, e, "168h0m0s/8760h0m0s", "at_risk_after", "lapsed_after")
	msgs = nil
	for p, cust := range ticks {
		msgs = append(msgs, tenSEKOrder(cust+"-2", cust, fmt.Sprintf("2026-03-%02dT00:00:00Z", 1+p)))
	}
	write(t, ctx, e.brokers, msgs)
	caughtUp(ctx, t, e)

	rule := aggregate.DefaultModel()
	rule.AtRiskAfter, rule.LapsedAfter = 7*aggregate.Day, 365*aggregate.Day
	streamTime := map[int]time.Time{}
	for p := 0; p < partitions; p++ {
		v := e.rc.Get(ctx, store.StreamTimeKey(int32(p))).Val()
		st, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatalf("partition %d stream time %q: %v", p, v, err)
		}
		streamTime[p] = st
	}
	// The last changes can be published a moment after the commit that
	// WaitCaughtUp saw: the chains are read until they end at the stored
	// segments, for 20 seconds at most.
	deadline := time.Now().Add(20 * time.Second)
	var problems []string
	var after map[string]int
	for {
		problems, after = nil, map[string]int{}
		chains := readSegmentChains(ctx, t, e.brokers)
		for _, cust := range quiet {
			h := e.rc.HGetAll(ctx, store.Key(cust)).Val()
			var orders int64
			fmt.Sscan(h["orders"], &orders)
			last, err := time.Parse(time.RFC3339Nano, h["last_order_at"])
			if err != nil {
				t.Fatalf("%s last_order_at %q: %v", cust, h["last_order_at"], err)
			}
			p := partitionOf(cust)
			want := rule.SegmentAt(&aggregate.State{Orders: orders, LastOrderAt: last}, streamTime[p])
			after[h["segment"]]++
			if h["segment"] != want {
				problems = append(problems, fmt.Sprintf("%s (partition %d, last order %s): stored %q, the new rule at %s gives %q",
					cust, p, h["last_order_at"], h["segment"], streamTime[p].Format(time.RFC3339), want))
			}
			prev := ""
			var chain []string
			for _, d := range chains[cust] {
				chain = append(chain, d.PreviousSegment+"→"+d.Segment+"@"+d.CausedBy)
				if d.PreviousSegment != prev {
					problems = append(problems, fmt.Sprintf("%s: chain broken at %s→%s after %q", cust, d.PreviousSegment, d.Segment, prev))
				}
				prev = d.Segment
			}
			if prev != h["segment"] {
				problems = append(problems, fmt.Sprintf("%s: chain %s ends at %q, stored %q", cust, strings.Join(chain, " "), prev, h["segment"]))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// Under 7/365 days in March 2026, the quiet customers are at risk or
	// lapsed; some of each.
	if after[aggregate.SegmentAtRisk] == 0 || after[aggregate.SegmentLapsed] == 0 || after[aggregate.SegmentAtRisk]+after[aggregate.SegmentLapsed] != len(quiet) {
		t.Errorf("segments after the change %v, want at_risk and lapsed only, some of each", after)
	}
}
