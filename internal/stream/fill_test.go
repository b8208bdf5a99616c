package stream

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// A batch closes Linger after it started, even while records keep
// trickling in faster than one per Linger: batching must not add more than
// Linger to a record's latency at low load. (Waiting for a quiet gap
// instead kept this batch open for all 200 records.)
func TestFillStopsLingerAfterTheFirstRecord(t *testing.T) {
	c := &Consumer{cfg: ConsumerConfig{MaxBatch: 1000, Linger: 5 * time.Millisecond}}
	q := make(chan kafka.Message, 1000)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 200; i++ {
			select {
			case q <- kafka.Message{Offset: int64(i)}:
			case <-stop:
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	batch := []kafka.Message{<-q}
	if !c.fill(q, &batch, linger) {
		t.Fatal("queue reported closed")
	}
	if len(batch) >= 100 {
		t.Fatalf("batch kept lingering while records trickled in: %d records", len(batch))
	}
	// The timer is reusable for the next batch.
	next := []kafka.Message{<-q}
	c.fill(q, &next, linger)
	if len(next) == 0 || len(next) >= 100 {
		t.Fatalf("second batch: %d records", len(next))
	}
}

// Under load (a full queue) a batch fills to MaxBatch without waiting.
func TestFillTakesAFullBatchAtOnce(t *testing.T) {
	c := &Consumer{cfg: ConsumerConfig{MaxBatch: 50, Linger: time.Hour}}
	q := make(chan kafka.Message, 100)
	for i := 0; i < 100; i++ {
		q <- kafka.Message{Offset: int64(i)}
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	batch := []kafka.Message{<-q}
	done := make(chan bool)
	go func() { done <- c.fill(q, &batch, linger) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("fill waited although the queue held a full batch")
	}
	if len(batch) != 50 {
		t.Fatalf("batch of %d, want MaxBatch 50", len(batch))
	}
}
