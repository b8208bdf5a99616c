package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/segmentio/kafka-go"
)

// Sink is where records go. Write may buffer; Flush returns once every
// record written so far is delivered (for Kafka: acknowledged by all
// in-sync replicas). Close releases resources and does not flush: call
// Flush first. Sinks are not safe for concurrent use.
type Sink interface {
	Write(ctx context.Context, r Record) error
	Flush(ctx context.Context) error
	Close() error
}

// JSONLSink writes records as JSON Lines (see JSONLWriter) through a
// buffer. Close does not close the underlying writer.
type JSONLSink struct {
	bw *bufio.Writer
	jw *JSONLWriter
}

// NewJSONLSink returns a sink writing JSON Lines to w.
func NewJSONLSink(w io.Writer) *JSONLSink {
	bw := bufio.NewWriterSize(w, 1<<20)
	return &JSONLSink{bw: bw, jw: NewJSONLWriter(bw)}
}

// Write buffers one line; it does not block on ctx.
func (s *JSONLSink) Write(_ context.Context, r Record) error { return s.jw.Write(r) }

// Flush writes the buffered lines to the underlying writer.
func (s *JSONLSink) Flush(context.Context) error {
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("flush jsonl: %w", err)
	}
	return nil
}

// Close does nothing; the underlying writer belongs to the caller.
func (s *JSONLSink) Close() error { return nil }

// KafkaConfig configures a KafkaSink. Zero values take the documented
// defaults.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers. Required.
	Brokers []string
	// OrdersTopic and LifecycleTopic are the real names of the logical
	// topics. Defaults "orders" and "customer-lifecycle" (SPEC §1).
	OrdersTopic, LifecycleTopic string
	// ChunkSize is how many records one WriteMessages call carries.
	// Default 5000: kafka-go's synchronous writer needs large calls to be
	// fast.
	ChunkSize int
	// BatchTimeout is the writer's linger. Default 1 ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request. Default 10 s.
	WriteTimeout time.Duration
	// AllowAutoTopicCreation lets the broker create missing topics (if
	// the broker allows it). Default off.
	AllowAutoTopicCreation bool
	// LabelHeaders adds the headers sim-label (valid, duplicate, late,
	// bad) and, for bad records, sim-bad-reason to every message, for
	// subscribers' test oracles. Default off: messages carry no headers.
	LabelHeaders bool
	// Transport carries SASL/TLS settings (stream.Security.Transport);
	// nil means plaintext.
	Transport *kafka.Transport
}

func (c *KafkaConfig) setDefaults() {
	settings.IfZero(&c.OrdersTopic, TopicOrders.String())
	settings.IfZero(&c.LifecycleTopic, TopicLifecycle.String())
	settings.Positive(&c.ChunkSize, 5000)
	settings.Positive(&c.BatchTimeout, time.Millisecond)
	settings.Positive(&c.WriteTimeout, 10*time.Second)
}

// Validate reports a configuration that cannot work.
func (c *KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka sink: no brokers configured")
	}
	if strings.TrimSpace(c.OrdersTopic) == "" || strings.TrimSpace(c.LifecycleTopic) == "" {
		return errors.New("kafka sink: empty topic name")
	}
	return nil
}

// KafkaSink writes records to Kafka through stream.NewWriter (acks from
// all in-sync replicas, murmur2 key hashing, so every record of a customer
// lands on one partition per topic, in order). It collects records into
// chunks of ChunkSize and writes a chunk synchronously when it is full or
// on Flush.
//
// Message timestamps are the produce time, not the event time: event
// times of a simulated past would make the broker's time-based retention
// delete the records at once. The event time is inside the value.
type KafkaSink struct {
	cfg   KafkaConfig
	w     *kafka.Writer
	chunk []kafka.Message
	// big writes records too large for w's batches (oversized faults, or
	// a recorded stream holding them), one per request; made on first use.
	big *kafka.Writer
}

// bigRecordBytes is the size of key and value above which a record goes
// out alone through the sink's second writer: kafka-go refuses, without
// sending it, any message larger than its writer's batch cap (1,000,000
// bytes by its count).
const bigRecordBytes = 900_000

// NewKafkaSink returns a sink; it does not connect until the first write
// (see Check).
func NewKafkaSink(cfg KafkaConfig) (*KafkaSink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := cfg.writer(0, 0)
	if err != nil {
		return nil, err
	}
	// The chunk grows as records come: a ChunkSize beyond what a stream
	// holds (--chunk 2000000000) means "one write at the end", not memory
	// reserved for that many messages up front.
	return &KafkaSink{cfg: cfg, w: w, chunk: make([]kafka.Message, 0, min(cfg.ChunkSize, maxChunkPrealloc))}, nil
}

// maxChunkPrealloc bounds the messages a sink reserves room for before any
// record arrives.
const maxChunkPrealloc = 8192

