// Replication: whether what the service wrote survives the loss of a
// Redis master, and whether a master was replaced since it last looked.

package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Incarnation names the Redis masters that hold the state, as the run id
// and replication id of each. A master restarted gets a new run id, and a
// replica promoted to master gets a new replication id, so two equal
// incarnations mean that no master was replaced in between: writes made
// meanwhile are still where they were made. Empty means unknown.
type Incarnation string

// NotReplicatedError says a master's writes are not yet on as many
// replicas as a batch needs: committing it now could commit events whose
// state a failover would lose.
type NotReplicatedError struct {
	// Addr is the master.
	Addr string
	// Acked is how many replicas had its writes within the wait, Needed
	// how many were asked for, Online how many it counts online now.
	Acked, Needed, Online int
	Wait                  time.Duration // the wait that passed: ReplicaWait.Timeout
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("redis %s: %d of %d replicas had the writes within %s (%d online); the batch is done once they do "+
		"(a replica that went offline is waited for a while: docs/guarantees.md)", e.Addr, e.Acked, e.Needed, e.Wait, e.Online)
}

// ErrIncarnationUnknown says a master's run id or replication id could not
// be read, or its replicas not waited for (a proxy or an ACL that refuses
// INFO or WAIT): neither a failover nor the replicas can be checked.
var ErrIncarnationUnknown = errors.New("redis masters' identity unknown")

// ReplicaWait configures Redis.WaitReplicated.
type ReplicaWait struct {
	// MinReplicas is how many replicas of each master must have a write
	// before it counts as durable, even while fewer are online. Whatever
	// it is, a write waits for every replica online: a failover may
	// promote any of them.
	MinReplicas int
	// Timeout bounds each master's wait. Default 1 s.
	Timeout time.Duration
	// LostReplicaGrace is how long writes keep waiting for a replica that
	// was online and no longer is before they wait only for those left.
	// A replica promoted in a failover leaves its old master's list, and
	// that master may still answer for a while (frozen, cut off, or behind
	// an address that has not moved yet): writes it alone has are not
	// durable. Default 2 minutes; a replica taken away for good holds
	// batches that long.
	LostReplicaGrace time.Duration
}

// DefaultLostReplicaGrace is ReplicaWait.LostReplicaGrace's default.
const DefaultLostReplicaGrace = 2 * time.Minute

// durableKeyPrefix begins the key each master's check writes before its
// WAIT: WAIT covers the writes made on its own connection, and a write of
// the check's own makes that every write the master acknowledged before.
// It is not a customer key (those are ltv:{<id>}).
const durableKeyPrefix = "ltv:durable"

// WaitReplicated waits until every write each master acknowledged so far
// is on the replicas a batch needs (see ReplicaWait), and returns the
// masters' incarnation as read after the wait. It returns a
// *NotReplicatedError when a master's replicas did not acknowledge in
// time, and an error wrapping ErrIncarnationUnknown when INFO is refused.
func (r *Redis) WaitReplicated(ctx context.Context, cfg ReplicaWait) (Incarnation, error) {
	cfg = cfg.withDefaults()
	return r.eachMaster(ctx, func(ctx context.Context, c redis.Cmdable, addr, key string) (string, error) {
		return r.waitMaster(ctx, c, addr, key, cfg)
	})
}

// Incarnation returns the masters' incarnation without waiting for
// anything (an error wrapping ErrIncarnationUnknown when INFO is refused).
func (r *Redis) Incarnation(ctx context.Context) (Incarnation, error) {
	return r.eachMaster(ctx, func(ctx context.Context, c redis.Cmdable, addr, _ string) (string, error) {
		id, n, err := masterInfo(ctx, c, addr)
		if err == nil {
			r.observeReplicas(addr, id, n, 0)
		}
		return id, err
	})
}

