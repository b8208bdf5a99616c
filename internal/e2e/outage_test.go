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
//
// The last quarter of the stream is written only once Redis is down, so
// the consumer certainly holds records it cannot make durable during the
// outage: the group's lag must be above 0 then (were it 0, a consumer
// that commits without Redis would pass unnoticed), must not move while
// Redis stays down, and must come back to 0 once Redis is back.
func TestRedisOutageMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: 4, Topics: allTopics,
	})
	e := withRedis(&env{brokers: brokers}, testutil.StartPersistentRedis(t))
	msgs, p := generate(t, simConfig(30_000, 3_000))
	total := int64(len(msgs))
	head, tail := msgs[:len(msgs)*3/4], msgs[len(msgs)*3/4:]
	write(t, ctx, e.brokers, head)
	proc := startProc(t, "consumer", e.envFor(nil))
	lag := func() int64 {
		t.Helper()
		n, err := testutil.Lag(ctx, e.brokers, group, ordersTopic, lifecycleTopic)
		if err != nil {
			t.Fatalf("lag: %v", err)
		}
		return n
	}
	// Stop Redis mid-stream, with batches in flight.
	if err := waitFor(ctx, "some progress", func() bool {
		n, err := testutil.Lag(ctx, e.brokers, group, ordersTopic, lifecycleTopic)
		return err == nil && n < int64(len(head))*3/4
	}); err != nil {
		t.Fatal(err)
	}
	e.redis.Shutdown()
	lagAtStop := lag()
	write(t, ctx, e.brokers, tail)
	if err := waitFor(ctx, "/readyz to fail", func() bool { return !proc.ready() }); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	// The sleeps are the outage itself: Redis (a real server) stays down
	// 10 s in all while the consumer (a child process) keeps retrying, and
	// the test watches that no offset moves meanwhile. In-flight batches
	// that reached Redis before the stop may still commit during the
	// first seconds; after that, nothing moves.
	time.Sleep(5 * time.Second)
	lagWhileDown := lag()
	if lagWhileDown == 0 {
		t.Fatalf("lag 0 with Redis down (the last %d records were written after the stop): offsets were committed for records never made durable, or the test proves nothing\n%s",
			len(tail), proc.logTail())
	}
	time.Sleep(5 * time.Second)
	if lagLater := lag(); lagLater != lagWhileDown {
		t.Errorf("offsets committed while Redis was down: lag %d then %d", lagWhileDown, lagLater)
	}
	e.redis.Start()
	if err := testutil.WaitCaughtUp(ctx, e.brokers, group, ordersTopic, lifecycleTopic); err != nil {
		t.Fatalf("lag did not come back to 0 after Redis returned: %v\n%s", err, proc.logTail())
	}
	if err := waitFor(ctx, "/readyz to recover", proc.ready); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	t.Logf("redis stopped at lag %d (of %d records; %d more written during the outage); lag while down %d, then 0",
		lagAtStop, total, len(tail), lagWhileDown)
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
}
