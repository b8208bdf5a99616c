package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// Timers is where the updater's clock lives (SPEC §8): each input
// partition's stream time, and its index of customers' next due times.
// Implemented by store.Redis.
type Timers interface {
	// StreamTimes reads the stored stream time of each partition (zero
	// for one that has none).
	StreamTimes(ctx context.Context, partitions []int32) (map[int32]time.Time, error)
	// DueTimers answers each query with a page of its partition's
	// customers whose indexed due time is at or before its Until, earliest
	// first: all of a batch's partitions in one round trip.
	DueTimers(ctx context.Context, queries []store.DueQuery) ([][]string, error)
	// Settle ends a batch in one round trip: it writes index entries and
	// stream times (never moving one back), then reads the stored stream
	// time of each queried partition and answers the due queries, seeing
	// those writes and any made before them.
	Settle(ctx context.Context, updates []store.TimerUpdate, times map[int32]time.Time, due []store.DueQuery) (map[int32]time.Time, [][]string, error)
}

// batchClock is the stream time of each partition a batch touches: the
// stored one, moved forward by the batch's valid events.
type batchClock struct {
	now    map[int32]time.Time // the partition's stream time after the batch
	stored map[int32]time.Time // the partition's stream time before the batch
	seen   map[int32]time.Time // the latest valid event of the batch, per partition
	parts  []int32             // partitions of the batch's records, in first-seen order
}

func newBatchClock() *batchClock {
	return &batchClock{now: map[int32]time.Time{}, stored: map[int32]time.Time{}, seen: map[int32]time.Time{}}
}

// saw records a valid event of partition p.
func (c *batchClock) saw(p int32, at time.Time) {
	if cur, ok := c.seen[p]; !ok || at.After(cur) {
		c.seen[p] = at
	}
}

// touch records that the batch holds a record of partition p (valid or
// not): its stored stream time is loaded, even if nothing moves it.
func (c *batchClock) touch(p int32) {
	if _, ok := c.now[p]; !ok {
		c.now[p] = time.Time{}
		c.parts = append(c.parts, p)
	}
}

// before is partition p's stream time just before a record whose batch
// predecessors of p reached local: the stored stream time, or local when
// later.
func (c *batchClock) before(p int32, local time.Time) time.Time {
	stored := c.stored[p]
	if local.After(stored) {
		return local
	}
	return stored
}

// fetchStreamTimes runs loadStreamTimes in the background, then asks for
// the first page of each partition's due customers by the stream times
// read (the index does not change before the batch settles, so the answer
// is still good when the timers fire). The returned function waits for it
// and returns the pages and the error (every call the same); it must be
// called before the clock is used, and before the batch ends, so the
// goroutine never outlives it.
func (p *Processor) fetchStreamTimes(ctx context.Context, c *batchClock) func() ([][]string, error) {
	type result struct {
		pages [][]string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if r.err = p.loadStreamTimes(ctx, c); r.err == nil && p.cfg.Timers != nil && len(c.parts) > 0 {
			r.pages, r.err = p.cfg.Timers.DueTimers(ctx, p.dueQueries(c))
		}
		done <- r
	}()
	return sync.OnceValues(func() ([][]string, error) {
		r := <-done
		return r.pages, r.err
	})
}

// loadStreamTimes sets each touched partition's stream time: the stored
// one, or the batch's latest valid event when that is later. The stored
// one is read only for partitions whose last settle this process has not
// seen (see knownStreamTimes).
func (p *Processor) loadStreamTimes(ctx context.Context, c *batchClock) error {
	if p.cfg.Timers != nil && len(c.parts) > 0 {
		unknown := p.streamTimes.fill(c.parts, c.stored)
		if len(unknown) > 0 {
			stored, err := p.cfg.Timers.StreamTimes(ctx, unknown)
			if err != nil {
				return err
			}
			for part, t := range stored {
				c.stored[part] = t
			}
			p.streamTimes.remember(stored)
		}
		for part, t := range c.stored {
			c.now[part] = t
		}
	}
	for part, t := range c.seen {
		if t.After(c.now[part]) {
			c.now[part] = t
		}
	}
	return nil
}

// dueQueries asks for the first page of due customers of each of the
// batch's partitions, by its stream time now. The partitions share one
// round's MaxTimersPerRound (pageLimit).
func (p *Processor) dueQueries(c *batchClock) []store.DueQuery {
	queries := make([]store.DueQuery, len(c.parts))
	limit := p.pageLimit(len(c.parts))
	for i, part := range c.parts {
		queries[i] = store.DueQuery{Partition: part, Until: c.now[part], Limit: limit}
	}
	return queries
}

