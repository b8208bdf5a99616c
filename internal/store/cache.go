package store

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Backing is the store a Cached sits in front of (Redis, or a recorder of
// Redis traffic in the benchmark).
type Backing interface {
	Load(ctx context.Context, customerIDs []string) ([]Snapshot, []error, error)
	Save(ctx context.Context, writes []Write) (conflicts []int, err error)
	ClearPending(ctx context.Context, acked []Acked) error
}

// CacheConfig configures a Cached store.
type CacheConfig struct {
	// MaxBytes is the memory the copies take, allocated once. When it is
	// full, the copies written longest ago are dropped. Default
	// DefaultCacheBytes.
	MaxBytes int
}

// DefaultCacheBytes is the default CacheConfig.MaxBytes: the last ~200,000
// writes of customers of the benchmark's shape (~210 bytes each), seconds
// to minutes of a busy instance's traffic.
const DefaultCacheBytes = 48 << 20

// Cached is a write-through cache of customer hashes in front of a Backing
// store. It keeps, per customer, a copy of the hash as this process last
// wrote it, so loading a customer this process wrote recently needs no
// HGETALL: in a stream where a customer has several events, most loads
// are answered from memory.
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
	inner Backing

	mu     sync.Mutex
	copies *ring // customer id → encoded copy (appendCopy)
	// pending holds the customers written with pending change events
	// until their clear. Their copies are not used while the events are
	// unacknowledged (the events are only in Redis).
	pending    map[string]pendingMark
	clearQueue []Acked
	clearWake  chan struct{}
	async      atomic.Bool

	hits, misses atomic.Uint64
}

// pendingMark is what Cached knows of a customer's pending events.
type pendingMark struct {
	token string // the token of the write that stored them
	// acked: they are acknowledged and their clear is queued for the
	// background (RunClearer). Such a customer is served from its copy
	// again at once, flagged so that its next write removes the pending
	// key itself: the batch after a tier change neither waits for the
	// clear's round trip nor publishes the acknowledged events once more.
	acked bool
}

// NewCached puts a cache in front of inner.
func NewCached(inner Backing, cfg CacheConfig) *Cached {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultCacheBytes
	}
	return &Cached{inner: inner, copies: newRing(cfg.MaxBytes), pending: map[string]pendingMark{},
		clearWake: make(chan struct{}, 1)}
}

// CacheStats are counters for metrics.
type CacheStats struct {
	Hits, Misses uint64
	Entries      int
	Bytes        int
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
	for n, ok := range l.seen.has {
		if ok {
			out[fieldSeenPrefix+strconv.Itoa(n)] = l.seen.vals[n]
		}
	}
	if pending {
		out[fieldNames[ixPendingFlag]] = "1"
	}
	return out, true
}

