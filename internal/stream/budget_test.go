package stream

import (
	"context"
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
				if _, ok := b.take(ctx); !ok {
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
			_, ok := b.take(ctx)
			done <- ok
		}()
		time.Sleep(time.Minute)
		cancel()
		if <-done {
			t.Fatal("take returned true after its context ended at a full budget")
		}
	})
}
