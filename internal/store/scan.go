// Reading every customer: the operator's tools (ltvctl) walk all
// customer hashes in pipelined batches, on a standalone server or on every
// master of a cluster.

package store

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// PublicFields returns the public fields (SPEC §3: every field whose name
// does not start with "_") of the given customers, in one pipelined round
// trip; a customer with no hash gets nil.
func (r *Redis) PublicFields(ctx context.Context, customerIDs []string) ([]map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(customerIDs))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range customerIDs {
			cmds[i] = p.HGetAll(ctx, Key(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d customers: %w", len(customerIDs), err)
	}
	out := make([]map[string]string, len(customerIDs))
	for i, cmd := range cmds {
		h := cmd.Val()
		if len(h) == 0 {
			continue
		}
		pub := make(map[string]string, len(h))
		for k, v := range h {
			if !strings.HasPrefix(k, "_") {
				pub[k] = v
			}
		}
		out[i] = pub
	}
	return out, nil
}

// EachCustomer calls fn with batches of customer snapshots until every
// customer hash has been read once (SCAN over ltv:{*}, HGETALLs pipelined
// per batch of about batchSize keys). A hash that cannot be parsed is
// passed with its error; fn's error stops the walk. On a cluster every
// master is walked in turn.
func (r *Redis) EachCustomer(ctx context.Context, batchSize int, fn func(snaps []Snapshot, errs []error) error) error {
	walk := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, "ltv:{*}", int64(batchSize)).Result()
			if err != nil {
				return fmt.Errorf("scan customers: %w", err)
			}
			var ids []string
			for _, k := range keys {
				if id, ok := customerOfKey(k); ok {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 {
				snaps, errs, err := r.Load(ctx, ids)
				if err != nil {
					return err
				}
				if err := fn(snaps, errs); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		// The masters are walked concurrently; fn is called by one at a time.
		var mu sync.Mutex
		inner := fn
		fn = func(snaps []Snapshot, errs []error) error {
			mu.Lock()
			defer mu.Unlock()
			return inner(snaps, errs)
		}
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return walk(ctx, n) })
	}
	return walk(ctx, r.client)
}

// customerOfKey returns the customer id of a customer's hash key
// (ltv:{<id>}), false for every other key (pending keys, a partition's
// clock keys).
func customerOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "ltv:{")
	if !ok || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	id := rest[:len(rest)-1]
	return id, id != ""
}
