package stream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

func coPartitionedConsumer(t *testing.T, brokers []string, topics ...string) *stream.Consumer {
	t.Helper()
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: "copart", Topics: topics,
		CoPartitioned: true, PartitionCheckInterval: 100 * time.Millisecond, MaxWait: 200 * time.Millisecond,
		Linger: time.Millisecond, RepairInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

func nothing(context.Context, []pipeline.Record) error { return nil }

// TestConsumerRefusesInputsOfDifferentPartitionCounts: at start, topics of
// 3 and 2 partitions make Run fail at once with an error that names both
// topics and their counts.
func TestConsumerRefusesInputsOfDifferentPartitionCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 3, Topics: []string{"orders"}})
	if err := testutil.CreateTopic(ctx, brokers, "customer-lifecycle", 2); err != nil {
		t.Fatal(err)
	}
	err := coPartitionedConsumer(t, brokers, "orders", "customer-lifecycle").Run(ctx, nothing)
	var mismatch *stream.PartitionMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("Run returned %v, want a partition mismatch", err)
	}
	if want := "orders has 3 and customer-lifecycle has 2"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// TestConsumerStopsWhenAnInputGrows: both inputs start with 2 partitions;
// when the operator grows one to 4, Run ends with the mismatch.
func TestConsumerStopsWhenAnInputGrows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"orders", "customer-lifecycle"}})
	cons := coPartitionedConsumer(t, brokers, "orders", "customer-lifecycle")
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx, nothing) }()
	select {
	case err := <-done:
		t.Fatalf("Run ended before any change: %v", err)
	case <-time.After(500 * time.Millisecond): // a few checks pass with equal counts
	}
	if err := testutil.GrowTopic(ctx, brokers, "orders", 4); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !strings.Contains(err.Error(), "orders has 4 and customer-lifecycle has 2") {
			t.Fatalf("Run returned %v, want the mismatch", err)
		}
	case <-ctx.Done():
		t.Fatal("Run went on with inputs of 4 and 2 partitions")
	}
}
