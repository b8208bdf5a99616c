package stream

import (
	"context"
	"sync"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// committer commits handled offsets off the workers' critical path. A
// worker hands over a batch only after the handler made it durable, so
// every offset it holds may be committed; the worker goes straight on to
// its next batch instead of waiting a broker round trip. Offers coalesce
// per partition (only the highest offset is kept), so its memory is
// bounded by the number of partitions however far commits fall behind,
// and one goroutine commits, so a partition's committed offset never moves
// backwards through racing requests.
type committer struct {
	c *Consumer

	mu    sync.Mutex
	ready map[partitionKey]kafka.Message
	kick  chan struct{}
}

func newCommitter(c *Consumer) *committer {
	return &committer{c: c, ready: map[partitionKey]kafka.Message{}, kick: make(chan struct{}, 1)}
}

// offer records a durable batch for commit and wakes the committer.
func (q *committer) offer(batch []kafka.Message) {
	q.mu.Lock()
	for _, m := range batch {
		k := partitionKey{m.Topic, m.Partition}
		if prev, ok := q.ready[k]; !ok || m.Offset > prev.Offset {
			q.ready[k] = m
		}
	}
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// take removes and returns what is ready, merged into carry (records of a
// failed attempt), keeping the highest offset per partition and dropping
// what this process already committed.
func (q *committer) take(carry []kafka.Message) []kafka.Message {
	merged := map[partitionKey]kafka.Message{}
	for _, m := range carry {
		merged[partitionKey{m.Topic, m.Partition}] = m
	}
	q.mu.Lock()
	for k, m := range q.ready {
		if prev, ok := merged[k]; !ok || m.Offset > prev.Offset {
			merged[k] = m
		}
	}
	clear(q.ready)
	q.mu.Unlock()
	out := make([]kafka.Message, 0, len(merged))
	q.c.mu.Lock()
	for k, m := range merged {
		if m.Offset+1 > q.c.committed[k] {
			out = append(out, m)
		}
	}
	q.c.mu.Unlock()
	return out
}

// run commits whenever work is offered, until stop is closed; then it
// commits what is left and returns. ctx bounds everything (the drain
// deadline cancels it).
func (q *committer) run(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-q.kick:
			q.commitReady(ctx, false)
		case <-stop:
			q.commitReady(ctx, true)
			return
		case <-ctx.Done():
			return
		}
	}
}

// commitReady commits everything offered so far, retrying with backoff.
// final is the last call before shutdown. While a retry waits, newer
// offers are merged in, so a slow broker
// delays commits but never multiplies them.
func (q *committer) commitReady(ctx context.Context, final bool) {
	c := q.c
	var msgs []kafka.Message
	for attempt := 0; ; attempt++ {
		msgs = q.take(msgs)
		if len(msgs) == 0 {
			return
		}
		err := c.reader.CommitMessages(ctx, msgs...)
		if err == nil {
			c.committedUpTo(msgs)
			c.setHealth(true, nil)
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.setHealth(false, err)
		c.cfg.Logger.Warn("commit failed; retrying", zap.Error(err), zap.Int("attempt", attempt+1))
		if attempt >= 5 {
			// After a rebalance the partition may belong to another member;
			// the records are then redelivered there, and the state's offset
			// guard makes that harmless. Do not hold the other partitions'
			// commits back forever.
			c.cfg.Logger.Warn("giving up on commit; records will be redelivered", zap.Error(err))
			return
		}
		wait := c.backoff(attempt)
		if final {
			// Shutting down: retry soon rather than sleep past the drain
			// deadline.
			wait = c.cfg.RetryMin
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// committedUpTo records successful commits and reports partition lag.
func (c *Consumer) committedUpTo(msgs []kafka.Message) {
	c.mu.Lock()
	for _, m := range msgs {
		k := partitionKey{m.Topic, m.Partition}
		if m.Offset+1 > c.committed[k] {
			c.committed[k] = m.Offset + 1
		}
	}
	c.mu.Unlock()
	if c.cfg.OnCommit != nil {
		for _, m := range msgs {
			c.cfg.OnCommit(m.Topic, m.Partition, max(m.HighWaterMark-m.Offset-1, 0))
		}
	}
}
