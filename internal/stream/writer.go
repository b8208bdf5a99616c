package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ltv-stream/ltv-stream/internal/settings"
)

// WriterConfig configures a Kafka producer. Zero values take the defaults
// documented on each field; every safety-relevant kafka-go field is set
// explicitly by NewWriter because kafka-go's own zero values are unsafe
// (no acks, round-robin partitioning, a one-second linger).
type WriterConfig struct {
	// Brokers are the bootstrap brokers. Required.
	Brokers []string
	// Topic is the topic every message goes to. Empty means each message
	// names its own topic.
	Topic string
	// BatchTimeout is how long a partially filled batch may linger before it
	// is sent. Default 1 ms: kafka-go's 1 s default caps a blocking writer
	// at about 100 msg/s.
	BatchTimeout time.Duration
	// BatchSize is the maximum number of messages per partition batch.
	// Default 128. Keep it modest: kafka-go allocates (and zeroes) room for
	// BatchSize messages for every partition batch it opens, about 150
	// bytes each, even when a batch carries one message; at 5000 that cost
	// a fifth of the consumer's CPU under light load.
	BatchSize int
	// BatchBytes is kafka-go's cap on one partition batch, by its own
	// count; it also refuses any single larger message without sending it.
	// Default 1,000,000: below the brokers' default max.message.bytes
	// (1 MiB + 12 B), which limits one partition's record batch.
	BatchBytes int64
	// WriteTimeout bounds one produce request. Default 10 s.
	WriteTimeout time.Duration
	// MaxAttempts is how many times kafka-go tries a produce before it
	// returns an error to the caller. Default 5.
	MaxAttempts int
	// Transport carries TLS/SASL settings; nil means plain TCP.
	Transport *kafka.Transport
	// AllowAutoTopicCreation lets the broker create missing topics. Off by
	// default: production topics are created by the operator.
	AllowAutoTopicCreation bool
}

func (c *WriterConfig) setDefaults() {
	settings.Positive(&c.BatchTimeout, time.Millisecond)
	settings.Positive(&c.BatchSize, 128)
	settings.Positive(&c.BatchBytes, 1_000_000)
	settings.Positive(&c.WriteTimeout, 10*time.Second)
	settings.Positive(&c.MaxAttempts, 5)
}

// Validate reports a configuration that cannot work.
func (c *WriterConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("writer: no brokers configured")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return errors.New("writer: empty broker address")
		}
	}
	return nil
}

// NewWriter returns a kafka-go Writer that is safe for the LTV pipeline:
// acknowledgements from all in-sync replicas, keys hashed with murmur2 (the
// Java clients' placement, so a customer's events and changes share a
// partition number with anything a Java producer writes), synchronous
// writes (Async is lossy), and a short linger.
func NewWriter(cfg WriterConfig) (*kafka.Writer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  cfg.Topic,
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		Async:                  false,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             cfg.BatchBytes,
		WriteTimeout:           cfg.WriteTimeout,
		ReadTimeout:            cfg.WriteTimeout,
		MaxAttempts:            cfg.MaxAttempts,
		AllowAutoTopicCreation: cfg.AllowAutoTopicCreation,
	}
	if cfg.Transport != nil {
		w.Transport = cfg.Transport
	}
	return w, nil
}

// WriteAll writes msgs and returns only when every one is acknowledged or
// the write failed. kafka-go reports per-message failures as
// kafka.WriteErrors; they are folded into one error naming the first cause,
// because the caller's only correct reaction is to retry the whole set
// (consumers dedupe by event_id).
func WriteAll(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	err := w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		failed := 0
		var first error
		for _, e := range werrs {
			if e != nil {
				failed++
				if first == nil {
					first = e
				}
			}
		}
		return fmt.Errorf("write %d of %d messages failed: %w", failed, len(msgs), first)
	}
	return fmt.Errorf("write %d messages: %w", len(msgs), err)
}
