package stream_test

import (
	"context"
	"fmt"
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
