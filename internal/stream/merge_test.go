package stream

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/segmentio/kafka-go"
)

// mergeRec is a record of topic "o" or "l", partition 0, whose value is its
// event time (a day number), or "x" for a record without one.
func mergeRec(topic string, offset, hwm int64, day string) kafka.Message {
	return kafka.Message{Topic: topic, Partition: 0, Offset: offset, HighWaterMark: hwm, Value: []byte(day)}
}

func dayTime(v []byte) (time.Time, bool) {
	var d int
	if _, err := fmt.Sscanf(string(v), "%d", &d); err != nil {
		return time.Time{}, false
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d), true
}

// addNow buffers a record arriving at the merge's clock's now.
func (m *merger) addNow(msg kafka.Message) { m.add(msg, m.now()) }

// feed adds records and returns what may go then (drain).
func feed(m *merger, recs ...kafka.Message) string {
	for _, r := range recs {
		m.addNow(r)
	}
	return drain(m)
}

// drain takes every record that may go, rendered "topic@offset".
func drain(m *merger) string {
	var out []string
	for {
		msg, ok := m.next(context.Background())
		if !ok {
			return strings.Join(out, " ")
		}
		out = append(out, fmt.Sprintf("%s@%d", msg.Topic, msg.Offset))
	}
}

func TestMergeOrdersByEventTimeAndWaitsForTheOtherTopic(t *testing.T) {
	clock := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	asked := 0
	answer := false
	m := newMerger([]string{"o", "l"}, dayTime, time.Second, 0, func(context.Context, string, int) (bool, error) {
		asked++
		return answer, nil
	})
	m.now = func() time.Time { return clock }

	// Orders 1, 5, 9 arrive first; the lifecycle lane is unknown and the
	// broker says it is not caught up: nothing may go.
	for i, d := range []string{"1", "5", "9"} {
		m.addNow(mergeRec("o", int64(i), 10, d))
	}
	if got := drain(m); got != "" {
		t.Fatalf("released %q before the lifecycle topic said anything", got)
	}
	// Lifecycle records on days 3 and 5 arrive (not the end of their
	// partition): merged by time, ties to the first topic; the order on
	// day 9 waits for the lifecycle lane again.
	if got := feed(m, mergeRec("l", 0, 5, "3"), mergeRec("l", 1, 5, "5")); got != "o@0 l@0 o@1 l@1" {
		t.Fatalf("merged %q", got)
	}
	// The lifecycle lane's last record reaches its high watermark: the
	// lane is caught up, and the order goes.
	if got := feed(m, mergeRec("l", 4, 5, "7")); got != "l@4 o@2" {
		t.Fatalf("merged %q", got)
	}
	// A record without a usable time goes as soon as it is at its head.
	if got := feed(m, mergeRec("o", 3, 10, "x")); got != "o@3" {
		t.Fatalf("merged %q", got)
	}
	if held, _ := m.waiting(); held != 0 {
		t.Fatalf("%d records still held", held)
	}
	if asked == 0 {
		t.Fatal("the broker was never asked about the unknown lane")
	}
}

func TestMergeWaitIsBounded(t *testing.T) {
	clock := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	m := newMerger([]string{"o", "l"}, dayTime, 2*time.Second, 0, func(context.Context, string, int) (bool, error) {
		return false, nil // the broker never says the lane is caught up
	})
	m.now = func() time.Time { return clock }
	if got := feed(m, mergeRec("o", 0, 10, "1"), mergeRec("o", 1, 10, "2")); got != "" {
		t.Fatalf("released %q at once", got)
	}
	if _, wake := m.waiting(); wake > 2*time.Second {
		t.Fatalf("wake after %s, want at most the max wait", wake)
	}
	clock = clock.Add(time.Second)
	if got := drain(m); got != "" {
		t.Fatalf("released %q before the max wait", got)
	}
	clock = clock.Add(time.Second)
	// After the max wait the lane counts as caught up: both go, and the
	// second does not wait again.
	if got := drain(m); got != "o@0 o@1" {
		t.Fatalf("merged %q", got)
	}
	if m.waits != 1 || m.boundReached {
		t.Fatalf("gave up %d times, for the bound %v; want once, for the silence", m.waits, m.boundReached)
	}
	// A record of the silent lane arrives: it constrains again.
	if got := feed(m, mergeRec("l", 0, 5, "3"), mergeRec("o", 2, 10, "4")); got != "l@0" {
		t.Fatalf("merged %q", got)
	}
}

