package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/segmentio/kafka-go"
)

// Publisher writes the pipeline's output messages (tier changes and dead
// letters) and returns only when every message is acknowledged by all
// in-sync replicas.
//
// It keeps each customer's messages in order even when a write fails part
// way. Two batches of one partition in flight at once could land out of
// order: a later tier change written, the earlier one failed and re-sent
// by the retry after it, which breaks the previous_tier → tier chain SPEC
// §6 promises. So Publish cuts the messages into consecutive chunks small
// enough that each partition's share of a chunk is one record batch within
// its topic's max.message.bytes, and writes the chunks in order, one
// produce request per partition leader each, stopping at the first chunk
// that fails.
//
// No message can stall its partition by size: one larger than its topic
// accepts is written cut to fit, with headers saying so (SPEC §2).
//
// Every partition batch of a call then succeeds or fails as a whole, and
// nothing after a failed message is written before the retry rewrites it.
type Publisher struct {
	slots    chan struct{}
	producer *producer
	maxCount int
	limits   *TopicLimits
	onCut    func(topic string, originalSize int)
}

// ExclusiveWriterLinger is the BatchTimeout for a kafka-go writer used by
// one caller at a time (a benchmark's load generator). Such a
// writer needs no linger to fill its batches: kafka-go adds all of a
// call's messages for one partition to that partition's batch in one
// step, under the partition writer's lock, which the batch's timer must
// take before it can send the batch. So even a timer that fires at once
// sends complete batches, one per partition per call, and the call is
// acknowledged about a millisecond sooner than with the general 1 ms
// default. Not lower: a 1 µs timer cost ~6 % more CPU in the consumer
// that used such writers (timer goroutines waking to contend for the
// lock).
const ExclusiveWriterLinger = 100 * time.Microsecond

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Writer configures the produce requests: brokers, transport,
	// timeout, attempts, topic auto-creation, and BatchSize as the most
	// messages per chunk (default DefaultChunkMessages). Writer.Topic must
	// be empty (each message names its topic); BatchTimeout and BatchBytes
	// are not used (the publisher sends at once and sizes batches from
	// Limits itself).
	Writer WriterConfig
	// Writers is the number of calls that publish concurrently (the
	// consumer's workers); a caller beyond that waits. Default 1.
	Writers int
	// Limits gives each topic's largest record batch. Nil means every
	// topic accepts DefaultAssumedMaxMessageBytes.
	Limits *TopicLimits
	// OnCut, when set, is called for every message written cut to fit its
	// topic (for metrics).
	OnCut func(topic string, originalSize int)
}

// DefaultChunkMessages is the most messages one chunk (one produce
// request per leader) carries. Chunks are written one after another, so a
// large batch's outputs should need few; each topic's share of a chunk is
// also bounded by its max.message.bytes.
const DefaultChunkMessages = 2048

// NewPublisher builds a publisher; it connects on its first call.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Writers < 1 {
		cfg.Writers = 1
	}
	wc := cfg.Writer
	if wc.BatchSize <= 0 {
		wc.BatchSize = DefaultChunkMessages
	}
	if wc.Topic != "" {
		return nil, errors.New("publisher: the writer must not have a fixed topic")
	}
	wc.setDefaults()
	if err := wc.Validate(); err != nil {
		return nil, err
	}
	limits := cfg.Limits
	if limits == nil {
		var err error
		if limits, err = NewTopicLimits(LimitsConfig{}); err != nil {
			return nil, err
		}
	}
	return &Publisher{
		slots:    make(chan struct{}, cfg.Writers),
		producer: newProducer(wc),
		maxCount: wc.BatchSize,
		limits:   limits,
		onCut:    cfg.OnCut,
	}, nil
}

