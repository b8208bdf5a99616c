// The consumer's counters against what the stream held, through a batch
// that is made again.

package e2e

import (
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestCountersCountABatchMadeAgainOnce: Redis restarts (keeping every
// write) right after a batch's outputs are published and before it is
// done. The batch finds a new Redis run id and is made again
// (docs/guarantees.md). ltv_events_consumed_total counts input records
// "once per successful batch" (its help; docs/operations.md: "input
// records handled"), so after the stream it must equal the records
// written, and every record must be counted once as applied, duplicate,
// redelivered or dead-lettered; ltv_redis_master_changes_total shows the
// batch made again.
func TestCountersCountABatchMadeAgainOnce(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 2*time.Minute)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 4, Topics: allTopics})
	e := withRedis(&env{brokers: brokers}, testutil.StartPersistentRedis(t))
	msgs, p := generate(t, simConfig(4_000, 400))
	write(t, ctx, e.brokers, msgs)

	var once sync.Once
	var restarted atomic.Bool
	var addr atomic.Value
	cfg := e.config(t)
	startServiceWith(t, cfg, service.Options{
		Listening: func(a string) { addr.Store(a) },
		AfterStage: func(stage string) {
			if stage == "publish" {
				once.Do(func() {
					e.redis.Restart(0) // graceful: every write kept, a new run id
					restarted.Store(true)
				})
			}
		},
	}, 40*time.Second)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	if !restarted.Load() {
		t.Fatal("no batch published: the test proves nothing")
	}
	base := "http://" + addr.Load().(string)
	value := func(series string) int {
		return int(metricValue(base, series))
	}
	if n := value("ltv_redis_master_changes_total"); n < 1 {
		t.Fatalf("ltv_redis_master_changes_total = %d: no batch was made again, the test proves nothing", n)
	}
	consumed := value("ltv_events_consumed_total")
	parts := map[string]int{}
	for _, s := range []string{"ltv_events_applied_total", `ltv_events_duplicate_total{kind="event_id"}`,
		`ltv_events_duplicate_total{kind="redelivery"}`, "ltv_events_dead_lettered_total"} {
		parts[s] = value(s)
	}
	sum := 0
	for _, n := range parts {
		sum += n
	}
	if consumed != len(msgs) || sum != len(msgs) {
		t.Errorf("%d records written; ltv_events_consumed_total = %d, and applied, duplicates, redeliveries and dead letters add up to %d (%v)",
			len(msgs), consumed, sum, fmt.Sprint(parts))
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}
