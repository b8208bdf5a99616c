// The clock's keys: each input partition's stream time and its index of
// customers' due times (SPEC §8).

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/redis/go-redis/v9"
)

// Each input partition p (of both input topics: they are co-partitioned)
// has two keys, both with the hash tag {p<p>} so they share one Redis
// Cluster slot, apart from every customer's:
//   - ltv:{p<p>}:stream_time, the partition's stream time as fixed-width
//     RFC 3339 text (so that later times compare greater as strings);
//   - ltv:{p<p>}:timers, a sorted set of the partition's customers scored
//     by their next due time in Unix seconds, with the fraction
//     (timeScore).
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
//
// An entry derived from an older state must never replace one derived from
// a newer state: a fenced-off consumer (paused, then resumed after its
// partition moved), or one answering from a stale state cache, would
// otherwise put back a later due time, or none, and the timer would be
// lost. So each entry carries the version of the state it came from, kept
// in ltv:{p<p>}:timer_versions, and the write script applies an update
// only when its version is at least the stored one. A state's version only
// grows: every applied or duplicate record raises its offset guard, every
// fired timer its clock (StateVersion).

// TimerVersionsKey is the key of partition p's index entry versions.
func TimerVersionsKey(partition int32) string {
	return "ltv:{p" + strconv.Itoa(int(partition)) + "}:timer_versions"
}

// StateVersion orders a customer's states: the sum of its offset guard's
// offsets, then its clock, as fixed-width text so versions compare as
// strings. Each state change raises it (a record moves the guard, a timer
// the clock); the same state always gives the same version.
func StateVersion(st *aggregate.State) string {
	var sum int64
	for _, a := range st.Applied {
		sum += a.Offset
	}
	var sec, nsec int64
	if !st.Clock.IsZero() {
		// Years 0000–9999 (what the decoder lets in), shifted to be positive.
		sec, nsec = st.Clock.Unix()+1e12, int64(st.Clock.Nanosecond())
	}
	// What Sprintf("%020d:%013d.%09d") writes, without its cost: every
	// customer a batch touches gets a version.
	const zero = "00000000000000000000:0000000000000.000000000"
	var b [len(zero)]byte
	copy(b[:], zero)
	if putDigits(b[:20], sum) && putDigits(b[21:34], sec) && putDigits(b[35:], nsec) {
		return string(b[:])
	}
	// Not expected (offsets are not negative and fit 20 digits, times are
	// shifted positive): Sprintf widens a field that does not fit.
	return fmt.Sprintf("%020d:%013d.%09d", sum, sec, nsec)
}

// putDigits writes v right-aligned over field's zeros; false when v is
// negative or has more digits than field.
func putDigits(field []byte, v int64) bool {
	if v < 0 {
		return false
	}
	for i := len(field) - 1; i >= 0 && v > 0; i-- {
		field[i] = byte('0' + v%10)
		v /= 10
	}
	return v == 0
}

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
// due time, or none (the entry is removed), derived from the state of
// StateVersion Version.
type TimerUpdate struct {
	Partition  int32     // input partition whose index (TimersKey) holds the entry
	CustomerID string    // the index member
	Due        time.Time // next due time, from Model.NextDue; ignored when None
	None       bool      // no timer: remove the entry
	Version    string    // StateVersion of the state Due came from; older updates are skipped
}

// timeScore is a time as an index score: Unix seconds and their fraction,
// as the nearest float64. Rounding never reverses two times' order, so a
// due time at or before a stream time scores at or below it, and the
// customer is found in the batch whose stream time passed its due time,
// to the nanosecond. Two times closer than the float's resolution
// (fractions of a microsecond in this era) may score alike, so a customer
// may be found a hair early: loaded, it fires nothing (its timers are
// checked against the exact stream time) and keeps its entry. Entries
// written before scores had fractions hold whole seconds rounded up, and
// are found up to a second late, never early.
func timeScore(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// appendScore appends t's score as Redis reads it back exactly (the
// shortest text of the float64).
func appendScore(dst []byte, t time.Time) []byte {
	return strconv.AppendFloat(dst, timeScore(t), 'f', -1, 64)
}

// StreamTimes reads the stored stream time of each partition (zero for a
// partition that has none yet), in one pipelined round trip.
func (r *Redis) StreamTimes(ctx context.Context, partitions []int32) (map[int32]time.Time, error) {
	var cmds []*redis.StringCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmds = queueStreamTimes(ctx, p, partitions)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read stream times: %w", err)
	}
	return readStreamTimes(partitions, cmds)
}

