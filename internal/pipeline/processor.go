// Package pipeline turns a batch of input records into durable state and
// published outputs. It is the seam between the pure domain
// (internal/aggregate) and the I/O edges: it decodes, loads the touched
// customers, applies events in order, writes every customer with one
// compare-and-set, publishes tier changes and dead letters, and only then
// reports the batch done so the caller may commit its offsets.
//
// Processing a batch is idempotent: after any failure the caller simply
// processes the same batch again (or a restarted consumer re-reads it from
// Kafka). The offset guard inside each customer's state turns replays into
// no-ops, and change events that were written but perhaps not published
// are kept in the state ("pending") and published again with the same
// event_id until their publication is acknowledged.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// Record is one input message as read from Kafka. Key and Value are nil
// when the record's key or value is null, and non-nil (possibly empty)
// otherwise, so a dead letter keeps a null value null and an empty one
// empty (SPEC §2).
type Record struct {
	Topic     string // input topic it was read from; also the DLQ `topic` header
	Partition int32  // its partition (the DLQ `partition` header; stream time is per partition)
	Offset    int64  // its offset (the DLQ `offset` header; the offset guard compares it)
	Key       []byte // should be the event's customer_id; otherwise the record is dead-lettered (SPEC §2)
	Value     []byte // the event JSON; copied unchanged to the DLQ when rejected
	// Time is the broker/producer timestamp, used for end-to-end latency.
	Time time.Time
	// ReadAt is the wall-clock time the consumer read it: the clock of the
	// max_future_skew rule (SPEC §2: "when the record is read"). The same
	// on every retry of its batch, so a retry cannot apply a record an
	// earlier attempt dead-lettered as too far ahead. Zero: the time the
	// batch is processed.
	ReadAt time.Time
}

// Header is a Kafka record header.
type Header struct {
	Key   string // e.g. the DLQ's error, topic, partition, offset, or a CloudEvents ce_* header
	Value []byte // for the DLQ: the reason, or the source topic, partition and offset as text
}

// Message is one output message.
type Message struct {
	Topic   string   // changes, segments or DLQ topic
	Key     []byte   // customer_id, or the rejected record's original key
	Value   []byte   // event JSON, or the rejected record's original bytes
	Headers []Header // CloudEvents headers, or the DLQ's reason and source
}

// Store is the state store the processor needs: store.Redis, or the
// state cache (store.Cached) in front of it. It is an alias of
// store.Store, the one declaration, which lives in the store package
// because the cache both implements it and holds one (see there).
type Store = store.Store

// Publisher writes output messages and returns only when all of them are
// acknowledged by the broker (or failed).
type Publisher interface {
	Publish(ctx context.Context, msgs []Message) error
}

// Decoder turns a record into a validated event, applying every input
// rule of SPEC §2 (readAt is the wall-clock time the record is processed,
// for the max_future_skew rule); its errors become the DLQ `error` header.
type Decoder interface {
	DecodeRecord(key, value []byte, readAt time.Time) (aggregate.Event, error)
}

// Observer receives what the processor did, for metrics. All methods must
// be cheap and safe for concurrent use.
type Observer interface {
	BatchProcessed(s BatchStats)
	TierChanged(from, to string, up bool)
	SegmentChanged(from, to string)
}

// BatchStats summarises one processed batch.
type BatchStats struct {
	Records     int // input records in the batch
	Applied     int // events that changed state
	Duplicates  int // events dropped by the event_id window
	Redelivered int // records dropped by the offset guard
	DeadLetters int // records sent to the DLQ
	Changes     int // change events published (new ones)
	// SegmentChanges are the segment-change events published (new ones),
	// TimersFired those of them a timer caused, and TimersDue the
	// customers loaded because their indexed due time was reached.
	SegmentChanges, TimersFired, TimersDue int
	// StreamTimes are the batch's partitions' stream times after it.
	StreamTimes map[int32]time.Time
	Reemitted   int           // pending change events published again
	Conflicts   int           // compare-and-set conflicts resolved by reloading
	Duration    time.Duration // wall-clock processing time of the batch (Config.Now)
	// Latencies are, per applied record, the time from its Kafka
	// timestamp to the moment its outputs were acknowledged.
	Latencies []time.Duration
}

