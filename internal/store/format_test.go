// The stored format, pinned: what this build writes for a customer, and
// that it reads back what the previous builds wrote.

package store_test

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

var updateFormat = flag.Bool("update-format", false, "rewrite testdata/stored-format.json from this build's encoder")

// formatFile pins the hashes this build writes. A running deployment's
// Redis holds hashes in the format of the build before an upgrade, and
// during a rolling upgrade old and new consumers share them: a change of
// the layout (blob.go, the public fields' rendering) must still read what
// is in this file. Change the file only with such a change, by
// -update-format, and keep the old cases' bytes readable.
const formatFile = "stored-format.json"

// formatCase is one customer of formatFile: its public fields as Redis
// holds them, its private ones hex-encoded (they are binary).
type formatCase struct {
	// State names the formatStates entry the hash holds; Current says
	// the hash is in this build's layout. A case of an earlier layout,
	// kept when the layout changed (renamed, Current false), must still
	// read as its state.
	State      string            `json:"state"`
	Current    bool              `json:"current"`
	Predictive bool              `json:"predictive"` // written with SPEC §9's model on
	Public     map[string]string `json:"public"`
	Private    map[string]string `json:"private_hex"`
}

// formatState is a customer formatFile pins, and whether it is written
// with the predictive model on.
type formatState struct {
	state      aggregate.State
	predictive bool
}

// formatStates are the customers formatFile pins, built by applying
// events with the default model (so the bookkeeping is what Apply makes,
// in exact arithmetic), with the predictive fields a scoring would add
// set by hand (a scoring's floating point is not the format's business).
func formatStates(t *testing.T) map[string]formatState {
	t.Helper()
	m := aggregate.DefaultModel()
	orders, lifecycle := aggregate.TopicOf("orders"), aggregate.TopicOf("customer-lifecycle")
	apply := func(s *aggregate.State, src aggregate.SourceOffset, evs ...aggregate.Event) {
		for i := range evs {
			m.ApplyAt(s, &evs[i], src, evs[i].OccurredAt)
			src.Offset++
		}
	}
	refund := func(id, orderID, amount, margin, at string) aggregate.Event {
		ev := order(id, "c", amount, margin, at)
		ev.Kind, ev.OrderID = aggregate.OrderRefunded, orderID
		return ev
	}
	lifecycleEvent := func(kind aggregate.Kind, id, at string) aggregate.Event {
		return aggregate.Event{Kind: kind, EventID: id, CustomerID: "c", OccurredAt: mustTime(at)}
	}
	out := map[string]formatState{}

	var plain aggregate.State
	apply(&plain, aggregate.SourceOffset{Topic: orders, Partition: 2, Offset: 10},
		order("p1", "c", "120.00", "0.35", "2025-01-01T00:00:00Z"),
		order("p2", "c", "80.50", "0.35", "2025-02-01T00:00:00Z"),
		order("p3", "c", "310.25", "0.35", "2025-03-01T12:30:00Z"))
	out["three orders"] = formatState{state: plain}

	var full aggregate.State
	first := order("f1", "c", "1999.99", "0.333", "2024-05-05T05:05:05.123456789Z")
	first.Channel = "paid_search"
	apply(&full, aggregate.SourceOffset{Topic: orders, Partition: 7, Offset: 1_000_000_000_123},
		first,
		order("f2", "c", "49.95", "", "2024-06-01T00:00:00Z"),
		refund("r1", "o-f1", "100.00", "0.333", "2024-06-02T00:00:00Z"),
		refund("r2", "o-never-placed", "12.34", "0.333", "2024-06-03T00:00:00Z"))
	apply(&full, aggregate.SourceOffset{Topic: lifecycle, Partition: 7, Offset: 42},
		lifecycleEvent(aggregate.CustomerChurned, "l1", "2024-07-01T00:00:00Z"),
		lifecycleEvent(aggregate.CustomerReactivated, "l2", "2024-08-01T00:00:00Z"))
	for i := range 40 { // more ids than the dedupe window: the blob spans several pieces
		apply(&full, aggregate.SourceOffset{Topic: orders, Partition: 7, Offset: 2_000_000_000_000 + int64(i)},
			order("d"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), "c", "1.01", "0.5", "2024-06-10T00:00:00Z"))
	}
	full.PAlive, full.ExpectedOrders = money.MustParse("0.8123"), money.MustParse("2.5000")
	full.ExpectedSpend, full.PredictedCLV = money.MustParse("123.45"), money.MustParse("987.65")
	full.ScoredAt = mustTime("2024-08-01T00:00:00Z")
	full.TierDue = mustTime("2025-02-03T00:00:00Z")
	out["everything"] = formatState{state: full, predictive: true}

	var unicode aggregate.State
	ev := order("u1", "c", "5000.00", "1", "2023-12-31T23:59:59Z")
	ev.Channel = "e-mail ünd så"
	apply(&unicode, aggregate.SourceOffset{Topic: orders, Partition: 0, Offset: 0}, ev)
	out["one large order, non-ASCII channel"] = formatState{state: unicode}
	return out
}

