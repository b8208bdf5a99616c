// A Redis failover: a replica promoted after its master died with writes
// the replica never got.

package e2e

import (
	"context"
	"math/big"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// failoverRig is a master with one replica, whose replication link runs
// through a proxy the test can hang, and an endpoint the consumer writes
// through (a proxy standing for a virtual IP or a managed service's
// address), which a failover moves to the replica.
type failoverRig struct {
	master, replica *testutil.RedisServer
	link, endpoint  *testutil.Proxy
	env             *env
}

func newFailoverRig(t *testing.T, ctx context.Context) *failoverRig {
	t.Helper()
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 4, Topics: allTopics})
	master := testutil.StartRedis(t)
	link := testutil.StartProxy(t, master.Addr())
	host, port, _ := strings.Cut(link.Addr(), ":")
	replica := testutil.StartRedis(t, "--replicaof", host, port)
	testutil.WaitReplicasOnline(t, ctx, master.Client(), 1)
	endpoint := testutil.StartProxy(t, master.Addr())
	rc := redis.NewClient(&redis.Options{Addr: endpoint.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	return &failoverRig{master: master, replica: replica, link: link, endpoint: endpoint,
		env: &env{kafka: cluster, brokers: brokers, redisURL: "redis://" + endpoint.Addr() + "/0", rc: rc}}
}

// notReplicated reports whether /readyz fails saying the replica lacks
// the writes: on "replication" while a batch's final wait fails, on
// "processing" while its outputs wait before being published.
func notReplicated(t *testing.T, addr string) bool {
	const what = "0 of 1 replicas had the writes"
	return notReadyFor(t, addr, "replication", what) || notReadyFor(t, addr, "processing", what)
}

// failover kills the master with whatever its hung link held for the
// replica, promotes the replica and moves the endpoint to it.
func (r *failoverRig) failover(t *testing.T, ctx context.Context) {
	t.Helper()
	r.master.Stop()
	r.link.Switch(r.replica.Addr()) // drops what the link held
	if err := r.replica.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	r.endpoint.Switch(r.replica.Addr())
}

// settle waits until the consumer has caught up and is ready, checks that
// it noticed the new master, and checks the outcome against the
// recomputation.
func (r *failoverRig) settle(t *testing.T, ctx context.Context, addr func() string, p produced) {
	t.Helper()
	if err := testutil.WaitCaughtUp(ctx, r.env.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "/readyz to recover", func() bool { return readyz(addr()) }); err != nil {
		t.Fatal(err)
	}
	if n := metricValue("http://"+addr(), "ltv_redis_master_changes_total"); n < 1 {
		t.Errorf("ltv_redis_master_changes_total = %v after a failover", n)
	}
	check(t, ctx, r.env, p, defaultTiers, big.NewRat(5, 100), false)
}

// TestRedisFailoverLosesNothing: the replica's link hangs while the second
// half of the stream is applied, so the master acknowledges writes the
// replica never gets; the master then dies and the replica is promoted.
// No output of those writes may have been published and no offset
// committed (both wait for the replica, and /readyz says so), and the
// consumer, finding another master, makes the batches in flight again:
// after the stream is drained the state and the change events are exactly
// the recomputation of every event, with no re-emission that differs.
func TestRedisFailoverLosesNothing(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 4*time.Minute)
	rig := newFailoverRig(t, ctx)
	e := rig.env
	msgs, p := generate(t, simConfig(20_000, 2_000))
	head, tail := msgs[:len(msgs)/2], msgs[len(msgs)/2:]
	write(t, ctx, e.brokers, head)
	_, addr := inProcess(t, e)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}

	rig.link.Pause()
	saves := func() int64 { // the save scripts the master ran
		v, _ := store.InfoField(rig.master.Client().Info(ctx, "commandstats").Val(), "cmdstat_evalsha")
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		return n
	}
	applied := saves()
	write(t, ctx, e.brokers, tail)
	if err := waitFor(ctx, "/readyz to say the replica does not have the writes", func() bool {
		return notReplicated(t, addr())
	}); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "the master to apply the tail", func() bool { return saves() > applied }); err != nil {
		t.Fatal(err)
	}
	lag, err := lagOK(ctx, e)
	if err != nil || lag == 0 {
		t.Fatalf("lag %d (%v) with the replica cut off: offsets were committed for writes only the master had", lag, err)
	}
	rig.failover(t, ctx)
	rig.settle(t, ctx, addr, p)
}

