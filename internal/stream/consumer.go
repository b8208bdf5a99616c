package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Handler makes a batch's effects durable. It returns nil only when the
// batch's offsets may be committed. It must be safe to call again with the
// same batch after an error (the consumer retries it).
type Handler func(ctx context.Context, batch []pipeline.Record) error

// Defaults of ConsumerConfig that are also the service's settings'
// defaults (internal/config takes them from here, so each is written
// once).
const (
	DefaultWorkers        = 4
	DefaultMaxBatch       = 2000
	DefaultLinger         = 2 * time.Millisecond
	DefaultSessionTimeout = 10 * time.Second
	DefaultDrainTimeout   = 20 * time.Second
	DefaultMaxFetchBytes  = 16 << 20
)

// ConsumerConfig configures the group consumer. Zero values take the
// defaults documented per field.
type ConsumerConfig struct {
	Brokers []string // required
	GroupID string   // required
	Topics  []string // required: the input topics, consumed as one group
	// Workers is the number of batch workers. Partitions are spread over
	// them by hash, and one partition is only ever handled by one worker,
	// so per-partition order is kept while partitions proceed in parallel.
	// Default 4.
	Workers int
	// MaxBatch caps the records handed to one Handler call. Default 2000.
	MaxBatch int
	// Linger is how long a worker waits for more records after the first
	// one before it processes a partial batch: it bounds the latency added
	// by batching at low load (see fill). Default 2 ms.
	Linger time.Duration
	// QueueSize is the number of fetched records buffered per worker (and
	// in kafka-go's reader). Default MaxBatch: one batch waiting while one
	// is processed keeps a worker busy, and every record buffered beyond
	// that is live heap the garbage collector marks again and again.
	QueueSize int
	// MaxFetchBytes is the largest fetch response; it must exceed the
	// largest record so oversized records reach the DLQ instead of
	// stalling. Default 16 MiB.
	MaxFetchBytes int
	// MaxWait bounds how long a fetch waits for data (and so how long Close
	// can hang). Default 500 ms.
	MaxWait time.Duration
	// SessionTimeout and HeartbeatInterval control how fast a dead member's
	// partitions move. Defaults 10 s and min(1 s, SessionTimeout/3).
	SessionTimeout, HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance. Default 4 s: it must stay below kafka-go's
	// fixed 5 s coordinator request timeout, or a slow member makes every
	// join time out client-side and the group rejoins forever (seen in the
	// chaos test with a frozen member).
	RebalanceTimeout time.Duration
	// RetryMin and RetryMax bound the capped exponential backoff (with full
	// jitter) applied while the handler or a commit fails. Defaults 100 ms
	// and 10 s.
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds how long Run keeps finishing fetched work after
	// its context is cancelled. Default 20 s.
	DrainTimeout time.Duration
	// RepairInterval is how often the consumer checks that the group's
	// committed offsets of the partitions it committed recently are not
	// below what it committed, and commits its offset again where they are
	// (see repairCommits). Default 3 s; negative disables the check.
	RepairInterval time.Duration
	// RepairWindow limits that check to partitions this process committed
	// within the window, so a process does not push offsets it committed
	// long ago. Default 2 minutes.
	RepairWindow time.Duration
	// EventTime, when set, gives a record's event time from its value, and
	// each worker then hands the handler every partition's records of all
	// the topics merged in event-time order (merge.go), so the order in
	// which the fetches happened to serve the topics does not show in the
	// results. Nil: records go in the order they were fetched.
	EventTime func(value []byte) (time.Time, bool)
	// MergeMaxWait bounds how long a record may wait in the merge for
	// another topic's partition to show it holds nothing earlier. Default
	// 2 s.
	MergeMaxWait time.Duration
	// MergeMaxHeld bounds the records a worker's merge holds back; beyond
	// it records go in fetch order, and a replay may no longer give the
	// same results. Default 8 × MaxBatch: a worker's partitions fetched
	// from a backlog interleave the topics record for record, so the
	// sparser topic (lifecycle) runs ahead in event time and its records
	// wait for the denser one's; 2 × MaxBatch broke the replay test
	// (TestReplayGivesTheSameSegments).
	MergeMaxHeld int
	// CoPartitioned makes the consumer refuse to run while its topics do
	// not all have the same number of partitions: partition p of every
	// topic must hold the same keys (SPEC §1, §8). Checked at start and
	// every PartitionCheckInterval; a mismatch ends Run with an error
	// naming the topics and their counts, after the in-flight work is
	// finished and committed.
	CoPartitioned bool
	// PartitionCheckInterval is how often the partition counts are checked
	// again (kafka-go looks for new partitions as often). Default 5 s.
	PartitionCheckInterval time.Duration
	// Dialer carries TLS/SASL settings; nil means plain TCP.
	Dialer *kafka.Dialer
	// Transport carries the same settings for the group-offset requests of
	// the commit repair and the look-ups that tell a null key or value from
	// an empty one; nil means plain TCP.
	Transport *kafka.Transport
	// Logger receives operational logs. Default zap.NewNop().
	Logger *zap.Logger
	// OnCommit is called after each successful commit with the committed
	// records' partition lag (high watermark − next offset); optional.
	OnCommit func(topic string, partition int, lag int64)
	// OnHealth is called with false when the handler or a commit starts
	// failing and with true when work succeeds again; optional.
	OnHealth func(ok bool, err error)
}

