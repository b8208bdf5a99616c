package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestTail writes known records to a two-partition topic and reads its
// tail with different n: each partition's latest n, oldest first, null
// values kept null.
func TestTail(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"changes", "empty"}})
	// Seven records to partition 0 and three to partition 1, in several
	// produce calls so the log has several record batches.
	for i := range 10 {
		part := 0
		if i%3 == 2 {
			part = 1
		}
		m := kafka.Message{Topic: "changes", Partition: part, Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []kafka.Header{{Key: "n", Value: []byte(fmt.Sprint(i))}}}
		if i == 9 {
			m.Value = nil
		}
		if err := writePartition(ctx, brokers, m); err != nil {
			t.Fatal(err)
		}
	}
	client := stream.NewAdminClient(brokers, nil)
	cases := []struct {
		n    int
		want map[int][]string
	}{
		{0, map[int][]string{}},
		{1, map[int][]string{0: {"<nil>"}, 1: {"v8"}}},
		{2, map[int][]string{0: {"v7", "<nil>"}, 1: {"v5", "v8"}}},
		{100, map[int][]string{0: {"v0", "v1", "v3", "v4", "v6", "v7", "<nil>"}, 1: {"v2", "v5", "v8"}}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			recs, err := stream.Tail(ctx, client, "changes", tc.n)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int][]string{}
			for _, r := range recs {
				v := string(r.Value)
				if r.Value == nil {
					v = "<nil>"
				}
				got[r.Partition] = append(got[r.Partition], v)
				if r.Topic != "changes" || r.Time.IsZero() || len(r.Headers) != 1 || r.Headers[0].Key != "n" {
					t.Errorf("record %+v", r)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("tail %d = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	if recs, err := stream.Tail(ctx, client, "empty", 5); err != nil || len(recs) != 0 {
		t.Fatalf("empty topic: %v, %v", recs, err)
	}
	if _, err := stream.Tail(ctx, client, "no-such-topic", 5); err == nil {
		t.Fatal("no error for a missing topic")
	}
}

// writePartition writes one message to the partition it names.
func writePartition(ctx context.Context, brokers []string, m kafka.Message) error {
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], m.Topic, m.Partition)
	if err != nil {
		return err
	}
	defer conn.Close()
	m.Topic, m.Partition = "", 0
	_, err = conn.WriteMessages(m)
	return err
}
