package stream

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// The merge: a worker hands the handler each partition's records of all
// the input topics in event-time order, not in the order the fetches
// happened to deliver them. The two input topics are co-partitioned
// (partition p of both holds the same customers), and event time drives
// stream time, timers and segments (SPEC §8): with the records of
// partition p of both topics in one order that depends only on what the
// topics hold, a replay of the same topics gives the same results, event
// for event, whichever topic the fetches served first.
//
// Within a topic partition the offset order is kept (so commits stay
// correct). Between the topics, the record with the earlier event time
// goes first (ties: the topic listed first). A head record can therefore
// go only when every other topic's partition has a buffered record at or
// after its time, or has nothing more to give: it is known caught up (its
// last record reached its high watermark, or the group has committed
// everything in it). While neither is known the record waits, until the
// partition it waits for has delivered nothing for MergeMaxWait while the
// worker was taking records (then it goes anyway, trading determinism for
// progress; the time the worker spends handling a batch, or the process
// spends stopped, is no partition's silence: merger.back), and only while the
// worker holds at most MergeMaxHeld records (which the worker's fetchers
// share, so they stop before it: see newLaneBudgets).

// mergeKey names one partition number across the topics.
type mergeKey = int

// mergeLane is one topic partition's buffered records and what is known
// of its end.
type mergeLane struct {
	// queue[head:] are the buffered records; the consumed front is
	// reclaimed when the lane empties (or has drifted far), so appending
	// does not copy the whole queue again and again.
	queue []timedMessage
	head  int
	// caughtUp: its last record reached the high watermark, or the group
	// committed every record it had when last asked (until a new record
	// arrives).
	caughtUp bool
	// checkedAt is when caughtUp was last asked of the broker (zero:
	// never); asked again after mergeRecheck while the lane is empty.
	checkedAt time.Time
	// lastAdded is when its last record arrived (zero: none yet). A head
	// waiting for this lane gives up only once the lane has been silent
	// for MergeMaxWait: a lane that keeps delivering (records earlier
	// than the head, a few at a time) is not stalled, however long the
	// head has waited in all.
	lastAdded time.Time
}

type timedMessage struct {
	msg kafka.Message
	at  time.Time
	// held is when the record started waiting at the head of its lane
	// (zero while it is not at the head or not waiting); giveUp is when
	// it stops waiting if the lane it waits for stays silent.
	held, giveUp time.Time
}

// merger orders one worker's records. Not safe for concurrent use: it
// belongs to its worker goroutine.
type merger struct {
	topics    []string
	eventTime func([]byte) (time.Time, bool)
	maxWait   time.Duration
	// maxHeld bounds the records the merge may hold back: beyond it, a
	// record that would wait goes at once (memory before determinism).
	maxHeld int
	// caughtUp asks the broker whether a topic partition has nothing the
	// group has not committed (nil: never caught up until its records say
	// so).
	caughtUp func(ctx context.Context, topic string, partition int) (bool, error)
	now      func() time.Time
	lanes    map[mergeKey][]*mergeLane // per partition, one lane per topic (topics order)
	held     int
	// waits counts the times the merge stopped waiting for a topic
	// partition, for the log: gaveUpOn is the last one, and boundReached
	// says whether it was for the bound (MergeMaxHeld) rather than for the
	// partition's silence (MergeMaxWait).
	waits        int
	gaveUpOn     partitionKey
	boundReached bool
	// awaySince is when the worker stopped taking records from its queue
	// to handle a batch (zero while it takes them): see back.
	awaySince time.Time
}

// mergeStallSlack is how late the worker's wake-up may come before the
// wait is taken for a stall of the process rather than a lane's silence:
// far above a busy scheduler's lateness, far below a stopped process's.
const mergeStallSlack = time.Second

// mergeRecheck is how often an empty lane that is not known caught up is
// asked about again.
const mergeRecheck = 200 * time.Millisecond

func newMerger(topics []string, eventTime func([]byte) (time.Time, bool), maxWait time.Duration, maxHeld int,
	caughtUp func(ctx context.Context, topic string, partition int) (bool, error)) *merger {
	return &merger{topics: topics, eventTime: eventTime, maxWait: maxWait, maxHeld: maxHeld, caughtUp: caughtUp,
		now: time.Now, lanes: map[mergeKey][]*mergeLane{}}
}

func (m *merger) topicIndex(topic string) int {
	for i, t := range m.topics {
		if t == topic {
			return i
		}
	}
	return -1
}

func (m *merger) lanesOf(p int) []*mergeLane {
	ls := m.lanes[p]
	if ls == nil {
		ls = make([]*mergeLane, len(m.topics))
		for i := range ls {
			ls[i] = &mergeLane{}
		}
		m.lanes[p] = ls
	}
	return ls
}

// add buffers a fetched record that arrived at arrived.
func (m *merger) add(msg kafka.Message, arrived time.Time) {
	ti := m.topicIndex(msg.Topic)
	if ti < 0 {
		ti = 0 // not an input topic of this consumer: never happens
	}
	lane := m.lanesOf(msg.Partition)[ti]
	at, ok := m.eventTime(msg.Value)
	if !ok {
		// No usable time (a record for the DLQ): it goes as soon as it is
		// at the head, without waiting for the other topics.
		at = time.Time{}
	}
	if lane.head > 0 && lane.head == len(lane.queue) {
		lane.queue, lane.head = lane.queue[:0], 0
	} else if lane.head > 1024 && lane.head*2 > len(lane.queue) {
		n := copy(lane.queue, lane.queue[lane.head:])
		clear(lane.queue[n:])
		lane.queue, lane.head = lane.queue[:n], 0
	}
	lane.queue = append(lane.queue, timedMessage{msg: msg, at: at})
	lane.caughtUp = msg.HighWaterMark > 0 && msg.Offset+1 >= msg.HighWaterMark
	lane.lastAdded = arrived
	m.held++
}

