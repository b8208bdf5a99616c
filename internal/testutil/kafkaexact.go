package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// SetTopicConfig sets one configuration entry of a topic (for example
// max.message.bytes) on the broker, as an operator's kafka-configs would.
func SetTopicConfig(ctx context.Context, brokers []string, topic, name, value string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: name, Value: value, ConfigOperation: kafka.ConfigOperationSet}},
		}},
	})
	if err != nil {
		return fmt.Errorf("alter config %s of %s: %w", name, topic, err)
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return fmt.Errorf("alter config %s of %s: %w", name, topic, r.Error)
		}
	}
	return nil
}

// ExactRecord is a record as stored: Key and Value are nil when null and
// non-nil (possibly empty) otherwise, which kafka-go's Reader does not
// tell apart.
type ExactRecord struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
}

// ReadExact reads every record of one partition of a topic up to its
// current end with the protocol-level Fetch, keeping null and empty apart.
func ReadExact(ctx context.Context, brokers []string, topic string, partition int) ([]ExactRecord, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	var out []ExactRecord
	next := int64(0)
	for {
		res, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: next,
			MinBytes: 1, MaxBytes: 64 << 20, MaxWait: 100 * time.Millisecond})
		if err != nil {
			return nil, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, next, err)
		}
		if res.Error != nil {
			return nil, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, next, res.Error)
		}
		for {
			rec, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read %s/%d: %w", topic, partition, err)
			}
			if rec.Offset < next {
				continue
			}
			r := ExactRecord{Partition: partition, Offset: rec.Offset, Headers: map[string]string{}}
			if r.Key, err = readBytes(rec.Key); err == nil {
				r.Value, err = readBytes(rec.Value)
			}
			if err != nil {
				return nil, fmt.Errorf("read %s/%d@%d: %w", topic, partition, rec.Offset, err)
			}
			for _, h := range rec.Headers {
				r.Headers[h.Key] = string(h.Value)
			}
			out = append(out, r)
			next = rec.Offset + 1
		}
		if next >= res.HighWatermark {
			return out, nil
		}
	}
}

// readBytes reads a record's key or value, keeping nil for null.
func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	out := make([]byte, 0, b.Len())
	buf := make([]byte, 32<<10)
	for {
		n, err := b.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// CreateTopic creates a topic with the given number of partitions.
func CreateTopic(ctx context.Context, brokers []string, topic string, partitions int) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1},
	}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// GrowTopic raises a topic's partition count to total, as an operator's
// kafka-topics --alter --partitions would.
func GrowTopic(ctx context.Context, brokers []string, topic string, total int) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{
		{Name: topic, Count: int32(total)},
	}})
	if err != nil {
		return fmt.Errorf("grow topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		return fmt.Errorf("grow topic %s: %w", topic, err)
	}
	return nil
}