// queueStreamTimes queues a read of each partition's stream time.
func queueStreamTimes(ctx context.Context, p redis.Pipeliner, partitions []int32) []*redis.StringCmd {
	cmds := make([]*redis.StringCmd, len(partitions))
	for i, part := range partitions {
		cmds[i] = p.Get(ctx, StreamTimeKey(part))
	}
	return cmds
}

func readStreamTimes(partitions []int32, cmds []*redis.StringCmd) (map[int32]time.Time, error) {
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

// DueQuery asks for a page of one partition's due customers: up to Limit
// whose indexed due time is at or before Until, earliest first (ties by
// id), skipping the first Offset of them, or, with After, those up to and
// including the entry After.
type DueQuery struct {
	Partition     int32     // input partition whose index is read
	Until         time.Time // the partition's stream time: entries due at or before it
	Offset, Limit int       // page: skip Offset entries, return at most Limit
	// After, when set, is the last customer of the previous page: the page
	// continues from its place in the index, which costs Redis the same for
	// every page, where skipping Offset entries walks past all of them (a
	// batch paging through a million due customers spent seconds of Redis
	// on the walks alone). When After has left the index meanwhile, Offset
	// is used instead.
	After string
}

// dueAfterScript answers a DueQuery with After: the entries after it in
// the index's order whose score is at or below the query's until, at most
// limit of them. It starts from After's own score and skips only the
// entries tied with it up to After (ZRANK and ZCOUNT count them in
// O(log n)); without the member, it is the page by score and offset. All
// in one atomic step on the one sorted set, so the page is the one
// ZRANGE BYSCORE with the offset would give.
// KEYS: index. ARGV: after, until score, limit, offset.
var dueAfterScript = redis.NewScript(`
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then
  return redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE', 'LIMIT', ARGV[4], ARGV[3])
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local ties = rank - redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score) + 1
return redis.call('ZRANGE', KEYS[1], score, ARGV[2], 'BYSCORE', 'LIMIT', ties, ARGV[3])`)

// DueTimers answers the queries, one page per query, in one pipelined
// round trip: a batch asks for every partition it touched at once.
func (r *Redis) DueTimers(ctx context.Context, queries []DueQuery) ([][]string, error) {
	var cmds []dueCmd
	err := r.withScripts(ctx, func() error {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			cmds = queueDue(ctx, p, queries)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("due timers of %d partitions: %w", len(queries), err)
	}
	return readDue(queries, cmds)
}

// dueCmd reads one page's answer: a ZRANGE's, or dueAfterScript's.
type dueCmd func() ([]string, error)

func queueDue(ctx context.Context, p redis.Pipeliner, queries []DueQuery) []dueCmd {
	cmds := make([]dueCmd, len(queries))
	for i, q := range queries {
		until := string(appendScore(nil, q.Until))
		if q.After != "" {
			cmds[i] = dueAfterScript.EvalSha(ctx, p, []string{TimersKey(q.Partition)}, q.After, until, q.Limit, q.Offset).StringSlice
			continue
		}
		cmds[i] = p.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: TimersKey(q.Partition), ByScore: true,
			Start: "-inf", Stop: until,
			Offset: int64(q.Offset), Count: int64(q.Limit),
		}).Result
	}
	return cmds
}

// settleErr is the first error of a settle's own commands, a missing
// stream time's redis.Nil aside.
func settleErr(scripts []*redis.Cmd, gets []*redis.StringCmd, pages []dueCmd) error {
	failed := func(err error) bool { return err != nil && !errors.Is(err, redis.Nil) }
	for _, c := range scripts {
		if err := c.Err(); failed(err) {
			return err
		}
	}
	for _, c := range gets {
		if err := c.Err(); failed(err) {
			return err
		}
	}
	for _, c := range pages {
		if _, err := c(); failed(err) {
			return err
		}
	}
	return nil
}

func readDue(queries []DueQuery, cmds []dueCmd) ([][]string, error) {
	pages := make([][]string, len(queries))
	for i, cmd := range cmds {
		var err error
		if pages[i], err = cmd(); err != nil {
			return nil, fmt.Errorf("due timers of partition %d: %w", queries[i].Partition, err)
		}
	}
	return pages, nil
}

// CountDue counts the customers of partition p whose indexed due time is
// at or before until (for the timers-due metric).
func (r *Redis) CountDue(ctx context.Context, partition int32, until time.Time) (int64, error) {
	n, err := r.client.ZCount(ctx, TimersKey(partition), "-inf", string(appendScore(nil, until))).Result()
	if err != nil {
		return 0, fmt.Errorf("count due timers of partition %d: %w", partition, err)
	}
	return n, nil
}