// next returns the next record that may go, in merged order, and false
// when none may go yet.
func (m *merger) next(ctx context.Context) (kafka.Message, bool) {
	for p, ls := range m.lanes {
		if msg, ok := m.nextOf(ctx, p, ls); ok {
			m.held--
			return msg, true
		}
	}
	return kafka.Message{}, false
}

func (m *merger) nextOf(ctx context.Context, p int, ls []*mergeLane) (kafka.Message, bool) {
	best := -1
	for i, l := range ls {
		if l.empty() {
			continue
		}
		if best < 0 || l.front().at.Before(ls[best].front().at) {
			best = i
		}
	}
	if best < 0 {
		return kafka.Message{}, false
	}
	head := ls[best].front()
	if !head.at.IsZero() {
		for i, l := range ls {
			if i == best || !l.empty() || m.isCaughtUp(ctx, p, i, l) {
				continue
			}
			// Another topic may still hold an earlier record of this
			// partition: wait for it, within bounds. The wait counts from
			// the later of the head's first wait and the lane's last
			// record.
			now := m.now()
			if head.held.IsZero() {
				head.held = now
			}
			waitFrom := head.held
			if l.lastAdded.After(waitFrom) {
				waitFrom = l.lastAdded
			}
			head.giveUp = waitFrom.Add(m.maxWait)
			silent := !now.Before(head.giveUp)
			full := m.maxHeld > 0 && m.held > m.maxHeld
			if !silent && !full {
				return kafka.Message{}, false
			}
			// Waited long enough: this lane counts as caught up until a
			// record of it arrives, so the next heads do not wait again.
			m.waits++
			m.gaveUpOn, m.boundReached = partitionKey{m.topics[i], p}, !silent
			l.caughtUp = true
		}
	}
	msg := head.msg
	*head = timedMessage{}
	ls[best].head++
	return msg, true
}

// away notes that at now the worker stops taking records from its queue,
// to handle a batch.
func (m *merger) away(now time.Time) { m.awaySince = now }

// back notes that at now the worker takes records again. A lane's silence
// is measured only while the worker listens: what a lane delivered while
// the worker was away (handling a batch, retried through a Redis outage,
// say) waits unread in the queue. So the time away moves every waiting
// head's wait, and every lane's last arrival, forward by as much.
func (m *merger) back(now time.Time) {
	if m.awaySince.IsZero() {
		return
	}
	d := now.Sub(m.awaySince)
	m.awaySince = time.Time{}
	if d <= 0 {
		return
	}
	for _, ls := range m.lanes {
		for _, l := range ls {
			if !l.lastAdded.IsZero() {
				l.lastAdded = l.lastAdded.Add(d)
			}
			if l.empty() {
				continue
			}
			if h := l.front(); !h.held.IsZero() {
				h.held, h.giveUp = h.held.Add(d), h.giveUp.Add(d)
			}
		}
	}
}

// resumed notes that at now the worker woke from a wait that began at
// waitFrom and was to end by wakeAt. Woken far later than that, by
// whichever case, the process did not run (stopped, its VM paused,
// starved), and neither did its fetchers: the wait is no lane's silence,
// and counts as time away. Counted, it made a resumed worker give up at
// once and merge in fetch order. A zero waitFrom: nothing was waiting.
func (m *merger) resumed(waitFrom, wakeAt, now time.Time) {
	if waitFrom.IsZero() || now.Sub(wakeAt) <= mergeStallSlack {
		return
	}
	m.away(waitFrom)
	m.back(now)
}

func (l *mergeLane) empty() bool { return l.head >= len(l.queue) }

func (l *mergeLane) front() *timedMessage { return &l.queue[l.head] }

// isCaughtUp says whether an empty lane is known to have nothing more:
// from its last record's high watermark, or by asking the broker (at most
// every mergeRecheck while it stays unknown).
func (m *merger) isCaughtUp(ctx context.Context, p, ti int, l *mergeLane) bool {
	if l.caughtUp || m.caughtUp == nil {
		return l.caughtUp
	}
	now := m.now()
	if !l.checkedAt.IsZero() && now.Sub(l.checkedAt) < mergeRecheck {
		return false
	}
	l.checkedAt = now
	ok, err := m.caughtUp(ctx, m.topics[ti], p)
	if err == nil && ok {
		l.caughtUp = true
	}
	return l.caughtUp
}

// waiting reports whether records are buffered, and when the earliest
// waiting head will stop waiting if nothing arrives (or a recheck is due),
// so the worker knows how long it may block for more records.
func (m *merger) waiting() (int, time.Duration) {
	if m.held == 0 {
		return 0, 0
	}
	wake := mergeRecheck
	now := m.now()
	for _, ls := range m.lanes {
		for _, l := range ls {
			if !l.empty() && !l.front().giveUp.IsZero() {
				if left := l.front().giveUp.Sub(now); left < wake {
					wake = max(left, 0)
				}
			}
		}
	}
	return m.held, wake
}
