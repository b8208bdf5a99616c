package stream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestConsumerRewindsToTheLastCommit: BeforeCommit, or the handler, says
// the effects since the last commit may be lost. Nothing of them is
// committed; once no batch is in flight OnRewind is called, and every
// partition is read again from its last committed offset, within the same
// generation, until all is committed. A BeforeCommit that fails otherwise
// only delays the commit.
func TestConsumerRewindsToTheLastCommit(t *testing.T) {
	for _, from := range []string{"BeforeCommit", "handler"} {
		t.Run(from, func(t *testing.T) { rewindTest(t, from == "handler") })
	}
}

func rewindTest(t *testing.T, fromHandler bool) {
	const topic, group, records = "orders", "rewind-test", 400
	ctx, brokers := twoPartitionsOfOrders(t, records)

	var mu sync.Mutex
	handled := map[[2]int64]int{} // partition, offset → times handled
	firstAfter := map[int32]int64{}
	var committedAtRewind map[int]int64
	rewound := false
	var inFlight, checks, rewinds, batches atomic.Int32
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 2, MaxBatch: 10, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond,
		BeforeCommit: func(ctx context.Context) error {
			switch checks.Add(1) {
			case 2:
				return errors.New("replicas slow") // retried
			case 4:
				if !fromHandler {
					return fmt.Errorf("master replaced: %w", stream.ErrRewind)
				}
			}
			return nil
		},
		OnRewind: func(ctx context.Context) error {
			if n := inFlight.Load(); n != 0 {
				t.Errorf("OnRewind with %d batches in flight", n)
			}
			offsets, err := committedOffsets(ctx, brokers, group, topic, 2)
			if err != nil {
				return err // retried
			}
			mu.Lock()
			defer mu.Unlock()
			committedAtRewind, rewound = offsets, true
			rewinds.Add(1)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		time.Sleep(2 * time.Millisecond) // a few commits per second of work
		if fromHandler && batches.Add(1) == 8 {
			return fmt.Errorf("publish: %w", stream.ErrRewind)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range batch {
			handled[[2]int64{int64(r.Partition), r.Offset}]++
			if _, seen := firstAfter[r.Partition]; rewound && !seen {
				firstAfter[r.Partition] = r.Offset
			}
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
	if rewinds.Load() != 1 {
		t.Fatalf("OnRewind called %d times, want once", rewinds.Load())
	}
	twice := 0
	for key, n := range handled {
		if n > 1 {
			twice++
		}
		if n > 2 {
			t.Errorf("record %v handled %d times", key, n)
		}
	}
	if len(handled) != records || twice == 0 {
		t.Fatalf("%d of %d records handled, %d of them again; want all, some again", len(handled), records, twice)
	}
	for p := range int32(2) {
		want := max(committedAtRewind[int(p)], 0)
		if got, ok := firstAfter[p]; ok && got != want {
			t.Errorf("partition %d read again from offset %d, want its last commit %d", p, got, want)
		}
	}
	if len(firstAfter) == 0 {
		t.Fatal("nothing read after the rewind")
	}
}

// committedOffsets reads the group's committed offsets of topic's first
// partitions (-1 where none).
func committedOffsets(ctx context.Context, brokers []string, group, topic string, partitions int) (map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return nil, err
	}
	offsets := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		offsets[p.Partition] = p.CommittedOffset
	}
	return offsets, nil
}
