package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// workCounters are what the consumer's own /metrics say it did in a run:
// the work an event brings besides itself, which grows with the customer
// base for a fixed number of events (every customer's first events carry
// SPEC §5's and §8's first assignments; fewer of them are in the cache).
type workCounters struct {
	applied     float64 // ltv_events_applied_total
	outputs     float64 // tier and segment changes published
	cacheHits   float64 // ltv_state_cache_hits_total
	cacheMisses float64 // ltv_state_cache_misses_total
	// The Go runtime's estimates of the CPU its collector took and of the
	// CPU the process was busy (GOMAXPROCS over the run, less idle time):
	// the collector's share is what memory room buys back.
	gcCPU, busyCPU float64
}

// gcShare is the collector's share of the consumer's busy CPU, by the
// runtime's own estimates; 0 when they are missing.
func (w workCounters) gcShare() float64 {
	if w.busyCPU > 0 {
		return w.gcCPU / w.busyCPU
	}
	return 0
}

// outputsPerEvent is the change events per applied input event; 0 when
// none was applied.
func (w workCounters) outputsPerEvent() float64 {
	if w.applied == 0 {
		return 0
	}
	return w.outputs / w.applied
}

// cacheHitRate is the share of customer loads the state cache answered;
// 0 when there were none (or the cache is off).
func (w workCounters) cacheHitRate() float64 {
	if n := w.cacheHits + w.cacheMisses; n > 0 {
		return w.cacheHits / n
	}
	return 0
}

// readWorkCounters reads the counters from the consumer's /metrics.
func readWorkCounters(ctx context.Context, httpAddr string) (workCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return workCounters{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return workCounters{}, fmt.Errorf("read the consumer's metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return workCounters{}, fmt.Errorf("read the consumer's metrics: %s", res.Status)
	}
	return parseWorkCounters(res.Body)
}

// parseWorkCounters sums the counters' samples (all label values) in the
// Prometheus text format.
func parseWorkCounters(r io.Reader) (workCounters, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return workCounters{}, fmt.Errorf("parse the consumer's metrics: %w", err)
	}
	sum := func(names ...string) float64 {
		var total float64
		for _, name := range names {
			for _, m := range families[name].GetMetric() {
				total += m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			}
		}
		return total
	}
	return workCounters{
		applied:     sum("ltv_events_applied_total"),
		outputs:     sum("ltv_tier_changes_total", "ltv_segment_changes_total"),
		cacheHits:   sum("ltv_state_cache_hits_total"),
		cacheMisses: sum("ltv_state_cache_misses_total"),
		gcCPU:       sum("go_cpu_classes_gc_total_cpu_seconds_total"),
		busyCPU:     sum("go_cpu_classes_total_cpu_seconds_total") - sum("go_cpu_classes_idle_cpu_seconds_total"),
	}, nil
}
