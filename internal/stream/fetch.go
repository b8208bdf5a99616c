package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
	"go.uber.org/zap"
)

// ErrPositionPastLogEnd says a partition's log ends before the offset the
// consumer is to read next: the log was truncated (an unclean leader
// election) or the topic deleted and created again. The records the new
// log holds below that offset are not read (and the offset guard would
// take them for ones already applied); the fetcher keeps asking, not
// ready, until the log reaches the offset. See docs/operations.md.
var ErrPositionPastLogEnd = errors.New("the partition's log ends before the consumer's position: truncated, or the topic recreated")

// fetchReadGrace is how long a fetch may take beyond the broker's wait for
// data.
const fetchReadGrace = 2 * time.Second

// fetchPartition reads one assigned partition from offset and hands its
// records, in order, to the partition's worker queue, until ctx ends. It
// rides out broker outages, leader moves and truncated logs by fetching
// again with backoff from the next offset it has not handed on.
//
// One fetcher per partition (rather than kafka-go's Reader, which funnels
// every partition through one channel) means a worker whose queue is full
// holds back only its own partitions.
func (c *Consumer) fetchPartition(ctx context.Context, topic string, partition int, offset int64, budget *laneBudget, q chan<- kafka.Message) {
	failing := false
	part := fetchPart(topic, partition)
	// fetched is called after every fetch that succeeded, with records or
	// without: an idle partition is healthy too.
	fetched := func() {
		if failing {
			failing = false
			c.setHealth(part, nil)
		}
	}
	defer fetched()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, c.backoff(attempt-1)) {
			return
		}
		var progressed bool
		var err error
		offset, progressed, err = c.readPartition(ctx, topic, partition, offset, budget, q, fetched)
		if progressed {
			attempt = 0
		}
		if ctx.Err() != nil {
			return
		}
		if !failing {
			failing = true
			c.setHealth(part, fmt.Errorf("fetch: %w", err))
		}
		log := c.cfg.Logger.Warn
		if errors.Is(err, ErrPositionPastLogEnd) {
			log = c.cfg.Logger.Error
		}
		log("fetch failed; fetching again", zap.String("topic", topic), zap.Int("partition", partition),
			zap.Int64("offset", offset), zap.Int("attempt", attempt+1), zap.Error(err))
	}
}

// readPartition fetches the partition from offset (kafka.FirstOffset: the
// log's first record) and hands each record to q until ctx ends (nil
// error) or a fetch fails, calling fetched after each fetch that
// succeeded. It returns the next offset to read and whether it handed on
// any record.
func (c *Consumer) readPartition(ctx context.Context, topic string, partition int, offset int64, budget *laneBudget, q chan<- kafka.Message, fetched func()) (int64, bool, error) {
	progressed := false
	if offset < 0 {
		first, err := c.firstOffset(ctx, topic, partition)
		if err != nil {
			return offset, false, err
		}
		offset = first
	}
	size := c.cfg.MaxFetchBytes
	for ctx.Err() == nil {
		res, err := c.fetch(ctx, topic, partition, offset, size)
		if err != nil {
			return offset, progressed, err
		}
		switch code := kafka.Error(res.ErrorCode); {
		case res.ErrorCode == 0, code == kafka.RequestTimedOut:
			fetched()
		case code == kafka.OffsetOutOfRange:
			// Before the log's start (retention deleted the records): go on
			// from its first record. Past its end: the log is not the one
			// the position was read from; fail, so the instance is not
			// ready, and ask again (the position holds once the log reaches
			// it).
			first, end, err := c.logBounds(ctx, topic, partition)
			if err != nil {
				return offset, progressed, err
			}
			if offset >= first {
				return offset, progressed, fmt.Errorf("fetch %s/%d from %d: %w (it ends at %d)", topic, partition, offset, ErrPositionPastLogEnd, end)
			}
			c.cfg.Logger.Warn("records deleted before they were read; going on from the first one kept",
				zap.Int64("from", offset), zap.Int64("to", first))
			offset = first
			continue
		default:
			return offset, progressed, fmt.Errorf("fetch %s/%d from %d: %w", topic, partition, offset, code)
		}
		// What a read_committed reader can see ends at the last stable
		// offset: the merge and the lag take it as the partition's end.
		end := res.HighWatermark
		if res.LastStableOffset >= 0 {
			end = res.LastStableOffset
		}
		batches := responseBatches(res)
		next, handed, ok := c.handOn(ctx, topic, partition, offset, end, batches, res.AbortedTransactions, budget, q)
		if handed {
			progressed = true
		}
		if !ok {
			return next, progressed, nil
		}
		switch {
		case next > offset || len(batches) == 0:
			size = c.cfg.MaxFetchBytes
		case size < maxGrownFetchBytes:
			// Batches but nothing at or after offset: the end of a batch
			// whose last records compaction removed (kafka-go keeps no
			// batch's last offset). Ask for more, so the response reaches
			// the next batch, whose start is the way on.
			size = min(2*size, maxGrownFetchBytes)
		default:
			// Nothing further in the log yet: wait as a fetch would.
			if !sleepCtx(ctx, c.cfg.MaxWait) {
				return next, progressed, nil
			}
		}
		offset = next
	}
	return offset, progressed, nil
}

