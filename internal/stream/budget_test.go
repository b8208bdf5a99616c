package stream

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/segmentio/kafka-go"
)

// A partition's fetcher stops at its budget and goes on only when records
// of that partition went into a batch; a cancelled context ends the wait.
func TestLaneBudgetPausesTheFetcherUntilRecordsAreReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		budgets := laneBudgets{{"orders", 0}: newLaneBudget(3), {"orders", 1}: newLaneBudget(3)}
		b := budgets[partitionKey{"orders", 0}]
		var taken int
		done := make(chan bool)
		go func() {
			for range 5 {
				if !b.take(ctx) {
					done <- false
					return
				}
				taken++
			}
			done <- true
		}()
		synctest.Wait()
		if taken != 3 {
			t.Fatalf("took %d records with a budget of 3", taken)
		}
		// Records of another partition free nothing here.
		budgets.releaseBatch([]kafka.Message{{Topic: "orders", Partition: 1}})
		synctest.Wait()
		if taken != 3 {
			t.Fatalf("took %d after another partition's release, want 3", taken)
		}
		budgets.releaseBatch([]kafka.Message{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}, {Topic: "orders", Partition: 0}})
		if ok := <-done; !ok || taken != 5 {
			t.Fatalf("after releasing two: taken %d, finished %v; want 5, true", taken, ok)
		}
		if got := b.held.Load(); got != 3 {
			t.Fatalf("held %d, want 3", got)
		}

		go func() {
			ok := b.take(ctx)
			done <- ok
		}()
		time.Sleep(time.Minute)
		cancel()
		if <-done {
			t.Fatal("take returned true after its context ended at a full budget")
		}
	})
}

// A worker's topic partitions share its merge's bound: few keep the full
// per-lane budget, many get an equal part of the bound (at least one
// record), and no worker's lanes together hold more than the bound
// unless it has more lanes than the bound has records.
func TestWorkerLanesShareTheMergeBound(t *testing.T) {
	for _, tc := range []struct {
		name                                     string
		workers, partitions, perLane, mergeBound int
		want                                     map[int]int64 // worker → each of its lanes' limit
	}{
		{"few partitions keep the per-lane budget", 4, 8, 1000, 16000, map[int]int64{0: 1000, 1: 1000, 2: 1000, 3: 1000}},
		{"many partitions share the bound", 4, 64, 1000, 16000, map[int]int64{0: 500, 1: 500, 2: 500, 3: 500}},
		{"one worker, forty partitions", 1, 40, 1000, 16000, map[int]int64{0: 200}},
		{"uneven spread", 3, 4, 10, 6, map[int]int64{0: 1, 1: 3, 2: 3}},
		{"more lanes than the bound: one record each", 1, 10, 10, 4, map[int]int64{0: 1}},
		{"no merge", 1, 40, 1000, 0, map[int]int64{0: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := topicPartitions([]string{"orders", "customer-lifecycle"}, tc.partitions)
			budgets := newLaneBudgets(keys, tc.workers, tc.perLane, tc.mergeBound)
			held := map[int]int64{}
			lanes := map[int]int64{}
			for _, k := range keys {
				w := workerFor(k.partition, tc.workers)
				if got := budgets[k].limit; got != tc.want[w] {
					t.Errorf("%s/%d (worker %d): limit %d, want %d", k.topic, k.partition, w, got, tc.want[w])
				}
				held[w] += budgets[k].limit
				lanes[w]++
			}
			for w, sum := range held {
				if tc.mergeBound > 0 && sum > max(int64(tc.mergeBound), lanes[w]) {
					t.Errorf("worker %d may hold %d fetched records, past its merge's bound %d", w, sum, tc.mergeBound)
				}
			}
		})
	}
}

// A worker reading many partitions from a backlog: every lifecycle lane
// has fetched as far as its budget lets it, all later in event time than
// the orders not fetched yet. With the lanes sharing the merge's bound,
// the merge holds them all back instead of letting some go in fetch
// order, and each partition's orders record goes before its lifecycle
// records.
func TestManyPartitionsKeepTheMergedOrder(t *testing.T) {
	const partitions, perLane, bound = 20, 10, 40
	topics := []string{"orders", "customer-lifecycle"}
	budgets := newLaneBudgets(topicPartitions(topics, partitions), 1, perLane, bound)
	notCaughtUp := func(context.Context, string, int) (bool, error) { return false, nil }
	m := newMerger(topics, dayTime, time.Hour, bound, notCaughtUp)
	ctx := context.Background()
	rec := func(topic string, p int, offset int64, hwm int64, day int) kafka.Message {
		return kafka.Message{Topic: topic, Partition: p, Offset: offset, HighWaterMark: hwm, Value: []byte(fmt.Sprint(day))}
	}
	for p := range partitions {
		b := budgets[partitionKey{"customer-lifecycle", p}]
		for off := int64(0); b.held.Load() < b.limit; off++ {
			if !b.take(ctx) {
				t.Fatal("take failed with room in the budget")
			}
			m.addNow(rec("customer-lifecycle", p, off, 1000, 50+int(off)))
		}
	}
	if got := strings.Fields(drain(m)); len(got) > 0 {
		t.Fatalf("%d lifecycle records went before the orders were fetched, first %s", len(got), got[0])
	}
	for p := range partitions {
		m.addNow(rec("orders", p, 0, 1, 1)) // the partition's only order: caught up after it
	}
	seenOrder := map[int]bool{}
	for {
		msg, ok := m.next(ctx)
		if !ok {
			break
		}
		switch msg.Topic {
		case "orders":
			seenOrder[msg.Partition] = true
		default:
			if !seenOrder[msg.Partition] {
				t.Fatalf("partition %d: lifecycle record %d went before the earlier order", msg.Partition, msg.Offset)
			}
		}
	}
	if len(seenOrder) != partitions {
		t.Fatalf("orders of %d partitions went, want %d", len(seenOrder), partitions)
	}
}

// topicPartitions lists partitions 0…n−1 of every topic.
func topicPartitions(topics []string, n int) []partitionKey {
	var keys []partitionKey
	for _, topic := range topics {
		for p := range n {
			keys = append(keys, partitionKey{topic, p})
		}
	}
	return keys
}
