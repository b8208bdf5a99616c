// Shutdown while a dependency is away: the real binary, SIGTERM (and a
// second signal) while Redis is down.

package e2e

import (
	"math/big"
	"syscall"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestSIGTERMWhileRedisIsDown: SPEC §6 says SIGTERM finishes and commits
// in-flight work and exits 0; with Redis down that work cannot finish.
// docs/guarantees.md: the drain waits until LTV_DRAIN_TIMEOUT, then the
// process exits 0 with that work uncommitted, for the next owner to read
// again; a second SIGTERM or SIGINT changes nothing. Nothing may be
// committed that Redis does not hold, and a consumer started once Redis is
// back must end with exactly the recomputed state.
func TestSIGTERMWhileRedisIsDown(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 2*time.Minute)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 4, Topics: allTopics})
	e := withRedis(&env{brokers: brokers}, testutil.StartPersistentRedis(t))
	msgs, p := generate(t, simConfig(10_000, 1_000))
	head, tail := msgs[:len(msgs)/2], msgs[len(msgs)/2:]
	write(t, ctx, e.brokers, head)
	const drain = 3 * time.Second
	proc := startProc(t, "consumer", e.envFor(map[string]string{"LTV_DRAIN_TIMEOUT": drain.String()}))
	lag := func() int64 { t.Helper(); return inputLag(t, ctx, e.brokers) }
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	e.redis.Shutdown()
	write(t, ctx, e.brokers, tail)
	if err := waitFor(ctx, "/readyz to fail", func() bool { return !proc.ready() }); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	time.Sleep(time.Second) // batches of the tail fetched and failing
	start := time.Now()
	proc.signal(syscall.SIGTERM)
	time.Sleep(drain / 3)
	proc.signal(syscall.SIGTERM)
	proc.signal(syscall.SIGINT)
	select {
	case <-proc.exited:
	case <-time.After(drain + 20*time.Second):
		t.Fatalf("no exit %s after SIGTERM\n%s", time.Since(start), proc.logTail())
	}
	took := time.Since(start)
	if code := proc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0\n%s", code, proc.logTail())
	}
	if took < drain {
		t.Errorf("exited %s after SIGTERM, before the drain deadline (%s), with batches that could not finish: the second signal cut the drain short", took, drain)
	}
	if n := lag(); n == 0 {
		t.Fatalf("lag 0 after a shutdown with Redis down: records written while Redis was down were committed")
	}
	t.Logf("exited with code 0 %s after SIGTERM; lag %d", took.Round(time.Millisecond), lag())

	e.redis.Start()
	next := startProc(t, "next", e.envFor(nil))
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("%v\n%s", err, next.logTail())
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}
