// Faults during the stream: the broker failing requests (the service in
// this process), and Redis going down (the real binary).

package e2e

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// brokerFault makes the Kafka-protocol broker misbehave while it is on:
// requests it matches are answered by closing the client's connection, as
// a broker that crashed or a network cut would.
type brokerFault struct {
	on atomic.Bool
}

// install intercepts requests of the given key (-1: all) for which match
// returns true.
func (f *brokerFault) install(c *kfake.Cluster, key int16, match func(kmsg.Request) bool) {
	c.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if f.on.Load() && match(req) {
			return nil, errors.New("injected broker fault"), true
		}
		return nil, nil, false
	})
}

func producesTo(topic string) func(kmsg.Request) bool {
	return func(req kmsg.Request) bool {
		p, ok := req.(*kmsg.ProduceRequest)
		if !ok {
			return false
		}
		for _, t := range p.Topics {
			if t.Topic == topic {
				return true
			}
		}
		return false
	}
}

// inProcess runs the service in this process, with the further flags
// args, and returns its HTTP address.
func inProcess(t *testing.T, e *env, args ...string) (stop func(), httpAddr func() string) {
	t.Helper()
	cfg := e.config(t, args...)
	cfg.SessionTimeout = 3 * time.Second
	var addr atomic.Value
	r := startServiceWith(t, cfg, service.Options{Logger: zap.NewNop(), Listening: func(a string) { addr.Store(a) }}, 40*time.Second)
	return func() { r.stop(t) }, func() string { a, _ := addr.Load().(string); return a }
}

func readyz(addr string) bool {
	if addr == "" {
		return false
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// faultRun is the common shape of the outage tests: the first quarter of a
// stream is consumed and committed; the fault starts; while it lasts the
// consumer must report not-ready and commit nothing new; after it ends the
// consumer resumes by itself and the outcome is exactly the recomputation.
//
// probe true: the fault spares the input topics, so the rest of the stream
// is written once the fault holds (the consumer then certainly meets
// records whose outputs fail: written before, a fast consumer could drain
// them before the fault begins), and the test's lag queries check that no
// offset moves. probe false: the fault also blocks the test's own writes
// and lag queries, so the rest is written before it starts and the
// "nothing committed" check is left to the broker, which refuses commits.
func faultRun(t *testing.T, e *env, faultOn, faultOff func(), outage time.Duration, probe bool) {
	t.Helper()
	ctx := testutil.Context(t, 4*time.Minute)
	msgs, p := generate(t, simConfig(30_000, 3_000))
	total := int64(len(msgs))
	first, rest := msgs[:len(msgs)/4], msgs[len(msgs)/4:]
	write(t, ctx, e.brokers, first)
	_, addr := inProcess(t, e)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	if !probe {
		write(t, ctx, e.brokers, rest)
	}
	faultOn()
	if probe {
		write(t, ctx, e.brokers, rest)
	}
	if err := waitFor(ctx, "/readyz to fail", func() bool { return !readyz(addr()) }); err != nil {
		t.Fatal(err)
	}
	var lag2 int64 = -1
	if probe {
		time.Sleep(outage / 2) // in-flight batches finish or fail
		lag1, err1 := lagOK(ctx, e)
		time.Sleep(outage / 2)
		var err2 error
		lag2, err2 = lagOK(ctx, e)
		if err1 != nil || err2 != nil {
			t.Fatalf("lag probes failed: %v %v", err1, err2)
		}
		if lag1 != lag2 {
			t.Errorf("offsets were committed during the fault: lag %d then %d", lag1, lag2)
		}
		if lag1 == 0 {
			t.Errorf("the stream was drained before the fault took effect; the test proves nothing")
		}
		// What the dashboard and the alerts read (deploy/grafana).
		base := "http://" + addr()
		if n := metricValue(base, "ltv_batch_failures_total"); n < 1 {
			t.Errorf("ltv_batch_failures_total = %v during the fault", n)
		}
		if metricValue(base, `ltv_dependency_up{dependency="processing"}`) != 0 || metricValue(base, "ltv_ready") != 0 {
			t.Errorf("processing reported up during the fault")
		}
	} else {
		time.Sleep(outage)
	}
	faultOff()
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "/readyz to recover", func() bool { return readyz(addr()) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("fault held the group at lag %d of %d records for %s", lag2, total, outage)
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}

// brokerFaultRun is faultRun (skipped in short mode) on a fresh 4-partition
// environment whose broker fails the requests of key (-1: all) that match.
func brokerFaultRun(t *testing.T, key int16, match func(kmsg.Request) bool, outage time.Duration, probe bool) {
	t.Helper()
	testutil.SkipShort(t, "short mode")
	e := newEnv(t, 4)
	var f brokerFault
	f.install(e.kafka, key, match)
	faultRun(t, e, func() { f.on.Store(true) }, func() { f.on.Store(false) }, outage, probe)
}

// lagOK reads the group lag through a connection the fault does not
// affect (offset fetches are not intercepted by these tests).
func lagOK(ctx context.Context, e *env) (int64, error) {
	return testutil.Lag(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
}

// TestChangesProduceFailing: produce requests to ltv-changes fail. No
// offset may be committed past an event whose change is not acknowledged.
func TestChangesProduceFailing(t *testing.T) {
	brokerFaultRun(t, int16(kmsg.Produce), producesTo(settings.DefaultChangesTopic), 6*time.Second, true)
}

// TestDLQUnreachable: the DLQ cannot be written. The consumer must stop
// making progress rather than drop a bad record, and deliver every one
// once the DLQ is back.
func TestDLQUnreachable(t *testing.T) {
	brokerFaultRun(t, int16(kmsg.Produce), producesTo(settings.DefaultDLQTopic), 6*time.Second, true)
}

// TestKafkaUnreachable: every request of the consumer's connections fails
// (fetch, produce, commit, heartbeat, metadata), as when the broker is
// down; the broker itself refuses any commit meanwhile.
func TestKafkaUnreachable(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	brokerFaultRun(t, -1, func(kmsg.Request) bool { return true }, 8*time.Second, false)
}

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
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 3*time.Minute)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: 4, Topics: allTopics,
	})
	e := withRedis(&env{brokers: brokers}, testutil.StartPersistentRedis(t))
	msgs, p := generate(t, simConfig(30_000, 3_000))
	total := int64(len(msgs))
	head, tail := msgs[:len(msgs)*3/4], msgs[len(msgs)*3/4:]
	write(t, ctx, e.brokers, head)
	proc := startProc(t, "consumer", e.envFor(nil))
	lag := func() int64 { t.Helper(); return inputLag(t, ctx, e.brokers) }
	// Stop Redis mid-stream, with batches in flight.
	if err := waitFor(ctx, "some progress", func() bool {
		n, err := testutil.Lag(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
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
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("lag did not come back to 0 after Redis returned: %v\n%s", err, proc.logTail())
	}
	if err := waitFor(ctx, "/readyz to recover", proc.ready); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	t.Logf("redis stopped at lag %d (of %d records; %d more written during the outage); lag while down %d, then 0",
		lagAtStop, total, len(tail), lagWhileDown)
	// The restarted Redis has a new run id: the consumer cannot tell a
	// restart that kept every write from one that lost the last ones, so
	// it makes the batches in flight again, and their dead letters go out
	// twice (the DLQ is at-least-once).
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}
