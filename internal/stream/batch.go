package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// workerFor routes by partition number only, not by topic: producers key
// both input topics by customer_id with the same partitioner, so partition
// p of orders and partition p of customer-lifecycle hold the same
// customers. Sending both to one worker keeps a customer's updates in one
// goroutine, where they never race each other's compare-and-set.
func workerFor(partition, workers int) int {
	return partition % workers
}

// worker batches its queue, handles each batch until it succeeds and hands
// its offsets to the committer. part is its health part: failing from a
// failed batch until a batch succeeds, or until the next generation starts
// (runGeneration).
func (c *Consumer) worker(ctx context.Context, part healthPart, q <-chan kafka.Message, budgets laneBudgets, handle Handler, commits chan<- map[partitionKey]kafka.Message) {
	batch := make([]kafka.Message, 0, c.cfg.MaxBatch)
	records := make([]pipeline.Record, 0, c.cfg.MaxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var merge *merger
	if c.cfg.EventTime != nil {
		merge = newMerger(c.cfg.Topics, c.cfg.EventTime, c.cfg.MergeMaxWait, c.cfg.MergeMaxHeld, c.caughtUp)
	}
	for {
		batch = batch[:0]
		if merge != nil {
			waits := merge.waits
			if !c.collect(ctx, q, merge, &batch, linger) {
				return
			}
			if n := merge.waits - waits; n > 0 {
				why := "the partition delivered nothing for the merge's max wait"
				if merge.boundReached {
					why = "the worker's merge held its most records"
				}
				c.cfg.Logger.Warn("event-time merge stopped waiting for a topic partition; records went in fetch order",
					zap.Int("times", n), zap.String("topic", merge.gaveUpOn.topic), zap.Int("partition", merge.gaveUpOn.partition),
					zap.String("why", why))
			}
		} else {
			first, ok := <-q
			if !ok {
				return
			}
			batch = append(batch, first)
			c.fill(q, &batch, linger)
		}
		// The batch's records have left the queue and the merge: their
		// partitions may fetch more while the batch is handled.
		budgets.releaseBatch(batch)
		records = records[:0]
		readAt := time.Now() // one read time for every retry of the batch
		for i := range batch {
			m := &batch[i]
			if skipped(m) {
				continue // only its offset is committed
			}
			records = append(records, pipeline.Record{
				Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset,
				Key: m.Key, Value: m.Value, Time: m.Time, ReadAt: readAt,
			})
		}
		if len(records) > 0 && !c.handleWithRetry(ctx, part, records, handle) {
			return
		}
		select {
		case commits <- lastPerPartition(batch):
		case <-ctx.Done():
			return
		}
	}
}

// collect fills batch from the merge (see merge.go): the records that may
// go, in merged order, receiving more from q while none may, until the
// batch holds MaxBatch or Linger has passed since its first record. It
// returns false when q is closed and the batch is empty; records still
// waiting in the merge then are not handled, and so not committed: the
// partition's next owner reads them again.
func (c *Consumer) collect(ctx context.Context, q <-chan kafka.Message, m *merger, batch *[]kafka.Message, linger *time.Timer) bool {
	// Only the time spent here, taking records, counts as a lane's
	// silence (merger.back).
	m.back(m.now())
	defer func() { m.away(m.now()) }()
	armed := false
	defer func() {
		if armed {
			linger.Stop()
		}
	}()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		for len(*batch) < c.cfg.MaxBatch {
			msg, ok := m.next(ctx)
			if !ok {
				break
			}
			*batch = append(*batch, msg)
		}
		if len(*batch) >= c.cfg.MaxBatch {
			return true
		}
		if len(*batch) > 0 && !armed {
			linger.Reset(c.cfg.Linger)
			armed = true
		}
		// Nothing more may go now: take what q has, or wait for it, for the
		// linger, or for the merge's next recheck of a waiting record.
		held, after := m.waiting()
		var wakeC <-chan time.Time
		var waitFrom, wakeAt time.Time
		if held > 0 {
			waitFrom = m.now()
			wakeAt = waitFrom.Add(after)
			wake.Reset(after)
			wakeC = wake.C
		}
		var lingerC <-chan time.Time
		if armed {
			lingerC = linger.C
		}
		select {
		case msg, ok := <-q:
			if !ok {
				return len(*batch) > 0
			}
			// One arrival time for what q holds now: it all came in
			// together, and the clock is read once, not per record.
			arrived := m.now()
			m.resumed(waitFrom, wakeAt, arrived)
			m.add(msg, arrived)
			for more := true; more; {
				select {
				case msg, ok := <-q:
					if !ok {
						more = false
						break
					}
					m.add(msg, arrived)
				default:
					more = false
				}
			}
		case <-lingerC:
			m.resumed(waitFrom, wakeAt, m.now())
			armed = false
			return true
		case <-wakeC:
			m.resumed(waitFrom, wakeAt, m.now())
		case <-ctx.Done():
			return len(*batch) > 0
		}
		wake.Stop()
	}
}

