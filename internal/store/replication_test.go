package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// startReplica starts a redis-server replicating master and waits until
// the master counts it online.
func startReplica(t *testing.T, ctx context.Context, master *testutil.RedisServer) *testutil.RedisServer {
	t.Helper()
	replica := testutil.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	testutil.WaitReplicasOnline(t, ctx, master.Client(), 1)
	return replica
}

// TestWaitReplicatedWithoutReplicas: a master with no replica has nothing
// to wait for; its incarnation stays the same until it restarts.
func TestWaitReplicatedWithoutReplicas(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	srv := testutil.StartPersistentRedis(t)
	st := srv.Store()
	first, err := st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || first == "" {
		t.Fatalf("WaitReplicated = %q, %v", first, err)
	}
	again, err := st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || again != first {
		t.Fatalf("second WaitReplicated = %q, %v; want %q", again, err, first)
	}
	if n := srv.Client().Exists(ctx, "ltv:durable").Val(); n != 0 {
		t.Fatal("a check with no replica to wait for wrote its key")
	}
	srv.Restart(0)
	restarted, err := st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || restarted == first {
		t.Fatalf("after a restart WaitReplicated = %q, %v; want an incarnation other than %q", restarted, err, first)
	}
	// A minimum the master cannot meet is a wait that fails.
	var nr *store.NotReplicatedError
	if _, err := st.WaitReplicated(ctx, store.ReplicaWait{MinReplicas: 1, Timeout: 50 * time.Millisecond}); !errors.As(err, &nr) ||
		nr.Acked != 0 || nr.Needed != 1 || nr.Addr != srv.Addr() {
		t.Fatalf("WaitReplicated(min 1) with no replica = %v, want NotReplicatedError 0 of 1", err)
	}
}

// TestWaitReplicatedWaitsForAReplica: with a replica online a write
// counts once the replica has it. A hung replica makes the wait fail in
// its timeout; a replica promoted to master is another incarnation, and
// so is the old master once it follows the new one and is promoted back.
func TestWaitReplicatedWaitsForAReplica(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	master := testutil.StartRedis(t)
	replica := startReplica(t, ctx, master)
	st := master.Store()
	if err := master.Client().Set(ctx, "ltv:{c-1}", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	first, err := st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil {
		t.Fatal(err)
	}
	if got := replica.Client().Get(ctx, "ltv:{c-1}").Val(); got != "x" {
		t.Fatalf("after the wait the replica has %q, want the write", got)
	}

	replica.Pause()
	if err := master.Client().Set(ctx, "ltv:{c-1}", "y", 0).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var nr *store.NotReplicatedError
	id, err := st.WaitReplicated(ctx, store.ReplicaWait{Timeout: 300 * time.Millisecond})
	if !errors.As(err, &nr) || nr.Acked != 0 || nr.Needed != 1 || id != first {
		t.Fatalf("with the replica hung WaitReplicated = %q, %v; want NotReplicatedError 0 of 1 and %q", id, err, first)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the failed wait took %v, want its 300ms timeout", took)
	}
	if _, err := st.WaitReplicated(ctx, store.ReplicaWait{MinReplicas: 2, Timeout: 50 * time.Millisecond}); !errors.As(err, &nr) || nr.Needed != 2 {
		t.Fatalf("WaitReplicated(min 2) with one replica = %v, want NotReplicatedError of 2", err)
	}
	replica.Resume()
	if id, err := st.WaitReplicated(ctx, store.ReplicaWait{}); err != nil || id != first {
		t.Fatalf("with the replica back WaitReplicated = %q, %v; want %q", id, err, first)
	}

	// Failover: the replica becomes master, the old master its replica.
	if err := replica.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	promoted, err := replica.Store().WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || promoted == first {
		t.Fatalf("promoted replica: %q, %v; want an incarnation other than %q", promoted, err, first)
	}
	if err := master.Client().Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(replica.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitReplicasOnline(t, ctx, replica.Client(), 1)
	if err := master.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	back, err := st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || back == first || back == promoted {
		t.Fatalf("the old master promoted back: %q, %v; want a new incarnation (same process, new replication id)", back, err)
	}
	if strings.Split(string(back), "/")[0] != strings.Split(string(first), "/")[0] {
		t.Fatalf("the same process has run ids %q and %q", first, back)
	}
}

// TestWaitReplicatedOfEveryMaster: on a Redis Cluster every master is
// waited for, each through a key in one of its own slots.
func TestWaitReplicatedOfEveryMaster(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	cluster := testutil.StartRedisCluster(t, 3)
	cc := cluster.Client()
	st := store.NewRedis(cc, store.Config{})
	id, err := st.WaitReplicated(ctx, store.ReplicaWait{MinReplicas: 1, Timeout: 50 * time.Millisecond})
	var nr *store.NotReplicatedError
	if !errors.As(err, &nr) || nr.Needed != 1 {
		t.Fatalf("WaitReplicated(min 1) on masters without replicas = %q, %v; want NotReplicatedError", id, err)
	}
	id, err = st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || strings.Count(string(id), ",") != 2 {
		t.Fatalf("WaitReplicated = %q, %v; want three masters", id, err)
	}
	var written atomic.Int32 // the callbacks run at once
	err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		keys, err := n.Keys(ctx, "ltv:durable:*").Result()
		if len(keys) == 1 {
			written.Add(1)
		}
		return err
	})
	if err != nil || written.Load() != 3 {
		t.Fatalf("%d of 3 masters have their check key (%v)", written.Load(), err)
	}
}