// pageLimit is the page size of each of n partitions asked for due
// customers in one round: their share of MaxTimersPerRound, at least one.
// A round thus loads about MaxTimersPerRound customers however many
// partitions a worker holds; a replay that makes every partition's
// customers due would otherwise load a full page per partition at once,
// beyond the memory a batch is sized for.
func (p *Processor) pageLimit(n int) int {
	return max(1, p.cfg.MaxTimersPerRound/max(n, 1))
}

// settled is what settling a batch read back, as of just after its
// writes: the stored stream time of each of its partitions, and the first
// page of each one's due customers (the answers to dueQueries).
type settled struct {
	stored map[int32]time.Time
	pages  [][]string
}

// settle writes the index entries of the customers that need one and,
// with saveTimes, the stream times the batch moved, and reads back what
// the sweep needs, in one round trip.
func (p *Processor) settle(ctx context.Context, work []*customerWork, c *batchClock, saveTimes bool) (settled, error) {
	if p.cfg.Timers == nil {
		return settled{}, nil
	}
	n := 0
	for _, w := range work {
		if w.deadErr == nil && w.timerMoved {
			n++
		}
	}
	updates := make([]store.TimerUpdate, 0, n) // sized once: a batch moves thousands
	for _, w := range work {
		if w.deadErr == nil && w.timerMoved {
			updates = append(updates, w.timer)
		}
	}
	var moved map[int32]time.Time
	if saveTimes {
		moved = make(map[int32]time.Time, len(c.seen))
		for part := range c.seen {
			moved[part] = c.now[part]
		}
	}
	due := p.dueQueries(c)
	if len(updates) == 0 && len(moved) == 0 && len(due) == 0 {
		return settled{}, nil
	}
	stored, pages, err := p.cfg.Timers.Settle(ctx, updates, moved, due)
	return settled{stored: stored, pages: pages}, err
}

// dueNotIn returns work for the customers on the first pages of due
// customers (the answers to dueQueries, in c.parts' order) that done
// does not hold yet, and adds them to done. A customer on two partitions'
// pages is taken with the first; fireDueTimers drops its other entry.
func (c *batchClock) dueNotIn(pages [][]string, done map[string]*customerWork) []*customerWork {
	var due []*customerWork
	for i, ids := range pages[:min(len(pages), len(c.parts))] {
		for _, id := range ids {
			if _, ok := done[id]; ok {
				continue
			}
			w := &customerWork{id: id, partition: c.parts[i], due: true}
			done[id] = w
			due = append(due, w)
		}
	}
	return due
}

// timerEntry derives a customer's index entry from its state after the
// batch (after), and says whether it must be written: when it differs
// from the entry the loaded state (before) implies, when the customer was
// loaded from the index (whose entry may be stale), and when any of its
// records was a redelivery (a crash may have come between a hash write and
// its index write; the redelivery re-derives the entry).
func (p *Processor) timerEntry(w *customerWork, before, after *aggregate.State) (store.TimerUpdate, bool) {
	u := store.TimerUpdate{Partition: w.partition, CustomerID: w.id, Version: store.StateVersion(after)}
	due, ok := p.cfg.Model.NextDue(after)
	u.Due, u.None = due, !ok
	prev, had := p.cfg.Model.NextDue(before)
	moved := had != ok || !prev.Equal(due) || w.due || w.redeliv > 0
	return u, moved && (ok || had || w.due)
}