// Config configures a Processor.
type Config struct {
	Model   *aggregate.Model // required
	Decoder Decoder          // required
	Store   Store            // required
	Out     Publisher        // required
	// ChangesTopic, SegmentsTopic and DLQTopic name the output topics.
	// Defaults "ltv-changes", "ltv-segments" and "ltv-dlq".
	ChangesTopic, SegmentsTopic, DLQTopic string
	// EventSource is the CloudEvents source (ce_source header) of the
	// change and segment events: a URI-reference naming this updater.
	// Default DefaultEventSource; the service sets EventSourceFor(its
	// consumer group) unless configured otherwise.
	EventSource string
	// Timers keeps each input partition's stream time and its index of due
	// times (SPEC §8). The service always sets it; nil (tools that replay
	// recorded batches) keeps stream time for the batch alone and indexes
	// nothing, so customers change segment only when their own events or
	// a batch's stream time reach them.
	Timers Timers
	// MaxTimersPerRound bounds how many due customers a batch loads at a
	// time, shared by the partitions that have any; a batch fires all that
	// are due, round after round. Default 1000.
	MaxTimersPerRound int
	// Observer gets batch statistics; nil means none.
	Observer Observer
	// Now is the wall clock (updated_at, emitted_at); default time.Now.
	Now func() time.Time
	// AfterStage, when set, is called after each durable step of a batch
	// ("save": state written; "publish": outputs acknowledged, offsets
	// not yet committed). Fault-injection tests use it to crash at exactly
	// those points; production leaves it nil.
	AfterStage func(stage string)
	// MaxConflictRounds bounds how often a batch reloads customers whose
	// compare-and-set failed before giving up with an error (the caller
	// retries the whole batch). Default 8.
	MaxConflictRounds int
	// Finish, when set, is the batch's last step, after its writes and
	// outputs: an error fails the batch as any step's does (the service
	// waits there for Redis's replicas, and makes a batch that found the
	// masters replaced again). The Observer hears of a batch only once
	// Finish has passed, so a batch made again is counted once.
	Finish func(ctx context.Context) error
}

func (c *Config) setDefaults() {
	settings.IfZero(&c.ChangesTopic, settings.DefaultChangesTopic)
	settings.IfZero(&c.SegmentsTopic, settings.DefaultSegmentsTopic)
	settings.IfZero(&c.DLQTopic, settings.DefaultDLQTopic)
	settings.IfZero(&c.EventSource, DefaultEventSource)
	settings.Positive(&c.MaxTimersPerRound, 1000)
	if c.Now == nil {
		c.Now = time.Now
	}
	settings.Positive(&c.MaxConflictRounds, 8)
}

// Validate reports a missing dependency.
func (c *Config) Validate() error {
	switch {
	case c.Model == nil:
		return errors.New("pipeline: no model")
	case c.Decoder == nil:
		return errors.New("pipeline: no decoder")
	case c.Store == nil:
		return errors.New("pipeline: no store")
	case c.Out == nil:
		return errors.New("pipeline: no publisher")
	}
	if err := ValidateEventSource(c.EventSource); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// Processor processes batches. It holds no per-batch state and is safe for
// concurrent use by several workers, provided no two workers ever process
// records of the same customer at the same time (partition ownership
// guarantees that when producers key by customer_id; the compare-and-set
// keeps state correct even when they do not).
type Processor struct {
	cfg Config
	// source is cfg.EventSource, the ce_source header's value.
	source []byte
	// scratch holds the batchScratch of batches not running: Process runs
	// on several workers at once. A channel rather than a sync.Pool, which
	// drops what it holds at every garbage collection (several a second
	// in a busy consumer), and the memory is then allocated again.
	scratch chan *batchScratch
	// streamTimes is the stored stream time of each partition as a
	// batch's settle last read it back (see knownStreamTimes).
	streamTimes knownStreamTimes
}

// maxIdleScratch bounds the batchScratch kept between batches: one per
// batch that may run at once (one per worker) is enough.
const maxIdleScratch = 64

// borrowScratch returns an idle batchScratch, or a new one.
func (p *Processor) borrowScratch() *batchScratch {
	select {
	case sc := <-p.scratch:
		return sc
	default:
		return new(batchScratch)
	}
}

// returnScratch keeps sc for the next batch, unless enough are idle.
func (p *Processor) returnScratch(sc *batchScratch) {
	select {
	case p.scratch <- sc:
	default:
	}
}

// New returns a Processor.
func New(cfg Config) (*Processor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, source: []byte(cfg.EventSource), scratch: make(chan *batchScratch, maxIdleScratch),
		streamTimes: knownStreamTimes{times: map[int32]time.Time{}}}, nil
}

