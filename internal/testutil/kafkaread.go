package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
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
// in offset order. Partitions are read a few at a time: a reader's start
// and close cost more than its records, and a test may read dozens.
func ReadAll(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	ends, err := stream.EndOffsets(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	var parts []int
	for p, end := range ends {
		if end > 0 {
			parts = append(parts, p)
		}
	}
	sort.Ints(parts)
	read := make([][]kafka.Message, len(parts))
	errs := make([]error, len(parts))
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			read[i], errs[i] = readPartition(ctx, brokers, topic, p, ends[p])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []kafka.Message
	for _, msgs := range read {
		out = append(out, msgs...)
	}
	return out, nil
}

// readPartition reads a partition's records up to end (exclusive).
func readPartition(ctx context.Context, brokers []string, topic string, p int, end int64) ([]kafka.Message, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 16 << 20,
		MaxWait: 200 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	var out []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		}
		out = append(out, m)
		if m.Offset+1 >= end {
			return out, nil
		}
	}
}
