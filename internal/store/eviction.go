package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// EvictionPolicyError says a Redis server may evict keys that have no
// expiry: it has a memory limit and an allkeys-* maxmemory-policy, so once
// it is full it deletes customer hashes, pending change events and timer
// entries to make room, and the state is silently wrong from then on. The
// service keeps no key with an expiry, so noeviction and the volatile-*
// policies never evict its keys (a full Redis refuses writes instead,
// which the consumer retries without losing anything).
type EvictionPolicyError struct {
	// Addr is the server (a Cluster master) with the policy.
	Addr string
	// Policy is its maxmemory-policy, MaxMemory its maxmemory in bytes.
	Policy    string
	MaxMemory int64 // bytes; always > 0 here (maxmemory 0, no limit, never evicts)
}

func (e *EvictionPolicyError) Error() string {
	return fmt.Sprintf("redis %s has maxmemory-policy %s with maxmemory %d bytes: it would evict customer state when full; "+
		"set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)", e.Addr, e.Policy, e.MaxMemory)
}

// ErrEvictionPolicyUnknown says the eviction policy could not be read (a
// proxy or an ACL that refuses INFO): nothing is known either way.
var ErrEvictionPolicyUnknown = errors.New("redis eviction policy unknown")

// CheckEvictionPolicy reads the memory limit and eviction policy of Redis
// (of every master, for a cluster) from INFO memory, which managed Redis
// services allow where they refuse CONFIG GET. It returns an
// *EvictionPolicyError when a server may evict the service's keys, an
// error wrapping ErrEvictionPolicyUnknown when INFO cannot be read or
// lacks the fields, and nil otherwise.
func (r *Redis) CheckEvictionPolicy(ctx context.Context) error {
	if c, ok := r.client.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return checkEvictionPolicy(ctx, n, n.Options().Addr)
		})
	}
	addr := ""
	if c, ok := r.client.(*redis.Client); ok {
		addr = c.Options().Addr
	}
	return checkEvictionPolicy(ctx, r.client, addr)
}

func checkEvictionPolicy(ctx context.Context, c redis.Cmdable, addr string) error {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return fmt.Errorf("%w: INFO memory on %s: %w", ErrEvictionPolicyUnknown, addr, err)
	}
	policy, maxMemory, err := parseMemoryInfo(info)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrEvictionPolicyUnknown, addr, err)
	}
	if maxMemory > 0 && strings.HasPrefix(policy, "allkeys-") {
		return &EvictionPolicyError{Addr: addr, Policy: policy, MaxMemory: maxMemory}
	}
	return nil
}

// parseMemoryInfo reads maxmemory_policy and maxmemory from the text of
// INFO memory.
func parseMemoryInfo(info string) (policy string, maxMemory int64, err error) {
	policy, hasPolicy := InfoField(info, "maxmemory_policy")
	limit, hasMax := InfoField(info, "maxmemory")
	if policy == "" || !hasPolicy || !hasMax {
		return "", 0, errors.New("INFO memory has no maxmemory or maxmemory_policy")
	}
	if maxMemory, err = strconv.ParseInt(limit, 10, 64); err != nil {
		return "", 0, fmt.Errorf("maxmemory %q: %w", limit, err)
	}
	return policy, maxMemory, nil
}
