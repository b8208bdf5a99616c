package testutil

import (
	"context"
	"fmt"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
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
	Partition int               // the partition ReadExact was asked for
	Offset    int64             // the record's offset in it
	Key       []byte            // nil for a null key
	Value     []byte            // nil for a null value
	Headers   map[string]string // by key; of a repeated key the last value wins
}

// ReadExact reads every record of one partition of a topic up to its
// current end with the protocol-level Fetch, keeping null and empty apart.
func ReadExact(ctx context.Context, brokers []string, topic string, partition int) ([]ExactRecord, error) {
	client := stream.NewAdminClient(brokers, nil)
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(partition)}}})
	if err != nil {
		return nil, fmt.Errorf("list offsets %s/%d: %w", topic, partition, err)
	}
	var end int64
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, partition, po.Error)
		}
		end = po.LastOffset
	}
	recs, err := stream.ReadRange(ctx, client, topic, partition, 0, end, nil)
	if err != nil {
		return nil, err
	}
	out := make([]ExactRecord, len(recs))
	for i, r := range recs {
		out[i] = ExactRecord{Partition: partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Headers: map[string]string{}}
		for _, h := range r.Headers {
			out[i].Headers[h.Key] = string(h.Value)
		}
	}
	return out, nil
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
	// The admin functions of internal/stream share one transport whose
	// metadata is up to stream.MetadataTTL old; a test reading the topic
	// right away would be told it does not exist. Return once they see it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		parts, err := stream.Partitions(ctx, brokers, topic)
		if err == nil && len(parts) == partitions {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("create topic %s: not listed after 10 s: %w", topic, err)
			}
			return fmt.Errorf("create topic %s: %d partitions listed after 10 s, want %d", topic, len(parts), partitions)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topic %s: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
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