// caughtUp asks the broker whether the group has committed every record
// of a topic partition (then a fresh merge lane knows it has nothing to
// wait for).
func (c *Consumer) caughtUp(ctx context.Context, topic string, partition int) (bool, error) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// The end a read_committed reader can reach: the last stable offset.
	ends, err := c.admin.ListOffsets(qctx, &kafka.ListOffsetsRequest{IsolationLevel: kafka.ReadCommitted,
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(partition)}}})
	if err != nil {
		return false, fmt.Errorf("list offsets %s/%d: %w", topic, partition, err)
	}
	var end int64 = -1
	for _, po := range ends.Topics[topic] {
		if po.Partition == partition && po.Error == nil {
			end = po.LastOffset
		}
	}
	if end < 0 {
		return false, fmt.Errorf("list offsets %s/%d: no answer", topic, partition)
	}
	if end == 0 {
		return true, nil
	}
	res, err := c.admin.OffsetFetch(qctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{topic: {partition}}})
	if err != nil {
		return false, fmt.Errorf("offset fetch %s/%d: %w", topic, partition, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == partition && p.Error == nil {
			return p.CommittedOffset >= end, nil
		}
	}
	return false, nil
}

// fill adds records to batch until it holds MaxBatch, or until Linger has
// passed since its first record and the queue is empty. Counting from the
// first record, not the last, bounds what batching adds to any record's
// latency by Linger, however steadily records trickle in (waiting for a
// quiet gap let a batch grow for as long as records kept coming less than
// Linger apart). Under load the queue is never empty and batches fill at
// once. It reports whether the queue is still open.
func (c *Consumer) fill(q <-chan kafka.Message, batch *[]kafka.Message, linger *time.Timer) bool {
	armed := false
	defer func() {
		if armed {
			linger.Stop() // Go ≥ 1.23: no stale tick can be received later
		}
	}()
	for len(*batch) < c.cfg.MaxBatch {
		select {
		case m, ok := <-q:
			if !ok {
				return false
			}
			*batch = append(*batch, m)
			continue
		default:
		}
		if !armed {
			linger.Reset(c.cfg.Linger)
			armed = true
		}
		select {
		case m, ok := <-q:
			if !ok {
				return false
			}
			*batch = append(*batch, m)
		case <-linger.C:
			armed = false
			return true
		}
	}
	return true
}

// handleWithRetry calls handle until it succeeds, reporting the worker's
// health part as failing meanwhile; false when ctx ended first (the batch
// is then left uncommitted and will be redelivered).
func (c *Consumer) handleWithRetry(ctx context.Context, part healthPart, records []pipeline.Record, handle Handler) bool {
	for attempt := 0; ; attempt++ {
		err := handle(ctx, records)
		if err == nil {
			c.setHealth(part, nil)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.setHealth(part, err)
		first := records[0]
		c.cfg.Logger.Warn("batch failed; retrying",
			zap.Error(err), zap.Int("records", len(records)), zap.Int("attempt", attempt+1),
			zap.String("topic", first.Topic), zap.Int32("partition", first.Partition), zap.Int64("offset", first.Offset))
		if !sleepCtx(ctx, c.backoff(attempt)) {
			return false
		}
	}
}

// lastPerPartition is the record with the highest offset of each
// partition in a batch.
func lastPerPartition(batch []kafka.Message) map[partitionKey]kafka.Message {
	last := map[partitionKey]kafka.Message{}
	for _, m := range batch {
		keepHighest(last, m)
	}
	return last
}

// keepHighest records m in last unless last has a higher offset of its
// partition.
func keepHighest(last map[partitionKey]kafka.Message, m kafka.Message) {
	k := partitionKey{m.Topic, m.Partition}
	if prev, had := last[k]; !had || m.Offset > prev.Offset {
		last[k] = m
	}
}
