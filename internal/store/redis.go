// The Redis store: loading customers, saving their writes and clearing
// their acknowledged pending change events, through the scripts.

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Redis-backed store. It is safe for concurrent use.
type Redis struct {
	client        redis.UniversalClient
	keysPerScript int
	cluster       bool
	// resp2 says the client speaks RESP2 (NewClient's do), so HGETALL
	// answers with field, value pairs; any other client answers with a
	// map, which a load turns into pairs first.
	resp2  bool
	clears *Clearer
	// checksMu guards what the replication checks keep (WaitReplicated):
	// what they know of each master's replicas, so that the next check is
	// one round trip, and each cluster master's check key.
	checksMu     sync.Mutex
	replicas     map[string]replicaCount // by "<addr> <identity>"
	lastIdentity map[string]string       // by address
	durableKeys  map[string]string
	// masters is a cluster's masters as last listed for the checks, and
	// when; mastersStale says to list them again (see checkedMasters).
	masters      []*redis.Client
	mastersAt    time.Time
	mastersStale atomic.Bool
}

// NewRedis wraps a client (from NewClient, or any go-redis client).
func NewRedis(client redis.UniversalClient, cfg Config) *Redis {
	cfg.setDefaults()
	r := &Redis{client: client, keysPerScript: cfg.KeysPerScript}
	switch c := client.(type) {
	case *redis.ClusterClient:
		r.cluster, r.resp2 = true, c.Options().Protocol == 2
		// go-redis makes a client for every node it learns of, a new
		// master among them: the checks must then wait for it too.
		c.OnNewNode(func(*redis.Client) { r.mastersStale.Store(true) })
	case *redis.Client:
		r.resp2 = c.Options().Protocol == 2
	}
	r.clears = newClearer(r.clearPending)
	return r
}

// Client exposes the underlying client (for health checks and tests).
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Clearer is the store's clearer of acknowledged pending change events:
// the service starts it and flushes it at shutdown.
func (r *Redis) Clearer() *Clearer { return r.clears }

// Ping checks that Redis answers (every master, for a cluster).
func (r *Redis) Ping(ctx context.Context) error {
	if c, ok := r.client.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	}
	return r.client.Ping(ctx).Err()
}

// Load reads the snapshots of the given customers: one pipelined round
// trip of HGETALLs, and a second one reading the pending key of the
// customers whose hash says they have one (normally none: pending events
// are cleared as soon as their publication is acknowledged). A hash that
// cannot be parsed, or a key of the customer that holds another type
// (WRONGTYPE: another program wrote it), yields a non-nil error in its
// slot of errs, not a failure of the whole call, so the caller can
// dead-letter that customer's events and go on; err is for Redis being
// unreachable.
func (r *Redis) Load(ctx context.Context, customerIDs []string) (snaps []Snapshot, errs []error, err error) {
	return r.LoadInto(ctx, customerIDs, nil)
}

// LoadInto is Load into dst's array when it has room, as Cached.LoadInto
// is: without a state cache, the batches reuse one array too. (With new
// arrays per batch, and a due page's customers appended to each, a worker
// kept the last batch's array and the customers decoded into it alive
// next to the current one, and the collector ran back to back.)
func (r *Redis) LoadInto(ctx context.Context, customerIDs []string, dst []Snapshot) ([]Snapshot, []error, error) {
	snaps := slots(dst, len(customerIDs))
	at := make([]*Snapshot, len(customerIDs))
	for i := range snaps {
		at[i] = &snaps[i]
	}
	errs, err := r.LoadTo(ctx, customerIDs, at)
	if err != nil {
		return nil, nil, err
	}
	return snaps, errs, nil
}