// eachMaster calls f with each master (with its address and a key of a
// slot it serves) and returns the identities f returned, sorted and
// joined. On a single server the identity comes back with f's error too.
func (r *Redis) eachMaster(ctx context.Context, f func(ctx context.Context, c redis.Cmdable, addr, key string) (string, error)) (Incarnation, error) {
	c, ok := r.client.(*redis.ClusterClient)
	if !ok {
		addr, _ := r.singleServer()
		id, err := f(ctx, r.client, addr, durableKeyPrefix)
		return Incarnation(id), err
	}
	masters, err := r.checkedMasters(ctx, c)
	if err != nil {
		return "", err
	}
	ids, errs := make([]string, len(masters)), make([]error, len(masters))
	var wg sync.WaitGroup
	for i, n := range masters {
		wg.Go(func() {
			addr := n.Options().Addr
			key, err := r.durableKey(ctx, n, addr)
			if err == nil {
				ids[i], err = f(ctx, n, addr, key)
				if isMoved(err) {
					r.forgetDurableKey(addr) // the slot moved to another master
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.mastersStale.Store(true) // a master may have been replaced or left
		return "", err
	}
	slices.Sort(ids)
	return Incarnation(strings.Join(ids, ",")), nil
}

// mastersMaxAge bounds how long checkedMasters trusts its list without a
// sign that it changed.
const mastersMaxAge = 10 * time.Second

// checkedMasters returns a cluster's masters for the checks. Listing them
// (ForEachMaster) reloads the slot map, a round trip per call, so the list
// is kept and made again only when it may have changed: go-redis met a new
// node (a master added, or a slot moved to one: the batch's writes were
// redirected there before its check), a check failed (a master replaced,
// demoted or gone), or it is older than mastersMaxAge.
func (r *Redis) checkedMasters(ctx context.Context, c *redis.ClusterClient) ([]*redis.Client, error) {
	r.checksMu.Lock()
	masters, at := r.masters, r.mastersAt
	r.checksMu.Unlock()
	if len(masters) > 0 && !r.mastersStale.Load() && time.Since(at) < mastersMaxAge {
		return masters, nil
	}
	// Cleared before listing: a node met meanwhile marks the new list.
	r.mastersStale.Store(false)
	var mu sync.Mutex
	var listed []*redis.Client
	err := c.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
		mu.Lock()
		listed = append(listed, n)
		mu.Unlock()
		return nil
	})
	if err != nil {
		r.mastersStale.Store(true)
		return nil, fmt.Errorf("redis cluster: list masters: %w", err)
	}
	r.checksMu.Lock()
	r.masters, r.mastersAt = listed, time.Now()
	r.checksMu.Unlock()
	return listed, nil
}

// waitMaster waits for one master's replicas and returns its identity
// ("run_id/replid"). It is one round trip when the master's replicas are
// known from its last check.
func (r *Redis) waitMaster(ctx context.Context, c redis.Cmdable, addr, key string, cfg ReplicaWait) (string, error) {
	expected, known := r.expectedReplicas(addr)
	if !known || needed(cfg, expected) == 0 {
		id, n, err := masterInfo(ctx, c, addr)
		if err != nil {
			return "", err
		}
		if expected = r.observeReplicas(addr, id, n, cfg.LostReplicaGrace); needed(cfg, expected) == 0 {
			return id, nil
		}
	}
	need := needed(cfg, expected)
	// One pipeline is one connection: the WAIT covers the SET before it,
	// and the INFO after it says which master that was.
	var wait *redis.Cmd
	var after identityRead
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, time.Now().UTC().Format(time.RFC3339Nano), 0)
		wait = p.Do(ctx, "WAIT", need, cfg.Timeout.Milliseconds())
		after = queueIdentity(ctx, p)
		return nil
	})
	if err != nil {
		if uncheckable(err) {
			return "", fmt.Errorf("%w: WAIT on %s: %w", ErrIncarnationUnknown, addr, err)
		}
		return "", fmt.Errorf("redis %s: wait for replicas: %w", addr, err)
	}
	id, online, err := after.read(addr)
	if err != nil {
		return "", err
	}
	acked, err := wait.Int()
	if err != nil {
		return "", fmt.Errorf("%w: WAIT on %s: %w", ErrIncarnationUnknown, addr, err)
	}
	// A replica that left is waited for until the grace has passed (or
	// the master is another one).
	if need = min(need, needed(cfg, r.observeReplicas(addr, id, online, cfg.LostReplicaGrace))); acked < need {
		return id, &NotReplicatedError{Addr: addr, Acked: acked, Needed: need, Online: online, Wait: cfg.Timeout}
	}
	return id, nil
}

// withDefaults is cfg with its zero durations replaced by the defaults.
func (cfg ReplicaWait) withDefaults() ReplicaWait {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.LostReplicaGrace <= 0 {
		cfg.LostReplicaGrace = DefaultLostReplicaGrace
	}
	return cfg
}

// needed is how many replicas a master with that many replicas expected
// must have a write on: all of them, and at least MinReplicas.
func needed(cfg ReplicaWait, expected int) int {
	return max(cfg.MinReplicas, expected)
}

