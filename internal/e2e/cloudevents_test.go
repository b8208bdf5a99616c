package e2e

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestReemittedEventsCarryTheSameCloudEventsHeaders: the consumer binary
// dies (SIGKILL) right after its first batch's outputs are acknowledged,
// before it clears them or commits. The next instance finds them pending
// and publishes them again. Every change and segment event, first copy
// and re-emission alike, carries valid CloudEvents headers matching its
// body (check), and the copies carry the same headers as the first
// publication.
func TestReemittedEventsCarryTheSameCloudEventsHeaders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t, 4)
	p := produce(t, ctx, e.brokers, simConfig(5_000, 500))
	crashing := startProc(t, "consumer-crashing", e.envFor(map[string]string{"LTV_FAULT_INJECT": "after-publish:1"}))
	select {
	case <-crashing.exited:
	case <-ctx.Done():
		t.Fatalf("the fault-injecting consumer did not kill itself\n%s", crashing.logTail())
	}
	proc := startProc(t, "consumer", e.envFor(nil))
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	if code, err := proc.terminate(25 * time.Second); err != nil || code != 0 {
		t.Fatalf("exit code %d, err %v\n%s", code, err, proc.logTail())
	}
	// The crashed batch's dead letters are published twice (at least once).
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
	copies := 0
	for _, topic := range []string{settings.DefaultChangesTopic, settings.DefaultSegmentsTopic} {
		msgs, err := testutil.ReadAll(ctx, e.brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		ce := cloudEvents{}
		for _, m := range msgs {
			if ce.check(t, m) {
				copies++
			}
		}
	}
	if copies == 0 {
		t.Fatal("no event was published twice: the crash did not leave pending events behind")
	}
	t.Logf("%d re-emitted events, each with the headers of its first publication", copies)
}
