package store

import (
	"math/rand/v2"
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
	score := func(t time.Time) string { return string(appendScore(nil, t)) }
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

// Scores never reverse two times' order (the index relies on it to find
// every due customer), and Redis reads the rendered score back as the
// same float64.
func TestTimeScoreKeepsTheOrderOfTimes(t *testing.T) {
	base := []time.Time{
		time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2, 1, 1, 0, 0, 0, 1, time.UTC),
	}
	steps := []time.Duration{1, 7, 100, time.Microsecond, 999_999_999, time.Second, time.Second + 1, 90 * 24 * time.Hour}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20_000; i++ {
		a := base[i%len(base)].Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		b := a.Add(steps[rng.IntN(len(steps))])
		if sa, sb := timeScore(a), timeScore(b); sa > sb {
			t.Fatalf("score of %s (%v) above that of the later %s (%v)", a.Format(time.RFC3339Nano), sa, b.Format(time.RFC3339Nano), sb)
		}
		text := string(appendScore(nil, a))
		if back, err := strconv.ParseFloat(text, 64); err != nil || back != timeScore(a) {
			t.Fatalf("score text %q reads back as %v, %v", text, back, err)
		}
	}
}
