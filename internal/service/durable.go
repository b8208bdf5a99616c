package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"go.uber.org/zap"
)

// durability stands between Redis and the offset commits. Redis
// replicates asynchronously, so a write a master acknowledged is lost if
// the master fails before its replicas have it and one of them is
// promoted; a restart without fsync on every write loses the last writes
// too. Commits therefore wait until the replicas have every write so far
// (WAIT), and a commit that finds another master than the last one did
// (a new run id or replication id) commits nothing: the batches since the
// last commit are read again, against what Redis now holds, after the
// process forgot what it remembered of the state (its state cache and
// stream times may be ahead of it).
type durability struct {
	st     *store.Redis
	wait   store.ReplicaWait
	log    *zap.Logger
	forget func() // drops the process's copies of the state

	mu sync.Mutex
	// baseline is the masters' incarnation the effects since the last
	// commit were written to; "" until known.
	baseline store.Incarnation
	// warned says the unknown incarnation was logged once.
	warned bool
}

// beforeBatch makes sure the incarnation the batch writes to is known
// before it writes, so that a failover during the first batches is seen
// too. Cheap once known.
func (d *durability) beforeBatch(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.baseline != "" || d.warned {
		return nil
	}
	id, err := d.st.Incarnation(ctx)
	if err != nil {
		return d.unknownLocked(err)
	}
	d.baseline = id
	return nil
}

// beforePublish is called before outputs are published. With replicas,
// it is beforeCommit: an output goes out only once the state write that
// holds it pending is on a replica, so that a failover never makes the
// consumer compute it again (a new emitted_at) after it was published.
// Without replicas there is nothing to wait for, and the commit's check
// is enough to notice a restart.
func (d *durability) beforePublish(ctx context.Context) error {
	if d.wait.MinReplicas == 0 && !d.st.HasReplicas() {
		return nil
	}
	return d.beforeCommit(ctx)
}

// beforeCommit is stream.ConsumerConfig.BeforeCommit: nil once every
// write so far is on the replicas and on the masters the batches wrote
// to; an error wrapping stream.ErrRewind when a master was replaced.
func (d *durability) beforeCommit(ctx context.Context) error {
	id, err := d.st.WaitReplicated(ctx, d.wait)
	d.mu.Lock()
	defer d.mu.Unlock()
	if id != "" && d.baseline != "" && id != d.baseline {
		return fmt.Errorf("%w: the Redis masters changed since the last check (%s, was %s): a failover or a restart may have lost "+
			"writes made since the last commit", stream.ErrRewind, id, d.baseline)
	}
	if err != nil {
		return d.unknownLocked(err)
	}
	d.baseline = id
	return nil
}

// rewind is stream.ConsumerConfig.OnRewind: nothing is in flight, so the
// copies are dropped and the incarnation read again before any batch
// writes.
func (d *durability) rewind(ctx context.Context) error {
	d.forget()
	id, err := d.st.Incarnation(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.baseline = id
	if err != nil {
		return d.unknownLocked(err)
	}
	return nil
}

// unknownLocked lets the service run on a Redis that refuses INFO or WAIT
// (a proxy, an ACL), warning once that failovers go unnoticed there, and
// returns every other error.
func (d *durability) unknownLocked(err error) error {
	if !errors.Is(err, store.ErrIncarnationUnknown) {
		return err
	}
	if !d.warned {
		d.warned = true
		d.log.Warn("redis replication cannot be checked: commits do not wait for replicas, and a failover that loses writes goes unnoticed (docs/guarantees.md)",
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
