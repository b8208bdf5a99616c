// Kafka's side of a rolling broker restart: partition leaders and group
// coordinators moving while the stream is read.

package e2e

import (
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestLeadersAndCoordinatorsMoveMidStream: on a 3-broker cluster every
// partition's leader moves every 300 ms, and the group's coordinator
// every third time, while the consumer reads a backlog. Fetches, produces
// and commits sent to a former leader or coordinator are refused (not
// leader, not coordinator) and go again to the new one; nothing is lost
// or counted twice and the run does not stall.
func TestLeadersAndCoordinatorsMoveMidStream(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 3*time.Minute)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Brokers: 3, Partitions: 6, Topics: allTopics})
	e := withRedis(&env{kafka: cluster, brokers: brokers}, testutil.StartRedis(t))
	p := produce(t, ctx, brokers, simConfig(60_000, 6_000))
	startService(t, e.config(t))

	var moves atomic.Int32
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				cluster.ShufflePartitionLeaders()
				if moves.Add(1)%3 == 0 {
					cluster.RehashCoordinators()
				}
			}
		}
	}()
	err := testutil.WaitCaughtUp(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
	close(stop)
	<-stopped
	if err != nil {
		t.Fatalf("%v after %d moves", err, moves.Load())
	}
	n := moves.Load()
	t.Logf("partition leaders moved %d times, coordinators %d times, while the stream was consumed", n, n/3)
	if n < 5 {
		t.Errorf("only %d moves before the stream was consumed: the test did not test much", n)
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}