// pendingEvent is a decoded record waiting to be applied.
type pendingEvent struct {
	rec *Record
	ev  aggregate.Event
	// before is the latest valid event time of its partition among the
	// batch's earlier records (zero when none): with the stored stream
	// time, the partition's stream time just before this record.
	before time.Time
}

// customerWork is everything a batch does to one customer.
type customerWork struct {
	id     string
	events []pendingEvent
	// nevents counts the events while the batch is sorted by customer.
	nevents int
	// partition is the input partition the customer lives on (its
	// records', or its timer index entry's), whose stream time reaches it.
	partition int32
	// due says the customer was loaded because its indexed due time was
	// reached, not (only) for events.
	due bool
	// results of the last apply round: write is valid when wrote
	write      store.Write
	wrote      bool
	outs       [][]byte  // change and segment events to publish (re-emitted first)
	joined     [1][]byte // the new events, newline-separated, when none is re-emitted: what the write stores as pending
	newChanges []aggregate.Change
	newSegs    []aggregate.SegmentChange
	reemitted  int
	// timer is the customer's index entry as derived from its state after
	// the batch; timerMoved says it differs from the loaded state's.
	timer      store.TimerUpdate
	timerMoved bool
	token      string // token that identifies the pending events to clear
	// published says its outputs went out ahead of the batch's
	// (publishEarly): the batch's delivery skips it but for its index
	// entry.
	published bool

	applied int
	dups    int
	redeliv int
	deadErr error // stored state unreadable: all events go to the DLQ
}

// Process makes the batch's effects durable: state written, changes and
// dead letters acknowledged. When it returns nil the caller may commit
// the batch's offsets. On error nothing may be committed; processing the
// same batch again is safe.
func (p *Processor) Process(ctx context.Context, batch []Record) (BatchStats, error) {
	start := p.cfg.Now()
	stats := BatchStats{Records: len(batch)}
	var dlq []Message
	sc := p.borrowScratch()
	defer p.returnScratch(sc)
	sc.reset(len(batch))
	byCustomer := sc.byCustomer
	var order []*customerWork
	clock := newBatchClock()
	for i := range batch {
		rec := &batch[i]
		readAt := rec.ReadAt
		if readAt.IsZero() {
			readAt = start
		}
		ev, err := p.safeDecode(rec, readAt)
		if err != nil {
			dlq = append(dlq, p.deadLetter(rec, err.Error()))
			continue
		}
		// Only valid events move stream time (SPEC §8).
		before := clock.seen[rec.Partition]
		clock.saw(rec.Partition, ev.OccurredAt)
		w := byCustomer[ev.CustomerID]
		if w == nil {
			sc.works = append(sc.works, customerWork{id: ev.CustomerID}) // within its capacity: w stays put
			w = &sc.works[len(sc.works)-1]
			byCustomer[ev.CustomerID] = w
			order = append(order, w)
		}
		w.partition = rec.Partition
		w.nevents++
		sc.decoded = append(sc.decoded, decodedEvent{w: w, pendingEvent: pendingEvent{rec: rec, ev: ev, before: before}})
	}
	// Each customer's events get their part of one array, in batch order.
	off := 0
	for _, w := range order {
		w.events = sc.events[off : off : off+w.nevents]
		off += w.nevents
	}
	for i := range sc.decoded {
		d := &sc.decoded[i]
		d.w.events = append(d.w.events, d.pendingEvent)
	}
	for _, rec := range batch {
		clock.touch(rec.Partition)
	}
	// The stream times, and then what is due by them, are read while the
	// customers load: round trips at once instead of one after the other.
	// The clock is not touched until clockRead has returned.
	clockRead := p.fetchStreamTimes(ctx, clock)
	defer func() { _, _ = clockRead() }() // the read's goroutine ends before Process does
	// The first page of due customers is applied and saved with the
	// batch's own (dueWith); fireDueTimers then finds them done, rechecks
	// those whose copy wrote nothing, and pages through the rest.
	var joined []*customerWork
	dueWith := func() ([]*customerWork, error) {
		pages, err := clockRead()
		if err != nil {
			return nil, err
		}
		joined = clock.dueNotIn(pages, byCustomer)
		stats.TimersDue += len(joined)
		return joined, nil
	}
	if err := p.applyAndSave(ctx, order, clock, &stats, sc, false, dueWith); err != nil {
		return stats, err
	}
	order = append(order, joined...)
	due, err := clockRead() // also when the batch loaded nobody (dead letters only)
	if err != nil {
		return stats, err
	}
	fired, err := p.fireDueTimers(ctx, clock, byCustomer, &stats, sc, due)
	if err != nil {
		return stats, err
	}
	order = append(order, fired...)
	p.stage("save")

	// Stream time is stored with the index entries once the outputs are
	// out: a crash before that redelivers the batch, which computes the
	// same stream time again.
	done, err := p.deliver(ctx, order, dlq, clock, true, &stats)
	if err != nil {
		return stats, err
	}
	swept, err := p.sweep(ctx, clock, done, &stats, sc)
	if err != nil {
		return stats, err
	}
	order = append(order, swept...)
	stats.StreamTimes = clock.now
	if p.cfg.Finish != nil {
		if err := p.cfg.Finish(ctx); err != nil {
			return stats, err
		}
	}

	end := p.cfg.Now()
	stats.Duration = end.Sub(start)
	for _, w := range order {
		for _, pe := range w.events {
			if !pe.rec.Time.IsZero() {
				stats.Latencies = append(stats.Latencies, end.Sub(pe.rec.Time))
			}
		}
	}
	if obs := p.cfg.Observer; obs != nil {
		for _, w := range order {
			for i := range w.newChanges {
				c := &w.newChanges[i]
				obs.TierChanged(c.PreviousTier, c.Tier, c.Up)
			}
			for i := range w.newSegs {
				obs.SegmentChanged(w.newSegs[i].Previous, w.newSegs[i].Segment)
			}
		}
		obs.BatchProcessed(stats)
	}
	return stats, nil
}

