package pipeline

import (
	"context"
	"fmt"
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
	// SaveStreamTimes stores stream times, never moving one back.
	SaveStreamTimes(ctx context.Context, times map[int32]time.Time) error
	// DueTimers answers each query with a page of its partition's
	// customers whose indexed due time is at or before its Until, earliest
	// first: all of a batch's partitions in one round trip.
	DueTimers(ctx context.Context, queries []store.DueQuery) ([][]string, error)
	// SetTimers writes index entries.
	SetTimers(ctx context.Context, updates []store.TimerUpdate) error
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

// loadStreamTimes sets each touched partition's stream time: the stored
// one, or the batch's latest valid event when that is later.
func (p *Processor) loadStreamTimes(ctx context.Context, c *batchClock) error {
	if p.cfg.Timers != nil && len(c.parts) > 0 {
		stored, err := p.cfg.Timers.StreamTimes(ctx, c.parts)
		if err != nil {
			return err
		}
		for part, t := range stored {
			c.now[part], c.stored[part] = t, t
		}
	}
	for part, t := range c.seen {
		if t.After(c.now[part]) {
			c.now[part] = t
		}
	}
	return nil
}

// saveStreamTimes stores the stream times the batch moved.
func (p *Processor) saveStreamTimes(ctx context.Context, c *batchClock) error {
	if p.cfg.Timers == nil || len(c.seen) == 0 {
		return nil
	}
	moved := make(map[int32]time.Time, len(c.seen))
	for part := range c.seen {
		moved[part] = c.now[part]
	}
	return p.cfg.Timers.SaveStreamTimes(ctx, moved)
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

// writeTimers writes the index entries of the customers that need one.
func (p *Processor) writeTimers(ctx context.Context, work []*customerWork) error {
	if p.cfg.Timers == nil {
		return nil
	}
	var updates []store.TimerUpdate
	for _, w := range work {
		if w.deadErr == nil && w.timerMoved {
			updates = append(updates, w.timer)
		}
	}
	return p.cfg.Timers.SetTimers(ctx, updates)
}

// fireDueTimers loads, re-evaluates and writes, round after round, the
// customers of the batch's partitions whose indexed due time the
// partition's stream time has reached, through the same compare-and-set
// write and pending outputs as events (SPEC §8: within the batch in which
// stream time passed it). It returns their work, to be published with the
// batch's; their index entries are written after that (writeTimers), so
// the index does not change while the rounds page through it.
func (p *Processor) fireDueTimers(ctx context.Context, clock *batchClock, done map[string]*customerWork, stats *BatchStats) ([]*customerWork, error) {
	if p.cfg.Timers == nil {
		return nil, nil
	}
	var fired []*customerWork
	queries := make([]store.DueQuery, len(clock.parts))
	for i, part := range clock.parts {
		queries[i] = store.DueQuery{Partition: part, Until: clock.now[part], Limit: p.cfg.MaxTimersPerRound}
	}
	// Each round asks every partition that may have more for its next page
	// at once, then loads, re-evaluates and writes what they held.
	for len(queries) > 0 {
		pages, err := p.cfg.Timers.DueTimers(ctx, queries)
		if err != nil {
			return nil, err
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
						if w.write == nil && w.deadErr == nil {
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
			if len(pages[i]) >= q.Limit {
				q.Offset += len(pages[i])
				more = append(more, q)
			}
		}
		stats.TimersDue += len(round)
		if len(round)+len(recheck) > 0 {
			if err := p.applyAndSave(ctx, append(recheck, round...), clock, stats, true); err != nil {
				return nil, fmt.Errorf("fire %d due timers: %w", len(round)+len(recheck), err)
			}
			fired = append(fired, round...)
		}
		queries = more
	}
	return fired, nil
}