func (c *ConsumerConfig) setDefaults() {
	settings.Positive(&c.Workers, DefaultWorkers)
	settings.Positive(&c.MaxBatch, DefaultMaxBatch)
	settings.Positive(&c.Linger, DefaultLinger)
	settings.Positive(&c.QueueSize, c.MaxBatch)
	settings.Positive(&c.MaxFetchBytes, DefaultMaxFetchBytes)
	settings.Positive(&c.MaxWait, 500*time.Millisecond)
	settings.Positive(&c.SessionTimeout, DefaultSessionTimeout)
	settings.Positive(&c.HeartbeatInterval, min(time.Second, c.SessionTimeout/3))
	if c.RebalanceTimeout <= 0 || c.RebalanceTimeout >= 5*time.Second {
		c.RebalanceTimeout = 4 * time.Second
	}
	settings.Positive(&c.RetryMin, 100*time.Millisecond)
	settings.Positive(&c.RetryMax, 10*time.Second)
	settings.Positive(&c.DrainTimeout, DefaultDrainTimeout)
	if c.RepairInterval == 0 {
		c.RepairInterval = 3 * time.Second
	}
	settings.Positive(&c.MergeMaxWait, 2*time.Second)
	settings.Positive(&c.MergeMaxHeld, 8*c.MaxBatch)
	settings.Positive(&c.PartitionCheckInterval, 5*time.Second)
	settings.Positive(&c.RepairWindow, 2*time.Minute)
	settings.IfZero(&c.Logger, zap.NewNop())
}

// Validate reports a configuration that cannot work.
func (c *ConsumerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("consumer: no brokers configured")
	case c.GroupID == "":
		return errors.New("consumer: no group id")
	case len(c.Topics) == 0:
		return errors.New("consumer: no topics")
	}
	return nil
}

// Consumer reads the input topics as one consumer group, hands batches to
// a Handler and commits offsets only after the Handler made them durable.
type Consumer struct {
	cfg    ConsumerConfig
	reader *kafka.Reader
	// committed is the next offset committed per partition by this process;
	// commits never move backwards (kafka-go commits whatever it is given).
	mu        sync.Mutex
	committed map[partitionKey]committedOffset
	healthy   atomic.Bool
	nulls     *nullResolver
	// admin reads topic metadata (the partition-count check).
	admin *kafka.Client
}

// committedOffset is the next offset this process committed for a
// partition, and when.
type committedOffset struct {
	next int64
	at   time.Time
}

type partitionKey struct {
	topic     string
	partition int
}