// deliver publishes the customers' outputs and the dead letters, then
// settles: writes the customers' index entries (and, with saveTimes, the
// batch's stream times) and reads back what the sweep needs; last it hands
// the acknowledged pending events to the clearer.
func (p *Processor) deliver(ctx context.Context, work []*customerWork, dlq []Message, clock *batchClock, saveTimes bool, stats *BatchStats) (settled, error) {
	acked, err := p.publish(ctx, work, dlq, stats)
	if err != nil {
		return settled{}, err
	}
	p.stage("publish")
	// Only now are the index entries written: a due customer whose timer
	// fired keeps its old entry until its outputs are acknowledged, so if
	// this batch fails or the process dies, the next attempt finds it due
	// again, loads it and publishes its pending events (the timer itself
	// does not fire twice: the customer's clock has moved past it).
	//
	// From here on the outputs are out: failing the batch would publish
	// them (and its dead letters) again. So the writes left are retried in
	// place while Redis is away, and the batch fails only if ctx ends first
	// (its redelivery then re-derives what was not written).
	var s settled
	if err := p.retry(ctx, func() (err error) { s, err = p.settle(ctx, work, clock, saveTimes); return err }); err != nil {
		return s, err
	}
	p.streamTimes.remember(s.stored)
	// The outputs are durable: the pending copies are no longer needed.
	// The store's clearer owns the clear and retries it until it lands
	// (store.Clearer), so nothing is kept here; a failure only means the
	// events are published once more later with the same event ids, and
	// never fails the batch, whose offsets may be committed.
	_ = p.cfg.Store.ClearPending(ctx, acked)
	return s, nil
}

