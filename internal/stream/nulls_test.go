package stream_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestConsumerTellsNullFromEmpty: kafka-go's reader gives nil for a null
// and an empty key or value alike; the handler must see them apart, so a
// dead letter keeps a null value null and an empty one empty (SPEC §2).
func TestConsumerTellsNullFromEmpty(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
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
