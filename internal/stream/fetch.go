package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// fetchReadGrace is how long reading a fetch response may take beyond the
// broker's wait for data, and how long the rest of a response may take
// after the fetcher waited for its worker.
const fetchReadGrace = 2 * time.Second

// fetchPartition reads one assigned partition from offset and hands its
// records, in order, to the partition's worker queue, until ctx ends. It
// rides out broker outages, leader moves and truncated logs by reconnecting
// with backoff from the next offset it has not handed on.
//
// One fetcher per partition (rather than kafka-go's Reader, which funnels
// every partition through one channel) means a worker whose queue is full
// holds back only its own partitions.
func (c *Consumer) fetchPartition(ctx context.Context, topic string, partition int, offset int64, budget *laneBudget, q chan<- kafka.Message) {
	failing := false
	// fetched is called after every fetch that succeeded, with records or
	// without: an idle partition is healthy too.
	fetched := func() {
		if failing {
			failing = false
			c.fetchRecovered()
		}
	}
	defer fetched()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, c.backoff(attempt-1)) {
			return
		}
		conn, err := c.openPartition(ctx, topic, partition, offset)
		if err == nil {
			var progressed bool
			offset, progressed, err = c.readPartition(ctx, conn, offset, budget, q, fetched)
			_ = conn.Close()
			if progressed {
				attempt = 0
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !failing {
			failing = true
			c.fetchFailed(err)
		}
		c.cfg.Logger.Warn("fetch failed; reconnecting", zap.String("topic", topic), zap.Int("partition", partition),
			zap.Int64("offset", offset), zap.Int("attempt", attempt+1), zap.Error(err))
	}
}

// openPartition connects to the partition's leader and positions the
// connection at offset, or at the log's first record when offset is
// kafka.FirstOffset (nothing committed yet) or below it (deleted by
// retention).
func (c *Consumer) openPartition(ctx context.Context, topic string, partition int, offset int64) (*kafka.Conn, error) {
	dialer := c.cfg.Dialer
	if dialer == nil {
		dialer = kafka.DefaultDialer
	}
	var conn *kafka.Conn
	var err error
	for _, broker := range c.cfg.Brokers {
		if conn, err = dialer.DialLeader(ctx, "tcp", broker, topic, partition); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dial leader of %s/%d: %w", topic, partition, err)
	}
	if err := seekFrom(conn, offset); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("seek %s/%d to %d: %w", topic, partition, offset, err)
	}
	return conn, nil
}

// seekFrom positions conn at offset, or at the first offset the log still
// holds when offset is before it.
func seekFrom(conn *kafka.Conn, offset int64) error {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	first, err := conn.ReadFirstOffset()
	if err != nil {
		return fmt.Errorf("first offset: %w", err)
	}
	if offset < first { // also kafka.FirstOffset (-2)
		offset = first
	}
	_, err = conn.Seek(offset, kafka.SeekAbsolute)
	return err
}