// publishEarly publishes the outputs of customers whose timers fired,
// ahead of the rest of the batch, and lets go of what they hold but their
// index entries: a batch whose stream time makes many customers due (a
// partition read from far behind) thus holds about MaxTimersPerRound of
// them at a time, not all. Their index entries are still written when the
// batch settles (paging through the index relies on it not changing
// before), so if the batch fails after this they are found due again,
// loaded, fire nothing new (their clocks are past the timers) and publish
// whatever is still pending, with the same event ids.
func (p *Processor) publishEarly(ctx context.Context, work []*customerWork, stats *BatchStats) error {
	acked, err := p.publish(ctx, work, nil, stats)
	if err != nil {
		return fmt.Errorf("fired timers: %w", err)
	}
	_ = p.cfg.Store.ClearPending(ctx, acked) // as in deliver: the clearer owns it
	for _, w := range work {
		w.published = true
		w.write, w.wrote, w.outs = store.Write{}, false, nil
	}
	return nil
}

// publish publishes the customers' outputs (dead letters for those whose
// state could not be read) and the batch's dead letters, counts them in
// stats, and returns the customers whose pending events may be cleared.
func (p *Processor) publish(ctx context.Context, work []*customerWork, dlq []Message, stats *BatchStats) ([]store.Acked, error) {
	outs, acked := p.outputs(work, &dlq, stats)
	stats.DeadLetters += len(dlq)
	outs = append(outs, dlq...)
	if len(outs) == 0 {
		return acked, nil
	}
	if err := p.cfg.Out.Publish(ctx, outs); err != nil {
		return nil, fmt.Errorf("publish %d messages: %w", len(outs), err)
	}
	return acked, nil
}

// outputs collects the messages to publish and the pending events to clear
// of the customers' work (dead letters for those whose state could not be
// read), and counts them in stats.
func (p *Processor) outputs(work []*customerWork, dlq *[]Message, stats *BatchStats) ([]Message, []store.Acked) {
	var acked []store.Acked
	// One array holds every message's CloudEvents headers; each message
	// gets a full slice of its own part, so appending to one (a cut
	// message's headers) copies instead of overwriting its neighbour's.
	n := 0
	for _, w := range work {
		if w.deadErr == nil {
			n += len(w.outs)
		}
	}
	outs := make([]Message, 0, n)
	headers := make([]Header, 0, n*ceHeaderCount)
	for _, w := range work {
		if w.published {
			continue
		}
		if w.deadErr != nil {
			for _, pe := range w.events {
				*dlq = append(*dlq, p.deadLetter(pe.rec, w.deadErr.Error()))
			}
			continue
		}
		key := []byte(w.id) // shared by the customer's messages: never modified
		for _, doc := range w.outs {
			m := Message{Topic: p.topicOf(doc), Key: key, Value: doc}
			start := len(headers)
			headers, _ = ceHeaders(headers, doc, key, p.source)
			if len(headers) > start {
				m.Headers = headers[start:len(headers):len(headers)]
			}
			outs = append(outs, m)
		}
		if len(w.outs) > 0 {
			acked = append(acked, store.Acked{CustomerID: w.id, Token: w.token})
		}
		stats.Applied += w.applied
		stats.Duplicates += w.dups
		stats.Redelivered += w.redeliv
		stats.Changes += len(w.newChanges)
		stats.SegmentChanges += len(w.newSegs)
		for i := range w.newSegs {
			if w.newSegs[i].ByTimer {
				stats.TimersFired++
			}
		}
		stats.Reemitted += w.reemitted
	}
	return outs, acked
}

// sweep fires, after the batch's own index entries are written, whatever
// is due by the partitions' stored stream time now, which another consumer
// (one fenced off but finishing a late batch) may have moved, and whose
// entries it may have written while this batch ran. Whoever writes an
// entry thus also fires what is due once it is written, so no due entry is
// left behind when a stream ends. A few rounds at most: each fires what
// the one before found. s is what the batch's settle read back, right after
// its own writes; each round's delivery settles again for the next.
func (p *Processor) sweep(ctx context.Context, clock *batchClock, s settled, stats *BatchStats, sc *batchScratch) ([]*customerWork, error) {
	if p.cfg.Timers == nil || len(clock.parts) == 0 {
		return nil, nil
	}
	var all []*customerWork
	for round := 0; round < 3; round++ {
		first := s.pages
		for part, t := range s.stored {
			if t.After(clock.now[part]) {
				clock.now[part] = t
				first = nil // read for the earlier stream time
			}
		}
		fired, err := p.fireDueTimers(ctx, clock, map[string]*customerWork{}, stats, sc, first)
		if err != nil || len(fired) == 0 {
			return all, err
		}
		if s, err = p.deliver(ctx, fired, nil, clock, false, stats); err != nil {
			return all, fmt.Errorf("deliver due timers: %w", err)
		}
		all = append(all, fired...)
	}
	return all, nil
}