// TestRedisFailoverAfterPublish: the replica's link hangs just after a
// batch's outputs were published, so the writes that follow them (the
// timer index entries and stream times) reach the master only, and the
// batch waits. The master dies, the replica is promoted: the batch is
// made again, and the lost writes with it.
func TestRedisFailoverAfterPublish(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 4*time.Minute)
	rig := newFailoverRig(t, ctx)
	e := rig.env
	msgs, p := generate(t, simConfig(20_000, 2_000))
	write(t, ctx, e.brokers, msgs)
	cut := make(chan struct{})
	var publishes atomic.Int32
	cfg := e.config(t)
	var addr atomic.Value
	startServiceWith(t, cfg, service.Options{Listening: func(a string) { addr.Store(a) },
		AfterStage: func(stage string) {
			if stage == "publish" && publishes.Add(1) == 20 {
				rig.link.Pause()
				close(cut)
			}
		}}, 40*time.Second)
	httpAddr := func() string { a, _ := addr.Load().(string); return a }
	select {
	case <-cut:
	case <-ctx.Done():
		t.Fatal("the consumer never published 20 times")
	}
	if err := waitFor(ctx, "/readyz to say the replica does not have the writes", func() bool {
		return notReplicated(t, httpAddr())
	}); err != nil {
		t.Fatal(err)
	}
	rig.failover(t, ctx)
	rig.settle(t, ctx, httpAddr, p)
}

// orderOfC1 is an order of 10.00 by customer c-1: after the first, it
// changes no tier or segment, so it publishes nothing.
func orderOfC1(id string) kafka.Message {
	return kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte("c-1"), Value: orderValue("c-1", id, "10.00")}
}

// cutOffOrder runs the consumer over c-1's orders e1 and e2, then hangs
// the replica's link and writes e3, which the master applies alone; it
// returns once /readyz says so, checking that e3 is not committed.
func cutOffOrder(t *testing.T, ctx context.Context, rig *failoverRig) {
	t.Helper()
	e := rig.env
	write(t, ctx, e.brokers, []kafka.Message{orderOfC1("e1"), orderOfC1("e2")})
	_, addr := inProcess(t, e)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil {
		t.Fatal(err)
	}
	rig.link.Pause()
	write(t, ctx, e.brokers, []kafka.Message{orderOfC1("e3")})
	if err := waitFor(ctx, "the master to apply e3", func() bool {
		return rig.master.Client().HGet(ctx, "ltv:{c-1}", "orders").Val() == "3"
	}); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "/readyz to say the replica does not have the writes", func() bool {
		return notReplicated(t, addr())
	}); err != nil {
		t.Fatal(err)
	}
	if lag, err := lagOK(ctx, e); err != nil || lag != 1 {
		t.Fatalf("lag %d (%v) with the replica cut off, want e3 uncommitted", lag, err)
	}
}

