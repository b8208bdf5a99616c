package bench

import (
	"strings"
	"testing"
)

// The work counters sum every label value of their metrics, skip comments
// and other metrics, and read a sample with a timestamp after its value.
func TestParseWorkCounters(t *testing.T) {
	text := `# HELP ltv_tier_changes_total Tier changes.
# TYPE ltv_tier_changes_total counter
ltv_tier_changes_total{direction="up",tier="bronze"} 232076
ltv_tier_changes_total{direction="down",tier="silver"} 3018
ltv_segment_changes_total{segment="new"} 330653
ltv_segment_changes_total{segment="at_risk"} 137091 1733612400000
ltv_events_applied_total 997535
ltv_events_consumed_total 1000000
ltv_state_cache_hits_total 552036
ltv_state_cache_misses_total 575475
ltv_state_cache_hits_total_bogus 9
go_cpu_classes_gc_total_cpu_seconds_total 6.5
go_cpu_classes_idle_cpu_seconds_total 40
go_cpu_classes_total_cpu_seconds_total 66
`
	w, err := parseWorkCounters(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if w.applied != 997535 || w.outputs != 232076+3018+330653+137091 || w.cacheHits != 552036 || w.cacheMisses != 575475 {
		t.Fatalf("counters %+v", w)
	}
	if got := w.outputsPerEvent(); got < 0.70457 || got > 0.70458 {
		t.Errorf("outputs per event %.5f, want 702,838 / 997,535", got)
	}
	if got := w.cacheHitRate(); got < 0.48960 || got > 0.48961 {
		t.Errorf("cache hit rate %.5f, want 552,036 / 1,127,511", got)
	}
	if got := w.gcShare(); got != 0.25 {
		t.Errorf("collector's share %.5f, want 6.5 of (66 − 40 idle)", got)
	}
	if (workCounters{}).outputsPerEvent() != 0 || (workCounters{}).cacheHitRate() != 0 || (workCounters{}).gcShare() != 0 {
		t.Error("nothing counted should read as 0 (not measured), not NaN")
	}
	if _, err := parseWorkCounters(strings.NewReader("ltv_events_applied_total lots\n")); err == nil {
		t.Error("a value that is not a number was read")
	}
}