// LoadTo is Load decoding each customer into *dst[i] where it lies
// (DecodeSnapshotInto), for a caller that reuses its snapshots (Cached's
// misses land in the batch's array). When err is not nil, the snapshots
// are left in an unspecified state.
func (r *Redis) LoadTo(ctx context.Context, customerIDs []string, dst []*Snapshot) (errs []error, err error) {
	errs = make([]error, len(customerIDs))
	hashes, err := r.hashes(ctx, customerIDs, errs)
	if err != nil {
		return nil, fmt.Errorf("load %d customers: %w", len(customerIDs), err)
	}
	var flagged []int
	for i, h := range hashes {
		if errs[i] == nil && hasField(h, fieldPendingFlag) {
			flagged = append(flagged, i)
		}
	}
	pending := make([]string, len(customerIDs))
	if len(flagged) > 0 {
		gets := make([]*redis.StringCmd, len(flagged))
		_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range flagged {
				gets[j] = p.Get(ctx, PendingKey(customerIDs[i]))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
			return nil, fmt.Errorf("load pending of %d customers: %w", len(flagged), err)
		}
		for j, i := range flagged {
			switch err := gets[j].Err(); {
			case err == nil || errors.Is(err, redis.Nil):
				pending[i] = gets[j].Val()
			case isWrongType(err):
				errs[i] = fmt.Errorf("key %s is not a string (WRONGTYPE): something other than ltv-stream wrote it", PendingKey(customerIDs[i]))
			default:
				return nil, fmt.Errorf("load pending of customer %q: %w", customerIDs[i], err)
			}
		}
	}
	for i, id := range customerIDs {
		if errs[i] != nil {
			*dst[i] = Snapshot{CustomerID: id}
			continue
		}
		errs[i] = DecodeSnapshotInto(dst[i], id, hashes[i], pending[i])
	}
	return errs, nil
}

// isWrongType reports whether err is Redis's WRONGTYPE reply: the key
// holds a value of another type than the command reads.
func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// hashes reads the customers' hashes in one pipeline, each as HGETALL's
// field, value pairs. A key that is not a hash fails only its own
// customer: errs[i] says so (a *NotHashError) and its pairs are nil.
func (r *Redis) hashes(ctx context.Context, customerIDs []string, errs []error) ([][]string, error) {
	// The keys go as *string: no allocation to box them (see evalShaArgs).
	keys, _ := customerKeys(len(customerIDs), func(i int) string { return customerIDs[i] }, nil)
	hashes := make([][]string, len(customerIDs))
	if r.resp2 {
		// The pairs as they come: no map is built only to be read once.
		cmds, err := pipelineEach(ctx, r.client, len(keys), func(i int) *redis.StringSliceCmd {
			return redis.NewStringSliceCmd(ctx, "hgetall", &keys[i])
		})
		if err = notHashes(err, cmds, customerIDs, errs); err != nil {
			return nil, err
		}
		for i, cmd := range cmds {
			if errs[i] == nil {
				hashes[i] = cmd.Val()
			}
		}
		return hashes, nil
	}
	cmds, err := pipelineEach(ctx, r.client, len(keys), func(i int) *redis.MapStringStringCmd {
		return redis.NewMapStringStringCmd(ctx, "hgetall", &keys[i])
	})
	if err = notHashes(err, cmds, customerIDs, errs); err != nil {
		return nil, err
	}
	for i, cmd := range cmds {
		if h := cmd.Val(); errs[i] == nil && len(h) > 0 {
			hashes[i] = pairsOf(h)
		}
	}
	return hashes, nil
}

// notHashes sorts a pipeline's failure: when every failed command met a
// key that is not a hash (WRONGTYPE), those customers' slots of errs get
// a *NotHashError and nil is returned; any other failure is returned as
// it is (Redis unreachable, say), failing the whole load.
func notHashes[C redis.Cmder](err error, cmds []C, customerIDs []string, errs []error) error {
	if err == nil {
		return nil
	}
	wrong := false
	for _, cmd := range cmds {
		switch cerr := cmd.Err(); {
		case isWrongType(cerr):
			wrong = true
		case cerr != nil:
			return err
		}
	}
	if !wrong {
		return err // a failure no command owns
	}
	for i, cmd := range cmds {
		if isWrongType(cmd.Err()) {
			errs[i] = &NotHashError{IDs: []string{customerIDs[i]}}
		}
	}
	return nil
}

