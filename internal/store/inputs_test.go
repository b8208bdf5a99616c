package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestCheckInputLogs: the first ids seen are recorded, the same ids pass,
// an unknown id ("") is neither recorded nor compared, and a different id
// is a mismatch naming the topic, both ids and the way out.
func TestCheckInputLogs(t *testing.T) {
	st, srv := newStore(t)
	ctx := testutil.Context(t, 30*time.Second)
	first := map[string]string{"cluster_id": "k1", "topic_id:orders": "aa", "topic_id:customer-lifecycle": ""}
	for i := 0; i < 2; i++ {
		if err := st.CheckInputLogs(ctx, first); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if got := srv.Client().HGetAll(ctx, store.InputsKey).Val(); len(got) != 2 || got["cluster_id"] != "k1" || got["topic_id:orders"] != "aa" {
		t.Fatalf("recorded %v", got)
	}
	// Known later: recorded then.
	if err := st.CheckInputLogs(ctx, map[string]string{"cluster_id": "k1", "topic_id:customer-lifecycle": "bb"}); err != nil {
		t.Fatal(err)
	}
	err := st.CheckInputLogs(ctx, map[string]string{"cluster_id": "k1", "topic_id:orders": "cc", "topic_id:customer-lifecycle": "bb"})
	var mismatch *store.InputLogMismatchError
	if !errors.As(err, &mismatch) || mismatch.Field != "topic_id:orders" || mismatch.Recorded != "aa" || mismatch.Current != "cc" {
		t.Fatalf("CheckInputLogs = %v, want a mismatch of orders (aa, now cc)", err)
	}
	for _, want := range []string{"topic orders", "rebuild", store.InputsKey} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if srv.Client().HGet(ctx, store.InputsKey, "topic_id:orders").Val() != "aa" {
		t.Fatal("a mismatch overwrote the record")
	}
	if err := st.CheckInputLogs(ctx, map[string]string{"orders_topic": "orders"}); err != nil {
		t.Fatal(err)
	}
	err = st.CheckInputLogs(ctx, map[string]string{"orders_topic": "orders-v2"})
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "the orders input is now topic orders-v2") {
		t.Fatalf("CheckInputLogs = %v, want a renamed orders input", err)
	}
	err = st.CheckInputLogs(ctx, map[string]string{"cluster_id": "k2"})
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "the Kafka cluster") {
		t.Fatalf("CheckInputLogs = %v, want a cluster mismatch", err)
	}
}