// TestMergeDoesNotDependOnArrivalOrder: the same two topic partitions,
// delivered in different interleavings (as fetches do), merge into the
// same order.
func TestMergeDoesNotDependOnArrivalOrder(t *testing.T) {
	orders := []string{"1", "2", "2", "8", "4", "9", "12"} // one late record (4)
	lifecycle := []string{"2", "3", "9", "10"}
	run := func(pattern []bool) string {
		m := newMerger([]string{"o", "l"}, dayTime, time.Hour, 0, nil)
		var out []string
		oi, li := 0, 0
		for _, takeOrder := range pattern {
			if takeOrder && oi < len(orders) {
				m.addNow(mergeRec("o", int64(oi), int64(len(orders)), orders[oi]))
				oi++
			} else if li < len(lifecycle) {
				m.addNow(mergeRec("l", int64(li), int64(len(lifecycle)), lifecycle[li]))
				li++
			}
			if got := drain(m); got != "" {
				out = append(out, got)
			}
		}
		return strings.Join(out, " ")
	}
	want := run([]bool{true, true, true, true, true, true, true, false, false, false, false})
	for _, pattern := range [][]bool{
		{false, false, false, false, true, true, true, true, true, true, true},
		{true, false, true, false, true, false, true, false, true, true, true},
		{false, true, true, true, false, false, true, true, false, true, true},
	} {
		if got := run(pattern); got != want {
			t.Fatalf("interleaving %v merged\n%s\nwant\n%s", pattern, got, want)
		}
	}
	if want != "o@0 o@1 o@2 l@0 l@1 o@3 o@4 o@5 l@2 l@3 o@6" {
		t.Fatalf("merged %s", want)
	}
}

// TestMergeHoldsBoundedRecords: past MergeMaxHeld held records, a record
// that would wait goes at once.
func TestMergeHoldsBoundedRecords(t *testing.T) {
	m := newMerger([]string{"o", "l"}, dayTime, time.Hour, 2, func(context.Context, string, int) (bool, error) { return false, nil })
	if got := feed(m, mergeRec("o", 0, 10, "1"), mergeRec("o", 1, 10, "2")); got != "" {
		t.Fatalf("released %q within the bound", got)
	}
	if got := feed(m, mergeRec("o", 2, 10, "3")); got != "o@0 o@1 o@2" {
		t.Fatalf("merged %q, want all three once the bound is passed", got)
	}
	if m.waits != 1 || !m.boundReached || m.gaveUpOn != (partitionKey{"l", 0}) {
		t.Fatalf("gave up %d times, on %v, for the bound %v; want once, on l/0, for the bound", m.waits, m.gaveUpOn, m.boundReached)
	}
}

// TestMergeWaitsForALaneThatKeepsDelivering: a record waits for the other
// topic's partition longer than MergeMaxWait in all, because that
// partition keeps delivering earlier records (a few at a time, emptying
// in between); it goes only after them. Only a partition silent for
// MergeMaxWait is given up on.
func TestMergeWaitsForALaneThatKeepsDelivering(t *testing.T) {
	clock := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	m := newMerger([]string{"o", "l"}, dayTime, 2*time.Second, 0, func(context.Context, string, int) (bool, error) {
		return false, nil
	})
	m.now = func() time.Time { return clock }
	if got := feed(m, mergeRec("l", 0, 10, "50")); got != "" {
		t.Fatalf("released %q at once", got)
	}
	var merged []string
	for i := range 5 { // 7.5 s of waiting in all, 1.5 s between deliveries
		clock = clock.Add(1500 * time.Millisecond)
		if got := feed(m, mergeRec("o", int64(i), 100, strconv.Itoa(i+1))); got != "" {
			merged = append(merged, got)
		}
		if _, wake := m.waiting(); wake <= 0 || wake > 2*time.Second {
			t.Fatalf("after delivery %d: wake after %s, want within (0, 2s]", i, wake)
		}
	}
	if got := strings.Join(merged, " "); got != "o@0 o@1 o@2 o@3 o@4" {
		t.Fatalf("merged %q while the orders lane kept delivering, want only its records", got)
	}
	clock = clock.Add(2 * time.Second) // now silent for the max wait
	if got := drain(m); got != "l@0" {
		t.Fatalf("merged %q after the lane fell silent, want l@0", got)
	}
}

