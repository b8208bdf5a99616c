package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
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
	DefaultMaxFetchBytes  = 256 << 10
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
	// QueueSize is the number of fetched records buffered per worker.
	// Default MaxBatch: one batch waiting while one is processed keeps a
	// worker busy, and every record buffered beyond that is live heap the
	// garbage collector marks again and again.
	QueueSize int
	// PartitionBuffer bounds the records of one topic partition that are
	// fetched but not yet in a batch (queued for its worker or waiting in
	// the merge); the partition's fetch pauses there. Default MaxBatch/2:
	// a worker then buffers a few batches' worth, and a topic that runs
	// ahead of the other in event time waits at the broker, not in memory.
	// With the merge on, a worker's topic partitions also share its
	// MergeMaxHeld (see newLaneBudgets), so a worker reading many of them
	// gives each less.
	PartitionBuffer int
	// MaxFetchBytes bounds the record bytes one fetch asks for. A record
	// batch larger than it still comes whole, first in its response
	// (Kafka's fetch protocol since 0.10.1, KIP-74), so no record stalls a
	// partition by its size. A response is held in memory until its
	// records are handed on, so the bound keeps a fetcher that runs ahead
	// of its worker to about one batch's worth. Default 256 KiB.
	MaxFetchBytes int
	// MaxWait bounds how long a fetch waits for data (and so how long Close
	// can hang). Default 500 ms.
	MaxWait time.Duration
	// SessionTimeout and HeartbeatInterval control how fast a dead member's
	// partitions move. Defaults 10 s and min(1 s, SessionTimeout/3).
	SessionTimeout, HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance. Default 4 s: it must stay below the 5 s
	// that kafka-go's consumer group gives a coordinator request, or a slow
	// member makes every join time out client-side and the group rejoins
	// forever (seen in the chaos test with a frozen member).
	RebalanceTimeout time.Duration
	// RetryMin and RetryMax bound the capped exponential backoff (with full
	// jitter) applied while the handler or a commit fails. Defaults 100 ms
	// and 10 s.
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds how long the consumer keeps finishing fetched
	// work after its context is cancelled or its group generation ended (a
	// rebalance). Default 20 s.
	DrainTimeout time.Duration
	// EventTime, when set, gives a record's event time from its value, and
	// each worker then hands the handler every partition's records of all
	// the topics merged in event-time order (merge.go), so the order in
	// which the fetches happened to serve the topics does not show in the
	// results. Nil: records go in the order they were fetched.
	EventTime func(value []byte) (time.Time, bool)
	// MergeMaxWait bounds how long a record waits in the merge for
	// another topic's partition that delivers nothing (a stalled fetch):
	// once that partition has been silent this long, the record goes
	// without knowing whether it holds anything earlier. Only the time
	// the worker spends taking records counts, not the time it handles a
	// batch (however long a Redis outage makes that). A partition that
	// keeps delivering is waited for however long it takes. Default 2 s.
	MergeMaxWait time.Duration
	// MergeMaxHeld bounds the records a worker's merge holds back; beyond
	// it records would go in fetch order, and a replay might no longer give
	// the same results, so a worker's fetchers share it and stop before
	// (newLaneBudgets). Default 8 × MaxBatch: a worker's partitions fetched
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
	// Transport carries the same settings for the fetches and the admin
	// requests (partition counts, the merge's committed offsets); nil
	// means plain TCP. Security.Transport makes one whose partition leaders
	// are at most MetadataTTL old, as the consumer's own is.
	Transport *kafka.Transport
	// Logger receives operational logs. Default zap.NewNop().
	Logger *zap.Logger
	// OnCommit is called after each successful commit with the committed
	// records' partition lag (high watermark − next offset); optional.
	OnCommit func(topic string, partition int, lag int64)
	// OnRevoked is called for each partition this instance no longer
	// holds: after a rebalance gave it to another member, and for all of
	// them when Run ends. Figures kept per partition (lag, stream time)
	// are stale from then on. Optional.
	OnRevoked func(topic string, partition int)
	// OnHealth is called with false and an error naming every part of
	// the consumer failing now (a partition's fetch, a worker's batch,
	// the commits, the group join) whenever that report changes, and with
	// true when none is failing any more: one part's success does not
	// hide another's failure, and a part that recovered is no longer
	// named while another still fails. Optional.
	OnHealth func(ok bool, err error)
}

