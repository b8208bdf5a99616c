package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// reindexer re-derives the timer index once when the consumer starts
// under other timer rules (segment thresholds, re-scoring period) than
// the index was derived under: a customer's entry holds the due time of
// the old rules, so a quiet customer would keep its old segment until
// then, and one already lapsed under shorter thresholds would never be
// reached (lapsed has no due time). Nothing else re-reads every customer
// (SPEC §8); this walk runs once per change, beside the batches, and
// only brings entries forward (store.Reindex), so it cannot lose a timer
// whatever the batches write meanwhile.
type reindexer struct {
	st    *store.Redis
	model *aggregate.Model
	log   *zap.Logger
	// owner names this process's lease; ttl is the lease's life, renewed
	// after every page.
	owner string
	ttl   time.Duration
	// retry is the wait after a failure or while another consumer holds
	// the lease; perSecond paces the walk (customers read per second), so
	// that a large base does not crowd out the batches' Redis work.
	retry     time.Duration
	perSecond int
	page      int
	// beforeLease, when set (tests), runs between the look at the
	// recorded rules and the taking of the lease.
	beforeLease func()
}

func newReindexer(st *store.Redis, m *aggregate.Model, log *zap.Logger) *reindexer {
	return &reindexer{st: st, model: m, log: log,
		owner: strconv.FormatInt(time.Now().UnixNano(), 36),
		ttl:   time.Minute, retry: 10 * time.Second, perSecond: 20000, page: 500}
}

// run returns once the recorded rules are the model's (after a walk, or
// at once when they were), or when ctx ends.
func (r *reindexer) run(ctx context.Context) {
	want := store.TimerRulesOf(r.model)
	for {
		done, err := r.attempt(ctx, want)
		if done || ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Warn("timer rules: checking them, or re-indexing after a change, failed; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.retry):
		}
	}
}

// attempt walks every customer when the recorded rules are not the
// model's (changed, or none recorded beside existing customers: a state
// from a build before the record) and this process gets the lease, then
// records them; on an empty database it only records them. Done once the
// recorded rules are the model's.
func (r *reindexer) attempt(ctx context.Context, want store.TimerRules) (done bool, err error) {
	if _, same, err := r.st.RecordedTimerRules(ctx, want); err != nil || same {
		return same, err
	}
	if r.beforeLease != nil {
		r.beforeLease()
	}
	ok, err := r.st.TakeReindexLease(ctx, r.owner, r.ttl)
	if err != nil || !ok {
		return false, err // another consumer is walking: look again later
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.st.ReleaseReindexLease(rctx, r.owner)
	}()
	// The lease's previous holder may have finished its walk, recorded the
	// rules and released the lease since the look above: look again under
	// the lease, so this consumer does not walk every customer once more.
	recorded, same, err := r.st.RecordedTimerRules(ctx, want)
	if err != nil || same {
		return same, err
	}
	if recorded == (store.TimerRules{}) {
		// A first start on an empty database has nothing to re-index:
		// the customers its batches create meanwhile are written under
		// these rules, and a walk would read each of them once more.
		found, err := r.st.HasCustomers(ctx)
		if err != nil {
			return false, err
		}
		if !found {
			err := r.st.SetTimerRules(ctx, want)
			return err == nil, err
		}
		r.log.Info("timer rules not recorded (a state from a build before the record): re-indexing every customer's due time",
			zap.Stringer("now", want))
	} else {
		r.log.Info("timer rules changed: re-indexing every customer's due time",
			zap.Stringer("recorded", recorded), zap.Stringer("now", want))
	}
	start := time.Now()
	read, indexed, unreadable := 0, 0, 0
	err = r.st.EachCustomer(ctx, r.page, func(snaps []store.Snapshot, errs []error) error {
		if err := r.st.RenewReindexLease(ctx, r.owner, r.ttl); err != nil {
			return err
		}
		readable := snaps[:0]
		for i := range snaps {
			if errs[i] != nil {
				unreadable++ // the consumer dead-letters its events and reports it
				continue
			}
			readable = append(readable, snaps[i])
		}
		n, err := r.st.Reindex(ctx, r.model, readable)
		if err != nil {
			return err
		}
		read, indexed = read+len(snaps), indexed+n
		// Paced: at most perSecond customers read per second.
		if ahead := time.Duration(read)*time.Second/time.Duration(r.perSecond) - time.Since(start); ahead > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(ahead):
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return false, nil
		}
		return false, err
	}
	if err := r.st.SetTimerRules(ctx, want); err != nil {
		return false, err
	}
	r.log.Info("timer rules changed: every customer re-indexed",
		zap.Int("customers", read), zap.Int("with_due_times", indexed),
		zap.Int("unreadable", unreadable), zap.Duration("took", time.Since(start)))
	return true, nil
}