// A worker away from its queue, handling a batch (retried through a Redis
// outage, in TestChaos), does not hear its lanes: their records wait
// unread in the queue. That time is not a lane's silence. Here a
// lifecycle record (day 3) waits for the orders lane when the worker
// leaves with a batch for longer than the merge's max wait; meanwhile the
// order of day 2 is fetched into the queue. Back, the worker must merge it
// first. (Counting the time away, the lifecycle record went at once, in
// fetch order: TestChaos saw the merge give up right after every batch
// the Redis restart held, and segment events that a replay does not make.)
//
// The bubble's clock is fake and moves only when every goroutine waits:
// the same interleaving on every run.
func TestMergeDoesNotCountTheWorkersTimeAwayAsSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxWait, handling = 2 * time.Second, 5 * time.Second
		c := &Consumer{cfg: ConsumerConfig{MaxBatch: 10, Linger: 10 * time.Millisecond}}
		notCaughtUp := func(context.Context, string, int) (bool, error) { return false, nil }
		m := newMerger([]string{"o", "l"}, dayTime, maxWait, 0, notCaughtUp)
		q := make(chan kafka.Message, 10)
		linger := time.NewTimer(time.Hour)
		linger.Stop()
		collect := func() []kafka.Message {
			var batch []kafka.Message
			if !c.collect(context.Background(), q, m, &batch, linger) {
				t.Fatal("queue reported closed")
			}
			return batch
		}

		q <- mergeRec("o", 0, 100, "1")
		q <- mergeRec("l", 0, 100, "3")
		got := collect() // the order of day 1 goes; day 3 waits for the orders lane
		go func() {      // the fetcher delivers while the worker is away
			time.Sleep(time.Second)
			q <- mergeRec("o", 1, 100, "2")
		}()
		time.Sleep(handling) // the batch is handled
		for len(got) < 3 {
			got = append(got, collect()...)
		}
		var order []string
		for _, msg := range got {
			order = append(order, msg.Topic+"@"+string(msg.Value))
		}
		if want := []string{"o@1", "o@2", "l@3"}; !slices.Equal(order, want) {
			t.Fatalf("merged %v, want %v", order, want)
		}
	})
}

// A process stopped while its merge waits (SIGSTOP, a paused VM) wakes
// long after the wait's end, but its fetchers did not run either: the
// stop is no lane's silence. Here the merge's clock jumps 30 s while a
// lifecycle record (day 3) waits for the orders lane, either between two
// rechecks of the merge or while a batch lingers (the linger then fires
// first); the order of day 2 arrives a second after the resume. It must go
// first. (Counting the stop, the resumed worker gave up at once and merged
// in fetch order, and a consumer frozen past its session wrote customers
// out of event-time order before learning it had lost them.)
func TestMergeDoesNotCountAStoppedProcessAsSilence(t *testing.T) {
	for _, tt := range []struct {
		name      string
		stoppedAt time.Duration // after the start; the batch lingers 10 ms, rechecks come every 200 ms
	}{
		{"between rechecks", 500 * time.Millisecond},
		{"while a batch lingers", 5 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const maxWait, stopped = 2 * time.Second, 30 * time.Second
				c := &Consumer{cfg: ConsumerConfig{MaxBatch: 10, Linger: 10 * time.Millisecond}}
				notCaughtUp := func(context.Context, string, int) (bool, error) { return false, nil }
				m := newMerger([]string{"o", "l"}, dayTime, maxWait, 0, notCaughtUp)
				var skew atomic.Int64 // what the wall clock gained while the process was stopped
				m.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
				q := make(chan kafka.Message, 10)
				linger := time.NewTimer(time.Hour)
				linger.Stop()

				q <- mergeRec("o", 0, 100, "1")
				q <- mergeRec("l", 0, 100, "3")
				go func() {
					time.Sleep(tt.stoppedAt)
					skew.Add(int64(stopped))
					time.Sleep(time.Second) // resumed: the fetcher delivers within the max wait
					q <- mergeRec("o", 1, 100, "2")
				}()
				var order []string
				for len(order) < 3 {
					var batch []kafka.Message
					if !c.collect(context.Background(), q, m, &batch, linger) {
						t.Fatal("queue reported closed")
					}
					for _, msg := range batch {
						order = append(order, msg.Topic+"@"+string(msg.Value))
					}
				}
				if want := []string{"o@1", "o@2", "l@3"}; !slices.Equal(order, want) {
					t.Fatalf("merged %v, want %v", order, want)
				}
			})
		})
	}
}
