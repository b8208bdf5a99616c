package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
)

// producer writes a publisher's chunk as one produce request per partition
// leader, each partition's messages as one record batch, and returns when
// all of them are acknowledged.
//
// kafka-go's Writer sends one request per partition, each through its own
// batch, timer and goroutine; a batch of the consumer touches most of a
// topic's partitions, so that cost came with every batch. Placement is the
// Writer's (murmur2 over the topic's partitions from kafka-go's transport
// metadata cache), and so are the retries: a partition that failed with a
// temporary error is sent again, after a backoff, until MaxAttempts; a
// permanent error (a record too large, no authorisation) ends the attempt.
type producer struct {
	transport   kafka.RoundTripper
	owned       *kafka.Transport // closed by close; nil when the caller's
	addr        net.Addr
	balancer    kafka.Murmur2Balancer
	acks        kafka.RequiredAcks
	autoCreate  bool
	timeout     time.Duration
	maxAttempts int
	backoffMin  time.Duration
	backoffMax  time.Duration
	ids         atomic.Pointer[[]int] // 0, 1, 2, …: the balancer's partition list
	idsMu       sync.Mutex            // serialises growing ids
}

// Produce retry backoff, as kafka-go's Writer: doubling from min to max.
const (
	produceBackoffMin = 100 * time.Millisecond
	produceBackoffMax = time.Second
)

func newProducer(cfg WriterConfig) *producer {
	p := &producer{
		addr:        kafka.TCP(cfg.Brokers...),
		acks:        kafka.RequireAll,
		autoCreate:  cfg.AllowAutoTopicCreation,
		timeout:     cfg.WriteTimeout,
		maxAttempts: cfg.MaxAttempts,
		backoffMin:  produceBackoffMin,
		backoffMax:  produceBackoffMax,
	}
	if cfg.Transport != nil {
		p.transport = cfg.Transport
	} else {
		p.owned = &kafka.Transport{MetadataTTL: MetadataTTL}
		p.transport = p.owned
	}
	return p
}

// close releases the connections of a transport the producer made itself.
func (p *producer) close() {
	if p.owned != nil {
		p.owned.CloseIdleConnections()
	}
}

// partitionBatch is one partition's messages of a chunk, in chunk order.
type partitionBatch struct {
	topic     string
	partition int32
	leader    int32
	indexes   []int // into the chunk
	err       error // the last attempt's, nil once acknowledged
}