// NewConsumer builds the consumer; it connects when Run starts.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rc := kafka.ReaderConfig{
		Brokers:          cfg.Brokers,
		GroupID:          cfg.GroupID,
		GroupTopics:      cfg.Topics,
		MinBytes:         1,
		MaxBytes:         cfg.MaxFetchBytes,
		MaxWait:          cfg.MaxWait,
		ReadBatchTimeout: cfg.MaxWait + 2*time.Second,
		QueueCapacity:    cfg.QueueSize,
		CommitInterval:   0, // synchronous: a commit returns only when the broker stored it
		StartOffset:      kafka.FirstOffset,
		// Range assignment gives every member the same partition numbers
		// of each topic: partition p of both (co-partitioned) inputs goes
		// to one member, which the merge and stream time rely on.
		GroupBalancers:         []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		WatchPartitionChanges:  true,
		PartitionWatchInterval: cfg.PartitionCheckInterval,
		SessionTimeout:         cfg.SessionTimeout,
		HeartbeatInterval:      cfg.HeartbeatInterval,
		RebalanceTimeout:       cfg.RebalanceTimeout,
		JoinGroupBackoff:       time.Second,
		ReadBackoffMin:         50 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		MaxAttempts:            3,
		Dialer:                 cfg.Dialer,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Warn("kafka reader", zap.String("detail", fmt.Sprintf(msg, args...)))
		}),
	}
	c := &Consumer{cfg: cfg, reader: kafka.NewReader(rc), committed: map[partitionKey]committedOffset{},
		nulls: newNullResolver(cfg.Brokers, cfg.Transport), admin: newClient(cfg.Brokers, cfg.Transport)}
	c.healthy.Store(true)
	return c, nil
}

// Healthy reports whether the last batch and commit succeeded.
func (c *Consumer) Healthy() bool { return c.healthy.Load() }

// Run consumes until ctx is cancelled, then stops fetching, finishes and
// commits what was already fetched (bounded by DrainTimeout), and closes
// the reader. It returns nil after a clean shutdown.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	if c.cfg.CoPartitioned {
		// At start the counts must be known to differ to refuse; an
		// unreachable broker is waited out by the fetch loop, and the
		// watch below checks again.
		if err := c.checkCoPartitioned(ctx); errors.As(err, new(*PartitionMismatchError)) {
			return err
		}
	}
	// fetchCtx ends with ctx, or when the partition watch finds the input
	// topics no longer co-partitioned (the cause says so).
	fetchCtx, stopFetch := context.WithCancelCause(ctx)
	defer stopFetch(nil)
	if c.cfg.CoPartitioned {
		go c.watchPartitions(fetchCtx, stopFetch)
	}
	// work is not cancelled with ctx: in-flight batches must be able to
	// finish and commit during the drain.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	// Workers hand the offsets of finished batches to one committer and go
	// on with the next batch: a commit round trip is not on any batch's
	// path. The channel is small, so a committer that cannot commit (Kafka
	// down) soon holds the workers back too.
	commits := make(chan map[partitionKey]kafka.Message, 4*c.cfg.Workers)
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		c.committer(work, commits)
	}()
	queues := make([]chan kafka.Message, c.cfg.Workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan kafka.Message, c.cfg.QueueSize)
		wg.Add(1)
		go func(q <-chan kafka.Message) {
			defer wg.Done()
			c.worker(work, q, handle, commits)
		}(queues[i])
	}

	repairDone := make(chan struct{})
	go func() {
		defer close(repairDone)
		c.repairLoop(fetchCtx)
	}()
	fetchErr := c.fetchLoop(fetchCtx, queues)
	if cause := context.Cause(fetchCtx); ctx.Err() == nil && errors.As(cause, new(*PartitionMismatchError)) {
		fetchErr = cause
	}
	<-repairDone
	for _, q := range queues {
		close(q)
	}
	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(commits) // the committer commits what is left, then returns
		<-committerDone
		close(drained)
	}()
	timer := time.NewTimer(c.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		c.cfg.Logger.Warn("drain deadline passed; uncommitted work will be redelivered")
		cancelWork()
		<-drained
	}
	closeErr := c.closeReader()
	if fetchErr != nil {
		return fetchErr
	}
	return closeErr
}

