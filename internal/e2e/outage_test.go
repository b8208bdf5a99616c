package e2e

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestRedisOutageMidStream stops Redis for a while during the stream (the
// data survives: Redis restarts from its append-only file). The consumer
// must report not-ready, commit nothing it has not made durable, resume by
// itself and end with exactly the recomputed state.
func TestRedisOutageMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: 4, Topics: []string{ordersTopic, lifecycleTopic, changesTopic, dlqTopic},
	})
	e := withRedis(&env{brokers: brokers}, testutil.StartPersistentRedis(t))
	p := produce(t, ctx, e.brokers, simConfig(30_000, 3_000))
	proc := startProc(t, "consumer", e.envFor(nil))
	total := int64(len(p.valid) + len(p.bad))
	if err := waitFor(ctx, "some progress", func() bool {
		lag, err := testutil.Lag(ctx, e.brokers, group, ordersTopic, lifecycleTopic)
		return err == nil && lag < total*3/4
	}); err != nil {
		t.Fatal(err)
	}
	e.redis.Shutdown()
	lagAtStop, _ := testutil.Lag(ctx, e.brokers, group, ordersTopic, lifecycleTopic)
	if err := waitFor(ctx, "/readyz to fail", func() bool { return !proc.ready() }); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	time.Sleep(5 * time.Second)
	lagWhileDown, _ := testutil.Lag(ctx, e.brokers, group, ordersTopic, lifecycleTopic)
	// In-flight batches may still commit right after the stop; once Redis
	// has been down a while, nothing moves. Redis stays down 10 s in all.
	time.Sleep(5 * time.Second)
	lagLater, _ := testutil.Lag(ctx, e.brokers, group, ordersTopic, lifecycleTopic)
	if lagLater != lagWhileDown {
		t.Errorf("offsets committed while Redis was down: lag %d then %d", lagWhileDown, lagLater)
	}
	e.redis.Start()
	if err := testutil.WaitCaughtUp(ctx, e.brokers, group, ordersTopic, lifecycleTopic); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	if err := waitFor(ctx, "/readyz to recover", proc.ready); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	t.Logf("redis stopped at lag %d (of %d); lag while down %d", lagAtStop, total, lagWhileDown)
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
}
