// The state cache: copies of the customer hashes this process wrote, so
// loading them again needs no Redis round trip.

package store

import (
	"context"
	"sync"
	"sync/atomic"
)

// CacheConfig configures a Cached store.
type CacheConfig struct {
	// MaxBytes is the memory the copies take, allocated once and resident
	// from the start. When it is full, the copies written longest ago are
	// dropped. Default
	// DefaultCacheBytes.
	MaxBytes int
}

// DefaultCacheBytes is the default CacheConfig.MaxBytes: the last ~200,000
// writes of customers of the benchmark's shape (~210 bytes each), seconds
// to minutes of a busy instance's traffic.
const DefaultCacheBytes = 48 << 20

// Cached is a write-through cache of customer hashes in front of a Store
// (Redis, or a recorder of Redis traffic in the benchmark). It keeps, per
// customer, a copy of the hash as this process last wrote it, so loading a
// customer this process wrote recently needs no HGETALL: in a stream where
// a customer has several events, most loads are answered from memory.
//
// The copy is never trusted for correctness, only for speed: every write
// is still a compare-and-set on the token (offset guard) the copy carries.
// If anyone else has written the customer since (the partition moved to
// another consumer and back, a zombie, an operator), the token no longer
// matches, the write reports a conflict, the copy is dropped and the
// caller reloads from Redis. So a stale copy costs one round of conflict,
// never a lost update. Copies of customers with pending change events are
// not used (the events live in Redis only); such customers are loaded.
//
// The copies live in a fixed-size ring (see ring): when it is full, the
// copies written longest ago go first.
//
// It is safe for concurrent use.
type Cached struct {
	inner Store
	// cleared says the inner store's Clearer tells this cache of every
	// clear it makes (NewCached); without one, the inner store is taken to
	// clear at once, a nil error meaning cleared.
	cleared bool

	mu     sync.Mutex
	copies *ring // customer id → encoded copy (appendCopy)
	// pending holds the customers written with pending change events
	// until their clear. Their copies are not used while the events are
	// unacknowledged (the events are only in Redis).
	pending map[string]pendingMark
	// epoch counts Forgets: a save that began before one keeps no copy.
	epoch uint64

	hits, misses atomic.Uint64
}

// pendingMark is what Cached knows of a customer's pending events.
type pendingMark struct {
	token string // the token of the write that stored them
	// acked: they are acknowledged and handed to the clearer, which may
	// clear them later (in the background, or after a failure). Such a
	// customer is served from its copy again at once, flagged so that its
	// next write removes the pending key itself: the batch after a tier
	// change neither waits for the clear's round trip nor publishes the
	// acknowledged events once more.
	acked bool
}

// NewCached puts a cache in front of inner. When inner has a Clearer (a
// Redis store, or a wrapper embedding one), the cache asks it to be told
// of every clear, so customers are unmarked only once their clear has
// landed, whenever that is.
func NewCached(inner Store, cfg CacheConfig) *Cached {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultCacheBytes
	}
	c := &Cached{inner: inner, copies: newRing(cfg.MaxBytes), pending: map[string]pendingMark{}}
	if s, ok := inner.(interface{ Clearer() *Clearer }); ok {
		s.Clearer().notify(c.unmark)
		c.cleared = true
	}
	return c
}

// CacheStats are counters for metrics.
type CacheStats struct {
	Hits, Misses uint64 // loads answered from a copy / sent on to Redis, since start
	Entries      int    // customers with a copy now
	Bytes        int    // memory the copies use now, at most CacheConfig.MaxBytes
}

// Stats returns the cache's counters.
func (c *Cached) Stats() CacheStats {
	c.mu.Lock()
	n, b := c.copies.len(), c.copies.used()
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n, Bytes: b}
}

// Copy returns the cached copy of a customer's hash by field name, for
// tests and debugging: without updated_at (the copy leaves it out), and
// with the pending flag while the customer is marked as having pending
// events (the copy keeps that apart).
func (c *Cached) Copy(customerID string) (map[string]string, bool) {
	c.mu.Lock()
	e, ok := c.copies.get(customerID)
	_, pending := c.pending[customerID]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	l, ok := decodeCopy(e)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for i := fieldIndex(0); i < numFields; i++ {
		if v, ok := l.get(i); ok {
			out[fieldNames[i]] = v
		}
	}
	for n, ok := range l.more.has {
		if ok {
			out[pieceField(n)] = l.more.vals[n]
		}
	}
	if pending {
		out[fieldNames[ixPendingFlag]] = "1"
	}
	return out, true
}