// Publish implements pipeline.Publisher. A message larger than its topic
// accepts is written cut to fit (see fit); when the broker still refuses a
// write as too large, the topic's limit is read again before the error is
// returned, so the caller's retry cuts to the new limit.
func (p *Publisher) Publish(ctx context.Context, msgs []pipeline.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	limits := make([]int, len(msgs))
	var tooBig []string // the topics of messages larger than their limit
	for i := range msgs {
		m := &msgs[i]
		limits[i] = p.limits.Limit(m.Topic)
		if !fits(m, limits[i]) && !slices.Contains(tooBig, m.Topic) {
			tooBig = append(tooBig, m.Topic)
		}
	}
	// The messages go out as they are; only a call with a message to cut
	// works on a copy, so the caller's retry starts from the originals.
	out := msgs
	if len(tooBig) > 0 {
		var err error
		if out, err = p.cutToFit(ctx, msgs, limits, tooBig); err != nil {
			return err
		}
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	for _, c := range chunks(out, limits, p.maxCount) {
		if err := p.producer.produce(ctx, out[c[0]:c[1]]); err != nil {
			if errors.Is(err, kafka.MessageSizeTooLarge) {
				p.refused(ctx, out[c[0]:c[1]])
			}
			if c[0] > 0 {
				return fmt.Errorf("after %d of %d messages: %w", c[0], len(out), err)
			}
			return err
		}
	}
	return nil
}

// refused lets the limits of the chunk's topics be read again after the
// broker refused it as too large.
func (p *Publisher) refused(ctx context.Context, msgs []pipeline.Message) {
	var topics []string
	for i := range msgs {
		if t := msgs[i].Topic; !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	p.limits.Refused(ctx, topics...)
}

// Headers added to a message that was cut to fit its topic (SPEC §2).
const (
	HeaderTruncated      = "truncated"
	HeaderOriginalSize   = "original_size"
	HeaderOriginalSHA256 = "original_sha256"
	// HeaderOriginalKeySize is added when even an empty value would not
	// fit and the key had to be cut as well.
	HeaderOriginalKeySize = "original_key_size"
)

// recordBatchOverhead is the fixed part of a Kafka v2 record batch (offset,
// length, leader epoch, magic, CRC, attributes, offsets, timestamps,
// producer id and epoch, sequence, count): max.message.bytes counts it.
const recordBatchOverhead = 61

// fit cuts m so that a record batch holding only m stays within limit
// bytes, and reports whether it did. The value is cut first and the
// headers truncated, original_size and original_sha256 describe the whole
// value; only if an empty value is still too large is the key cut too.
// The source headers of a dead letter already say where the whole record
// is. It fails only when even an empty key and value cannot fit. It never
// writes into m's arrays (the headers are appended to a copy, key and
// value are resliced), so m may be a copy of the caller's message.
func fit(m *pipeline.Message, limit int) (bool, error) {
	if fits(m, limit) {
		return false, nil
	}
	sum := sha256.Sum256(m.Value)
	m.Headers = append(m.Headers[:len(m.Headers):len(m.Headers)],
		pipeline.Header{Key: HeaderTruncated, Value: []byte("true")},
		pipeline.Header{Key: HeaderOriginalSize, Value: strconv.AppendInt(nil, int64(len(m.Value)), 10)},
		pipeline.Header{Key: HeaderOriginalSHA256, Value: hex.AppendEncode(nil, sum[:])},
	)
	room := limit - recordBatchOverhead - recordSize(len(m.Key), 0, m.Headers)
	if room >= 0 {
		// The value's own length prefix grows with it: leave room for it.
		n := min(len(m.Value), room)
		for n > 0 && recordSize(len(m.Key), n, m.Headers)+recordBatchOverhead > limit {
			n--
		}
		m.Value = m.Value[:n:n]
		return true, nil
	}
	m.Headers = append(m.Headers, pipeline.Header{Key: HeaderOriginalKeySize, Value: strconv.AppendInt(nil, int64(len(m.Key)), 10)})
	if m.Value != nil {
		m.Value = m.Value[:0:0]
	}
	n := len(m.Key)
	for n > 0 && recordSize(n, 0, m.Headers)+recordBatchOverhead > limit {
		n--
	}
	if recordSize(n, 0, m.Headers)+recordBatchOverhead > limit {
		return true, fmt.Errorf("topic %s accepts at most %d bytes: not even the headers of a cut copy fit", m.Topic, limit)
	}
	m.Key = m.Key[:n:n]
	return true, nil
}

// cutToFit returns msgs with every message larger than its topic's limit
// cut to fit (a copy; msgs stays as it was), and limits updated. A
// message to cut to a limit that was never read (the reading at start
// failed) makes the limits be read first: the topic may accept it whole.
// All of the call's messages are then sized by the limits read.
func (p *Publisher) cutToFit(ctx context.Context, msgs []pipeline.Message, limits []int, tooBig []string) ([]pipeline.Message, error) {
	p.limits.ReadIfUnread(ctx, tooBig...)
	out, copied := msgs, false
	for i := range msgs {
		limits[i] = p.limits.Limit(msgs[i].Topic)
		m := msgs[i]
		cut, err := fit(&m, limits[i])
		if err != nil {
			return nil, err
		}
		if !cut {
			continue
		}
		if !copied {
			out, copied = slices.Clone(msgs), true
		}
		out[i] = m
		if p.onCut != nil {
			p.onCut(m.Topic, len(msgs[i].Value))
		}
	}
	return out, nil
}

// fits reports whether a record batch holding only m stays within limit
// bytes.
func fits(m *pipeline.Message, limit int) bool {
	return recordBatchOverhead+recordSize(len(m.Key), len(m.Value), m.Headers) <= limit
}

// recordSize bounds from above the bytes one record takes in a v2 record
// batch: its length, attributes, timestamp and offset deltas (at their
// largest), key, value and headers, each with its varint length.
func recordSize(keyLen, valueLen int, headers []pipeline.Header) int {
	body := 1 + 10 + 5 + varintLen(keyLen) + keyLen + varintLen(valueLen) + valueLen + varintLen(len(headers))
	for _, h := range headers {
		body += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return varintLen(body) + body
}

// varintLen is the length of n as a zig-zag varint.
func varintLen(n int) int {
	u := uint64(n)<<1 ^ uint64(n>>63)
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// maxChunkBytes bounds one produce request (brokers refuse requests above
// socket.request.max.bytes, 100 MiB by default) unless a single message is
// larger.
const maxChunkBytes = 32 << 20

// chunks cuts msgs into consecutive [lo, hi) ranges of at most maxCount
// messages in which the messages of each topic fit that topic's limit
// together (limits[i] is the limit of msgs[i]'s topic), so that no
// partition batch of a range can exceed its topic's limit and no partition
// needs two batches for one range.
func chunks(msgs []pipeline.Message, limits []int, maxCount int) [][2]int {
	var out [][2]int
	lo := 0
	perTopic := map[string]int{}
	total := 0
	for i := range msgs {
		m := &msgs[i]
		size := recordSize(len(m.Key), len(m.Value), m.Headers)
		if i > lo && (i-lo >= maxCount || recordBatchOverhead+perTopic[m.Topic]+size > limits[i] || total+size > maxChunkBytes) {
			out = append(out, [2]int{lo, i})
			lo, total = i, 0
			clear(perTopic)
		}
		perTopic[m.Topic] += size
		total += size
	}
	return append(out, [2]int{lo, len(msgs)})
}

// Close releases the publisher's idle connections. Nothing is buffered:
// every Publish has returned with its messages acknowledged or an error.
func (p *Publisher) Close() error {
	p.producer.close()
	return nil
}

var _ pipeline.Publisher = (*Publisher)(nil)