// setTimersScript applies index updates of one partition. KEYS: the
// index, the versions. ARGV: triples of customer id, score ("" to remove),
// version. An update older than the stored version of its entry is
// skipped.
var setTimersScript = redis.NewScript(`
for i = 1, #ARGV, 3 do
  local id, score, version = ARGV[i], ARGV[i+1], ARGV[i+2]
  local cur = redis.call('HGET', KEYS[2], id)
  if (not cur) or cur <= version then
    if score == '' then
      redis.call('ZREM', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[1], score, id)
    end
    redis.call('HSET', KEYS[2], id, version)
  end
end
return 0`)

// timerCalls groups index updates into one setTimersScript call per
// partition, in the order the partitions first appear. The arguments
// point into updates (see evalShaArgs), which must stay unchanged until
// the calls have been sent, and the scores are rendered into one string:
// an update cost five small allocations before.
func timerCalls(updates []TimerUpdate) []scriptCall {
	scores := make([]string, len(updates))
	var text strings.Builder
	text.Grow(20 * len(updates)) // Unix seconds, a point and up to 9 more digits
	ends := make([]int, len(updates))
	callOf := map[int32]int{} // partition → its call, in order of first appearance
	var order []int32
	var counts []int
	for i := range updates {
		u := &updates[i]
		if !u.None {
			var buf [32]byte
			text.Write(appendScore(buf[:0], u.Due))
		}
		ends[i] = text.Len()
		c, ok := callOf[u.Partition]
		if !ok {
			c = len(order)
			callOf[u.Partition] = c
			order, counts = append(order, u.Partition), append(counts, 0)
		}
		counts[c]++
	}
	all, start := text.String(), 0
	for i, end := range ends {
		scores[i], start = all[start:end], end
	}
	args := make([]any, 3*len(updates))
	calls := make([]scriptCall, len(order))
	at := 0
	for c, part := range order {
		n := 3 * counts[c]
		calls[c] = scriptCall{script: setTimersScript, keys: []string{TimersKey(part), TimerVersionsKey(part)}, args: args[at : at : at+n]}
		at += n
	}
	for i := range updates {
		u := &updates[i]
		c := &calls[callOf[u.Partition]]
		c.args = append(c.args, &u.CustomerID, &scores[i], &u.Version) // within the call's part of args
	}
	return calls
}

// streamTimeCalls are the advanceScript calls storing times.
func streamTimeCalls(times map[int32]time.Time) []scriptCall {
	calls := make([]scriptCall, 0, len(times))
	for part, t := range times {
		calls = append(calls, scriptCall{script: advanceScript, keys: []string{StreamTimeKey(part)}, args: []any{t.UTC().Format(streamTimeLayout)}})
	}
	return calls
}

// Settle ends a batch in one round trip: it writes the index entries and
// the stream times (never moving one back), then reads the stored stream
// time of each queried partition and answers the due queries. The reads
// come after the writes in the pipeline, so they see this batch's writes
// and whatever another consumer wrote before them. With a BatchCheck in
// ctx, on a single server, it also reads the server's identity last, for
// the batch's final check (WaitReplicatedAfter).
func (r *Redis) Settle(ctx context.Context, updates []TimerUpdate, times map[int32]time.Time, due []DueQuery) (map[int32]time.Time, [][]string, error) {
	calls := append(timerCalls(updates), streamTimeCalls(times)...)
	parts := make([]int32, len(due))
	for i, q := range due {
		parts[i] = q.Partition
	}
	bc := batchCheckFrom(ctx)
	bc.wrote()
	addr, single := r.singleServer()
	var scripts []*redis.Cmd
	var gets []*redis.StringCmd
	var pages []dueCmd
	var info *identityRead
	err := r.withScripts(ctx, func() error {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			scripts = queueScripts(ctx, p, calls)
			gets = queueStreamTimes(ctx, p, parts)
			pages = queueDue(ctx, p, due)
			if bc != nil && single {
				read := queueIdentity(ctx, p)
				info = &read
			}
			return nil
		})
		if err != nil && info != nil {
			// The identity read is extra: a server refusing INFO fails
			// the final check, not the settle.
			err = settleErr(scripts, gets, pages)
		}
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("settle %d timer entries and %d stream times: %w", len(updates), len(times), err)
	}
	for _, c := range scripts {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, fmt.Errorf("settle: %w", err)
		}
	}
	stored, err := readStreamTimes(parts, gets)
	if err != nil {
		return nil, nil, err
	}
	out, err := readDue(due, pages)
	if err == nil && info != nil {
		// A server that refuses INFO leaves the final check to find out.
		if id, online, ierr := info.read(addr); ierr == nil {
			bc.observe(id, online)
		}
	}
	return stored, out, err
}
