package pipeline_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestReindexRacingBatchesLosesNoTimer: the re-indexing walk after a
// change of the segment thresholds (store.Reindex, ZADD LT, no version)
// writes the index beside batches that write the same customers' entries
// (versioned, from newer states). Three customers order on January 1st
// under 90/180 days, then the consumer restarts under 10/20 days and the
// walk reads them all (one page), but writes only after a batch:
//   - a orders again on January 5th in that batch (its entry: January 15th),
//     and the walk then writes the earlier January 11th from its stale read:
//     a is loaded once more on January 12th, fires nothing, and keeps its
//     January 15th timer;
//   - d gets only a duplicate of its first order in that batch, so the
//     batch leaves its old entry (April 1st) alone, the new rule's due
//     time being unchanged by a duplicate: only the walk brings it to
//     January 11th;
//   - b's entry is written by the walk first (January 11th) and by a later
//     batch after (its order on January 8th: January 18th), which wins.
//
// Each customer's changes are exactly those of the new rule, each at its
// due time, the chains unbroken, and after the last batch every stored
// segment is the rule's at the final stream time.
func TestReindexRacingBatchesLosesNoTimer(t *testing.T) {
	ctx := ctxT(t)
	srv := testutil.StartRedis(t)
	st, rc := srv.Store(), srv.Client()
	pub := &recordingPublisher{}
	processor := func(m *aggregate.Model) *pipeline.Processor {
		p, err := pipeline.New(pipeline.Config{Model: m, Decoder: jsonDecoder{}, Store: st, Out: pub, Timers: st})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	process := func(p *pipeline.Processor, recs ...pipeline.Record) {
		t.Helper()
		if _, err := p.Process(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(id string) string {
		score, err := rc.ZScore(ctx, store.TimersKey(0), id).Result()
		if err != nil {
			return "none"
		}
		return time.Unix(int64(score), 0).UTC().Format("Jan 2")
	}

	old := aggregate.DefaultModel()
	process(processor(old),
		orderRec(0, "a1", "a", "10.00", "2026-01-01T00:00:00Z"),
		orderRec(1, "b1", "b", "10.00", "2026-01-01T00:00:00Z"),
		orderRec(2, "d1", "d", "10.00", "2026-01-01T00:00:00Z"))
	for _, id := range []string{"a", "b", "d"} {
		if got := entry(id); got != "Apr 1" {
			t.Fatalf("under 90/180 days %s's entry is %s, want Apr 1", id, got)
		}
	}

	changed := aggregate.DefaultModel()
	changed.AtRiskAfter, changed.LapsedAfter = 10*aggregate.Day, 20*aggregate.Day
	p := processor(changed)
	// The walk reads its page now...
	stale, errs, err := st.Load(ctx, []string{"a", "b", "d"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
	// ...a batch writes a's later entry and leaves d's old one...
	process(p,
		orderRec(3, "a2", "a", "10.00", "2026-01-05T00:00:00Z"),
		orderRec(4, "d1", "d", "10.00", "2026-01-01T00:00:00Z")) // a producer's duplicate
	if a, d := entry("a"), entry("d"); a != "Jan 15" || d != "Apr 1" {
		t.Fatalf("after the batch: a's entry %s (want Jan 15), d's %s (want the old Apr 1)", a, d)
	}
	// ...then the walk writes what it read.
	if n, err := st.Reindex(ctx, changed, stale); err != nil || n != 3 {
		t.Fatalf("Reindex: %d, %v", n, err)
	}
	if a, b, d := entry("a"), entry("b"), entry("d"); a != "Jan 11" || b != "Jan 11" || d != "Jan 11" {
		t.Fatalf("after the walk: a %s, b %s, d %s; want Jan 11 each (a's earlier than due: harmless)", a, b, d)
	}
	// b's order after the walk: the batch's entry replaces the walk's.
	process(p, orderRec(5, "b2", "b", "10.00", "2026-01-08T00:00:00Z"))
	if b := entry("b"); b != "Jan 18" {
		t.Fatalf("b's entry %s after its order, want Jan 18", b)
	}
	// Stream time passes January 11th: d's timer fires; a is loaded and
	// fires nothing; its entry moves on to its real due time.
	process(p, orderRec(6, "z1", "z", "10.00", "2026-01-12T00:00:00Z"))
	if a, d := entry("a"), entry("d"); a != "Jan 15" || d != "Jan 21" {
		t.Fatalf("on January 12th: a's entry %s (want Jan 15), d's %s (want Jan 21)", a, d)
	}
	final := time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC)
	process(p, orderRec(7, "z2", "z", "10.00", final.Format(time.RFC3339)))

	// Per customer, in the order published.
	want := map[string]string{
		"a": "→new@a1 new→active@a2 active→at_risk@timer:2026-01-15T00:00:00Z at_risk→lapsed@timer:2026-01-25T00:00:00Z",
		"b": "→new@b1 new→active@b2 active→at_risk@timer:2026-01-18T00:00:00Z at_risk→lapsed@timer:2026-01-28T00:00:00Z",
		"d": "→new@d1 new→at_risk@timer:2026-01-11T00:00:00Z at_risk→lapsed@timer:2026-01-21T00:00:00Z",
	}
	got := map[string][]string{}
	for _, m := range pub.topic("ltv-segments") {
		var doc map[string]any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		c := doc["customer_id"].(string)
		got[c] = append(got[c], doc["previous_segment"].(string)+"→"+doc["segment"].(string)+"@"+doc["caused_by"].(string))
	}
	for c, w := range want {
		if g := strings.Join(got[c], " "); g != w {
			t.Errorf("%s's segment changes\n got %s\nwant %s", c, g, w)
		}
	}
	snaps, _, err := st.Load(ctx, []string{"a", "b", "d"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range snaps {
		s := &snaps[i].State
		if rule := changed.SegmentAt(s, final); s.Segment != rule || rule != aggregate.SegmentLapsed {
			t.Errorf("%s: stored %q, the rule at the final stream time gives %q (want lapsed)", snaps[i].CustomerID, s.Segment, rule)
		}
		if e := entry(snaps[i].CustomerID); e != "none" {
			t.Errorf("%s: lapsed with an index entry %s", snaps[i].CustomerID, e)
		}
	}
}