// afterFailoverBothCount writes e4 and checks that the new master counts
// all four orders.
func afterFailoverBothCount(t *testing.T, ctx context.Context, rig *failoverRig) {
	t.Helper()
	write(t, ctx, rig.env.brokers, []kafka.Message{orderOfC1("e4")})
	if err := testutil.WaitCaughtUp(ctx, rig.env.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil {
		t.Fatal(err)
	}
	if got := rig.replica.Client().HMGet(ctx, "ltv:{c-1}", "orders", "revenue").Val(); got[0] != "4" || got[1] != "40.00" {
		t.Fatalf("c-1 on the new master: orders, revenue = %v, want 4, 40.00", got)
	}
}

// TestRedisFailoverLosesNoOrderWithoutOutputs: an order that changes no
// tier or segment publishes nothing, so only the batch's final wait keeps
// its write from counting as done. Lost in a failover, it must be applied
// again before the customer's next order: were the next one applied
// first, the offset guard would move past the lost one for good.
func TestRedisFailoverLosesNoOrderWithoutOutputs(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 2*time.Minute)
	rig := newFailoverRig(t, ctx)
	cutOffOrder(t, ctx, rig)
	rig.failover(t, ctx)
	afterFailoverBothCount(t, ctx, rig)
}

// TestRedisFailoverPromotesBeforeTheOldMasterDies: as
// TestRedisFailoverLosesNoOrderWithoutOutputs, but the replica is promoted
// while the old master still answers behind the address (Sentinel
// promotes first, clients move after): the old master then counts no
// replica, and the order it alone has must still not count as done.
func TestRedisFailoverPromotesBeforeTheOldMasterDies(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 2*time.Minute)
	rig := newFailoverRig(t, ctx)
	cutOffOrder(t, ctx, rig)
	if err := rig.replica.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	rig.link.Resume() // the promoted replica's goodbye reaches the old master
	testutil.WaitReplicasOnline(t, ctx, rig.master.Client(), 0)
	time.Sleep(3 * time.Second) // the batch's waits go on against the old master
	if lag, err := lagOK(ctx, rig.env); err != nil || lag != 1 {
		t.Fatalf("lag %d (%v) once the old master counted no replica: e3 committed though only it had it", lag, err)
	}
	rig.master.Stop()
	rig.endpoint.Switch(rig.replica.Addr())
	afterFailoverBothCount(t, ctx, rig)
}

// TestRedisClusterFailoverMidStream: on a Redis Cluster of 3 masters with
// a replica each, one replica takes its master's slots over (CLUSTER
// FAILOVER TAKEOVER: no agreement, no catching up, as after the master's
// loss) while the stream arrives. Batches in flight that find the new
// master are made again, the cluster client follows the slots, and the
// state ends exact.
func TestRedisClusterFailoverMidStream(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 4*time.Minute)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 6, Topics: allTopics})
	rc := testutil.StartRedisClusterWithReplicas(t, 3, 1)
	e := &env{kafka: cluster, brokers: brokers, redisURL: rc.URL(), rc: rc.Client()}
	msgs, p := generate(t, simConfig(30_000, 3_000))
	third := len(msgs) / 3
	write(t, ctx, brokers, msgs[:third])
	_, addr := inProcess(t, e)
	if err := waitFor(ctx, "the first batches done", func() bool {
		lag, err := lagOK(ctx, e)
		return err == nil && lag < int64(third)
	}); err != nil {
		t.Fatal(err)
	}
	produced := make(chan error, 1)
	go func() {
		rest := msgs[third:]
		step := len(rest)/20 + 1
		for i := 0; i < len(rest); i += step {
			if err := writeE(ctx, brokers, rest[i:min(i+step, len(rest))]); err != nil {
				produced <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		produced <- nil
	}()
	time.Sleep(300 * time.Millisecond)
	var replica *redis.Client
	for _, n := range rc.Nodes {
		c := n.Client()
		if strings.Contains(c.Info(ctx, "replication").Val(), "role:slave") {
			replica = c
			break
		}
	}
	if replica == nil {
		t.Fatal("no replica in the cluster")
	}
	if err := replica.Do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "the replica to be a master", func() bool {
		return strings.Contains(replica.Info(ctx, "replication").Val(), "role:master")
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if err := testutil.WaitCaughtUp(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "ready", func() bool { return readyz(addr()) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("batches made again after the failover: %v", metricValue("http://"+addr(), "ltv_redis_master_changes_total"))
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}