// replicaCount is what the checks know of one master's replicas: one per
// address and master identity, so that an address reaching two servers at
// once (pooled connections during a failover) keeps each one's count.
type replicaCount struct {
	online int // at its last check
	// expected is the most seen online since it was first seen (or since
	// fewer had been online for the grace).
	expected int
	lowSince time.Time // since when fewer than expected are online
	seen     time.Time // its last check
}

// forgetCountsAfter drops the counts of identities not seen for this long
// (restarted or replaced masters).
const forgetCountsAfter = time.Hour

// observeReplicas records a master's replicas online and returns how many
// its writes must wait for (see ReplicaWait.LostReplicaGrace; a grace of
// 0 never lowers the count).
func (r *Redis) observeReplicas(addr, id string, online int, grace time.Duration) int {
	r.checksMu.Lock()
	defer r.checksMu.Unlock()
	if r.replicas == nil {
		r.replicas, r.lastIdentity = map[string]replicaCount{}, map[string]string{}
	}
	key, now := addr+" "+id, time.Now()
	c, known := r.replicas[key]
	switch {
	case !known || online >= c.expected:
		c = replicaCount{expected: online}
	case c.lowSince.IsZero():
		c.lowSince = now
	case grace > 0 && now.Sub(c.lowSince) >= grace:
		c.expected, c.lowSince = online, time.Time{}
	}
	c.online, c.seen = online, now
	r.replicas[key] = c
	r.lastIdentity[addr] = id
	for k, old := range r.replicas {
		if now.Sub(old.seen) > forgetCountsAfter {
			delete(r.replicas, k)
		}
	}
	return c.expected
}

// HasReplicas reports whether any master's writes wait for a replica.
func (r *Redis) HasReplicas() bool {
	r.checksMu.Lock()
	defer r.checksMu.Unlock()
	for _, c := range r.replicas {
		if c.expected > 0 {
			return true
		}
	}
	return false
}

// expectedReplicas is what the writes of the master last seen at addr
// wait for.
func (r *Redis) expectedReplicas(addr string) (int, bool) {
	r.checksMu.Lock()
	defer r.checksMu.Unlock()
	id, ok := r.lastIdentity[addr]
	if !ok {
		return 0, false
	}
	c, ok := r.replicas[addr+" "+id]
	return c.expected, ok
}

// masterInfo reads a master's identity and its replicas online.
func masterInfo(ctx context.Context, c redis.Cmdable, addr string) (id string, online int, err error) {
	var info identityRead
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		info = queueIdentity(ctx, p)
		return nil
	})
	if err != nil {
		if uncheckable(err) {
			return "", 0, fmt.Errorf("%w: INFO on %s: %w", ErrIncarnationUnknown, addr, err)
		}
		return "", 0, fmt.Errorf("redis %s: INFO: %w", addr, err)
	}
	return info.read(addr)
}

// identityRead is a master's identity (INFO server and INFO replication)
// queued in a pipeline.
type identityRead struct{ server, replication *redis.StringCmd }

func queueIdentity(ctx context.Context, p redis.Pipeliner) identityRead {
	return identityRead{server: p.Info(ctx, "server"), replication: p.Info(ctx, "replication")}
}

// read returns the identity the pipeline read (see identity).
func (r identityRead) read(addr string) (id string, online int, err error) {
	if err := cmp.Or(r.server.Err(), r.replication.Err()); err != nil {
		return "", 0, err
	}
	return identity(addr, r.server.Val(), r.replication.Val())
}

// identity reads run_id from INFO server, and master_replid and the
// replicas online (slaveN:…,state=online,…) from INFO replication.
func identity(addr, server, replication string) (id string, online int, err error) {
	runID, _ := InfoField(server, "run_id")
	replID, _ := InfoField(replication, "master_replid")
	if runID == "" || replID == "" {
		return "", 0, fmt.Errorf("%w: INFO on %s has no run_id or master_replid", ErrIncarnationUnknown, addr)
	}
	for line := range strings.Lines(replication) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && strings.HasPrefix(name, "slave") && isDigits(name[len("slave"):]) &&
			slices.Contains(strings.Split(value, ","), "state=online") {
			online++
		}
	}
	return runID + "/" + replID, online, nil
}