// pipelineEach sends the n commands cmd makes in one pipeline.
func pipelineEach[C redis.Cmder](ctx context.Context, client redis.UniversalClient, n int, cmd func(i int) C) ([]C, error) {
	cmds := make([]C, n)
	_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = cmd(i)
			_ = p.Process(ctx, cmds[i])
		}
		return nil
	})
	return cmds, err
}

// hasField says whether HGETALL's field, value pairs hold field.
func hasField(pairs []string, field string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == field {
			return true
		}
	}
	return false
}

// Save applies the writes, each as a compare-and-set on its customer's
// token. It returns the indexes (into writes) whose token no longer
// matched; those customers were not written and must be reloaded. Writes
// are grouped per cluster slot (a script may only touch one slot) and
// pipelined.
func (r *Redis) Save(ctx context.Context, writes []Write) (conflicts []int, err error) {
	if len(writes) == 0 {
		return nil, nil
	}
	batchCheckFrom(ctx).wrote()
	groups := r.group(len(writes), func(i int) string { return writes[i].CustomerID })
	err = r.withScripts(ctx, func() (err error) {
		conflicts, err = r.saveGroups(ctx, writes, groups)
		return err
	})
	return conflicts, err
}

func (r *Redis) saveGroups(ctx context.Context, writes []Write, groups [][]int) ([]int, error) {
	cmds := make([]*redis.Cmd, len(groups))
	keys := make([]string, 0, 2*len(writes))
	actions := make([]any, len(writes))
	for i := range writes {
		actions[i] = writes[i].pendingAction()
	}
	hashKeys, pendingKeys := customerKeys(len(writes), func(i int) string { return writes[i].CustomerID },
		func(i int) bool { return actions[i] != any(pendingKeep) })
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for g, idx := range groups {
			first := len(keys)
			nargs := 0
			for _, i := range idx {
				w := &writes[i]
				pending := pendingKeys[i]
				if pending == "" {
					pending = hashKeys[i] // unused by the script when the action is keep
				}
				keys = append(keys, hashKeys[i], pending)
				nargs += 4 + len(w.set) + len(w.del)
			}
			args := evalShaArgs(saveScript, keys[first:], nargs)
			for _, i := range idx {
				w := &writes[i]
				args = append(args, &w.Expect, actions[i])
				args = w.appendArgs(args)
			}
			cmds[g] = redis.NewCmd(ctx, args...)
			_ = p.Process(ctx, cmds[g])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("save %d customers: %w", len(writes), err)
	}
	var conflicts []int
	for g, cmd := range cmds {
		positions, err := cmd.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("save script result: %w", err)
		}
		for _, pos := range positions {
			if pos < 1 || int(pos) > len(groups[g]) {
				return nil, fmt.Errorf("save script returned position %d of %d", pos, len(groups[g]))
			}
			conflicts = append(conflicts, groups[g][pos-1])
		}
	}
	return conflicts, nil
}

// ClearPending hands the customers whose pending change events were
// published (acknowledged) to the store's Clearer, which drops those
// events now or in the background and retries what fails. The error is
// that of a clear made at once, for logging: nothing is left for the
// caller to retry.
func (r *Redis) ClearPending(ctx context.Context, acked []Acked) error {
	return r.clears.add(ctx, acked)
}

// clearPending is the Clearer's one attempt at a clear: the clear script
// for every customer, pipelined, grouped by slot.
func (r *Redis) clearPending(ctx context.Context, acked []Acked) error {
	if len(acked) == 0 {
		return nil
	}
	groups := r.group(len(acked), func(i int) string { return acked[i].CustomerID })
	run := func() error {
		keys := make([]string, 0, 2*len(acked))
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, idx := range groups {
				first := len(keys)
				for _, i := range idx {
					keys = append(keys, Key(acked[i].CustomerID), PendingKey(acked[i].CustomerID))
				}
				args := evalShaArgs(clearPendingScript, keys[first:], len(idx))
				for _, i := range idx {
					args = append(args, &acked[i].Token)
				}
				_ = p.Process(ctx, redis.NewCmd(ctx, args...))
			}
			return nil
		})
		return err
	}
	if err := r.withScripts(ctx, run); err != nil {
		return fmt.Errorf("clear pending of %d customers: %w", len(acked), err)
	}
	return nil
}
