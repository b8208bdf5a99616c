package store

import (
	"strconv"
	"testing"
	"time"
)

// The keys rendered together are the keys Key and PendingKey name.
func TestCustomerKeysAreKeyAndPendingKey(t *testing.T) {
	ids := []string{"c-1", "", "a much longer customer id with spaces", "c-{2}"}
	hash, pending := customerKeys(len(ids), func(i int) string { return ids[i] }, func(i int) bool { return i%2 == 0 })
	for i, id := range ids {
		wantPending := ""
		if i%2 == 0 {
			wantPending = PendingKey(id)
		}
		if hash[i] != Key(id) || pending[i] != wantPending {
			t.Errorf("%q: %q %q, want %q %q", id, hash[i], pending[i], Key(id), wantPending)
		}
	}
	hash, pending = customerKeys(1, func(int) string { return "x" }, nil)
	if hash[0] != Key("x") || pending[0] != "" {
		t.Errorf("without pending keys: %q %q", hash[0], pending[0])
	}
}

// Each partition's call carries its updates' (customer, score, version)
// triples in order, the score as the index stores it ("" removes).
func TestTimerCallsGroupTriplesByPartition(t *testing.T) {
	due := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	updates := []TimerUpdate{
		{Partition: 3, CustomerID: "a", Due: due, Version: "v1"},
		{Partition: 1, CustomerID: "b", None: true, Version: "v2"},
		{Partition: 3, CustomerID: "c", Due: due.Add(time.Hour), Version: "v3"},
	}
	calls := timerCalls(updates)
	if len(calls) != 2 || calls[0].keys[0] != TimersKey(3) || calls[1].keys[1] != TimerVersionsKey(1) {
		t.Fatalf("calls: %+v", calls)
	}
	score := func(t time.Time) string { return strconv.FormatFloat(dueScore(t), 'f', -1, 64) }
	want := [][]string{{"a", score(due), "v1", "c", score(due.Add(time.Hour)), "v3"}, {"b", "", "v2"}}
	for i, c := range calls {
		var got []string
		for _, a := range c.args {
			got = append(got, *a.(*string))
		}
		if len(got) != len(want[i]) {
			t.Fatalf("call %d: %q, want %q", i, got, want[i])
		}
		for j := range got {
			if got[j] != want[i][j] {
				t.Errorf("call %d: %q, want %q", i, got, want[i])
			}
		}
	}
}