// Load answers from the copies where it can and loads the rest.
func (c *Cached) Load(ctx context.Context, customerIDs []string) ([]Snapshot, []error, error) {
	snaps := make([]Snapshot, len(customerIDs))
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
			if l, ok := decodeCopy(copies[i]); ok {
				if flagged != nil && flagged[i] {
					l.vals[ixPendingFlag] = "1"
					l.has |= 1 << ixPendingFlag
				}
				snap, err := decodeLoaded(id, l, copies[i] != "", "")
				if err == nil {
					snaps[i] = snap
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
	loaded, loadErrs, err := c.inner.Load(ctx, missIDs)
	if err != nil {
		return nil, nil, err
	}
	for j, i := range missAt {
		snaps[i], errs[i] = loaded[j], loadErrs[j]
	}
	return snaps, errs, nil
}

// Save writes through and keeps, for every write that went in, the hash
// as it now is; conflicting or failed writes drop their copies.
func (c *Cached) Save(ctx context.Context, writes []Write) ([]int, error) {
	conflicts, err := c.inner.Save(ctx, writes)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// Which writes went in is unknown.
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

// ClearPending clears the pending events of acknowledged customers. While
// RunClearer runs, it only records the acknowledgements and queues the
// clear for the background (see pendingMark); otherwise, or when the queue is
// full, it clears through at once. A customer whose token is the one
// cleared may be served from its copy again.
func (c *Cached) ClearPending(ctx context.Context, acked []Acked) error {
	if len(acked) == 0 {
		return nil
	}
	if c.async.Load() {
		c.mu.Lock()
		if len(c.clearQueue)+len(acked) <= maxQueuedClears {
			for _, a := range acked {
				if mark, ok := c.pending[a.CustomerID]; ok && mark.token == a.Token {
					c.pending[a.CustomerID] = pendingMark{token: a.Token, acked: true}
				}
			}
			c.clearQueue = append(c.clearQueue, acked...)
			c.mu.Unlock()
			select {
			case c.clearWake <- struct{}{}:
			default:
			}
			return nil
		}
		c.mu.Unlock()
	}
	return c.clearNow(ctx, acked)
}

// maxQueuedClears bounds the acknowledgements waiting for the background
// clear; beyond it callers clear synchronously (Redis slow or down).
const maxQueuedClears = 200_000

// clearNow clears through and unmarks the cleared customers.
func (c *Cached) clearNow(ctx context.Context, acked []Acked) error {
	if err := c.inner.ClearPending(ctx, acked); err != nil {
		// Those customers stay marked until a write or a clear succeeds:
		// unacknowledged ones are loaded with their pending events,
		// acknowledged ones served from their copies, flagged.
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range acked {
		if mark, ok := c.pending[a.CustomerID]; ok && mark.token == a.Token {
			delete(c.pending, a.CustomerID)
		}
	}
	return nil
}

// RunClearer clears queued acknowledgements in the background until ctx
// ends, so no batch waits for the clear's round trip. Failed clears are
// kept and retried after retry; their customers stay served from their
// copies (flagged), so nothing waits for Redis to come back either. Call
// Flush after it returns to clear what is still queued.
func (c *Cached) RunClearer(ctx context.Context, retry time.Duration) {
	c.async.Store(true)
	defer c.async.Store(false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.clearWake:
		}
		if err := c.Flush(ctx); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			select {
			case c.clearWake <- struct{}{}:
			default:
			}
		}
	}
}

// Flush clears every queued acknowledgement now (used by RunClearer, and
// at shutdown so a stopping instance leaves no pending keys behind). On
// failure the acknowledgements stay queued.
func (c *Cached) Flush(ctx context.Context) error {
	c.mu.Lock()
	batch := c.clearQueue
	c.clearQueue = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := c.clearNow(ctx, batch); err != nil {
		c.mu.Lock()
		c.clearQueue = append(batch, c.clearQueue...)
		if over := len(c.clearQueue) - maxQueuedClears; over > 0 {
			// The oldest are given up: their customers stay marked as
			// acknowledged, so their next write removes the pending key, or a
			// later load re-publishes the events with their ids.
			c.clearQueue = append([]Acked(nil), c.clearQueue[over:]...)
		}
		c.mu.Unlock()
		return err
	}
	return nil
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

// The copy of a hash is a string of fields, each a tag byte, the value's
// length as a uvarint and the value. Tags below numFields are field
// indexes; moreTag+n is the blob's piece _g<n>, seenTag+n the old layout's
// _d<n>. updated_at is left out: it is rewritten whenever figures are, so
// comparing against it saves nothing. So is the pending flag: a copy is
// used only while its customer has no pending events (Cached.pending),
// that is, no flag.
const (
	moreTag = 0x80
	seenTag = 0xc0
)

// appendCopy appends the copy of l to dst; false when l has a numbered
// field beyond what a tag can name (never, for hashes this code writes).
func appendCopy(dst []byte, l *loaded) ([]byte, bool) {
	for i := fieldIndex(0); i < numFields; i++ {
		if i != ixUpdatedAt && i != ixPendingFlag && l.has&(1<<i) != 0 {
			dst = appendCopyField(dst, byte(i), l.vals[i])
		}
	}
	for _, f := range [...]struct {
		set *chunkSet
		tag byte
	}{{&l.more, moreTag}, {&l.seen, seenTag}} {
		for n, ok := range f.set.has {
			if !ok {
				continue
			}
			if n >= 0x40 {
				return dst, false
			}
			dst = appendCopyField(dst, f.tag+byte(n), f.set.vals[n])
		}
	}
	return dst, true
}

func appendCopyField(dst []byte, tag byte, v string) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// decodeCopy parses appendCopy's output; the values are substrings of e.
func decodeCopy(e string) (loaded, bool) {
	var l loaded
	for len(e) > 0 {
		tag := e[0]
		n, w := uvarint(e[1:])
		if w <= 0 || uint64(len(e)-1-w) < n {
			return loaded{}, false
		}
		v := e[1+w : 1+w+int(n)]
		e = e[1+w+int(n):]
		switch {
		case tag < byte(numFields):
			l.vals[tag] = v
			l.has |= 1 << tag
		case tag >= seenTag:
			l.seen.set(int(tag-seenTag), v)
		case tag >= moreTag:
			l.more.set(int(tag-moreTag), v)
		default:
			return loaded{}, false
		}
	}
	return l, true
}

// after returns the hash l becomes when w is applied to it; false when w
// names a field this code does not know (never, for writes from Encode).
func (l *loaded) after(w *Write) (loaded, bool) {
	out := *l
	out.more, out.seen = l.more.clone(), l.seen.clone()
	for i := 0; i+1 < len(w.set); i += 2 {
		name, value := w.set[i], w.set[i+1]
		if ix, ok := indexOf(name); ok {
			out.vals[ix] = value
			out.has |= 1 << ix
			continue
		}
		set, n, ok := out.numbered(name)
		if !ok {
			return loaded{}, false
		}
		set.set(n, value)
	}
	for _, name := range w.del {
		if ix, ok := indexOf(name); ok {
			out.unset(ix)
			continue
		}
		set, n, ok := out.numbered(name)
		if !ok {
			return loaded{}, false
		}
		set.unset(n)
	}
	return out, true
}
