package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionalProducers feeds orders from transactional producers (as
// Kafka Streams, Flink or Connect with exactly-once write them), some
// transactions committed and some aborted, mixed with a plain producer's
// records in the same partitions. The consumer reads as Kafka's
// read_committed consumers do: an aborted order is never counted, a
// transaction still open is not read until it commits, and the
// transaction markers in the log are neither handled nor dead-lettered,
// yet committed past, so the group's lag reaches zero.
func TestTransactionalProducers(t *testing.T) {
	e := newEnv(t, 3)
	startService(t, e.config(t))
	ctx := testutil.Context(t, 60*time.Second)
	order := func(customer, id, amount string) *kgo.Record {
		return &kgo.Record{Topic: settings.DefaultOrdersTopic, Key: []byte(customer), Value: orderValue(customer, id, amount)}
	}
	txn, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.TransactionalID("ltv-test-tx"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(txn.Close)
	plain, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Close)
	transaction := func(commit bool, recs ...*kgo.Record) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	customers := []string{"c-1", "c-2", "c-3", "c-4", "c-5", "c-6"}
	want := map[string]int{}        // orders counted per customer
	wantRevenue := map[string]int{} // their revenue in cents
	for round := 0; round < 4; round++ {
		commit := round%2 == 0
		var recs []*kgo.Record
		for _, c := range customers {
			recs = append(recs, order(c, fmt.Sprintf("tx%d-%s", round, c), "100.00"))
			if commit {
				want[c]++
				wantRevenue[c] += 10000
			}
		}
		transaction(commit, recs...)
		// A plain producer's order between the transactions.
		c := customers[round]
		if err := plain.ProduceSync(ctx, order(c, fmt.Sprintf("plain%d", round), "1.00")).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[c]++
		wantRevenue[c] += 100
	}
	// An open transaction: its order is not read until it commits.
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, order("c-1", "late", "100.00")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	wantOrders := func() error {
		for _, c := range customers {
			got := e.rc.HGet(ctx, "ltv:{"+c+"}", "orders").Val()
			if got != fmt.Sprint(want[c]) {
				return fmt.Errorf("%s has %q orders, want %d", c, got, want[c])
			}
		}
		return nil
	}
	if err := waitFor(ctx, "the committed orders counted", func() bool { return wantOrders() == nil }); err != nil {
		t.Fatal(err, wantOrders())
	}
	time.Sleep(time.Second)
	if err := wantOrders(); err != nil {
		t.Fatalf("an order of an open transaction was read: %v", err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	want["c-1"]++
	wantRevenue["c-1"] += 10000
	if err := waitFor(ctx, "the last transaction's order counted", func() bool { return wantOrders() == nil }); err != nil {
		t.Fatal(err, wantOrders())
	}
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil {
		t.Fatalf("the group does not commit past the transaction markers: %v", err)
	}
	dlq, err := testutil.ReadAll(ctx, e.brokers, settings.DefaultDLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dlq {
		t.Errorf("dead letter %q %q (%v)", m.Key, m.Value, headerMap(m.Headers))
	}
	// The revenue is the committed orders' only: no aborted 100.00 in it.
	for _, c := range customers {
		rev := e.rc.HGet(ctx, "ltv:{"+c+"}", "revenue").Val()
		if w := fmt.Sprintf("%d.%02d", wantRevenue[c]/100, wantRevenue[c]%100); rev != w {
			t.Errorf("%s: revenue %q, want %s", c, rev, w)
		}
	}
}

// orderValue is an order_placed event of customer, with its own order id,
// at one fixed time.
func orderValue(customer, eventID, amount string) []byte {
	return fmt.Appendf(nil, `{"schema":"ltv.order.v1","event_id":%q,"type":"order_placed","customer_id":%q,"order_id":%q,`+
		`"amount":%q,"currency":"SEK","occurred_at":"2026-03-01T12:00:00Z"}`, eventID, customer, "o-"+eventID, amount)
}

func headerMap(hs []kafka.Header) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}