// topicOf routes an output document by its schema: segment changes to the
// segments topic, tier changes to the changes topic. Pending documents
// are stored together, so the route is read from the document itself.
func (p *Processor) topicOf(doc []byte) string {
	if bytes.HasPrefix(doc, segmentDocPrefix) {
		return p.cfg.SegmentsTopic
	}
	return p.cfg.ChangesTopic
}

var segmentDocPrefix = []byte(`{"schema":"` + aggregate.SchemaSegment + `"`)

// freshLoader is a store that may answer loads from copies of what this
// process wrote (store.Cached) and can load past them, into a caller's
// array as intoLoader does.
type freshLoader interface {
	LoadFreshInto(ctx context.Context, customerIDs []string, dst []store.Snapshot) ([]store.Snapshot, []error, error)
}

// intoLoader is a store that can load into a caller's array
// (store.Cached), so batches reuse one.
type intoLoader interface {
	LoadInto(ctx context.Context, customerIDs []string, dst []store.Snapshot) ([]store.Snapshot, []error, error)
}

// batchScratch is memory a batch borrows and the next one reuses: its
// customers' work and events sorted by customer, the array its snapshots
// are loaded into and the field lists of its writes. Processor.scratch
// keeps them, one per batch running at once. Nothing of a batch may
// refer to them once it has returned.
type batchScratch struct {
	byCustomer map[string]*customerWork
	works      []customerWork
	decoded    []decodedEvent
	events     []pendingEvent
	snaps      []store.Snapshot
	fields     store.FieldBuffer
}

// decodedEvent is a decoded record of the batch and its customer's work.
type decodedEvent struct {
	w *customerWork
	pendingEvent
}

// reset readies sc for a batch of n records: room for n customers and
// events, so that the pointers to its works stay valid while they fill.
func (sc *batchScratch) reset(n int) {
	if sc.byCustomer == nil {
		sc.byCustomer = make(map[string]*customerWork, n)
	}
	clear(sc.byCustomer)
	if cap(sc.works) < n {
		sc.works = make([]customerWork, 0, n)
		sc.decoded = make([]decodedEvent, 0, n)
		sc.events = make([]pendingEvent, n)
	}
	sc.works, sc.decoded = sc.works[:0], sc.decoded[:0]
	sc.fields.Reset()
}