func (c *Consumer) closeReader() error {
	done := make(chan error, 1)
	go func() { done <- c.reader.Close() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("close reader: %w", err)
		}
		return nil
	case <-time.After(5 * time.Second):
		c.cfg.Logger.Warn("reader close timed out")
		return nil
	}
}

// PartitionMismatchError says that topics that must be co-partitioned have
// different partition counts.
type PartitionMismatchError struct {
	Topics []string
	Counts []int
}

func (e *PartitionMismatchError) Error() string {
	var b strings.Builder
	b.WriteString("input topics must have the same number of partitions (co-partitioned: partition p of each holds the same customers, SPEC §1), but ")
	for i, t := range e.Topics {
		if i > 0 {
			b.WriteString(" and ")
		}
		fmt.Fprintf(&b, "%s has %d", t, e.Counts[i])
	}
	return b.String()
}

// checkCoPartitioned compares the topics' partition counts. It returns a
// *PartitionMismatchError when they differ, another error when a count
// cannot be read, and nil when they agree.
func (c *Consumer) checkCoPartitioned(ctx context.Context) error {
	mismatch := &PartitionMismatchError{Topics: c.cfg.Topics}
	for _, t := range c.cfg.Topics {
		parts, err := PartitionsVia(ctx, c.admin, t)
		if err != nil {
			return err
		}
		mismatch.Counts = append(mismatch.Counts, len(parts))
	}
	for _, n := range mismatch.Counts {
		if n != mismatch.Counts[0] {
			return mismatch
		}
	}
	return nil
}

// watchPartitions checks the partition counts every
// PartitionCheckInterval and stops the fetching with the mismatch as the
// cause when they differ.
func (c *Consumer) watchPartitions(ctx context.Context, stop context.CancelCauseFunc) {
	every(ctx, c.cfg.PartitionCheckInterval, func() bool {
		err := c.checkCoPartitioned(ctx)
		var mismatch *PartitionMismatchError
		switch {
		case errors.As(err, &mismatch):
			c.cfg.Logger.Error("input topics are no longer co-partitioned; stopping", zap.Error(err))
			stop(err)
			return false
		case err != nil && ctx.Err() == nil:
			c.cfg.Logger.Debug("partition count check failed; trying again later", zap.Error(err))
		}
		return true
	})
}

// fetchLoop reads records and routes each partition to its worker. It
// returns nil when ctx is cancelled.
func (c *Consumer) fetchLoop(ctx context.Context, queues []chan kafka.Message) error {
	fetchFailures := 0
	for {
		msg, err := c.reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The reader is never closed while this loop runs, so every
			// error here (kafka-go also reports a lost coordinator
			// connection as io.EOF) is an outage to wait out.
			fetchFailures++
			c.setHealth(false, fmt.Errorf("fetch: %w", err))
			c.cfg.Logger.Warn("fetch failed; retrying", zap.Error(err), zap.Int("attempt", fetchFailures))
			if !sleepCtx(ctx, c.backoff(fetchFailures-1)) {
				return nil
			}
			continue
		}
		if fetchFailures > 0 {
			fetchFailures = 0
			c.setHealth(true, nil)
		}
		q := queues[workerFor(msg.Partition, len(queues))]
		select {
		case q <- msg:
		case <-ctx.Done():
			return nil
		}
	}
}

// workerFor routes by partition number only, not by topic: producers key
// both input topics by customer_id with the same partitioner, so partition
// p of orders and partition p of customer-lifecycle hold the same
// customers. Sending both to one worker keeps a customer's updates in one
// goroutine, where they never race each other's compare-and-set.
func workerFor(partition, workers int) int {
	return partition % workers
}