// InfoField returns the value of a "name:value" line of an INFO reply
// (false when the reply has no such line). The consumer reads the masters'
// identities from it, the benchmarks memory, CPU time and the version.
func InfoField(info, name string) (string, bool) {
	for line := range strings.Lines(info) {
		if n, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && n == name {
			return v, true
		}
	}
	return "", false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// uncheckable reports a reply by which Redis, or a proxy or fake in front
// of it, says it will never answer the check: an ACL without the command,
// an unknown command or INFO section. Every other error (READONLY from a
// demoted master, NOREPLICAS, LOADING, OOM, CLUSTERDOWN) is a check that
// failed and is tried again.
func uncheckable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := strings.ToLower(rerr.Error())
	return strings.HasPrefix(msg, "noperm") || strings.Contains(msg, "unknown command") ||
		strings.Contains(msg, "unknown subcommand") || strings.Contains(msg, "not supported")
}

// isMoved reports a cluster redirection: the slot map has changed.
func isMoved(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}

// durableKey returns the check key of a cluster master: a key in the
// first slot the master itself says it serves (CLUSTER NODES, its
// "myself" line, so the address go-redis uses for it does not matter),
// kept until a write is redirected.
func (r *Redis) durableKey(ctx context.Context, n *redis.Client, addr string) (string, error) {
	r.checksMu.Lock()
	key, ok := r.durableKeys[addr]
	r.checksMu.Unlock()
	if ok {
		return key, nil
	}
	nodes, err := n.ClusterNodes(ctx).Result()
	if err != nil {
		if uncheckable(err) {
			return "", fmt.Errorf("%w: CLUSTER NODES on %s: %w", ErrIncarnationUnknown, addr, err)
		}
		return "", fmt.Errorf("redis %s: CLUSTER NODES: %w", addr, err)
	}
	slot, ok := firstOwnSlot(nodes)
	if !ok {
		return "", fmt.Errorf("redis %s serves no slot (CLUSTER NODES)", addr)
	}
	key = keyInSlot(durableKeyPrefix, slot)
	r.checksMu.Lock()
	if r.durableKeys == nil {
		r.durableKeys = map[string]string{}
	}
	r.durableKeys[addr] = key
	r.checksMu.Unlock()
	return key, nil
}

func (r *Redis) forgetDurableKey(addr string) {
	r.checksMu.Lock()
	defer r.checksMu.Unlock()
	delete(r.durableKeys, addr)
}

// firstOwnSlot reads the first slot of the "myself" line of CLUSTER NODES
// (<id> <addr> <flags> <master> <ping> <pong> <epoch> <link> <slot or
// range>…) that is not being migrated away ([<slot>->-<node>]; an
// importing slot, [<slot>-<-<node>], is not the master's yet): a check
// key in a migrating slot would be redirected.
func firstOwnSlot(nodes string) (uint16, bool) {
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 8 || !slices.Contains(strings.Split(f[2], ","), "myself") {
			continue
		}
		leaving := map[uint64]bool{}
		for _, entry := range f[8:] {
			if slot, ok := strings.CutPrefix(entry, "["); ok {
				if n, _, migrating := strings.Cut(slot, "->-"); migrating {
					if v, err := strconv.ParseUint(n, 10, 16); err == nil {
						leaving[v] = true
					}
				}
			}
		}
		for _, entry := range f[8:] {
			if strings.HasPrefix(entry, "[") {
				continue
			}
			first, last, isRange := strings.Cut(entry, "-")
			if !isRange {
				last = first
			}
			lo, err1 := strconv.ParseUint(first, 10, 16)
			hi, err2 := strconv.ParseUint(last, 10, 16)
			if err1 != nil || err2 != nil || hi >= 16384 {
				continue
			}
			for slot := lo; slot <= hi; slot++ {
				if !leaving[slot] {
					return uint16(slot), true
				}
			}
		}
	}
	return 0, false
}

// keyInSlot returns prefix:{n}, with the smallest n whose key hashes to
// slot.
func keyInSlot(prefix string, slot uint16) string {
	return prefix + ":{" + strconv.Itoa(int(slotTags()[slot])) + "}"
}

// slotTags is, per cluster slot, the smallest whole number whose decimal
// text hashes to it: a hash tag for every slot, found once.
var slotTags = sync.OnceValue(func() *[16384]uint32 {
	var tags [16384]uint32
	var found [16384]bool
	left := len(tags)
	for n := uint32(0); left > 0; n++ {
		s := Slot("{" + strconv.FormatUint(uint64(n), 10) + "}")
		if !found[s] {
			found[s], tags[s] = true, n
			left--
		}
	}
	return &tags
})