// writer is a writer to the configured cluster; batch size and bytes 0
// are stream.NewWriter's defaults.
func (c *KafkaConfig) writer(batchSize int, batchBytes int64) (*kafka.Writer, error) {
	w, err := stream.NewWriter(stream.WriterConfig{
		Brokers:                c.Brokers,
		BatchSize:              batchSize,
		BatchBytes:             batchBytes,
		BatchTimeout:           c.BatchTimeout,
		WriteTimeout:           c.WriteTimeout,
		AllowAutoTopicCreation: c.AllowAutoTopicCreation,
		Transport:              c.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	return w, nil
}

// TopicName returns the real topic name of a logical topic.
func (s *KafkaSink) TopicName(t Topic) string { return t.In(s.cfg.OrdersTopic, s.cfg.LifecycleTopic) }

// ErrNotCoPartitioned is Check's error for input topics with different
// partition counts: a customer's orders and lifecycle events would land on
// unrelated partitions, and the consumer refuses such topics (SPEC §1).
var ErrNotCoPartitioned = errors.New("the input topics are not co-partitioned")

// Check asks the cluster for both topics' metadata and fails with a
// readable error when a broker cannot be reached, a topic does not exist
// or the two differ in partition count (ErrNotCoPartitioned). It never
// creates topics.
func (s *KafkaSink) Check(ctx context.Context) error {
	client := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Timeout: s.cfg.WriteTimeout}
	if s.cfg.Transport != nil {
		client.Transport = s.cfg.Transport
	}
	topics := []string{s.cfg.OrdersTopic, s.cfg.LifecycleTopic}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka at %s: %w", strings.Join(s.cfg.Brokers, ","), err)
	}
	partitions := make([]int, len(topics))
	for i, name := range topics {
		found := false
		for _, t := range md.Topics {
			if t.Name != name {
				continue
			}
			found = true
			if t.Error != nil {
				return fmt.Errorf("topic %q: %w", name, t.Error)
			}
			partitions[i] = len(t.Partitions)
		}
		if !found {
			return fmt.Errorf("topic %q: %w", name, kafka.UnknownTopicOrPartition)
		}
	}
	if partitions[0] != partitions[1] {
		return fmt.Errorf("%w: %q has %d partitions and %q %d; give both the same number (SPEC §1)",
			ErrNotCoPartitioned, topics[0], partitions[0], topics[1], partitions[1])
	}
	return nil
}

// Write adds r to the current chunk and writes the chunk when it is full.
// If that write fails the chunk stays buffered and a later Flush retries
// it (consumers dedupe by event_id, so a partly written chunk sent again
// is harmless).
func (s *KafkaSink) Write(ctx context.Context, r Record) error {
	msg := kafka.Message{Topic: s.TopicName(r.Topic), Key: r.Key, Value: r.Value}
	if s.cfg.LabelHeaders {
		msg.Headers = []kafka.Header{{Key: "sim-label", Value: []byte(r.Label.String())}}
		if r.BadReason != "" {
			msg.Headers = append(msg.Headers, kafka.Header{Key: "sim-bad-reason", Value: []byte(r.BadReason)})
		}
	}
	if len(msg.Key)+len(msg.Value) > bigRecordBytes {
		return s.writeBig(ctx, msg)
	}
	s.chunk = append(s.chunk, msg)
	if len(s.chunk) >= s.cfg.ChunkSize {
		return s.Flush(ctx)
	}
	return nil
}

// writeBig writes one large record after the buffered chunk (so a
// partition's records keep their order), alone in its produce request.
func (s *KafkaSink) writeBig(ctx context.Context, msg kafka.Message) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	if s.big == nil {
		w, err := s.cfg.writer(1, 1<<30)
		if err != nil {
			return err
		}
		s.big = w
	}
	if err := stream.WriteAll(ctx, s.big, []kafka.Message{msg}); err != nil {
		if errors.Is(err, kafka.MessageSizeTooLarge) {
			return fmt.Errorf("kafka sink: the broker refused a record of %d bytes: raise topic %s's max.message.bytes "+
				"(and the brokers' message.max.bytes) above it, or lower --oversize-bytes: %w", len(msg.Key)+len(msg.Value), msg.Topic, err)
		}
		return fmt.Errorf("kafka sink: %w", err)
	}
	return nil
}

// Flush writes the buffered chunk and waits for its acknowledgement.
func (s *KafkaSink) Flush(ctx context.Context) error {
	if len(s.chunk) == 0 {
		return nil
	}
	if err := stream.WriteAll(ctx, s.w, s.chunk); err != nil {
		return fmt.Errorf("kafka sink: %w", err)
	}
	clear(s.chunk)
	s.chunk = s.chunk[:0]
	return nil
}

// Buffered returns how many records wait for the next Flush.
func (s *KafkaSink) Buffered() int { return len(s.chunk) }

// Close closes the writers; unflushed records are dropped.
func (s *KafkaSink) Close() error {
	err := s.w.Close()
	if s.big != nil {
		err = errors.Join(err, s.big.Close())
	}
	if err != nil {
		return fmt.Errorf("kafka sink: close: %w", err)
	}
	return nil
}
