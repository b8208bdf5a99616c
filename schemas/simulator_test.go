package schemas_test

import (
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/schemas"
)

// TestSimulatorOutputMatchesSchemasAndDecoder keeps the simulator, the
// schemas and the decoder honest with each other: every event the
// simulator calls valid (including late and duplicate copies) validates
// against its schema and is accepted by the decoder; every bad record is
// rejected by the decoder.
func TestSimulatorOutputMatchesSchemasAndDecoder(t *testing.T) {
	d, err := decode.New(decode.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := sim.NewGenerator(sim.Config{Seed: 5, Customers: 2000, Events: 30000,
		DuplicateRate: 0.02, LateRate: 0.02, BadRate: 0.03})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[sim.Label]int{}
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		counts[r.Label]++
		// As the consumer reads a record: the key too, and the wall clock
		// of the stream's own time (its events lie in the past here).
		_, derr := d.DecodeRecord(r.Key, r.Value, r.OccurredAt)
		if r.Label == sim.LabelBad {
			if derr == nil {
				t.Errorf("decoder accepted a bad record (%s): %.200s", r.BadReason, r.Value)
			}
			continue
		}
		if derr != nil {
			t.Errorf("decoder rejected a %s record: %v: %s", r.Label, derr, r.Value)
		}
		if err := schemas.Validate(r.Value); err != nil {
			t.Errorf("schema rejects a %s record: %v: %s", r.Label, err, r.Value)
		}
	}
	if counts[sim.LabelBad] == 0 || counts[sim.LabelValid] == 0 {
		t.Fatalf("unexpected label counts %v", counts)
	}
}