func (c *ConsumerConfig) setDefaults() {
	settings.Positive(&c.Workers, DefaultWorkers)
	settings.Positive(&c.MaxBatch, DefaultMaxBatch)
	settings.Positive(&c.Linger, DefaultLinger)
	settings.Positive(&c.QueueSize, c.MaxBatch)
	settings.Positive(&c.PartitionBuffer, max(c.MaxBatch/2, 1))
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
	settings.Positive(&c.MergeMaxWait, 2*time.Second)
	settings.Positive(&c.MergeMaxHeld, 8*c.MaxBatch)
	settings.Positive(&c.PartitionCheckInterval, 5*time.Second)
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
//
// It drives kafka-go's ConsumerGroup itself, one generation at a time,
// with a fetch loop per assigned partition (fetch.go). Everything a
// generation starts (fetchers, workers, the committer) ends with it, after
// the work already fetched is finished and committed with that
// generation's id: the broker refuses a commit from a generation the group
// has left behind, so a member that lost a partition cannot move its
// offset back.
type Consumer struct {
	cfg ConsumerConfig
	// healthMu guards failing: the parts of the consumer (a partition's
	// fetch, a worker's batch, the committer, the group join) failing now,
	// each with its latest error. The consumer is healthy while none is:
	// each part reports its own failure and its own recovery, so one
	// part's success never hides another's failure (a partition past its
	// log end stays not ready while the others' batches succeed).
	healthMu sync.Mutex
	failing  map[healthPart]error
	// unhealthy says whether the last report to OnHealth was a failure,
	// and reported is that failure's text.
	unhealthy bool
	reported  string
	// admin reads topic metadata (the partition-count check), the group's
	// offsets (the merge) and partitions' first offsets (the fetchers).
	admin *kafka.Client
	// fetches carries the fetchers' requests to the partitions' leaders,
	// each on a connection of its own while it waits for records: the
	// configured Transport, or owned.
	fetches kafka.RoundTripper
	// owned is the transport the consumer made itself when none was
	// configured; its idle connections are closed when Run ends.
	owned   *kafka.Transport
	brokers net.Addr
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
	t := cfg.Transport
	var owned *kafka.Transport
	if t == nil {
		// Not kafka-go's default transport: it re-reads partition leaders
		// only every 6 s (see MetadataTTL).
		owned = &kafka.Transport{MetadataTTL: MetadataTTL}
		t = owned
	}
	c := &Consumer{cfg: cfg, admin: newClient(cfg.Brokers, t), fetches: t, owned: owned, brokers: kafka.TCP(cfg.Brokers...),
		failing: map[healthPart]error{}}
	return c, nil
}

// Healthy reports whether no part of the consumer is failing now: every
// assigned partition's fetch, every worker's batch, the commits and the
// group join last succeeded.
func (c *Consumer) Healthy() bool {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	return len(c.failing) == 0
}

// groupConfig is the kafka-go consumer group this consumer joins.
func (c *Consumer) groupConfig() kafka.ConsumerGroupConfig {
	return kafka.ConsumerGroupConfig{
		ID:      c.cfg.GroupID,
		Brokers: c.cfg.Brokers,
		Dialer:  c.cfg.Dialer,
		Topics:  c.cfg.Topics,
		// Range assignment over sorted partition lists gives every member
		// the same partition numbers of each topic: partition p of both
		// (co-partitioned) inputs goes to one member, which the merge and
		// stream time rely on (coPartitionBalancer).
		GroupBalancers:         []kafka.GroupBalancer{coPartitionBalancer{}},
		WatchPartitionChanges:  true,
		PartitionWatchInterval: c.cfg.PartitionCheckInterval,
		SessionTimeout:         c.cfg.SessionTimeout,
		HeartbeatInterval:      c.cfg.HeartbeatInterval,
		RebalanceTimeout:       c.cfg.RebalanceTimeout,
		JoinGroupBackoff:       time.Second,
		StartOffset:            kafka.FirstOffset,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.cfg.Logger.Warn("kafka consumer group", zap.String("detail", fmt.Sprintf(msg, args...)))
		}),
	}
}

