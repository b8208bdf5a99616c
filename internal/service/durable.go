package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"go.uber.org/zap"
)

// durability makes each batch durable on Redis's replicas before it
// counts as done. Redis replicates asynchronously: a write a master
// acknowledged is lost if the master fails before its replicas have it
// and one of them is promoted (and a restart loses what its persistence
// had not written). So a batch ends by waiting until the replicas have
// its writes (WAIT), on the masters it started with (their run ids and
// replication ids: a promoted replica or a restarted server has new
// ones). A batch that finds other masters is made again: its writes may
// be gone, and the process's copies of the state (the state cache, the
// stream times it remembers) may be ahead of what Redis now holds, so
// they are dropped first. Batches that ended before were on the replicas,
// so nothing committed can be lost, and a partition's next batch never
// writes before a lost one is made again, so no offset guard moves past a
// lost event.
type durability struct {
	st     *store.Redis
	wait   store.ReplicaWait
	log    *zap.Logger
	forget func() // drops the process's copies of the state
	// health reports a batch's final wait failing, and nil once no batch's
	// is; it owns a readiness check of its own.
	health func(error)

	mu sync.Mutex
	// current is the masters' incarnation as last read; "" until known.
	current store.Incarnation
	// unchecked says Redis refuses the check (warned once): batches then
	// neither wait nor compare.
	unchecked bool
	// healthMu orders the counting of waiting with the health reports
	// that follow from it, so a batch that starts failing just as the last
	// failing one passes is never overwritten by that one's all-clear.
	healthMu sync.Mutex
	// waiting counts the batches whose final wait is failing now; health
	// is cleared when the last of them passes.
	waiting int
}

// errMastersChanged says a batch found other Redis masters than it
// started with; the consumer makes the batch again.
var errMastersChanged = errors.New("the redis masters changed during the batch (a failover or a restart); its writes may be lost, so it is made again")

// incarnationKey carries a batch's starting incarnation to its publishes.
type incarnationKey struct{}

// begin returns ctx carrying the incarnation the batch starts with, read
// from Redis when not yet known, and the store.BatchCheck through which
// the batch's last write may read the masters for its final check.
func (d *durability) begin(ctx context.Context) (context.Context, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current == "" && !d.unchecked {
		id, err := d.st.Incarnation(ctx)
		if err != nil {
			return ctx, d.uncheckedLocked(err)
		}
		d.current = id
	}
	if d.current != "" {
		ctx = store.WithBatchCheck(ctx, new(store.BatchCheck))
	}
	return context.WithValue(ctx, incarnationKey{}, d.current), nil
}

// check waits for the replicas and compares the masters with the batch's
// start. It may answer from what the batch's last write read, when no
// write of the batch followed that reading (store.BatchCheck).
func (d *durability) check(ctx context.Context) error {
	start, _ := ctx.Value(incarnationKey{}).(store.Incarnation)
	if start == "" {
		return nil // unchecked
	}
	id, err := d.st.WaitReplicatedAfter(ctx, d.wait)
	if id != "" && id != start {
		d.mu.Lock()
		defer d.mu.Unlock()
		// Forgotten before any batch can begin with the new incarnation,
		// so that none starts from a copy of a write that was lost.
		d.forget()
		if d.current != id {
			d.current = id
			d.log.Error("redis masters changed: dropping the state cache and making the batches in flight again",
				zap.String("was", string(start)), zap.String("now", string(id)))
		}
		return errMastersChanged
	}
	if err != nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.uncheckedLocked(err)
	}
	return nil
}

// beforePublish runs before a batch's outputs are published. With
// replicas, an output goes out only once the write holding it pending is
// on them, so that a failover never makes the consumer compute it again
// (with a new emitted_at) after it was published. Without replicas there
// is nothing to wait for, and the batch's final check notices a restart.
func (d *durability) beforePublish(ctx context.Context) error {
	if d.wait.MinReplicas == 0 && !d.st.HasReplicas() {
		return nil
	}
	return d.check(ctx)
}

// end runs after a batch's writes: it returns nil once they are on the
// replicas, and errMastersChanged when the batch must be made again. A
// wait that fails otherwise (Redis unreachable, replicas not answering)
// is tried again in place, not the batch: its outputs are out already.
func (d *durability) end(ctx context.Context) error {
	counted := false
	defer func() {
		if !counted {
			return
		}
		d.healthMu.Lock()
		defer d.healthMu.Unlock()
		if d.waiting--; d.waiting == 0 {
			d.health(nil)
		}
	}()
	for attempt := 0; ; attempt++ {
		err := d.check(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil || errors.Is(err, errMastersChanged) {
			return err
		}
		d.healthMu.Lock()
		if !counted {
			counted = true
			d.waiting++
		}
		d.health(fmt.Errorf("batch not durable yet: %w", err))
		d.healthMu.Unlock()
		d.log.Warn("waiting for redis to make a batch durable", zap.Error(err), zap.Int("attempt", attempt+1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryWait(attempt)):
		}
	}
}

// retryWait is how long a failing wait pauses before its next attempt:
// capped exponential backoff (100 ms to 10 s) with full jitter, as the
// consumer's retries.
func retryWait(attempt int) time.Duration {
	return rand.N(min(100*time.Millisecond<<min(attempt, 7), 10*time.Second) + 1)
}

// uncheckedLocked lets the service run on a Redis that refuses INFO or
// WAIT (a proxy, an ACL, a fake), warning once that failovers go
// unnoticed there, and returns every other error.
func (d *durability) uncheckedLocked(err error) error {
	if !errors.Is(err, store.ErrIncarnationUnknown) {
		return err
	}
	if !d.unchecked {
		d.unchecked = true
		d.current = ""
		d.log.Warn("redis replication cannot be checked: batches do not wait for replicas, and a failover that loses writes goes unnoticed (docs/guarantees.md)",
			zap.Error(err))
	}
	return nil
}

// durablePublisher checks durability before each publish.
type durablePublisher struct {
	pipeline.Publisher
	d *durability
}

// Publish implements pipeline.Publisher.
func (p durablePublisher) Publish(ctx context.Context, msgs []pipeline.Message) error {
	if err := p.d.beforePublish(ctx); err != nil {
		return err
	}
	return p.Publisher.Publish(ctx, msgs)
}