// encodeNew is what a write of st to a customer not yet stored sends,
// with the default model or SPEC §9's predictive one.
func encodeNew(t *testing.T, st aggregate.State, predictive bool) map[string]string {
	t.Helper()
	m := aggregate.DefaultModel()
	if predictive {
		var f config.File
		if err := config.ParseFile([]byte(spectest.Predictive), &f); err != nil {
			t.Fatal(err)
		}
		var err error
		if m, err = f.Model(); err != nil {
			t.Fatal(err)
		}
	}
	w := store.Encode(m, &store.Snapshot{CustomerID: "c"}, &st, nil,
		store.EncodeOptions{Figures: true, Now: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)})
	set, _ := w.Changes()
	return set
}

func splitPrivate(name string, h map[string]string, predictive bool) formatCase {
	c := formatCase{State: name, Current: true, Predictive: predictive, Public: map[string]string{}, Private: map[string]string{}}
	for k, v := range h {
		if strings.HasPrefix(k, "_") {
			c.Private[k] = hex.EncodeToString([]byte(v))
		} else {
			c.Public[k] = v
		}
	}
	return c
}

// TestStoredFormatIsPinned: this build writes exactly the hashes of
// formatFile, and reads each of them back into a state that writes the
// same hash again (nothing it held is lost in the round trip).
func TestStoredFormatIsPinned(t *testing.T) {
	states := formatStates(t)
	path := filepath.Join("testdata", formatFile)
	if *updateFormat {
		cases := map[string]formatCase{}
		if b, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(b, &cases); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		for name, c := range cases {
			if c.Current {
				delete(cases, name) // rewritten below; earlier layouts' cases stay
			}
		}
		for name, st := range states {
			cases[name] = splitPrivate(name, encodeNew(t, st.state, st.predictive), st.predictive)
		}
		writePinned(t, path, cases)
	}
	var pinned map[string]formatCase
	readPinned(t, path, &pinned)
	for _, name := range slices.Sorted(maps.Keys(pinned)) {
		t.Run(name, func(t *testing.T) {
			c := pinned[name]
			stored := maps.Clone(c.Public)
			for k, v := range c.Private {
				raw, err := hex.DecodeString(v)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				stored[k] = string(raw)
			}
			st, ok := states[c.State]
			if !ok || st.predictive != c.Predictive {
				t.Fatalf("pinned as state %q (predictive %v), which formatStates does not build", c.State, c.Predictive)
			}
			want := encodeNew(t, st.state, st.predictive)
			snap, err := store.DecodeSnapshot("c", stored, "")
			if err != nil {
				t.Fatalf("this build cannot read a stored hash: %v", err)
			}
			if again := encodeNew(t, snap.State, c.Predictive); !maps.Equal(again, want) {
				t.Errorf("read back and written again, the hash is not what this build writes for its state:\n%s", diffHashes(want, again))
			}
			if c.Current && !maps.Equal(want, stored) {
				t.Errorf("this build writes another format than %s pins (see formatFile):\n%s", path, diffHashes(stored, want))
			}
		})
	}
	for name := range states {
		if c, ok := pinned[name]; !ok || !c.Current {
			t.Errorf("case %q is not in %s: run go test -run TestStoredFormatIsPinned -update-format", name, path)
		}
	}
}

// diffHashes lists the fields where two hashes differ.
func diffHashes(want, got map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, struct{}) bool) {
		for k := range want {
			yield(k, struct{}{})
		}
		for k := range got {
			yield(k, struct{}{})
		}
	}))) {
		w, inW := want[k]
		g, inG := got[k]
		if w != g || inW != inG {
			b.WriteString("  " + k + ": pinned " + quoteOrAbsent(w, inW) + ", now " + quoteOrAbsent(g, inG) + "\n")
		}
	}
	return b.String()
}

func quoteOrAbsent(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return hex.EncodeToString([]byte(v)) + " " + jsonQuote(v)
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// writePinned writes v as path's pinned content (with -update-format).
func writePinned(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readPinned reads path's pinned content into v.
func readPinned(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