// fireDueTimers loads, re-evaluates and writes, round after round, the
// customers of the batch's partitions whose indexed due time the
// partition's stream time has reached, through the same compare-and-set
// write and pending outputs as events (SPEC §8: within the batch in which
// stream time passed it). It returns their work, to be published with the
// batch's (rounds already out are marked, see publishEarly); their index
// entries are written after that (settle), so the index does not change
// while the rounds page through it. first, when not nil, are the answers
// to dueQueries already read (settle's).
func (p *Processor) fireDueTimers(ctx context.Context, clock *batchClock, done map[string]*customerWork, stats *BatchStats, sc *batchScratch, first [][]string) ([]*customerWork, error) {
	if p.cfg.Timers == nil {
		return nil, nil
	}
	var fired []*customerWork
	early := 0 // fired[:early] were published already (publishEarly)
	queries := p.dueQueries(clock)
	// Each round asks every partition that may have more for its next page
	// at once, then loads, re-evaluates and writes what they held.
	for round := 0; len(queries) > 0; round++ {
		pages := first
		if round > 0 || pages == nil {
			var err error
			if pages, err = p.cfg.Timers.DueTimers(ctx, queries); err != nil {
				return nil, err
			}
		}
		var round, recheck []*customerWork
		more := queries[:0]
		for i, q := range queries {
			part := q.Partition
			for _, id := range pages[i] {
				if w, ok := done[id]; ok {
					// Already loaded by this batch (for its events, or
					// indexed under another partition too): its entry is
					// rewritten with the others, from its state.
					if w.partition != part {
						// Indexed under another partition than its records
						// came from: that entry is dropped.
						fired = append(fired, &customerWork{id: id, partition: part, due: true,
							timer: store.TimerUpdate{Partition: part, CustomerID: id, None: true, Version: w.timer.Version}, timerMoved: true})
					} else {
						w.timerMoved = true
						if !w.wrote && w.deadErr == nil {
							// Nothing written: its state may have come
							// from a stale copy (applyAndSave), so it is
							// evaluated again from a fresh load.
							w.due = true
							recheck = append(recheck, w)
						}
					}
					continue
				}
				w := &customerWork{id: id, partition: part, due: true}
				done[id] = w
				round = append(round, w)
			}
			if n := len(pages[i]); n >= q.Limit {
				// The index does not change while the rounds page through
				// it: the next page starts after this one's last entry.
				q.Offset += n
				q.After = pages[i][n-1]
				more = append(more, q)
			}
		}
		// The partitions that have more share the next round.
		limit := p.pageLimit(len(more))
		for i := range more {
			more[i].Limit = limit
		}
		stats.TimersDue += len(round)
		// Due customers load through the state cache: a copy that is
		// current saves the load's round trip, and one that is stale but
		// shows a timer due is caught by the write's compare-and-set,
		// which reloads it. A copy that shows nothing due writes nothing,
		// so no compare-and-set can expose it: those customers are loaded
		// again past the cache and evaluated once more (rare: an index
		// entry is written from the state it indexes).
		if err := p.applyAndSave(ctx, round, clock, stats, sc, false, nil); err != nil {
			return nil, fmt.Errorf("fire %d due timers: %w", len(round), err)
		}
		for _, w := range round {
			if !w.wrote && w.deadErr == nil {
				recheck = append(recheck, w)
			}
		}
		if err := p.applyAndSave(ctx, recheck, clock, stats, sc, true, nil); err != nil {
			return nil, fmt.Errorf("recheck %d due customers: %w", len(recheck), err)
		}
		fired = append(fired, round...)
		queries = more
		if len(queries) > 0 && len(fired)-early >= p.cfg.MaxTimersPerRound {
			// More rounds to come: what fired so far goes out now, so the
			// batch does not hold every due customer at once.
			if err := p.publishEarly(ctx, fired[early:], stats); err != nil {
				return nil, err
			}
			early = len(fired)
		}
	}
	return fired, nil
}

// knownStreamTimes keeps each partition's stored stream time as this
// process last read it: a batch's settle reads it back after its writes
// (for the sweep), so the partition's next batch starts from that instead
// of reading it again, one round trip fewer per batch. The value is no
// older than a read at the batch's start would be by more than the gap
// between two batches, and a writer fenced off meanwhile is already
// possible between a batch's read and its settle (the sweep handles
// both: it fires by whatever later time the settle reads back). A
// partition this process no longer holds is forgotten
// (Processor.ForgetStreamTime): its next owner moves it on, and the
// value would be stale when it comes back. Shared by the workers.
type knownStreamTimes struct {
	mu    sync.Mutex
	times map[int32]time.Time
}

// fill copies the known stream times of parts into dst and returns the
// partitions it does not know.
func (k *knownStreamTimes) fill(parts []int32, dst map[int32]time.Time) (unknown []int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, part := range parts {
		if t, ok := k.times[part]; ok {
			dst[part] = t
		} else {
			unknown = append(unknown, part)
		}
	}
	return unknown
}

// remember records stream times read from the store.
func (k *knownStreamTimes) remember(stored map[int32]time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for part, t := range stored {
		k.times[part] = t
	}
}

// ForgetStreamTime drops what the processor knows of a partition's stream
// time, so its next batch reads the stored one. Call it when the
// partition is revoked from this process (and before it may come back).
func (p *Processor) ForgetStreamTime(partition int32) { p.streamTimes.forget(partition) }

// ForgetStreamTimes drops what the processor knows of every partition's
// stream time: after a Redis failover or restart that may have lost
// writes, the stored ones may be behind what it last read back.
func (p *Processor) ForgetStreamTimes() {
	p.streamTimes.mu.Lock()
	defer p.streamTimes.mu.Unlock()
	clear(p.streamTimes.times)
}

func (k *knownStreamTimes) forget(partition int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.times, partition)
}