// Run consumes until ctx is cancelled, then stops fetching, finishes and
// commits what was already fetched (bounded by DrainTimeout), and leaves
// the group. It returns nil after a clean shutdown.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	if c.cfg.CoPartitioned {
		// At start the counts must be known to differ to refuse; an
		// unreachable broker is waited out by the group loop, and the
		// watch below checks again.
		if err := c.checkCoPartitioned(ctx); errors.As(err, new(*PartitionMismatchError)) {
			return err
		}
	}
	// fetchCtx ends with ctx, or when the partition watch finds the input
	// topics no longer co-partitioned (the cause says so).
	fetchCtx, stopFetch := context.WithCancelCause(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if c.cfg.CoPartitioned {
			c.watchPartitions(fetchCtx, stopFetch)
		}
	}()
	// Stop the watch before waiting for it, on every return.
	defer func() {
		stopFetch(nil)
		<-watchDone
	}()
	if c.owned != nil {
		defer c.owned.CloseIdleConnections()
	}

	group, err := kafka.NewConsumerGroup(c.groupConfig())
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}
	// Closing the group as soon as fetching stops makes kafka-go end the
	// current generation, wait for its work to drain and commit, and leave
	// the group, instead of joining a next generation first.
	closed := make(chan error, 1)
	context.AfterFunc(fetchCtx, func() { closed <- group.Close() })

	var held []partitionKey
	joinFailures := 0
	for fetchCtx.Err() == nil {
		gen, err := group.Next(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				break
			}
			// A join that meets a rebalance in progress is routine.
			if errors.Is(err, kafka.RebalanceInProgress) {
				c.cfg.Logger.Warn("joining the consumer group failed; retrying", zap.Error(err))
				continue
			}
			c.setHealth(joinPart, fmt.Errorf("join group: %w", err))
			c.cfg.Logger.Warn("joining the consumer group failed; retrying", zap.Error(err), zap.Int("attempt", joinFailures+1))
			// kafka-go waits JoinGroupBackoff (1 s) before its next
			// attempt, which it makes only once Next is called again: back
			// off further while the joins keep failing, as batches do, so
			// that a long outage costs an attempt (and its log lines) every
			// RetryMax, not every second.
			sleepCtx(fetchCtx, c.backoff(joinFailures))
			joinFailures++
			continue
		}
		if joinFailures > 0 {
			// The broker is back; fetches and batches report from here.
			joinFailures = 0
			c.setHealth(joinPart, nil)
		}
		assigned := assignedPartitions(gen)
		c.revoke(held, assigned)
		held = assigned
		c.cfg.Logger.Info("consumer group generation started", zap.Int32("generation", gen.ID),
			zap.String("member", gen.MemberID), zap.Int("partitions", len(assigned)),
			zap.Any("assignment", byTopic(assigned)))
		c.consumeGeneration(fetchCtx, gen, handle)
	}
	c.revoke(held, nil)

	var runErr error
	if cause := context.Cause(fetchCtx); ctx.Err() == nil && errors.As(cause, new(*PartitionMismatchError)) {
		runErr = cause
	}
	select {
	case err := <-closed:
		if err != nil && runErr == nil && !errors.Is(err, kafka.ErrGroupClosed) {
			runErr = fmt.Errorf("leave consumer group: %w", err)
		}
	case <-time.After(5 * time.Second):
		c.cfg.Logger.Warn("leaving the consumer group timed out")
	}
	return runErr
}

// assignedPartitions lists a generation's partitions.
func assignedPartitions(gen *kafka.Generation) []partitionKey {
	var keys []partitionKey
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			keys = append(keys, partitionKey{topic, p.ID})
		}
	}
	return keys
}

