package testutil

import (
	"context"
	"os/exec"
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
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found (it comes with redis-server's package redis-tools): %v", err)
	}
	c := &RedisCluster{t: t}
	args := []string{"--cluster", "create"}
	for i := 0; i < masters*(1+replicas); i++ {
		// The cluster bus would listen on port + 10000 by default, a port
		// in the ephemeral range that a client connection may hold: the
		// node then fails to start. A free port of its own avoids that.
		bus, err := localredis.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		n := StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(bus))
		c.Nodes = append(c.Nodes, n)
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
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
