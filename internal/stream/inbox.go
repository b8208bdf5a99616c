package stream

import (
	"context"
	"sync"

	"github.com/segmentio/kafka-go"
)

// budget bounds how many fetched records wait in all inboxes together.
// The fetch loop takes one unit per record; a worker gives units back as
// it takes records out of its inbox.
type budget struct {
	mu    sync.Mutex
	free  int
	freed chan struct{} // capacity 1: units were given back
}

func newBudget(n int) *budget {
	return &budget{free: n, freed: make(chan struct{}, 1)}
}

// acquire takes one unit, waiting while none is free; false when ctx ended
// first. Only the fetch loop calls it.
func (b *budget) acquire(ctx context.Context) bool {
	for {
		b.mu.Lock()
		if b.free > 0 {
			b.free--
			b.mu.Unlock()
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-ctx.Done():
			return false
		}
	}
}

func (b *budget) release(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// inbox is one worker's queue of fetched records.
//
// Inboxes have no fixed size of their own: they share one budget. kafka-go
// hands over the records of one partition fetch at a time, thousands in a
// row for the same worker; with a fixed-size channel per worker the fetch
// loop blocked on that worker's full channel while the other workers sat
// idle with records for them waiting behind it (a block profile showed
// the fetch loop blocked on a send most of the time and about a fifth of
// the machine idle in the benchmark). With a shared budget the fetch loop
// only waits when everything buffered adds up to the limit, i.e. when the
// workers together are the bottleneck.
type inbox struct {
	budget *budget
	mu     sync.Mutex
	msgs   []kafka.Message
	head   int
	closed bool
	signal chan struct{} // capacity 1: records arrived or the inbox closed
}

func newInbox(b *budget) *inbox {
	return &inbox{budget: b, signal: make(chan struct{}, 1)}
}

// push appends a record; the caller has taken a budget unit for it.
func (q *inbox) push(m kafka.Message) {
	q.mu.Lock()
	if len(q.msgs) == cap(q.msgs) && q.head > 0 {
		// Reuse the space of records already taken instead of growing:
		// a busy worker's inbox may never run empty.
		live := copy(q.msgs, q.msgs[q.head:])
		clear(q.msgs[live:])
		q.msgs, q.head = q.msgs[:live], 0
	}
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	q.notify()
}

// close marks the end of the records; take drains what is left first.
func (q *inbox) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.notify()
}

func (q *inbox) notify() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take moves up to max records into dst and gives their budget back. done
// is true when the inbox is closed and empty.
func (q *inbox) take(dst *[]kafka.Message, max int) (n int, done bool) {
	q.mu.Lock()
	n = min(max, len(q.msgs)-q.head)
	*dst = append(*dst, q.msgs[q.head:q.head+n]...)
	clear(q.msgs[q.head : q.head+n]) // drop the references for the GC
	q.head += n
	if q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	}
	done = q.closed && len(q.msgs) == 0
	q.mu.Unlock()
	q.budget.release(n)
	return n, done
}
