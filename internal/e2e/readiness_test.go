// Readiness through overlapping faults: one check's failure must not be
// cleared by another part's recovery.

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReplicationStaysNotReadyThroughAFetchRecovery: the replica's link
// hangs, so a batch (an order that publishes nothing) waits for it in
// place: /readyz fails on "replication" (docs/operations.md: "a batch waits
// for Redis replicas that do not have its writes"). Meanwhile the input
// fetches fail for a moment and recover. That recovery is the
// "processing" check's; the batch still waits, so /readyz must stay not
// ready until the replica has the writes.
func TestReplicationStaysNotReadyThroughAFetchRecovery(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 2*time.Minute)
	rig := newFailoverRig(t, ctx)
	e := rig.env
	var fetches brokerFault
	fetches.install(e.kafka, int16(kmsg.Fetch), func(kmsg.Request) bool { return true })
	write(t, ctx, e.brokers, []kafka.Message{orderOfC1("e1"), orderOfC1("e2")})
	_, addr := inProcess(t, e)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil {
		t.Fatal(err)
	}
	rig.link.Pause()
	write(t, ctx, e.brokers, []kafka.Message{orderOfC1("e3")})
	const waiting = "0 of 1 replicas had the writes"
	if err := waitFor(ctx, "/readyz to fail on replication", func() bool {
		return notReadyFor(t, addr(), "replication", waiting)
	}); err != nil {
		t.Fatal(err)
	}
	fetches.on.Store(true)
	if err := waitFor(ctx, "/readyz to fail on the fetches", func() bool {
		return notReadyFor(t, addr(), "processing", "fetch")
	}); err != nil {
		t.Fatal(err)
	}
	fetches.on.Store(false)
	if err := waitFor(ctx, "the fetches to recover", func() bool {
		_, doc := testutil.GetJSON(t, "http://"+addr()+"/readyz")
		checks, _ := doc["checks"].(map[string]any)
		said, _ := checks["processing"].(string)
		return !strings.Contains(said, "fetch")
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if readyz(addr()) {
			t.Fatal("/readyz answered ready after the fetches recovered, while a batch still waits for the replica")
		}
	}
	if lag, err := lagOK(ctx, e); err != nil || lag != 1 {
		t.Fatalf("lag %d (%v) with the replica cut off, want e3 uncommitted", lag, err)
	}
	rig.link.Resume()
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "/readyz to recover", func() bool { return readyz(addr()) }); err != nil {
		t.Fatal(err)
	}
}
