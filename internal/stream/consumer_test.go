// Tests of the Consumer against an in-process broker (kfake): commits,
// null and empty keys and values, co-partitioned inputs.

package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestConsumerRestoresARewoundCommit reproduces what kafka-go's group
// reader does after a rebalance (a commit queued in one generation is sent
// in the next, by a member that may no longer own the partition): another
// member of the group commits a low offset for a partition the consumer has
// already finished. The consumer must put its own durable offset back, or
// the group's lag stays above zero with nothing left to consume.
func TestConsumerRestoresARewoundCommit(t *testing.T) {
	cases := []struct {
		name           string
		repairInterval time.Duration
		wantRestored   bool
	}{
		{"repair on", 200 * time.Millisecond, true},
		{"repair off: the rewind stays", -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const topic, group, records = "orders", "repair-test", 200
			_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{topic}})
			produce(t, ctx, brokers, topic, records)

			var handled atomic.Int64
			cons, err := stream.NewConsumer(stream.ConsumerConfig{
				Brokers: brokers, GroupID: group, Topics: []string{topic},
				Workers: 2, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond,
				SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
				RebalanceTimeout: time.Second, RepairInterval: tc.repairInterval,
			})
			if err != nil {
				t.Fatal(err)
			}
			stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
				handled.Add(int64(len(batch)))
				return nil
			})
			defer func() {
				if err := stop(); err != nil {
					t.Errorf("run: %v", err)
				}
			}()
			if err := testutil.WaitCaughtUp(ctx, brokers, group, topic); err != nil {
				t.Fatalf("first pass: %v", err)
			}

			// A second member joins and commits offset 10 of partition 0
			// in its own (current) generation, as a stale commit would.
			stale := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, Topic: topic,
				SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
				RebalanceTimeout: time.Second, MaxWait: 200 * time.Millisecond})
			defer stale.Close()
			commitCtx, commitCancel := context.WithTimeout(ctx, 20*time.Second)
			defer commitCancel()
			if err := stale.CommitMessages(commitCtx, kafka.Message{Topic: topic, Partition: 0, Offset: 9}); err != nil {
				t.Fatalf("stale commit: %v", err)
			}
			// (With the repair off, the case below shows that the commit did
			// rewind the group; with it on, checking here would race the
			// repair.)

			restored := func() bool {
				lag, err := testutil.Lag(ctx, brokers, group, topic)
				return err == nil && lag == 0
			}
			deadline := time.Now().Add(5 * time.Second)
			for !restored() && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if got := restored(); got != tc.wantRestored {
				lag, _ := testutil.Lag(ctx, brokers, group, topic)
				t.Fatalf("lag 0 after the rewind: %v, want %v (lag %d)", got, tc.wantRestored, lag)
			}
			if n := handled.Load(); n < records {
				t.Errorf("handled %d records, want at least %d", n, records)
			}
		})
	}
}

// TestConsumerTellsNullFromEmpty: kafka-go's reader gives nil for a null
// and an empty key or value alike; the handler must see them apart, so a
// dead letter keeps a null value null and an empty one empty (SPEC §2).
func TestConsumerTellsNullFromEmpty(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	const topic, group = "orders", "nulls-test"
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{topic}})
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	sent := []kafka.Message{
		{Key: []byte("k"), Value: nil},
		{Key: []byte("k"), Value: []byte{}},
		{Key: nil, Value: []byte("v")},
		{Key: []byte{}, Value: []byte("v")},
		{Key: nil, Value: nil},
		{Key: []byte("k"), Value: []byte("v")},
	}
	for i := range sent {
		// One message per write: they must keep their order on the partition.
		if err := w.WriteMessages(ctx, sent[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()

	var mu sync.Mutex
	got := map[int64]pipeline.Record{}
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 1, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond, RepairInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range batch {
			got[r.Offset] = r
		}
		return nil
	})
	if err := testutil.WaitCaughtUp(ctx, brokers, group, topic); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	kind := func(b []byte) string {
		switch {
		case b == nil:
			return "null"
		case len(b) == 0:
			return "empty"
		}
		return string(b)
	}
	for i, m := range sent {
		r, ok := got[int64(i)]
		if !ok {
			t.Fatalf("offset %d not handled", i)
		}
		if kind(r.Key) != kind(m.Key) || kind(r.Value) != kind(m.Value) {
			t.Errorf("offset %d: handler saw key %s value %s, want key %s value %s", i, kind(r.Key), kind(r.Value), kind(m.Key), kind(m.Value))
		}
	}
}

// TestConsumerRefusesInputsOfDifferentPartitionCounts: at start, topics of
// 3 and 2 partitions make Run fail at once with an error that names both
// topics and their counts.
func TestConsumerRefusesInputsOfDifferentPartitionCounts(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
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
	ctx := testutil.Context(t, 60*time.Second)
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

func produce(t *testing.T, ctx context.Context, brokers []string, topic string, n int) {
	t.Helper()
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("c-%d", i)), Value: []byte("{}")}
	}
	if err := stream.WriteAll(ctx, w, msgs); err != nil {
		t.Fatal(err)
	}
}

// runConsumer runs cons in the background until the returned stop is
// called, which returns Run's result.
func runConsumer(ctx context.Context, cons *stream.Consumer, handle stream.Handler) (stop func() error) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx, handle) }()
	return func() error {
		cancel()
		return <-done
	}
}

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
