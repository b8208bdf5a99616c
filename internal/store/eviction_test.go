package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestCheckEvictionPolicy: only a memory limit with an allkeys-* policy
// can evict the service's keys (it sets no expiries), read from a real
// server's INFO memory after CONFIG SET.
func TestCheckEvictionPolicy(t *testing.T) {
	st, srv := newStore(t)
	rc := srv.Client()
	ctx := testutil.Context(t, 30*time.Second)
	for _, tc := range []struct {
		maxMemory, policy string
		evicts            bool
	}{
		{"0", "noeviction", false},
		{"0", "allkeys-lru", false}, // no limit: nothing is ever evicted
		{"100mb", "noeviction", false},
		{"100mb", "volatile-lru", false},
		{"100mb", "volatile-ttl", false},
		{"100mb", "allkeys-lru", true},
		{"100mb", "allkeys-lfu", true},
		{"100mb", "allkeys-random", true},
	} {
		t.Run(tc.maxMemory+" "+tc.policy, func(t *testing.T) {
			setEviction(t, ctx, rc, tc.maxMemory, tc.policy)
			err := st.CheckEvictionPolicy(ctx)
			var pe *store.EvictionPolicyError
			if got := errors.As(err, &pe); got != tc.evicts {
				t.Fatalf("CheckEvictionPolicy = %v, want an EvictionPolicyError: %v", err, tc.evicts)
			}
			if !tc.evicts && err != nil {
				t.Fatalf("CheckEvictionPolicy = %v", err)
			}
			if tc.evicts && (pe.Policy != tc.policy || pe.MaxMemory != 100<<20 || pe.Addr != rc.Options().Addr) {
				t.Fatalf("error %+v, want policy %s, 100 MiB, %s", pe, tc.policy, rc.Options().Addr)
			}
		})
	}
	setEviction(t, ctx, rc, "0", "noeviction")
}

// TestCheckEvictionPolicyOfEveryMaster: one master of a Redis Cluster with
// an evicting policy is enough.
func TestCheckEvictionPolicyOfEveryMaster(t *testing.T) {
	cluster := testutil.StartRedisCluster(t, 3)
	cc := cluster.Client()
	st := store.NewRedis(cc, store.Config{})
	ctx := testutil.Context(t, 30*time.Second)
	if err := st.CheckEvictionPolicy(ctx); err != nil {
		t.Fatalf("default cluster: %v", err)
	}
	// ForEachMaster calls the function on every master at once: one of
	// them becomes the victim.
	var (
		mu     sync.Mutex
		victim string
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		mu.Lock()
		mine := victim == ""
		if mine {
			victim = n.Options().Addr
		}
		mu.Unlock()
		if !mine {
			return nil
		}
		if err := n.ConfigSet(ctx, "maxmemory", "50mb").Err(); err != nil {
			return err
		}
		return n.ConfigSet(ctx, "maxmemory-policy", "allkeys-lfu").Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var pe *store.EvictionPolicyError
	if err := st.CheckEvictionPolicy(ctx); !errors.As(err, &pe) || pe.Addr != victim || pe.Policy != "allkeys-lfu" {
		t.Fatalf("CheckEvictionPolicy = %v, want an EvictionPolicyError for %s", err, victim)
	}
}

// TestCheckEvictionPolicyUnknown: a server that refuses INFO (an ACL here,
// a proxy elsewhere) leaves the policy unknown, which is not an eviction
// error.
func TestCheckEvictionPolicyUnknown(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	err := store.NewRedis(clientWithoutInfo(t, ctx), store.Config{}).CheckEvictionPolicy(ctx)
	var pe *store.EvictionPolicyError
	if !errors.Is(err, store.ErrEvictionPolicyUnknown) || errors.As(err, &pe) {
		t.Fatalf("CheckEvictionPolicy = %v, want ErrEvictionPolicyUnknown", err)
	}
}

func setEviction(t *testing.T, ctx context.Context, rc *redis.Client, maxMemory, policy string) {
	t.Helper()
	if err := rc.ConfigSet(ctx, "maxmemory", maxMemory).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
		t.Fatal(err)
	}
}

// clientWithoutInfo is a client of a fresh server as an ACL user that may
// run every command but INFO, as some proxies and managed services allow.
func clientWithoutInfo(t *testing.T, ctx context.Context) *redis.Client {
	t.Helper()
	_, srv := newStore(t)
	if err := srv.Client().Do(ctx, "ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "+@all", "-info").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Client().Options().Addr, Username: "noinfo", Password: "pw"})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
