package stream

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestChunksBoundCountAndBytes(t *testing.T) {
	msg := func(n int) kafka.Message {
		return kafka.Message{Key: []byte("k"), Value: []byte(strings.Repeat("v", n))}
	}
	var small []kafka.Message
	for i := 0; i < 10; i++ {
		small = append(small, msg(10))
	}
	tests := []struct {
		name     string
		msgs     []kafka.Message
		maxCount int
		maxBytes int64
		want     [][2]int
	}{
		{"count", small, 4, 1 << 20, [][2]int{{0, 4}, {4, 8}, {8, 10}}},
		{"bytes", small, 100, 3 * estimatedSize(&small[0]), [][2]int{{0, 3}, {3, 6}, {6, 9}, {9, 10}}},
		{"one oversized message goes alone", []kafka.Message{msg(10), msg(5000), msg(10)}, 100, 1000, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{"one message", small[:1], 1, 1, [][2]int{{0, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := chunks(tc.msgs, tc.maxCount, tc.maxBytes)
			if len(got) != len(tc.want) {
				t.Fatalf("chunks = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("chunks = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestEstimatedSizeBoundsKafkaGo(t *testing.T) {
	// kafka-go counts 4+1+1 + (4+len key) + (4+len value) + 8 bytes, plus
	// varint-framed headers.
	m := kafka.Message{Key: []byte("c-000042"), Value: []byte(`{"x":1}`),
		Headers: []kafka.Header{{Key: "error", Value: []byte("bad json")}, {Key: "topic", Value: []byte("orders")}}}
	kafkaGo := int64(4+1+1+4+len(m.Key)+4+len(m.Value)+8) + 1
	for _, h := range m.Headers {
		kafkaGo += int64(1 + len(h.Key) + 1 + len(h.Value))
	}
	if est := estimatedSize(&m); est < kafkaGo {
		t.Fatalf("estimate %d below kafka-go's %d", est, kafkaGo)
	}
}
