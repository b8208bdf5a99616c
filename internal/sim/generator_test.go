package sim_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/sim"
)

func generate(t *testing.T, cfg sim.Config) []sim.Record {
	t.Helper()
	g, err := sim.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []sim.Record
	for {
		r, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func TestDeterministic(t *testing.T) {
	cfg := sim.Config{Seed: 3, Customers: 200, Events: 3000, DuplicateRate: 0.05, LateRate: 0.05, BadRate: 0.05}
	a, b := generate(t, cfg), generate(t, cfg)
	if len(a) != 3000 || len(b) != 3000 {
		t.Fatalf("lengths %d %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Value, b[i].Value) || a[i].Label != b[i].Label {
			t.Fatalf("record %d differs between runs with the same seed", i)
		}
	}
	cfg.Seed = 4
	c := generate(t, cfg)
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("%d identical records for different seeds", same)
	}
}

// TestRecordsMatchTheirLabels: valid, late and duplicate records decode
// with the real decoder; bad records are rejected by it; keys equal the
// customer id; the fault rates are roughly respected; late events are
// really out of order.
func TestRecordsMatchTheirLabels(t *testing.T) {
	d, err := decode.New(decode.Config{})
	if err != nil {
		t.Fatal(err)
	}
	recs := generate(t, sim.Config{Seed: 1, Customers: 500, Events: 20000, DuplicateRate: 0.02, LateRate: 0.02, BadRate: 0.02})
	counts := map[sim.Label]int{}
	kinds := map[string]int{}
	var latest time.Time
	outOfOrder := 0
	seen := map[string]bool{}
	for i, r := range recs {
		counts[r.Label]++
		ev, err := d.Decode(r.Value)
		if r.Label == sim.LabelBad {
			if err == nil {
				t.Fatalf("record %d (%s) was accepted: %s", i, r.BadReason, r.Value)
			}
			continue
		}
		if err != nil {
			t.Fatalf("record %d (%s) rejected: %v: %s", i, r.Label, err, r.Value)
		}
		if ev.CustomerID != string(r.Key) {
			t.Fatalf("key %s for customer %s", r.Key, ev.CustomerID)
		}
		kinds[ev.Kind.String()]++
		if r.Label == sim.LabelDuplicate && !seen[ev.EventID] {
			t.Fatalf("duplicate %d of an event not seen before", i)
		}
		seen[ev.EventID] = true
		if r.Label == sim.LabelLate && ev.OccurredAt.Before(latest) {
			outOfOrder++
		}
		if ev.OccurredAt.After(latest) {
			latest = ev.OccurredAt
		}
		if !json.Valid(r.Value) {
			t.Fatalf("invalid JSON accepted: %s", r.Value)
		}
	}
	for _, l := range []sim.Label{sim.LabelDuplicate, sim.LabelLate, sim.LabelBad} {
		if n := counts[l]; n < 200 || n > 700 {
			t.Errorf("%s: %d records, want about 400", l, n)
		}
	}
	if outOfOrder < counts[sim.LabelLate]/2 {
		t.Errorf("only %d of %d late events are out of order", outOfOrder, counts[sim.LabelLate])
	}
	for _, k := range []string{"order_placed", "order_refunded", "customer_churned", "customer_reactivated"} {
		if kinds[k] == 0 {
			t.Errorf("no %s events", k)
		}
	}
	t.Logf("labels %v kinds %v", counts, kinds)
}