// TestWaitReplicatedUnknown: a server that refuses INFO leaves the
// masters' identity unknown.
func TestWaitReplicatedUnknown(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	if _, err := store.NewRedis(clientWithoutInfo(t, ctx), store.Config{}).WaitReplicated(ctx, store.ReplicaWait{}); !errors.Is(err, store.ErrIncarnationUnknown) {
		t.Fatalf("WaitReplicated = %v, want ErrIncarnationUnknown", err)
	}
}

// TestWaitReplicatedRefusalsAreFailures: a master demoted to a replica
// (READONLY) and a master refusing writes for want of replicas
// (min-replicas-to-write: NOREPLICAS) fail the check; neither is a Redis
// that cannot be checked, which would let commits go on unchecked.
func TestWaitReplicatedRefusalsAreFailures(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	master := testutil.StartRedis(t)
	replica := testutil.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	testutil.WaitReplicasOnline(t, ctx, master.Client(), 1)
	st := master.Store()
	if _, err := st.WaitReplicated(ctx, store.ReplicaWait{}); err != nil {
		t.Fatal(err)
	}
	replica.Pause()
	if err := master.Client().ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := master.Client().ConfigSet(ctx, "min-replicas-max-lag", "1").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // the replica's last ack is now too old
	_, err := st.WaitReplicated(ctx, store.ReplicaWait{Timeout: 100 * time.Millisecond})
	if err == nil || errors.Is(err, store.ErrIncarnationUnknown) {
		t.Fatalf("with writes refused for want of replicas WaitReplicated = %v, want a failed check", err)
	}
	replica.Resume()

	other := testutil.StartRedis(t)
	if err := master.Client().Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(other.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = st.WaitReplicated(ctx, store.ReplicaWait{Timeout: 100 * time.Millisecond})
	if err == nil || errors.Is(err, store.ErrIncarnationUnknown) || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("on a demoted master WaitReplicated = %v, want READONLY as a failed check", err)
	}
}

// TestWaitReplicatedWaitsForAPromotedReplica: the replica a failover
// promotes leaves its old master's list, and the old master may still
// answer (frozen, cut off, behind an address not yet moved). Writes it
// alone has are not durable: the wait keeps failing for the grace instead
// of passing with no replica left, and only then waits for those left.
func TestWaitReplicatedWaitsForAPromotedReplica(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	master := testutil.StartRedis(t)
	link := testutil.StartProxy(t, master.Addr())
	host, port, _ := strings.Cut(link.Addr(), ":")
	replica := testutil.StartRedis(t, "--replicaof", host, port)
	testutil.WaitReplicasOnline(t, ctx, master.Client(), 1)
	st := master.Store()
	wait := store.ReplicaWait{Timeout: 100 * time.Millisecond, LostReplicaGrace: 2 * time.Second}
	first, err := st.WaitReplicated(ctx, wait)
	if err != nil {
		t.Fatal(err)
	}
	link.Pause()
	if err := master.Client().Set(ctx, "ltv:{c-1}", "lost", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := replica.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	link.Resume() // the promoted replica's goodbye reaches the old master
	testutil.WaitReplicasOnline(t, ctx, master.Client(), 0)
	var nr *store.NotReplicatedError
	if id, err := st.WaitReplicated(ctx, wait); !errors.As(err, &nr) || nr.Needed != 1 || nr.Online != 0 || id != first {
		t.Fatalf("with its replica promoted away the old master's wait = %q, %v; want NotReplicatedError 0 of 1 (0 online)", id, err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := st.WaitReplicated(ctx, wait); err != nil {
		t.Fatalf("after the grace the wait is for the replicas left (none): %v", err)
	}
}

// TestWaitReplicatedFollowsAnAddedMaster: the checks keep the cluster's
// list of masters between batches, so a master added to the cluster must
// join it as soon as a write reaches it, not when the list next expires:
// the batch that wrote there is checked on it.
func TestWaitReplicatedFollowsAnAddedMaster(t *testing.T) {
	ctx := testutil.Context(t, 120*time.Second)
	cluster := testutil.StartRedisCluster(t, 3)
	cc := cluster.Client()
	st := store.NewRedis(cc, store.Config{})
	if id, err := st.WaitReplicated(ctx, store.ReplicaWait{}); err != nil || strings.Count(string(id), ",") != 2 {
		t.Fatalf("WaitReplicated = %q, %v; want three masters", id, err)
	}
	added, slot := cluster.AddMaster(t)
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("ltv:{c-%d}", i); store.Slot(k) == uint16(slot) {
			key = k
		}
	}
	if err := cc.HSet(ctx, key, "orders", "1").Err(); err != nil { // redirected to the new master
		t.Fatal(err)
	}
	id, err := st.WaitReplicated(ctx, store.ReplicaWait{})
	if err != nil || strings.Count(string(id), ",") != 3 {
		t.Fatalf("WaitReplicated after a write to the added master = %q, %v; want four masters", id, err)
	}
	if n, err := added.Client().Exists(ctx, key).Result(); err != nil || n != 1 {
		t.Fatalf("the write is not on the added master %s: %d %v", added.Addr(), n, err)
	}
}

// BenchmarkWaitReplicatedOnACluster is the per-batch check on a cluster of
// three masters with a replica each: one pipeline per master, at once.
func BenchmarkWaitReplicatedOnACluster(b *testing.B) {
	ctx := context.Background()
	st := store.NewRedis(testutil.StartRedisClusterWithReplicas(b, 3, 1).Client(), store.Config{})
	for b.Loop() {
		if _, err := st.WaitReplicated(ctx, store.ReplicaWait{}); err != nil {
			b.Fatal(err)
		}
	}
}
