package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/segmentio/kafka-go"
)

// Publisher writes the pipeline's output messages (tier changes and dead
// letters) and returns only when every message is acknowledged by all
// in-sync replicas.
//
// It keeps each customer's messages in order even when a write fails part
// way. kafka-go splits one WriteMessages call into batches per partition
// (at most BatchSize messages and BatchBytes bytes each), writes a
// partition's batches one after another, and goes on with the next batch
// when one fails. Two batches of one partition in one call could
// therefore land out of order: a later tier change written, the earlier
// one failed and re-sent by the retry after it, which breaks the
// previous_tier → tier chain SPEC §6 promises. So Publish
//   - writes through a writer no other call uses meanwhile (a pool of
//     writers, one per concurrent caller), so no partition batch mixes two
//     callers' messages, and
//   - cuts the messages into consecutive chunks small enough that each
//     partition gets at most one batch per WriteMessages call, written in
//     order, stopping at the first chunk that fails.
//
// Every partition batch of a call then succeeds or fails as a whole, and
// nothing after a failed message is written before the retry rewrites it.
type Publisher struct {
	writers  chan *kafka.Writer
	all      []*kafka.Writer
	maxCount int
	maxBytes int64
}

// ExclusiveWriterLinger is the BatchTimeout for a writer used by one
// caller at a time (the publisher's, a benchmark's load generator). Such a
// writer needs no linger to fill its batches: kafka-go adds all of a
// call's messages for one partition to that partition's batch in one
// step, under the partition writer's lock, which the batch's timer must
// take before it can send the batch. So even a timer that fires at once
// sends complete batches, one per partition per call, and the call is
// acknowledged about a millisecond sooner than with the general 1 ms
// default. Not lower: a 1 µs timer cost ~6 % more consumer CPU here
// (timer goroutines waking to contend for the lock).
const ExclusiveWriterLinger = 100 * time.Microsecond

// NewPublisher builds size writers with NewWriter(cfg) (cfg.Topic must be
// empty: each message names its topic). size should be the number of
// goroutines that publish concurrently (the consumer's workers); a caller
// beyond that waits for a free writer. A zero cfg.BatchTimeout means
// ExclusiveWriterLinger.
func NewPublisher(cfg WriterConfig, size int) (*Publisher, error) {
	if size < 1 {
		size = 1
	}
	if cfg.Topic != "" {
		return nil, errors.New("publisher: the writer must not have a fixed topic")
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = ExclusiveWriterLinger
	}
	cfg.setDefaults()
	p := &Publisher{writers: make(chan *kafka.Writer, size), maxCount: cfg.BatchSize}
	for i := 0; i < size; i++ {
		w, err := NewWriter(cfg)
		if err != nil {
			return nil, err
		}
		p.maxBytes = w.BatchBytes
		p.all = append(p.all, w)
		p.writers <- w
	}
	return p, nil
}

// Publish implements pipeline.Publisher.
func (p *Publisher) Publish(ctx context.Context, msgs []pipeline.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
		if len(m.Headers) > 0 {
			hs := make([]kafka.Header, len(m.Headers))
			for j, h := range m.Headers {
				hs[j] = kafka.Header{Key: h.Key, Value: h.Value}
			}
			out[i].Headers = hs
		}
	}
	var w *kafka.Writer
	select {
	case w = <-p.writers:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p.writers <- w }()
	for _, c := range chunks(out, p.maxCount, p.maxBytes) {
		if err := WriteAll(ctx, w, out[c[0]:c[1]]); err != nil {
			if c[0] > 0 {
				return fmt.Errorf("after %d of %d messages: %w", c[0], len(out), err)
			}
			return err
		}
	}
	return nil
}

// chunks cuts msgs into consecutive [lo, hi) ranges of at most maxCount
// messages and, unless a single message is larger, at most maxBytes bytes
// as kafka-go counts them (estimated from above), so that no partition can
// need two batches for one range.
func chunks(msgs []kafka.Message, maxCount int, maxBytes int64) [][2]int {
	var out [][2]int
	lo := 0
	var bytes int64
	for i := range msgs {
		size := estimatedSize(&msgs[i])
		if i > lo && (i-lo >= maxCount || bytes+size > maxBytes) {
			out = append(out, [2]int{lo, i})
			lo, bytes = i, 0
		}
		bytes += size
	}
	return append(out, [2]int{lo, len(msgs)})
}

// estimatedSize bounds kafka-go's own accounting of a message (its framing
// is about 30 bytes plus a few per header) from above.
func estimatedSize(m *kafka.Message) int64 {
	n := int64(len(m.Key) + len(m.Value) + 48)
	for _, h := range m.Headers {
		n += int64(len(h.Key) + len(h.Value) + 16)
	}
	return n
}

// Close flushes and closes every writer.
func (p *Publisher) Close() error {
	var errs []error
	for _, w := range p.all {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}

var _ pipeline.Publisher = (*Publisher)(nil)