// Load answers from the copies where it can and loads the rest.
func (c *Cached) Load(ctx context.Context, customerIDs []string) ([]Snapshot, []error, error) {
	return c.LoadInto(ctx, customerIDs, nil)
}

// LoadInto is Load into dst's array when it has room: a caller loading
// batch after batch reuses one array instead of allocating and zeroing a
// snapshot (about a kilobyte) per customer each time. The snapshots, and
// Writes encoded from them, are valid until the array is reused.
func (c *Cached) LoadInto(ctx context.Context, customerIDs []string, dst []Snapshot) ([]Snapshot, []error, error) {
	snaps := slots(dst, len(customerIDs))
	errs := make([]error, len(customerIDs))
	var missIDs []string
	var missAt []int
	copies := make([]string, len(customerIDs))
	found := make([]bool, len(customerIDs))
	var flagged []bool // copy served while the hash still has its pending flag
	c.mu.Lock()
	for i, id := range customerIDs {
		mark, pending := c.pending[id]
		switch {
		case !pending:
			copies[i], found[i] = c.copies.get(id)
		case mark.acked:
			// Acknowledged, clear queued: the Redis hash is the copy plus
			// the flag, and the pending key holds only acknowledged events.
			if copies[i], found[i] = c.copies.get(id); found[i] {
				if flagged == nil {
					flagged = make([]bool, len(customerIDs))
				}
				flagged[i] = true
			}
		}
	}
	c.mu.Unlock()
	for i, id := range customerIDs {
		if found[i] {
			snap := &snaps[i]
			if snap.stored.readCopy(copies[i]) {
				if flagged != nil && flagged[i] {
					snap.stored.vals[ixPendingFlag] = "1"
					snap.stored.has |= 1 << ixPendingFlag
				}
				if decodeInto(snap, id, copies[i] != "", "") == nil {
					continue
				}
			}
		}
		missIDs = append(missIDs, id)
		missAt = append(missAt, i)
	}
	c.hits.Add(uint64(len(customerIDs) - len(missIDs)))
	c.misses.Add(uint64(len(missIDs)))
	if len(missIDs) == 0 {
		return snaps, errs, nil
	}
	if err := c.loadMisses(ctx, missIDs, missAt, snaps, errs); err != nil {
		return nil, nil, err
	}
	return snaps, errs, nil
}

// slots returns n snapshots in dst's array when it has room, else in a
// new one.
func slots(dst []Snapshot, n int) []Snapshot {
	if cap(dst) >= n {
		return dst[:n]
	}
	return make([]Snapshot, n)
}

// toLoader is a store that can decode into the caller's snapshots (Redis).
type toLoader interface {
	LoadTo(ctx context.Context, customerIDs []string, dst []*Snapshot) ([]error, error)
}

// loadMisses loads ids from the inner store into snaps[at[j]] and
// errs[at[j]]: decoded where they lie when the inner store can
// (toLoader), copied in otherwise.
func (c *Cached) loadMisses(ctx context.Context, ids []string, at []int, snaps []Snapshot, errs []error) error {
	if tl, ok := c.inner.(toLoader); ok {
		dst := make([]*Snapshot, len(ids))
		for j, i := range at {
			dst[j] = &snaps[i]
		}
		loadErrs, err := tl.LoadTo(ctx, ids, dst)
		if err != nil {
			return err
		}
		for j, i := range at {
			errs[i] = loadErrs[j]
		}
		return nil
	}
	loaded, loadErrs, err := c.inner.Load(ctx, ids)
	if err != nil {
		return err
	}
	for j, i := range at {
		snaps[i], errs[i] = loaded[j], loadErrs[j]
	}
	return nil
}

