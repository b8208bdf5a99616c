// The clock's keys: each input partition's stream time and its index of
// customers' due times (SPEC §8).

package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Each input partition p (of both input topics: they are co-partitioned)
// has two keys, both with the hash tag {p<p>} so they share one Redis
// Cluster slot, apart from every customer's:
//   - ltv:{p<p>}:stream_time, the partition's stream time as fixed-width
//     RFC 3339 text (so that later times compare greater as strings);
//   - ltv:{p<p>}:timers, a sorted set of the partition's customers scored
//     by their next due time in Unix seconds, rounded up.
//
// The index cannot be written in the same atomic step as a customer's
// hash (another slot), so it is kept in step by re-deriving it: after every
// batch, each customer the batch loaded gets its entry from the state just
// written (or found) in its hash. A crash between the hash write and the
// index write leaves the batch uncommitted; its records are redelivered,
// the customers loaded again, and their entries derived again. A stale
// entry (too early, or for a customer with nothing due) only makes the
// customer load once more when stream time reaches it, which fires nothing
// (a timer fires once: the customer's clock moves past it) and corrects
// the entry.

// TimersKey is the key of partition p's due-time index.
func TimersKey(partition int32) string { return "ltv:{p" + strconv.Itoa(int(partition)) + "}:timers" }

// StreamTimeKey is the key of partition p's stream time.
func StreamTimeKey(partition int32) string {
	return "ltv:{p" + strconv.Itoa(int(partition)) + "}:stream_time"
}

// streamTimeLayout is RFC 3339 with always nine fractional digits, so two
// stored times compare as strings the way they compare as times (years
// 0000–9999, which the decoder enforces).
const streamTimeLayout = "2006-01-02T15:04:05.000000000Z"

// TimerUpdate sets a customer's entry in its partition's index: its next
// due time, or none (the entry is removed).
type TimerUpdate struct {
	Partition  int32
	CustomerID string
	Due        time.Time
	None       bool
}

// dueScore is the index score of a due time: Unix seconds rounded up, so
// an entry is never found before its due time (stream time ≥ score ≥ due).
func dueScore(due time.Time) float64 {
	s := due.Unix()
	if due.Nanosecond() > 0 {
		s++
	}
	return float64(s)
}

// StreamTimes reads the stored stream time of each partition (zero for a
// partition that has none yet), in one pipelined round trip.
func (r *Redis) StreamTimes(ctx context.Context, partitions []int32) (map[int32]time.Time, error) {
	cmds := make([]*redis.StringCmd, len(partitions))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, part := range partitions {
			cmds[i] = p.Get(ctx, StreamTimeKey(part))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read stream times: %w", err)
	}
	out := make(map[int32]time.Time, len(partitions))
	for i, part := range partitions {
		v, err := cmds[i].Result()
		if errors.Is(err, redis.Nil) {
			out[part] = time.Time{}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read stream time of partition %d: %w", part, err)
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("stream time of partition %d: %q is not a time: %w", part, v, err)
		}
		out[part] = t.UTC()
	}
	return out, nil
}

// advanceScript sets KEYS[1] to ARGV[1] unless it already holds a later
// time: stream time never moves back, even when a fenced-off consumer
// writes late.
var advanceScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 0`)

// SaveStreamTimes stores each partition's stream time, never moving one
// back.
func (r *Redis) SaveStreamTimes(ctx context.Context, times map[int32]time.Time) error {
	if len(times) == 0 {
		return nil
	}
	cmds := make([]*redis.Cmd, 0, len(times))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for part, t := range times {
			cmds = append(cmds, advanceScript.Eval(ctx, p, []string{StreamTimeKey(part)}, t.UTC().Format(streamTimeLayout)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save stream times: %w", err)
	}
	return nil
}

// DueTimers returns up to limit customers of partition p whose indexed due
// time is at or before until, earliest first.
func (r *Redis) DueTimers(ctx context.Context, partition int32, until time.Time, limit int) ([]string, error) {
	ids, err := r.client.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: TimersKey(partition), ByScore: true,
		Start: "-inf", Stop: strconv.FormatInt(int64(math.Floor(float64(until.Unix()))), 10),
		Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("due timers of partition %d: %w", partition, err)
	}
	return ids, nil
}

// CountDue counts the customers of partition p whose indexed due time is
// at or before until (for the timers-due metric).
func (r *Redis) CountDue(ctx context.Context, partition int32, until time.Time) (int64, error) {
	n, err := r.client.ZCount(ctx, TimersKey(partition), "-inf", strconv.FormatInt(until.Unix(), 10)).Result()
	if err != nil {
		return 0, fmt.Errorf("count due timers of partition %d: %w", partition, err)
	}
	return n, nil
}

// SetTimers writes the index entries, in one pipelined round trip.
func (r *Redis) SetTimers(ctx context.Context, updates []TimerUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range updates {
			if u.None {
				p.ZRem(ctx, TimersKey(u.Partition), u.CustomerID)
				continue
			}
			p.ZAdd(ctx, TimersKey(u.Partition), redis.Z{Score: dueScore(u.Due), Member: u.CustomerID})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write %d timer entries: %w", len(updates), err)
	}
	return nil
}