// produce writes msgs, every partition's messages as one record batch, and
// returns nil only when every message is acknowledged. On an error some
// partitions may have been written; the caller's retry writes them again
// (subscribers drop the copies by event_id).
func (p *producer) produce(ctx context.Context, msgs []pipeline.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	meta, err := p.metadata(ctx, msgs)
	if err != nil {
		return err
	}
	batches, err := p.assign(msgs, meta)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		p.send(ctx, msgs, batches)
		// The error reported is a permanent one if any partition has one
		// (retrying cannot help, and the caller may act on it: a record
		// too large), else the first.
		failed := batches[:0]
		var first, permanent error
		for _, b := range batches {
			if b.err == nil {
				continue
			}
			failed = append(failed, b)
			err := fmt.Errorf("produce to %s[%d]: %w", b.topic, b.partition, b.err)
			if first == nil {
				first = err
			}
			if permanent == nil && !retriable(b.err) {
				permanent = err
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if permanent != nil {
			return permanent
		}
		if attempt >= p.maxAttempts || ctx.Err() != nil {
			return first
		}
		if !sleepCtx(ctx, p.backoff(attempt)) {
			return first
		}
		// Leaders may have moved: kafka-go's transport refreshes its
		// metadata cache on its own schedule; read it again.
		if meta, err = p.metadata(ctx, msgs); err != nil {
			return err
		}
		batches = failed
		for _, b := range batches {
			if b.leader, err = leaderOf(meta, b.topic, b.partition); err != nil {
				return err
			}
		}
	}
}

// metadata reads the chunk's topics from the transport's cache.
func (p *producer) metadata(ctx context.Context, msgs []pipeline.Message) (*metadataAPI.Response, error) {
	var topics []string
	for i := range msgs {
		t := msgs[i].Topic
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	r, err := p.transport.RoundTrip(ctx, p.addr, &metadataAPI.Request{TopicNames: topics, AllowAutoTopicCreation: p.autoCreate})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %v: %w", topics, err)
	}
	meta, ok := r.(*metadataAPI.Response)
	if !ok {
		return nil, fmt.Errorf("read metadata of %v: unexpected response %T", topics, r)
	}
	for i := range meta.Topics {
		if code := meta.Topics[i].ErrorCode; code != 0 {
			return nil, fmt.Errorf("read metadata of topic %s: %w", meta.Topics[i].Name, kafka.Error(code))
		}
	}
	return meta, nil
}

// assign places every message on its partition and groups the chunk by
// partition, keeping each partition's messages in chunk order.
func (p *producer) assign(msgs []pipeline.Message, meta *metadataAPI.Response) ([]*partitionBatch, error) {
	var batches []*partitionBatch
	for i := range msgs {
		m := &msgs[i]
		n := 0
		for j := range meta.Topics {
			if meta.Topics[j].Name == m.Topic {
				n = len(meta.Topics[j].Partitions)
				break
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("topic %s: %w", m.Topic, kafka.UnknownTopicOrPartition)
		}
		partition := int32(p.balancer.Balance(kafka.Message{Key: m.Key}, p.partitionIDs(n)...))
		var b *partitionBatch
		for _, c := range batches {
			if c.partition == partition && c.topic == m.Topic {
				b = c
				break
			}
		}
		if b == nil {
			leader, err := leaderOf(meta, m.Topic, partition)
			if err != nil {
				return nil, err
			}
			b = &partitionBatch{topic: m.Topic, partition: partition, leader: leader}
			batches = append(batches, b)
		}
		b.indexes = append(b.indexes, i)
	}
	return batches, nil
}

// partitionIDs returns 0, 1, …, n−1 without allocating once a topic that
// large was seen.
func (p *producer) partitionIDs(n int) []int {
	if ids := p.ids.Load(); ids != nil && len(*ids) >= n {
		return (*ids)[:n]
	}
	p.idsMu.Lock()
	defer p.idsMu.Unlock()
	ids := make([]int, max(n, 64))
	for i := range ids {
		ids[i] = i
	}
	p.ids.Store(&ids)
	return ids[:n]
}

func leaderOf(meta *metadataAPI.Response, topic string, partition int32) (int32, error) {
	for i := range meta.Topics {
		t := &meta.Topics[i]
		if t.Name != topic {
			continue
		}
		for j := range t.Partitions {
			if t.Partitions[j].PartitionIndex == partition {
				return t.Partitions[j].LeaderID, nil
			}
		}
	}
	return 0, fmt.Errorf("topic %s partition %d: %w", topic, partition, kafka.LeaderNotAvailable)
}

// send writes the batches, one request per leader (concurrently when there
// are several), and records each batch's outcome in its err.
func (p *producer) send(ctx context.Context, msgs []pipeline.Message, batches []*partitionBatch) {
	var leaders []int32
	for _, b := range batches {
		b.err = nil
		if !slices.Contains(leaders, b.leader) {
			leaders = append(leaders, b.leader)
		}
	}
	if len(leaders) == 1 {
		p.sendTo(ctx, msgs, batches)
		return
	}
	var wg sync.WaitGroup
	for _, leader := range leaders {
		var own []*partitionBatch
		for _, b := range batches {
			if b.leader == leader {
				own = append(own, b)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.sendTo(ctx, msgs, own)
		}()
	}
	wg.Wait()
}

// sendTo sends batches, which share a leader, as one produce request.
func (p *producer) sendTo(ctx context.Context, msgs []pipeline.Message, batches []*partitionBatch) {
	req := &produceAPI.Request{Acks: int16(p.acks), Timeout: int32(p.timeout / time.Millisecond)}
	for _, b := range batches {
		var topic *produceAPI.RequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == b.topic {
				topic = &req.Topics[i]
				break
			}
		}
		if topic == nil {
			req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: b.topic})
			topic = &req.Topics[len(req.Topics)-1]
		}
		topic.Partitions = append(topic.Partitions, produceAPI.RequestPartition{
			Partition: b.partition,
			RecordSet: protocol.RecordSet{Records: &indexedRecords{msgs: msgs, indexes: b.indexes}},
		})
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	r, err := p.transport.RoundTrip(ctx, p.addr, req)
	res, ok := r.(*produceAPI.Response)
	if err == nil && !ok {
		err = fmt.Errorf("unexpected produce response %T", r)
	}
	if err != nil {
		for _, b := range batches {
			b.err = err
		}
		return
	}
	for _, b := range batches {
		b.err = errNotAcknowledged
		for i := range res.Topics {
			if res.Topics[i].Topic != b.topic {
				continue
			}
			for j := range res.Topics[i].Partitions {
				rp := &res.Topics[i].Partitions[j]
				if rp.Partition != b.partition {
					continue
				}
				b.err = nil
				if rp.ErrorCode != 0 {
					b.err = kafka.Error(rp.ErrorCode)
				}
			}
		}
	}
}

// errNotAcknowledged: the broker's response left out a partition it was
// sent.
var errNotAcknowledged = errors.New("partition missing from the produce response")

// retriable reports whether a produce error may go away by itself: a
// broker error Kafka marks temporary (leadership moved, replicas behind, a
// timeout), a dropped connection, or a partition whose leader the cached
// metadata did not know yet. Anything else (a record too large, no
// authorisation) fails the same way again.
func retriable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	var perr *produceAPI.Error
	return errors.As(err, &perr) ||
		errors.Is(err, errNotAcknowledged) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) ||
		isNetError(err)
}

func isNetError(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr)
}

func (p *producer) backoff(attempt int) time.Duration {
	d := p.backoffMin << (attempt - 1)
	if d > p.backoffMax || d <= 0 {
		d = p.backoffMax
	}
	return d
}

// indexedRecords reads a partition's messages out of the chunk without
// copying them, reusing one record, its headers and two readers as
// kafka-go's own writer does (the encoder copies each record before asking
// for the next).
type indexedRecords struct {
	msgs    []pipeline.Message
	indexes []int
	next    int
	record  protocol.Record
	headers []protocol.Header
	key     bytesReader
	value   bytesReader
}

func (r *indexedRecords) ReadRecord() (*protocol.Record, error) {
	if r.next >= len(r.indexes) {
		return nil, io.EOF
	}
	m := &r.msgs[r.indexes[r.next]]
	r.next++
	r.headers = r.headers[:0]
	for _, h := range m.Headers {
		r.headers = append(r.headers, protocol.Header{Key: h.Key, Value: h.Value})
	}
	r.record = protocol.Record{Headers: r.headers}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.record.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.record.Value = &r.value
	}
	return &r.record, nil
}

type bytesReader struct{ bytes.Reader }

func (*bytesReader) Close() error { return nil }
