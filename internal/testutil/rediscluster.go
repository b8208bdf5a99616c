package testutil

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/localredis"
	"github.com/redis/go-redis/v9"
)

// RedisCluster is a real Redis Cluster of redis-server processes on
// loopback ports (masters, and replicas if asked), created with `redis-cli --cluster create`
// as an operator would, and torn down at cleanup.
type RedisCluster struct {
	// Nodes are every node in start order, masters and replicas alike
	// (redis-cli assigns the roles); AddMaster appends.
	Nodes []*RedisServer
	t     testing.TB
}

// StartRedisCluster starts masters cluster-enabled redis-servers, joins
// them into one cluster with the 16384 slots spread evenly, and waits
// until every node reports cluster_state:ok.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	return StartRedisClusterWithReplicas(t, masters, 0)
}

// StartRedisClusterWithReplicas is StartRedisCluster with replicas
// replicas per master (redis-cli assigns them); it also waits until every
// master counts its replicas online.
func StartRedisClusterWithReplicas(t testing.TB, masters, replicas int) *RedisCluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redis-cli --cluster create needs at least 3 masters, got %d", masters)
	}
	c := &RedisCluster{t: t}
	args := []string{"--cluster", "create"}
	for i := 0; i < masters*(1+replicas); i++ {
		c.Nodes = append(c.Nodes, StartRedisClusterNode(t))
		args = append(args, c.Nodes[len(c.Nodes)-1].Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	redisCLI(ctx, t, args...)
	for _, n := range c.Nodes {
		client := redis.NewClient(&redis.Options{Addr: n.Addr()})
		for {
			info, err := client.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("cluster node %s never reached cluster_state:ok: %v\n%s", n.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for replicas > 0 {
			info, err := client.Info(ctx, "replication").Result()
			if err == nil && (strings.Contains(info, "role:slave") || strings.Count(info, "state=online") == replicas) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("cluster node %s: replicas never online: %v\n%s", n.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = client.Close()
	}
	return c
}

// StartRedisClusterNode starts a redis-server in cluster mode, in no
// cluster yet, with its cluster bus on a free port of its own.
func StartRedisClusterNode(t testing.TB) *RedisServer {
	t.Helper()
	// The cluster bus would listen on port + 10000 by default, a port in
	// the ephemeral range that a client connection may hold: the node
	// then fails to start. A free port of its own avoids that.
	bus, err := localredis.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return startRedisWith(t, func(s *localredis.Server) { s.ClusterBusPort = bus },
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
}

// AddMaster starts a node, joins it to the cluster as a master and moves
// one slot to it (redis-cli --cluster add-node and reshard), as an operator
// growing the cluster does. It returns the node and the slot it serves.
func (c *RedisCluster) AddMaster(t testing.TB) (*RedisServer, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := StartRedisClusterNode(t)
	seed := c.Nodes[0].Addr()
	redisCLI(ctx, t, "--cluster", "add-node", n.Addr(), seed)
	nc := n.Client()
	newID := nc.ClusterMyID(ctx).Val()
	if newID == "" {
		t.Fatalf("new node %s has no cluster id", n.Addr())
	}
	// Wait until the nodes agree on the new one, or reshard refuses.
	for !c.allKnow(ctx, newID) || !clusterAgrees(ctx, seed) {
		if ctx.Err() != nil {
			t.Fatalf("the cluster never agreed on node %s", n.Addr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	redisCLI(ctx, t, "--cluster", "reshard", seed, "--cluster-from", "all", "--cluster-to", newID,
		"--cluster-slots", "1", "--cluster-yes")
	c.Nodes = append(c.Nodes, n)
	for {
		shards, err := nc.ClusterShards(ctx).Result()
		for _, s := range shards {
			if err == nil && len(s.Slots) > 0 && slices.ContainsFunc(s.Nodes, func(node redis.Node) bool { return node.ID == newID }) &&
				c.allOK(ctx) && clusterAgrees(ctx, seed) {
				return n, int(s.Slots[0].Start)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("node %s never served a slot: %v %v", n.Addr(), shards, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allOK reports whether every node says cluster_state:ok.
func (c *RedisCluster) allOK(ctx context.Context) bool {
	return c.every(ctx, func(n *redis.Client) bool {
		return strings.Contains(n.ClusterInfo(ctx).Val(), "cluster_state:ok")
	})
}

// every reports whether ok holds for every node, each asked on a
// connection of its own.
func (c *RedisCluster) every(ctx context.Context, ok func(*redis.Client) bool) bool {
	for _, n := range c.Nodes {
		client := redis.NewClient(&redis.Options{Addr: n.Addr()})
		good := ok(client)
		_ = client.Close()
		if !good {
			return false
		}
	}
	return true
}

// allKnow reports whether every node lists the node id.
func (c *RedisCluster) allKnow(ctx context.Context, id string) bool {
	return c.every(ctx, func(n *redis.Client) bool { return strings.Contains(n.ClusterNodes(ctx).Val(), id) })
}

// clusterAgrees runs redis-cli --cluster check: every node has the same
// view of the cluster.
func clusterAgrees(ctx context.Context, seed string) bool {
	return exec.CommandContext(ctx, "redis-cli", "--cluster", "check", seed).Run() == nil
}

func redisCLI(ctx context.Context, t testing.TB, args ...string) {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found (it comes with redis-server's package redis-tools): %v", err)
	}
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args[:2], " "), err, out)
	}
}

// URL is the LTV_REDIS_URL of the cluster: every node as a seed, comma
// separated (SPEC §7).
func (c *RedisCluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = "redis://" + n.Addr()
	}
	return strings.Join(urls, ",")
}

// Client returns a cluster client closed at cleanup.
func (c *RedisCluster) Client() *redis.ClusterClient {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	c.t.Cleanup(func() { _ = client.Close() })
	return client
}
