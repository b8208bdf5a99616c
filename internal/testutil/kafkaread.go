package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/segmentio/kafka-go"
)

// Lag is stream.GroupLag, re-exported for test readability.
func Lag(ctx context.Context, brokers []string, group string, topics ...string) (int64, error) {
	return stream.GroupLag(ctx, brokers, group, topics...)
}

// WaitCaughtUp is stream.WaitCaughtUp.
func WaitCaughtUp(ctx context.Context, brokers []string, group string, topics ...string) error {
	return stream.WaitCaughtUp(ctx, brokers, group, topics...)
}

// ReadAll reads every record currently in a topic, partition by partition
// in offset order.
func ReadAll(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	ends, err := stream.EndOffsets(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	var parts []int
	for p := range ends {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	var out []kafka.Message
	for _, p := range parts {
		if ends[p] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 16 << 20,
			MaxWait: 200 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			out = append(out, m)
			if m.Offset+1 >= ends[p] {
				break
			}
		}
		_ = r.Close()
	}
	return out, nil
}
