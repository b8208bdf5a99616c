package stream

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/segmentio/kafka-go"
)

// A batch closes Linger after it started, even while records keep
// trickling in faster than one per Linger: batching must not add more than
// Linger to a record's latency at low load. (Waiting for a quiet gap
// instead kept this batch open for all 200 records.)
//
// The bubble's clock is fake and moves only when every goroutine waits,
// so the arrivals (one every 3 ms) and the linger (10 ms) interleave the
// same way on every run, however loaded the machine: exact counts.
func TestFillStopsLingerAfterTheFirstRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every, lingerFor = 3 * time.Millisecond, 10 * time.Millisecond
		c := &Consumer{cfg: ConsumerConfig{MaxBatch: 1000, Linger: lingerFor}}
		q := make(chan kafka.Message, 1000)
		stop := make(chan struct{})
		defer close(stop)
		go func() { // record i arrives at i × 3 ms
			for i := 0; i < 200; i++ {
				select {
				case q <- kafka.Message{Offset: int64(i)}:
				case <-stop:
					return
				}
				select {
				case <-time.After(every):
				case <-stop:
					return
				}
			}
		}()
		linger := time.NewTimer(time.Hour)
		linger.Stop()

		// The first batch opens at 0 ms with record 0 and closes at 10 ms:
		// records 0–3 (0, 3, 6, 9 ms), none of the later ones.
		batch, took := fillNext(t, c, q, linger)
		if took != lingerFor {
			t.Errorf("first batch closed after %v, want Linger %v", took, lingerFor)
		}
		checkOffsets(t, "first batch", batch, 0, 4)

		// The timer is reusable: the next batch opens with record 4 at
		// 12 ms and closes at 22 ms with records 4–7 (12, 15, 18, 21 ms).
		next, took := fillNext(t, c, q, linger)
		if took != lingerFor {
			t.Errorf("second batch closed after %v, want Linger %v", took, lingerFor)
		}
		checkOffsets(t, "second batch", next, 4, 4)
	})
}

// fillNext opens a batch with the next record of q and fills it; it
// returns the batch and how long fill took (on the bubble's clock).
func fillNext(t *testing.T, c *Consumer, q <-chan kafka.Message, linger *time.Timer) ([]kafka.Message, time.Duration) {
	t.Helper()
	batch := []kafka.Message{<-q}
	start := time.Now()
	if !c.fill(q, &batch, linger) {
		t.Fatal("queue reported closed")
	}
	return batch, time.Since(start)
}

// checkOffsets wants n records with offsets from, from+1, ….
func checkOffsets(t *testing.T, what string, batch []kafka.Message, from int64, n int) {
	t.Helper()
	ok := len(batch) == n
	for i := 0; ok && i < n; i++ {
		ok = batch[i].Offset == from+int64(i)
	}
	if !ok {
		offs := make([]int64, len(batch))
		for i, m := range batch {
			offs[i] = m.Offset
		}
		t.Fatalf("%s: offsets %v, want %d from %d", what, offs, n, from)
	}
}

// Under load (a full queue) a batch fills to MaxBatch without waiting:
// not a moment of the (fake) clock passes, although Linger is an hour.
func TestFillTakesAFullBatchAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Consumer{cfg: ConsumerConfig{MaxBatch: 50, Linger: time.Hour}}
		q := make(chan kafka.Message, 100)
		for i := 0; i < 100; i++ {
			q <- kafka.Message{Offset: int64(i)}
		}
		linger := time.NewTimer(time.Hour)
		linger.Stop()
		batch, waited := fillNext(t, c, q, linger)
		if waited != 0 {
			t.Errorf("fill waited %v although the queue held a full batch", waited)
		}
		checkOffsets(t, "batch", batch, 0, 50)
	})
}