// maxGrownFetchBytes bounds how far a fetch that made no progress grows.
const maxGrownFetchBytes = 64 << 20

// responseBatches lists the record batches of a fetch response in offset
// order.
func responseBatches(res *fetchAPI.ResponsePartition) []protocol.RecordReader {
	switch r := res.RecordSet.Records.(type) {
	case nil:
		return nil
	case *protocol.RecordStream:
		return r.Records
	default:
		return []protocol.RecordReader{r}
	}
}

// skippedRecord marks, in kafka.Message.WriterData (unused when
// reading), a record the consumer must not handle but whose offset it
// commits: a transaction marker, or a record of an aborted transaction.
type skippedRecord struct{}

// skipped reports whether m only holds an offset to commit.
func skipped(m *kafka.Message) bool {
	_, ok := m.WriterData.(skippedRecord)
	return ok
}

// handOn hands the records of a fetch response at or after offset to q, in
// offset order, and returns the next offset to fetch, whether it handed
// any record on, and false when ctx ended first. Records are read as
// Kafka's read_committed consumers read them: transaction markers (control
// batches) and the records of aborted transactions are not handled, only
// counted as read (handed on as skippedRecord, so their offsets are
// committed), and a transaction still open is not in the response at all.
// A null key or value is handed on as nil and an empty one as a non-nil
// empty slice, so a dead letter keeps them apart (SPEC §2).
func (c *Consumer) handOn(ctx context.Context, topic string, partition int, offset, end int64, batches []protocol.RecordReader,
	abortedTxns []fetchAPI.ResponseTransaction, budget *laneBudget, q chan<- kafka.Message) (int64, bool, bool) {
	aborted := abortedTxns // sorted in place: the response is the fetcher's own
	slices.SortFunc(aborted, func(a, b fetchAPI.ResponseTransaction) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	var abortedOpen []int64 // producers whose aborted transaction has begun and not yet ended
	handed := false
	hand := func(msg kafka.Message) bool {
		if !budget.take(ctx) {
			return false
		}
		select {
		case q <- msg:
		case <-ctx.Done():
			return false
		}
		offset, handed = msg.Offset+1, true
		return true
	}
	// begun takes the aborted transactions that have begun by base, the
	// offset of a batch: Kafka lists every aborted transaction whose abort
	// marker is at or after the fetch offset, in order of first offset.
	begun := func(base int64) {
		for len(aborted) > 0 && aborted[0].FirstOffset <= base {
			abortedOpen = append(abortedOpen, aborted[0].ProducerID)
			aborted = aborted[1:]
		}
	}
	for _, batch := range batches {
		control, skipBatch := false, false
		var base int64
		switch b := batch.(type) {
		case *protocol.ControlBatch:
			base, control = b.BaseOffset, true
			begun(base)
			// A marker ends its producer's transaction; an abort marker
			// ends the skipping of that producer's records.
			abortedOpen = slices.DeleteFunc(abortedOpen, func(id int64) bool { return id == b.ProducerID })
		case *protocol.RecordBatch:
			base = b.BaseOffset
			begun(base)
			skipBatch = b.Attributes.Transactional() && slices.Contains(abortedOpen, b.ProducerID)
		case *protocol.MessageSet:
			base = b.BaseOffset
		}
		// Offsets between batches are gone (compacted): the next one to
		// fetch is at least this batch's first.
		offset = max(offset, base)
		for {
			rec, err := batch.ReadRecord()
			if err != nil {
				break // io.EOF, or a batch cut off at the response's end
			}
			if rec.Offset < offset {
				// A batch may begin before the offset asked for.
				closeBytes(rec.Key, rec.Value)
				continue
			}
			msg := kafka.Message{Topic: topic, Partition: partition, Offset: rec.Offset, HighWaterMark: end, Time: rec.Time}
			if control || skipBatch {
				msg.WriterData = skippedRecord{}
			} else {
				// Input headers are not kept: no rule reads them, and a
				// dead letter carries its own.
				msg.Key, _ = protocol.ReadAll(rec.Key)
				msg.Value, _ = protocol.ReadAll(rec.Value)
			}
			closeBytes(rec.Key, rec.Value)
			if !hand(msg) {
				return offset, handed, false
			}
		}
	}
	return offset, handed, true
}

func closeBytes(bs ...protocol.Bytes) {
	for _, b := range bs {
		if b != nil {
			_ = b.Close()
		}
	}
}

// fetch asks the partition's leader for up to size bytes of records from
// offset, waiting up to MaxWait for some, in read_committed isolation.
func (c *Consumer) fetch(ctx context.Context, topic string, partition int, offset int64, size int) (*fetchAPI.ResponsePartition, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.MaxWait+fetchReadGrace)
	defer cancel()
	m, err := c.fetches.RoundTrip(ctx, c.brokers, &fetchAPI.Request{
		ReplicaID:      -1,
		MaxWaitTime:    int32(c.cfg.MaxWait / time.Millisecond),
		MinBytes:       1,
		MaxBytes:       int32(2 * size), // the partition's bound is the one that counts
		IsolationLevel: int8(kafka.ReadCommitted),
		SessionID:      -1,
		SessionEpoch:   -1,
		Topics: []fetchAPI.RequestTopic{{
			Topic: topic,
			Partitions: []fetchAPI.RequestPartition{{
				Partition:          int32(partition),
				CurrentLeaderEpoch: -1,
				FetchOffset:        offset,
				LogStartOffset:     -1,
				PartitionMaxBytes:  int32(size),
			}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("fetch %s/%d from %d: %w", topic, partition, offset, err)
	}
	res, ok := m.(*fetchAPI.Response)
	if !ok {
		return nil, fmt.Errorf("fetch %s/%d: unexpected response %T", topic, partition, m)
	}
	if res.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch %s/%d: %w", topic, partition, kafka.Error(res.ErrorCode))
	}
	for i := range res.Topics {
		for j := range res.Topics[i].Partitions {
			if p := &res.Topics[i].Partitions[j]; res.Topics[i].Topic == topic && p.Partition == int32(partition) {
				return p, nil
			}
		}
	}
	return nil, fmt.Errorf("fetch %s/%d: partition missing from the response", topic, partition)
}

// firstOffset is the offset of the first record the partition's log still
// holds.
func (c *Consumer) firstOffset(ctx context.Context, topic string, partition int) (int64, error) {
	first, _, err := c.logBounds(ctx, topic, partition)
	return first, err
}

// logBounds returns the offsets of the partition's first record and of the
// record its log will hold next.
func (c *Consumer) logBounds(ctx context.Context, topic string, partition int) (first, end int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := c.admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)}},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, partition, err)
	}
	for _, po := range res.Topics[topic] {
		if po.Partition == partition {
			if po.Error != nil {
				return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, partition, po.Error)
			}
			return po.FirstOffset, po.LastOffset, nil
		}
	}
	return 0, 0, fmt.Errorf("offsets of %s/%d: partition missing from the response", topic, partition)
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

// take waits until the lane has room for one more record and counts it;
// false when ctx ended first. Only the lane's fetcher calls it.
func (b *laneBudget) take(ctx context.Context) bool {
	for b.held.Load() >= b.limit {
		select {
		case <-b.wake:
		case <-ctx.Done():
			return false
		}
	}
	b.held.Add(1)
	return true
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