// byTopic is the partition numbers of keys per topic, sorted: the log of
// a generation says which partitions the member took, so a split of
// co-partitions (partition p of the inputs on two members) shows.
func byTopic(keys []partitionKey) map[string][]int {
	out := map[string][]int{}
	for _, k := range keys {
		out[k.topic] = append(out[k.topic], k.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// revoke calls OnRevoked for each partition of held that is not in kept.
func (c *Consumer) revoke(held, kept []partitionKey) {
	if c.cfg.OnRevoked == nil {
		return
	}
	for _, k := range held {
		if !slices.Contains(kept, k) {
			c.cfg.OnRevoked(k.topic, k.partition)
		}
	}
}

// consumeGeneration consumes gen's partitions until the generation ends (a
// rebalance, a lost coordinator, a partition-count change) or ctx does,
// then finishes the work already fetched, commits it within gen and
// returns. The group cannot join its next generation before this returns:
// kafka-go waits for every function started in a generation.
func (c *Consumer) consumeGeneration(ctx context.Context, gen *kafka.Generation, handle Handler) {
	done := make(chan struct{})
	gen.Start(func(genCtx context.Context) {
		defer close(done)
		fetchCtx, stopFetch := context.WithCancel(ctx)
		defer stopFetch()
		stopWithGen := context.AfterFunc(genCtx, stopFetch)
		defer stopWithGen()
		c.runGeneration(fetchCtx, gen, handle)
	})
	<-done
}

// runGeneration fetches gen's partitions until fetchCtx ends, then drains.
func (c *Consumer) runGeneration(fetchCtx context.Context, gen *kafka.Generation, handle Handler) {
	// work is not cancelled with fetchCtx: in-flight batches must be able
	// to finish and commit during the drain.
	work, cancelWork := context.WithCancel(context.WithoutCancel(fetchCtx))
	defer cancelWork()

	// The last generation's workers and committer reported on batches and
	// commits of its partitions; this one's report on their own. (Their
	// failures stay until now, not only until they end: a shutdown whose
	// drain gave up on a failing batch is not a recovery.)
	c.clearHealth(func(p healthPart) bool { return p.what == "worker" || p == commitPart })
	// Workers hand the offsets of finished batches to one committer and go
	// on with the next batch: a commit round trip is not on any batch's
	// path. The channel is small, so a committer that cannot commit (Kafka
	// down) soon holds the workers back too.
	commits := make(chan map[partitionKey]kafka.Message, 4*c.cfg.Workers)
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		c.committer(work, gen, commits)
	}()
	mergeMaxHeld := 0 // no merge: nothing to share
	if c.cfg.EventTime != nil {
		mergeMaxHeld = c.cfg.MergeMaxHeld
	}
	budgets := newLaneBudgets(assignedPartitions(gen), c.cfg.Workers, c.cfg.PartitionBuffer, mergeMaxHeld)
	queues := make([]chan kafka.Message, c.cfg.Workers)
	var workers sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan kafka.Message, c.cfg.QueueSize)
		workers.Add(1)
		go func(q <-chan kafka.Message) {
			defer workers.Done()
			c.worker(work, healthPart{what: "worker", n: i}, q, budgets, handle, commits)
		}(queues[i])
	}
	var fetchers sync.WaitGroup
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			fetchers.Add(1)
			go func(q chan<- kafka.Message) {
				defer fetchers.Done()
				c.fetchPartition(fetchCtx, topic, p.ID, p.Offset, budgets[partitionKey{topic, p.ID}], q)
			}(queues[workerFor(p.ID, len(queues))])
		}
	}
	// A member with no partitions still holds its generation until it
	// ends: returning would end it and start a rebalance.
	<-fetchCtx.Done()
	// kafka-go's heartbeats end with the generation, but the member must
	// stay in the group while it finishes and commits: evicted after the
	// session timeout, its commits would be refused.
	defer c.heartbeatUntil(gen)()
	fetchers.Wait()
	for _, q := range queues {
		close(q)
	}
	drained := make(chan struct{})
	go func() {
		workers.Wait()
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
}