// applyAndSave loads, applies and writes every customer, reloading those
// whose compare-and-set lost to another writer. fresh loads past any
// cached copies: for due customers whose re-evaluation from a copy ended
// in no write, so a stale copy would go unnoticed (a write's
// compare-and-set is what exposes one).
//
// clockRead, when not nil, waits for the clock to be read (see
// fetchStreamTimes); it is called once the first load is back, before
// anything is applied, and returns the customers the clock makes due
// that are not in todo: they are loaded (through the state cache) and
// applied with todo, and their writes go out in the same save call, one
// round trip fewer than firing them after.
//
// The snapshots are loaded into sc's array, and the writes' field lists
// come from sc: both are reused by the next batch (and the next round),
// which is safe because nothing reads a snapshot or a write once its
// round's Save has returned.
func (p *Processor) applyAndSave(ctx context.Context, todo []*customerWork, clock *batchClock, stats *BatchStats, sc *batchScratch, fresh bool, clockRead func() ([]*customerWork, error)) error {
	for round := 0; len(todo) > 0; round++ {
		if round >= p.cfg.MaxConflictRounds {
			return fmt.Errorf("%d customers still conflicting after %d rounds", len(todo), round)
		}
		ids := make([]string, len(todo))
		for i, w := range todo {
			ids[i] = w.id
		}
		snaps, errs, err := p.load(ctx, ids, sc.snaps, fresh)
		if err != nil {
			return err
		}
		if cap(snaps) > cap(sc.snaps) {
			sc.snaps = snaps[:0]
		}
		if clockRead != nil {
			// Customers the clock makes due join this round: loaded into
			// the array's room after todo's, and saved in the same call.
			due, err := clockRead()
			if err != nil {
				return err
			}
			clockRead = nil
			if len(due) > 0 {
				dueIDs := make([]string, len(due))
				for i, w := range due {
					dueIDs[i] = w.id
				}
				room := snaps[len(snaps):]
				dueSnaps, dueErrs, err := p.load(ctx, dueIDs, room, false)
				if err != nil {
					return err
				}
				if len(dueSnaps) > 0 && cap(room) > 0 && &room[:1][0] == &dueSnaps[0] {
					snaps = snaps[:len(snaps)+len(dueSnaps)] // loaded where they follow todo's
				} else {
					// Loaded elsewhere (no room, or a store that loads into
					// arrays of its own): one array for both.
					snaps = append(snaps[:len(snaps):len(snaps)], dueSnaps...)
					sc.snaps = snaps[:0]
				}
				todo = append(todo[:len(todo):len(todo)], due...)
				errs = append(errs[:len(errs):len(errs)], dueErrs...)
			}
		}
		writes := make([]store.Write, 0, len(todo))
		writers := make([]*customerWork, 0, len(todo))
		now := p.cfg.Now()
		for i, w := range todo {
			if errs[i] != nil {
				w.deadErr = errs[i]
				continue
			}
			p.applyCustomer(w, &snaps[i], clock, now, &sc.fields)
			if w.wrote {
				writes = append(writes, w.write)
				writers = append(writers, w)
			}
		}
		conflicts, err := p.cfg.Store.Save(ctx, writes)
		if err != nil {
			return err
		}
		stats.Conflicts += len(conflicts)
		next := make([]*customerWork, 0, len(conflicts))
		for _, c := range conflicts {
			next = append(next, writers[c])
		}
		todo = next
	}
	return nil
}

// load loads customers, into dst's array when the store can (see
// store.Cached.LoadInto), past any cached copies when fresh.
func (p *Processor) load(ctx context.Context, ids []string, dst []store.Snapshot, fresh bool) ([]store.Snapshot, []error, error) {
	if fl, ok := p.cfg.Store.(freshLoader); ok && fresh {
		return fl.LoadFreshInto(ctx, ids, dst)
	}
	if il, ok := p.cfg.Store.(intoLoader); ok {
		return il.LoadInto(ctx, ids, dst)
	}
	return p.cfg.Store.Load(ctx, ids)
}

// changeDocCap is the room a change document gets in its customer's
// buffer: above the usual size (ids of a few dozen bytes), so the buffer is
// allocated once.
const changeDocCap = 512

