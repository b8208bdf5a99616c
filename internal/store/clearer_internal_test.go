// Tests of the Clearer's queue, retry loop and bound, against a fake clear
// and, where time matters, the fake clock of testing/synctest.

package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClear stands in for Redis: it records every attempt and fails while
// down, or hangs until its context ends while hung.
type fakeClear struct {
	mu       sync.Mutex
	down     bool
	hung     bool
	attempts [][]Acked
	cleared  []Acked // what the Clearer reported cleared (notify)
}

func (f *fakeClear) clear(ctx context.Context, acked []Acked) error {
	f.mu.Lock()
	f.attempts = append(f.attempts, slices.Clone(acked))
	down, hung := f.down, f.hung
	f.mu.Unlock()
	if hung {
		<-ctx.Done()
		return ctx.Err()
	}
	if down {
		return errors.New("redis down")
	}
	return nil
}

func (f *fakeClear) set(down, hung bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.hung = down, hung
}

func (f *fakeClear) state() (attempts [][]Acked, cleared []Acked) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.attempts), slices.Clone(f.cleared)
}

func newFakeClearer() (*Clearer, *fakeClear) {
	f := &fakeClear{}
	q := newClearer(f.clear)
	q.notify(func(cleared []Acked) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.cleared = append(f.cleared, cleared...)
	})
	return q, f
}

func (q *Clearer) queued() []Acked {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.queue)
}

func acks(prefix string, n int) []Acked {
	out := make([]Acked, n)
	for i := range out {
		out[i] = Acked{CustomerID: fmt.Sprintf("%s-%d", prefix, i), Token: "t"}
	}
	return out
}

// Started, the clearer queues and returns at once; the loop clears, and a
// failed clear is retried after the retry pause, not before. In the
// synctest bubble time.Sleep moves the fake clock: it returns as soon as
// every other goroutine is blocked, without real time passing, and
// synctest.Wait is what synchronises.
func TestClearerRetriesFailedClearsInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retry = time.Second
		q, f := newFakeClearer()
		f.set(true, false)
		stop := q.Start(retry)
		defer stop()
		batch := acks("c", 2)
		if err := q.add(t.Context(), batch); err != nil {
			t.Fatalf("queued acknowledgements reported %v", err)
		}
		synctest.Wait()
		if attempts, _ := f.state(); len(attempts) != 1 || len(q.queued()) != 2 {
			t.Fatalf("after the first attempt: %d attempts, %d queued; want 1 and 2", len(attempts), len(q.queued()))
		}
		f.set(false, false)
		time.Sleep(retry - time.Nanosecond)
		synctest.Wait()
		if attempts, _ := f.state(); len(attempts) != 1 {
			t.Fatalf("%d attempts before the retry pause is over, want 1", len(attempts))
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		attempts, cleared := f.state()
		if len(attempts) != 2 || !slices.Equal(attempts[1], batch) || !slices.Equal(cleared, batch) || len(q.queued()) != 0 {
			t.Fatalf("after the retry: attempts %v, cleared %v, queued %v", attempts, cleared, q.queued())
		}
	})
}

// Not started, the clearer clears at once; what fails is returned, kept,
// and cleared with the next call's own acknowledgements.
func TestClearerNotStartedClearsAtOnceAndRetriesWithTheNextCall(t *testing.T) {
	q, f := newFakeClearer()
	f.set(true, false)
	first, second := acks("a", 2), acks("b", 1)
	if err := q.add(t.Context(), first); err == nil {
		t.Fatal("a failed clear at once was not reported")
	}
	if got := q.queued(); !slices.Equal(got, first) {
		t.Fatalf("queued after the failure: %v, want %v", got, first)
	}
	f.set(false, false)
	if err := q.add(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	attempts, cleared := f.state()
	want := append(slices.Clone(first), second...)
	if len(attempts) != 2 || !slices.Equal(attempts[1], want) || !slices.Equal(cleared, want) || len(q.queued()) != 0 {
		t.Fatalf("attempts %v, cleared %v, queued %v; want the second attempt to clear %v", attempts, cleared, q.queued(), want)
	}
}

// Stopping gives up the clear in flight (a hung Redis does not hold up the
// shutdown), keeps it queued, and Flush then clears it.
func TestClearerStopKeepsTheClearInFlightForFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, f := newFakeClearer()
		f.set(false, true)
		stop := q.Start(time.Second)
		batch := acks("c", 3)
		if err := q.add(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the loop's attempt hangs
		stop()
		if got := q.queued(); !slices.Equal(got, batch) {
			t.Fatalf("queued after stop: %v, want %v", got, batch)
		}
		f.set(false, false)
		if err := q.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, cleared := f.state(); !slices.Equal(cleared, batch) || len(q.queued()) != 0 {
			t.Fatalf("after Flush: cleared %v, queued %v", cleared, q.queued())
		}
	})
}

// The queue never holds more than maxQueuedClears: the oldest failures are
// given up. A full queue makes a started clearer clear at once (the
// caller waits) instead of growing.
func TestClearerQueueStaysBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, f := newFakeClearer()
		f.set(true, false)
		_ = q.add(t.Context(), acks("old", 1))
		full := acks("c", maxQueuedClears)
		_ = q.add(t.Context(), full)
		if got := q.queued(); len(got) != maxQueuedClears || got[0] != full[0] {
			t.Fatalf("%d queued, first %v; want %d, the oldest given up", len(got), got[0], maxQueuedClears)
		}
		stop := q.Start(time.Hour)
		defer stop()
		synctest.Wait() // the loop tried what was queued, failed, and pauses
		attemptsBefore, _ := f.state()
		if err := q.add(t.Context(), acks("new", 1)); err == nil {
			t.Fatal("with the queue full, the acknowledgement was queued instead of cleared at once")
		}
		attempts, _ := f.state()
		if len(attempts) != len(attemptsBefore)+1 || len(attempts[len(attempts)-1]) != 1 {
			t.Fatalf("the clear at once was not made (%d attempts before, %d after)", len(attemptsBefore), len(attempts))
		}
		synctest.Wait()
		if n := len(q.queued()); n != maxQueuedClears {
			t.Fatalf("%d queued, want at most %d", n, maxQueuedClears)
		}
	})
}