// readPartition fetches from conn and hands each record to q until ctx
// ends (nil error) or a fetch fails, calling fetched after each fetch that
// succeeded. It returns the next offset to read and whether it handed on
// any record.
func (c *Consumer) readPartition(ctx context.Context, conn *kafka.Conn, offset int64, budget *laneBudget, q chan<- kafka.Message, fetched func()) (int64, bool, error) {
	progressed := false
	for ctx.Err() == nil {
		_ = conn.SetReadDeadline(time.Now().Add(c.cfg.MaxWait + fetchReadGrace))
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: c.cfg.MaxFetchBytes, MaxWait: c.cfg.MaxWait})
		for {
			msg, err := batch.ReadMessage()
			if err != nil {
				break
			}
			waited, ok := budget.take(ctx)
			if !ok {
				_ = batch.Close()
				return offset, progressed, nil
			}
			select {
			case q <- msg:
				if waited {
					_ = conn.SetReadDeadline(time.Now().Add(fetchReadGrace))
				}
			default:
				// The worker is busy: wait for it, then give the rest of
				// the response its own time to arrive.
				select {
				case q <- msg:
				case <-ctx.Done():
					_ = batch.Close()
					return offset, progressed, nil
				}
				_ = conn.SetReadDeadline(time.Now().Add(fetchReadGrace))
			}
			offset, progressed = msg.Offset+1, true
		}
		err := batch.Close()
		switch {
		case err == nil, errors.Is(err, kafka.RequestTimedOut):
			fetched()
		case errors.Is(err, kafka.OffsetOutOfRange):
			// Before the log's start (retention deleted the records): go on
			// from its first record. Past its end: wait and ask again.
			if err := seekFrom(conn, offset); err != nil {
				return offset, progressed, err
			}
			if next, _ := conn.Offset(); next != offset {
				c.cfg.Logger.Warn("records deleted before they were read; going on from the first one kept",
					zap.Int64("from", offset), zap.Int64("to", next))
				offset = next
			} else if !sleepCtx(ctx, c.cfg.MaxWait) {
				return offset, progressed, nil
			}
		default:
			return offset, progressed, err
		}
	}
	return offset, progressed, nil
}

// laneBudget bounds the records of one topic partition that are fetched
// but not yet in a batch: in its worker's queue or waiting in the merge.
// The partition's fetcher pauses at the bound, so a topic whose fetches
// run ahead of the other's in event time waits at the broker instead of
// in memory, and the merge seldom has to give up its order for memory.
type laneBudget struct {
	held  atomic.Int64
	limit int64
	// wake tells a paused fetcher that records were released.
	wake chan struct{}
}

func newLaneBudget(limit int) *laneBudget {
	return &laneBudget{limit: int64(limit), wake: make(chan struct{}, 1)}
}

// take waits until the lane has room for one more record and counts it.
// waited says it had to wait; ok is false when ctx ended first. Only the
// lane's fetcher calls it.
func (b *laneBudget) take(ctx context.Context) (waited, ok bool) {
	for b.held.Load() >= b.limit {
		waited = true
		select {
		case <-b.wake:
		case <-ctx.Done():
			return waited, false
		}
	}
	b.held.Add(1)
	return waited, true
}

// release gives back the room of n records that went into a batch.
func (b *laneBudget) release(n int) {
	if b.held.Add(-int64(n)) < b.limit {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// laneBudgets holds a generation's budgets; workers only read it.
type laneBudgets map[partitionKey]*laneBudget

// newLaneBudgets gives each assigned topic partition its budget of
// perLane records. With the event-time merge on (mergeMaxHeld > 0), the
// lanes of one worker also share its merge's bound: each gets at most an
// equal part of mergeMaxHeld (at least one record). What a worker holds
// fetched then never exceeds what its merge may hold back, so the merge
// never lets records go in fetch order for memory (which would break
// SPEC §8's replay guarantee), however many partitions the worker reads:
// a few partitions keep the full per-lane budget; many share the bound.
func newLaneBudgets(keys []partitionKey, workers, perLane, mergeMaxHeld int) laneBudgets {
	lanes := make([]int, workers)
	for _, k := range keys {
		lanes[workerFor(k.partition, workers)]++
	}
	budgets := make(laneBudgets, len(keys))
	for _, k := range keys {
		limit := perLane
		if mergeMaxHeld > 0 {
			limit = max(1, min(perLane, mergeMaxHeld/lanes[workerFor(k.partition, workers)]))
		}
		budgets[k] = newLaneBudget(limit)
	}
	return budgets
}

// releaseBatch gives back the room of a batch's records (consecutive
// records of one partition are counted together).
func (bs laneBudgets) releaseBatch(batch []kafka.Message) {
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && batch[j].Partition == batch[i].Partition && batch[j].Topic == batch[i].Topic {
			j++
		}
		if b := bs[partitionKey{batch[i].Topic, batch[i].Partition}]; b != nil {
			b.release(j - i)
		}
		i = j
	}
}