// applyCustomer applies a customer's events to its snapshot, then lets
// its partition's stream time reach it (timers due by then fire), and
// prepares the write (nil when nothing changed), the messages to publish
// and its timer index entry.
func (p *Processor) applyCustomer(w *customerWork, snap *store.Snapshot, clock *batchClock, now time.Time, fields *store.FieldBuffer) {
	w.write, w.wrote, w.outs, w.newChanges, w.newSegs = store.Write{}, false, nil, nil, nil
	w.applied, w.dups, w.redeliv = 0, 0, 0
	st := snap.State
	dirty, figures := false, false
	var last aggregate.Figures
	for i := range w.events {
		pe := &w.events[i]
		// Time the partition's stream time had reached before this record
		// fires first: a customer's changes then follow the order of the
		// partition's records alone, not where the batches happen to end.
		before := clock.before(pe.rec.Partition, pe.before)
		fx := aggregate.Effects{Segments: w.newSegs, Tiers: w.newChanges}
		p.cfg.Model.AdvanceAll(&st, w.id, before, &fx)
		w.newSegs, w.newChanges = fx.Segments, fx.Tiers
		// The partition's stream time once this record is read: the
		// predictive model scores the customer as of then.
		streamNow := before
		if pe.ev.OccurredAt.After(streamNow) {
			streamNow = pe.ev.OccurredAt
		}
		fx = aggregate.Effects{Segments: w.newSegs, Tiers: w.newChanges}
		res := p.cfg.Model.ApplyTo(&st, &pe.ev, aggregate.SourceOffset{
			Topic: aggregate.TopicOf(pe.rec.Topic), Partition: pe.rec.Partition, Offset: pe.rec.Offset,
		}, streamNow, &fx)
		w.newSegs, w.newChanges = fx.Segments, fx.Tiers
		switch res.Outcome {
		case aggregate.Applied:
			w.applied++
			figures = true
			last = res.Figures
		case aggregate.DuplicateEvent:
			w.dups++
		case aggregate.Redelivered:
			w.redeliv++
		}
		dirty = dirty || res.Dirty()
		if res.Changed {
			w.newChanges = append(w.newChanges, res.Change)
		}
	}
	fx := aggregate.Effects{Segments: w.newSegs, Tiers: w.newChanges}
	p.cfg.Model.AdvanceAll(&st, w.id, clock.now[w.partition], &fx)
	w.newSegs, w.newChanges = fx.Segments, fx.Tiers
	dirty = dirty || !st.Clock.Equal(snap.State.Clock)
	w.timer, w.timerMoved = p.timerEntry(w, &snap.State, &st)
	// Change events found pending in the state were written by a run whose
	// publication is not known to have succeeded: publish them again,
	// before anything newer, so each customer's chain stays in order.
	w.reemitted = len(snap.Pending)
	if n := len(snap.Pending) + len(w.newChanges) + len(w.newSegs); n > 0 {
		w.outs = make([][]byte, 0, n) // sized once, not grown document by document
	}
	w.outs = append(w.outs, snap.Pending...)
	joined := false
	if n := len(w.newChanges) + len(w.newSegs); n > 0 {
		// The customer's documents share one buffer sized for all of them
		// (one allocation instead of one per document), separated by
		// newlines; each keeps a full slice of its part, so nothing
		// appended to one can reach the next.
		buf := make([]byte, 0, n*changeDocCap)
		add := func(doc []byte) {
			// doc is buf with the document appended, in buf's array, or in
			// a new one holding a copy of buf's when it did not fit (the
			// documents cut from the old array keep it).
			w.outs = append(w.outs, doc[len(buf):len(doc):len(doc)])
			buf = doc
		}
		sep := func() {
			if len(buf) > 0 {
				buf = append(buf, '\n')
			}
		}
		for i := range w.newChanges {
			sep()
			add(w.newChanges[i].AppendJSON(buf, now))
		}
		for i := range w.newSegs {
			sep()
			add(w.newSegs[i].AppendJSON(buf, now))
		}
		if w.reemitted == 0 {
			// buf is every document, newline-separated: the pending key's
			// value as it is, which the save sends without joining the
			// documents once more.
			w.joined[0], joined = buf, true
		}
	}
	pending := w.outs // re-emitted events first, then the new ones
	if joined {
		pending = w.joined[:]
	}
	w.token = snap.Token
	if !dirty {
		return
	}
	w.write = store.Encode(p.cfg.Model, snap, &st, pending, store.EncodeOptions{Figures: figures, Computed: &last, Now: now, Fields: fields})
	w.wrote = true
	w.token = w.write.Token
}

// retry runs f until it succeeds, with capped exponential backoff, or ctx
// ends (then the last error).
func (p *Processor) retry(ctx context.Context, f func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (p *Processor) stage(name string) {
	if p.cfg.AfterStage != nil {
		p.cfg.AfterStage(name)
	}
}

// safeDecode turns a decoder panic (a bug, never expected) into a dead
// letter instead of a crash loop on the same record.
func (p *Processor) safeDecode(rec *Record, readAt time.Time) (ev aggregate.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error while decoding: %v", r)
		}
	}()
	return p.cfg.Decoder.DecodeRecord(rec.Key, rec.Value, readAt)
}

// The headers of a dead letter (SPEC §2): why the record was rejected,
// and where the whole record is.
const (
	HeaderError     = "error"
	HeaderTopic     = "topic"
	HeaderPartition = "partition"
	HeaderOffset    = "offset"
)

// deadLetter builds the DLQ copy of a rejected record: original key and
// bytes, and headers saying why and where it came from (SPEC §2).
func (p *Processor) deadLetter(rec *Record, reason string) Message {
	return Message{
		Topic: p.cfg.DLQTopic,
		Key:   rec.Key,
		Value: rec.Value,
		Headers: []Header{
			{Key: HeaderError, Value: []byte(reason)},
			{Key: HeaderTopic, Value: []byte(rec.Topic)},
			{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			{Key: HeaderOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		},
	}
}
