package stream

import (
	"sort"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestCommitterKeepsHighestOffsetPerPartition(t *testing.T) {
	c := &Consumer{committed: map[partitionKey]int64{{"orders", 2}: 50}}
	q := newCommitter(c)
	msg := func(topic string, p int, off int64) kafka.Message {
		return kafka.Message{Topic: topic, Partition: p, Offset: off}
	}
	q.offer([]kafka.Message{msg("orders", 0, 5), msg("orders", 0, 7), msg("orders", 1, 3)})
	q.offer([]kafka.Message{msg("orders", 0, 6), msg("customer-lifecycle", 0, 9), msg("orders", 2, 40)})

	got := q.take([]kafka.Message{msg("orders", 1, 4)}) // carried over from a failed attempt
	sort.Slice(got, func(i, j int) bool {
		if got[i].Topic != got[j].Topic {
			return got[i].Topic < got[j].Topic
		}
		return got[i].Partition < got[j].Partition
	})
	want := []kafka.Message{msg("customer-lifecycle", 0, 9), msg("orders", 0, 7), msg("orders", 1, 4)}
	if len(got) != len(want) {
		t.Fatalf("take = %+v, want %+v (orders/2 is already committed past 40)", got, want)
	}
	for i := range want {
		if got[i].Topic != want[i].Topic || got[i].Partition != want[i].Partition || got[i].Offset != want[i].Offset {
			t.Errorf("take[%d] = %s/%d@%d, want %s/%d@%d", i, got[i].Topic, got[i].Partition, got[i].Offset,
				want[i].Topic, want[i].Partition, want[i].Offset)
		}
	}
	if rest := q.take(nil); len(rest) != 0 {
		t.Fatalf("second take = %+v, want nothing", rest)
	}
	select {
	case <-q.kick:
	default:
		t.Fatal("offer did not wake the committer")
	}
}
