// A batch's final check of the masters, read with its last write instead
// of in a round trip of its own.

package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// BatchCheck lets a batch's final durability check (WaitReplicatedAfter)
// use what the batch's last settle read: on a single server that needs no
// replica, the check is INFO server and INFO replication after the batch's
// writes, and Settle, the last write of a batch, sends those two in its
// own pipeline, after its writes. That saves the batch a round trip,
// which on a busy server means waiting behind every other worker's
// pipelines. Every write through the store with the batch's context
// (Save, Settle) marks it unchecked first, so an observation counts only
// when no write of the batch followed it.
type BatchCheck struct {
	mu       sync.Mutex
	observed bool // a settle read the masters after the batch's writes so far
	id       string
	online   int // replicas online, by that INFO
}

type batchCheckKey struct{}

// WithBatchCheck returns ctx carrying bc to the store's writes.
func WithBatchCheck(ctx context.Context, bc *BatchCheck) context.Context {
	return context.WithValue(ctx, batchCheckKey{}, bc)
}

func batchCheckFrom(ctx context.Context) *BatchCheck {
	bc, _ := ctx.Value(batchCheckKey{}).(*BatchCheck)
	return bc
}

// wrote forgets any observation: a write follows it.
func (bc *BatchCheck) wrote() {
	if bc == nil {
		return
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.observed = false
}

// observe records the masters as read after the batch's writes.
func (bc *BatchCheck) observe(id string, online int) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.observed, bc.id, bc.online = true, id, online
}

// last returns the observation, if no write followed it.
func (bc *BatchCheck) last() (id string, online int, ok bool) {
	if bc == nil {
		return "", 0, false
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.id, bc.online, bc.observed
}

// singleServer returns the address of the one server a non-cluster
// client talks to.
func (r *Redis) singleServer() (string, bool) {
	n, ok := r.client.(*redis.Client)
	if !ok {
		return "", false
	}
	return n.Options().Addr, true
}

// WaitReplicatedAfter is WaitReplicated within a batch whose context
// carries a BatchCheck: when the batch's last write read the masters
// after it (a single server) and no write of the batch came since, and
// that server needs no replica to acknowledge, it answers from that
// reading, as WaitReplicated would have after its own INFO; otherwise
// (and without a BatchCheck) it is WaitReplicated.
func (r *Redis) WaitReplicatedAfter(ctx context.Context, cfg ReplicaWait) (Incarnation, error) {
	id, online, ok := batchCheckFrom(ctx).last()
	addr, single := r.singleServer()
	if !ok || !single {
		return r.WaitReplicated(ctx, cfg)
	}
	cfg = cfg.withDefaults()
	if expected, known := r.expectedReplicas(addr); known && needed(cfg, expected) > 0 {
		return r.WaitReplicated(ctx, cfg)
	}
	if needed(cfg, r.observeReplicas(addr, id, online, cfg.LostReplicaGrace)) > 0 {
		return r.WaitReplicated(ctx, cfg)
	}
	return Incarnation(id), nil
}