// LoadFreshInto loads customers from the inner store, past and dropping
// their copies, into dst's array when it has room (see LoadInto). A copy
// is checked only when its customer is written (the compare-and-set), so
// a load that ended in no write must be checked by this one: a customer
// loaded because its timer index entry is due may have been written by
// another consumer since, and a stale copy would show it with nothing
// due, leaving the entry due forever.
func (c *Cached) LoadFreshInto(ctx context.Context, customerIDs []string, dst []Snapshot) ([]Snapshot, []error, error) {
	c.mu.Lock()
	for _, id := range customerIDs {
		c.dropLocked(id)
	}
	c.mu.Unlock()
	c.misses.Add(uint64(len(customerIDs)))
	snaps := slots(dst, len(customerIDs))
	at := make([]int, len(customerIDs))
	for i := range at {
		at[i] = i
	}
	errs := make([]error, len(customerIDs))
	if err := c.loadMisses(ctx, customerIDs, at, snaps, errs); err != nil {
		return nil, nil, err
	}
	return snaps, errs, nil
}

// Save writes through and keeps, for every write that went in, the hash
// as it now is; conflicting or failed writes drop their copies.
func (c *Cached) Save(ctx context.Context, writes []Write) ([]int, error) {
	c.mu.Lock()
	epoch := c.epoch
	c.mu.Unlock()
	conflicts, err := c.inner.Save(ctx, writes)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || c.epoch != epoch {
		// Which writes went in is unknown, or the copies were forgotten
		// meanwhile: a write sent before may be one Redis lost.
		for i := range writes {
			c.dropLocked(writes[i].CustomerID)
		}
		return conflicts, err
	}
	lost := make(map[int]bool, len(conflicts))
	for _, i := range conflicts {
		lost[i] = true
	}
	var scratch []byte
	for i := range writes {
		w := &writes[i]
		if lost[i] || w.base == nil {
			c.dropLocked(w.CustomerID)
			continue
		}
		after, ok := w.base.after(w)
		if !ok {
			c.dropLocked(w.CustomerID)
			continue
		}
		var fits bool
		scratch, fits = appendCopy(scratch[:0], &after)
		if !fits {
			c.dropLocked(w.CustomerID)
			continue
		}
		c.copies.put(w.CustomerID, scratch)
		// A write replaces whatever was pending before it (it stored new
		// events or deleted the key), and with it any acknowledgement still
		// queued for the old token (whose clear is then a no-op).
		if len(w.Pending) > 0 {
			c.markPendingLocked(w.CustomerID, w.Token)
		} else {
			delete(c.pending, w.CustomerID)
		}
	}
	return conflicts, nil
}

// ClearPending marks the acknowledged customers (see pendingMark) and
// hands them to the inner store, whose Clearer clears them now or in the
// background and retries what fails. A customer is unmarked, and served
// from its copy without the flag, once the clear of its token has landed.
func (c *Cached) ClearPending(ctx context.Context, acked []Acked) error {
	if len(acked) == 0 {
		return nil
	}
	c.mu.Lock()
	for _, a := range acked {
		if mark, ok := c.pending[a.CustomerID]; ok && mark.token == a.Token {
			c.pending[a.CustomerID] = pendingMark{token: a.Token, acked: true}
		}
	}
	c.mu.Unlock()
	if err := c.inner.ClearPending(ctx, acked); err != nil {
		// The customers stay marked as acknowledged until a write or a
		// clear succeeds: served from their copies, flagged.
		return err
	}
	if !c.cleared {
		c.unmark(acked)
	}
	return nil
}

// unmark forgets the pending events of customers whose clear has landed,
// unless a newer write (another token) stored events since.
func (c *Cached) unmark(cleared []Acked) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range cleared {
		if mark, ok := c.pending[a.CustomerID]; ok && mark.token == a.Token {
			delete(c.pending, a.CustomerID)
		}
	}
}

// Forget drops every copy, so that each customer is loaded from the inner
// store again: after a Redis failover or restart that may have lost
// writes, the copies may be ahead of what Redis holds.
// A save in flight meanwhile keeps no copy (see epoch).
func (c *Cached) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.copies.reset()
	clear(c.pending)
	c.epoch++
}

// maxPending bounds the customers marked as having pending events (normally
// a batch's worth, until its clear); beyond it every copy is forgotten,
// which is always safe.
const maxPending = 1 << 20

func (c *Cached) markPendingLocked(id, token string) {
	if len(c.pending) >= maxPending {
		c.copies.reset()
		clear(c.pending)
	}
	c.pending[id] = pendingMark{token: token}
}

func (c *Cached) dropLocked(id string) {
	c.copies.drop(id)
	delete(c.pending, id)
}
