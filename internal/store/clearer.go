// The pending-clear queue: clearing acknowledged pending change events,
// in the background or at once, and retrying the clears that fail.

package store

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clearer owns the clearing of acknowledged pending change events, and is
// the only place a failed clear is kept and retried: callers of
// ClearPending (the pipeline, Cached) keep no list of their own. Each
// Redis store has one (Redis.Clearer) and Redis.ClearPending hands every
// acknowledgement to it, also when a Cached sits in front, so clears work
// the same with the state cache on or off.
//
// While started (Start), acknowledgements are queued and cleared by a
// background loop, so no batch waits for the clear's round trip.
// Otherwise, or while the queue is full, they are cleared at once (the
// caller waits: back-pressure while Redis is slow). Whatever fails stays
// queued and is retried: by the loop after a pause, by the next clear at
// once along with its own, or by Flush at shutdown.
//
// A clear may wait, or even be given up, because it is only tidying: the
// events are published already. Until the clear lands the hash still
// flags them, so at worst the customer's next load from Redis publishes
// them again with the same event ids (subscribers drop the copy), and
// that batch clears them. That is also why the queue can be bounded
// (maxQueuedClears): beyond it the oldest are given up.
//
// It is safe for concurrent use.
type Clearer struct {
	// clear makes one attempt at clearing (Redis.clearPending).
	clear func(ctx context.Context, acked []Acked) error
	wake  chan struct{}

	mu    sync.Mutex
	queue []Acked
	// running counts the started loops; acknowledgements are queued only
	// while one runs, since nothing else would clear them.
	running int
	// told are called with every batch cleared (a Cached in front unmarks
	// its customers, see NewCached).
	told []func(cleared []Acked)
}

// maxQueuedClears bounds the acknowledgements waiting for a clear. A
// healthy Redis leaves a batch's worth queued at most, so reaching it
// means clears have been failing for a long while.
const maxQueuedClears = 200_000

func newClearer(clear func(context.Context, []Acked) error) *Clearer {
	return &Clearer{clear: clear, wake: make(chan struct{}, 1)}
}

// add takes acknowledgements (Redis.ClearPending): queued while the loop
// runs and the queue has room, else cleared at once. The error is that of
// a clear at once, for logging: what failed stays queued.
func (q *Clearer) add(ctx context.Context, acked []Acked) error {
	if len(acked) == 0 {
		return nil
	}
	q.mu.Lock()
	if q.running > 0 && len(q.queue)+len(acked) <= maxQueuedClears {
		q.queue = append(q.queue, acked...)
		q.mu.Unlock()
		q.signal()
		return nil
	}
	batch := acked
	if q.running == 0 && len(q.queue) > 0 {
		// No loop retries what earlier calls failed to clear: it goes
		// with this one.
		batch = append(q.queue, acked...)
		q.queue = nil
	}
	q.mu.Unlock()
	return q.clearNow(ctx, batch)
}

// notify has f called with every batch cleared from now on.
func (q *Clearer) notify(f func(cleared []Acked)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.told = append(q.told, f)
}

// Start turns queueing on and starts the background loop, which begins
// with whatever earlier failures left queued; queueing is on when it
// returns (no caller has to wait for the loop to begin). After a failed
// clear the loop waits retry before the next attempt. stop turns queueing
// off, ends the loop (a clear in flight is given up and stays queued) and
// returns once the loop has ended; call Flush after it to clear what is
// left.
func (q *Clearer) Start(retry time.Duration) (stop func()) {
	q.mu.Lock()
	q.running++
	q.mu.Unlock()
	q.signal()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx, retry)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			q.running--
			q.mu.Unlock()
			cancel()
			<-done
		})
	}
}

// run clears whatever is queued each time it is woken, until ctx ends.
func (q *Clearer) run(ctx context.Context, retry time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		if err := q.Flush(ctx); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			q.signal()
		}
	}
}

func (q *Clearer) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Flush clears everything queued, in one attempt; on failure it all stays
// queued. The loop clears with it, and the service calls it at shutdown
// (after stopping the loop) so a stopping instance leaves no pending keys
// behind.
func (q *Clearer) Flush(ctx context.Context) error {
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	q.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return q.clearNow(ctx, batch)
}

// clearNow makes one attempt at clearing batch: on success it tells those
// who asked (notify), on failure it queues the batch again.
func (q *Clearer) clearNow(ctx context.Context, batch []Acked) error {
	if err := q.clear(ctx, batch); err != nil {
		q.requeue(batch)
		return err
	}
	q.mu.Lock()
	told := q.told
	q.mu.Unlock()
	for _, f := range told {
		f(batch)
	}
	return nil
}

// requeue puts a failed batch in front of what was queued meanwhile and
// gives up the oldest beyond maxQueuedClears. Which ones are given up
// does not matter for correctness: every clear is independent (it checks
// its own customer's token).
func (q *Clearer) requeue(batch []Acked) {
	q.mu.Lock()
	defer q.mu.Unlock()
	merged := make([]Acked, 0, len(batch)+len(q.queue))
	merged = append(append(merged, batch...), q.queue...)
	if over := len(merged) - maxQueuedClears; over > 0 {
		merged = slices.Clone(merged[over:]) // and lets go of the rest
	}
	q.queue = merged
}
