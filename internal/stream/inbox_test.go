package stream

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// A worker with a backlog must not hold back records for another worker:
// the fetch loop only waits when the shared budget is used up.
func TestInboxesShareOneBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b := newBudget(6)
	busy, idle := newInbox(b), newInbox(b)
	for i := 0; i < 5; i++ { // one partition's fetch, all for the busy worker
		if !b.acquire(ctx) {
			t.Fatal("budget exhausted early")
		}
		busy.push(kafka.Message{Partition: 0, Offset: int64(i)})
	}
	if !b.acquire(ctx) {
		t.Fatal("the idle worker's record is held back")
	}
	idle.push(kafka.Message{Partition: 1, Offset: 0})
	var got []kafka.Message
	if n, done := idle.take(&got, 10); n != 1 || done || got[0].Partition != 1 {
		t.Fatalf("idle worker took %d (done %v): %+v", n, done, got)
	}

	// The budget is full again only once 6 records wait: 5 now, so one
	// more fits, and the next acquire waits until a worker takes records.
	if !b.acquire(ctx) {
		t.Fatal("free unit not available")
	}
	busy.push(kafka.Message{Partition: 0, Offset: 5})
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if b.acquire(short) {
		t.Fatal("acquired beyond the budget")
	}
	acquired := make(chan bool)
	go func() { acquired <- b.acquire(ctx) }()
	got = got[:0]
	if n, _ := busy.take(&got, 4); n != 4 {
		t.Fatalf("took %d, want 4", n)
	}
	if !<-acquired {
		t.Fatal("units given back by take were not reusable")
	}
	for i, m := range got {
		if m.Offset != int64(i) {
			t.Fatalf("order lost: %+v", got)
		}
	}
}

// Closing an inbox lets its worker drain what is left before it stops.
func TestInboxDrainsBeforeDone(t *testing.T) {
	b := newBudget(10)
	q := newInbox(b)
	for i := 0; i < 3; i++ {
		b.acquire(context.Background())
		q.push(kafka.Message{Offset: int64(i)})
	}
	q.close()
	var got []kafka.Message
	n, done := q.take(&got, 2)
	if n != 2 || done {
		t.Fatalf("first take: %d, done %v", n, done)
	}
	n, done = q.take(&got, 2)
	if n != 1 || !done {
		t.Fatalf("second take: %d, done %v", n, done)
	}
	if b.free != 10 {
		t.Fatalf("budget not fully given back: %d free", b.free)
	}
}

// An inbox that never runs empty (a busy worker always behind) must reuse
// the space of taken records instead of growing without bound.
func TestInboxStaysBoundedWhenNeverEmpty(t *testing.T) {
	b := newBudget(1 << 30)
	q := newInbox(b)
	var got []kafka.Message
	next := int64(0)
	for i := 0; i < 100_000; i++ {
		q.push(kafka.Message{Offset: int64(i)})
		if i >= 10 { // a steady backlog of 10 records
			got = got[:0]
			q.take(&got, 1)
			if len(got) != 1 || got[0].Offset != next {
				t.Fatalf("at %d: took %+v, want offset %d", i, got, next)
			}
			next++
		}
	}
	if c := cap(q.msgs); c > 1024 {
		t.Fatalf("inbox grew to %d slots for a backlog of %d", c, len(q.msgs)-q.head)
	}
}