// heartbeatUntil keeps gen's member alive in the group, with a heartbeat
// every HeartbeatInterval, until the returned stop is called. It covers
// the drain after a shutdown (the member leaves the group only once its
// work is committed) or a rebalance (which the heartbeats cannot prolong:
// the member must still rejoin within the rebalance timeout). A heartbeat
// that fails changes nothing: the session then runs out as it would have.
func (c *Consumer) heartbeatUntil(gen *kafka.Generation) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		every(ctx, c.cfg.HeartbeatInterval, func() bool {
			hctx, hcancel := context.WithTimeout(ctx, min(c.cfg.SessionTimeout, 5*time.Second))
			defer hcancel()
			res, err := c.admin.Heartbeat(hctx, &kafka.HeartbeatRequest{GroupID: c.cfg.GroupID,
				GenerationID: gen.ID, MemberID: gen.MemberID})
			// Once the member is out of the group, no heartbeat brings it back.
			return err != nil || res.Error == nil || !(errors.Is(res.Error, kafka.UnknownMemberId) ||
				errors.Is(res.Error, kafka.IllegalGeneration) || errors.Is(res.Error, kafka.FencedInstanceID))
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// healthPart names a part of the consumer that fails and recovers on its
// own (see Consumer.failing).
type healthPart struct {
	what  string // "fetch", "worker", "commit" or "join"
	topic string // the fetched partition's topic
	n     int    // the fetched partition, or the worker's number
}

var (
	commitPart = healthPart{what: "commit"}
	joinPart   = healthPart{what: "join"}
)

// fetchPart is the health part of a partition's fetch.
func fetchPart(topic string, partition int) healthPart {
	return healthPart{what: "fetch", topic: topic, n: partition}
}

// PartitionMismatchError says that topics that must be co-partitioned have
// different partition counts.
type PartitionMismatchError struct {
	Topics []string // the input topics, in configured order
	Counts []int    // partition count of each, parallel to Topics
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

// failingError is the health report of several failing parts, each named
// with its latest error, in a stable order; errors.Is and As see them all.
type failingError struct {
	parts []healthPart
	errs  []error
}

// failingShown is how many failing parts a health report names: a broker
// outage fails every partition's fetch, and /readyz should stay readable.
const failingShown = 4

func (e *failingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d parts failing: ", len(e.parts))
	for i, p := range e.parts {
		if i == failingShown {
			fmt.Fprintf(&b, "; and %d more", len(e.parts)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		// The errors of fetches, commits and joins name their part
		// ("fetch orders/3 from 8: …"); a batch's names only its cause.
		if p.what == "worker" {
			fmt.Fprintf(&b, "worker %d: ", p.n)
		}
		b.WriteString(e.errs[i].Error())
	}
	return b.String()
}

func (e *failingError) Unwrap() []error { return e.errs }

// clearHealth records that the parts stale reports true for are no longer
// failing, telling OnHealth as setHealth does.
func (c *Consumer) clearHealth(stale func(healthPart) bool) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	for part := range c.failing {
		if stale(part) {
			delete(c.failing, part)
		}
	}
	c.reportHealthLocked()
}

// setHealth records that part is failing with err, or (err nil) no longer
// failing, and tells OnHealth when the report changes. Calls to OnHealth
// are made one at a time, in order.
func (c *Consumer) setHealth(part healthPart, err error) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	if err == nil {
		if _, was := c.failing[part]; !was {
			return // the common case: a batch or fetch of a healthy part
		}
		delete(c.failing, part)
	} else {
		c.failing[part] = err
	}
	c.reportHealthLocked()
}

// reportHealthLocked tells OnHealth the consumer's health when it differs
// from the last report: healthy, or the error of the one failing part, or
// a failingError naming each of several.
func (c *Consumer) reportHealthLocked() {
	if c.cfg.OnHealth == nil {
		return
	}
	if len(c.failing) == 0 {
		if c.unhealthy {
			c.unhealthy, c.reported = false, ""
			c.cfg.OnHealth(true, nil)
		}
		return
	}
	var err error
	if len(c.failing) == 1 {
		for _, e := range c.failing {
			err = e
		}
	} else {
		fe := &failingError{parts: make([]healthPart, 0, len(c.failing))}
		for p := range c.failing {
			fe.parts = append(fe.parts, p)
		}
		slices.SortFunc(fe.parts, func(a, b healthPart) int {
			return cmp.Or(cmp.Compare(a.what, b.what), cmp.Compare(a.topic, b.topic), cmp.Compare(a.n, b.n))
		})
		for _, p := range fe.parts {
			fe.errs = append(fe.errs, c.failing[p])
		}
		err = fe
	}
	if text := err.Error(); !c.unhealthy || text != c.reported {
		c.unhealthy, c.reported = true, text
		c.cfg.OnHealth(false, err)
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
