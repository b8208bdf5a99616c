package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// committer commits, within gen, the offsets the workers hand it, merging
// everything that queued up meanwhile into one commit (the highest offset
// per partition), until in is closed and drained or ctx ends. Every offset
// it gets belongs to a batch whose effects are durable, and a worker hands
// over a partition's batches in order, so the highest offset of a
// partition covers all before it.
//
// The commits are failing from a failed attempt until one succeeds (after
// a commit given up on, too), or until the next generation starts
// (runGeneration).
func (c *Consumer) committer(ctx context.Context, gen *kafka.Generation, in <-chan map[partitionKey]kafka.Message) {
	// committed is the next offset committed per partition in this
	// generation: a commit never moves a partition backwards.
	committed := map[partitionKey]int64{}
	for next := range in {
		open := mergeQueued(next, in)
		if !c.commitWithRetry(ctx, gen, committed, next) || !open {
			return
		}
	}
}

// mergeQueued merges into next the offsets of every batch already waiting
// in in; false when in is closed.
func mergeQueued(next map[partitionKey]kafka.Message, in <-chan map[partitionKey]kafka.Message) bool {
	for {
		select {
		case more, ok := <-in:
			if !ok {
				return false
			}
			for _, m := range more {
				keepHighest(next, m)
			}
		default:
			return true
		}
	}
}

// commitWithRetry commits the given records' offsets (one per partition)
// in gen, skipping partitions already committed as far. It returns false
// only when ctx ended first.
//
// The commit carries gen's id, so the broker refuses it once the group has
// moved on to a later generation: a member that lost a partition can never
// move its committed offset back below what the new owner committed. Such
// a refusal is final; the partition's owner reads those records again, and
// the state's offset guard skips what is already applied (SPEC §6).
func (c *Consumer) commitWithRetry(ctx context.Context, gen *kafka.Generation, committed map[partitionKey]int64, last map[partitionKey]kafka.Message) bool {
	offsets := map[string]map[int]int64{}
	var msgs []kafka.Message
	for k, m := range last {
		if m.Offset+1 <= committed[k] {
			continue
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int]int64{}
		}
		offsets[k.topic][k.partition] = m.Offset + 1
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return true
	}
	for attempt := 0; ; attempt++ {
		err := gen.CommitOffsets(offsets)
		if err == nil {
			for _, m := range msgs {
				committed[partitionKey{m.Topic, m.Partition}] = m.Offset + 1
			}
			if c.cfg.OnCommit != nil {
				for _, m := range msgs {
					c.cfg.OnCommit(m.Topic, m.Partition, max(m.HighWaterMark-m.Offset-1, 0))
				}
			}
			c.setHealth(commitPart, nil)
			return true
		}
		if generationOver(err) {
			c.cfg.Logger.Info("commit refused: the group has moved on to a new generation; the partitions' owners read these records again",
				zap.Int32("generation", gen.ID), zap.Error(err))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.setHealth(commitPart, fmt.Errorf("commit: %w", err))
		c.cfg.Logger.Warn("commit failed; retrying", zap.Error(err), zap.Int("attempt", attempt+1))
		if attempt >= 5 {
			// The records are redelivered to the partition's owner, and the
			// offset guard makes that harmless. Do not hold the workers
			// forever.
			c.cfg.Logger.Warn("giving up on commit; records will be redelivered", zap.Error(err))
			return true
		}
		if !sleepCtx(ctx, c.backoff(attempt)) {
			return false
		}
	}
}

// generationOver reports a commit error that no retry in the same
// generation can cure.
func generationOver(err error) bool {
	return errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.UnknownMemberId) ||
		errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.FencedInstanceID)
}