// worker batches its queue, handles each batch until it succeeds and hands
// its offsets to the committer.
func (c *Consumer) worker(ctx context.Context, q <-chan kafka.Message, handle Handler, commits chan<- map[partitionKey]kafka.Message) {
	batch := make([]kafka.Message, 0, c.cfg.MaxBatch)
	records := make([]pipeline.Record, 0, c.cfg.MaxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	// The reader gives nil for a null and for an empty key or value alike;
	// the few records that have one are looked up again before handling.
	resolveThenHandle := func(ctx context.Context, records []pipeline.Record) error {
		if err := c.nulls.resolve(ctx, records); err != nil {
			return err
		}
		return handle(ctx, records)
	}
	var merge *merger
	if c.cfg.EventTime != nil {
		merge = newMerger(c.cfg.Topics, c.cfg.EventTime, c.cfg.MergeMaxWait, c.cfg.MergeMaxHeld, c.caughtUp)
	}
	for {
		batch = batch[:0]
		if merge != nil {
			if !c.collect(ctx, q, merge, &batch, linger) {
				return
			}
		} else {
			first, ok := <-q
			if !ok {
				return
			}
			batch = append(batch, first)
			c.fill(q, &batch, linger)
		}
		records = records[:0]
		for i := range batch {
			m := &batch[i]
			records = append(records, pipeline.Record{
				Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset,
				Key: m.Key, Value: m.Value, Time: m.Time,
			})
		}
		if !c.handleWithRetry(ctx, records, resolveThenHandle) {
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
		if held > 0 {
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
			m.add(msg)
			for more := true; more; {
				select {
				case msg, ok := <-q:
					if !ok {
						more = false
						break
					}
					m.add(msg)
				default:
					more = false
				}
			}
		case <-lingerC:
			armed = false
			return true
		case <-wakeC:
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
	ends, err := c.admin.ListOffsets(qctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(partition)}}})
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

// handleWithRetry calls handle until it succeeds; false when ctx ended
// first (the batch is then left uncommitted and will be redelivered).
func (c *Consumer) handleWithRetry(ctx context.Context, records []pipeline.Record, handle Handler) bool {
	for attempt := 0; ; attempt++ {
		err := handle(ctx, records)
		if err == nil {
			c.setHealth(true, nil)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.setHealth(false, err)
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

// committer commits the offsets the workers hand it, merging everything
// that queued up meanwhile into one commit (the highest offset per
// partition), until in is closed and drained or ctx ends. Every offset it
// gets belongs to a batch whose effects are durable, and a worker hands
// over a partition's batches in order, so the highest offset of a
// partition covers all before it.
func (c *Consumer) committer(ctx context.Context, in <-chan map[partitionKey]kafka.Message) {
	for next := range in {
		open := mergeQueued(next, in)
		if !c.commitWithRetry(ctx, next) || !open {
			return
		}
	}
}

// mergeQueued merges into next the offsets of every batch already waiting
// in in; false when in is closed.
func mergeQueued(next map[partitionKey]kafka.Message, in <-chan map[partitionKey]kafka.Message) bool {
	for {
		select {
		case more, ok := <-in:
			if !ok {
				return false
			}
			for _, m := range more {
				keepHighest(next, m)
			}
		default:
			return true
		}
	}
}

// commitWithRetry commits the given records' offsets (one per partition),
// never moving a partition's committed offset backwards.
func (c *Consumer) commitWithRetry(ctx context.Context, last map[partitionKey]kafka.Message) bool {
	var msgs []kafka.Message
	c.mu.Lock()
	for k, m := range last {
		if m.Offset+1 > c.committed[k].next {
			msgs = append(msgs, m)
		}
	}
	c.mu.Unlock()
	if len(msgs) == 0 {
		return true
	}
	for attempt := 0; ; attempt++ {
		err := c.reader.CommitMessages(ctx, msgs...)
		if err == nil {
			now := time.Now()
			c.mu.Lock()
			for _, m := range msgs {
				k := partitionKey{m.Topic, m.Partition}
				if m.Offset+1 > c.committed[k].next {
					c.committed[k] = committedOffset{next: m.Offset + 1, at: now}
				}
			}
			c.mu.Unlock()
			if c.cfg.OnCommit != nil {
				for _, m := range msgs {
					lag := m.HighWaterMark - m.Offset - 1
					if lag < 0 {
						lag = 0
					}
					c.cfg.OnCommit(m.Topic, m.Partition, lag)
				}
			}
			c.setHealth(true, nil)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.setHealth(false, err)
		c.cfg.Logger.Warn("commit failed; retrying", zap.Error(err), zap.Int("attempt", attempt+1))
		if attempt >= 5 {
			// After a rebalance the partition may belong to another member;
			// the records are then redelivered there, and the state's offset
			// guard makes that harmless. Do not hold the workers forever.
			c.cfg.Logger.Warn("giving up on commit; records will be redelivered", zap.Error(err))
			return true
		}
		if !sleepCtx(ctx, c.backoff(attempt)) {
			return false
		}
	}
}

// repairLoop runs repairCommits every RepairInterval until ctx ends.
func (c *Consumer) repairLoop(ctx context.Context) {
	if c.cfg.RepairInterval < 0 {
		return
	}
	client := c.admin
	every(ctx, c.cfg.RepairInterval, func() bool {
		if err := c.repairCommits(ctx, client); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Debug("commit check failed; trying again later", zap.Error(err))
		}
		return true
	})
}

// repairCommits puts back committed offsets that went backwards. kafka-go's
// group reader can send a commit that was queued before a rebalance with
// the next generation (segmentio/kafka-go#1308, #1398), and the broker does
// not check that the member owns the partition: a member that just lost a
// partition can move its committed offset below what the new owner already
// committed. State is safe (the offset guard skips redelivered records),
// but the new owner never commits that offset again unless new records
// arrive, so the group's lag would stay above zero for good.
//
// Every offset in c.committed was committed only after its records were
// durable, so committing it again can only move the group forward over
// records whose effects are already stored, whichever member owns the
// partition now: that is always safe. If this commit itself races with a
// newer one and lands late, the member holding the newer offset restores
// it in its own next check, so the group converges on the highest durable
// offset.
func (c *Consumer) repairCommits(ctx context.Context, client *kafka.Client) error {
	since := time.Now().Add(-c.cfg.RepairWindow)
	mine := map[partitionKey]int64{}
	topics := map[string][]int{}
	c.mu.Lock()
	for k, co := range c.committed {
		if co.at.After(since) {
			mine[k] = co.next
			topics[k.topic] = append(topics[k.topic], k.partition)
		}
	}
	c.mu.Unlock()
	if len(mine) == 0 {
		return nil
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: topics})
	if err != nil {
		return fmt.Errorf("offset fetch: %w", err)
	}
	if res.Error != nil {
		return fmt.Errorf("offset fetch: %w", res.Error)
	}
	var behind []kafka.Message
	for topic, parts := range res.Topics {
		for _, p := range parts {
			next, ok := mine[partitionKey{topic, p.Partition}]
			if !ok || p.Error != nil || p.CommittedOffset >= next {
				continue
			}
			c.cfg.Logger.Info("committed offset went backwards (a stale commit of another member); committing it again",
				zap.String("topic", topic), zap.Int("partition", p.Partition),
				zap.Int64("group_committed", p.CommittedOffset), zap.Int64("durable", next))
			behind = append(behind, kafka.Message{Topic: topic, Partition: p.Partition, Offset: next - 1})
		}
	}
	if len(behind) == 0 {
		return nil
	}
	if err := c.reader.CommitMessages(ctx, behind...); err != nil {
		return fmt.Errorf("commit again: %w", err)
	}
	return nil
}

func (c *Consumer) setHealth(ok bool, err error) {
	if c.healthy.Swap(ok) != ok && c.cfg.OnHealth != nil {
		c.cfg.OnHealth(ok, err)
	}
}

// backoff is capped exponential backoff with full jitter.
func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.cfg.RetryMin << min(attempt, 20)
	if d <= 0 || d > c.cfg.RetryMax {
		d = c.cfg.RetryMax
	}
	return d/2 + rand.N(d/2+1)
}

// every calls f each interval, the first time one interval from now,
// until ctx ends or f returns false.
func every(ctx context.Context, interval time.Duration, f func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !f() {
			return
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
