// Package metrics exposes the consumer's Prometheus metrics and its
// health/readiness endpoints.
package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the consumer's collectors on a private registry (so tests
// can create several without clashing). It implements pipeline.Observer.
type Metrics struct {
	// Registry is what Handler serves, the Go and process collectors
	// included; exported so tests (docscheck) can Gather it.
	Registry *prometheus.Registry

	consumed    prometheus.Counter
	applied     prometheus.Counter
	duplicates  *prometheus.CounterVec
	deadLetters prometheus.Counter
	cut         *prometheus.CounterVec
	changes     *prometheus.CounterVec
	reemitted   prometheus.Counter
	conflicts   prometheus.Counter
	batchDur    prometheus.Histogram
	eventLat    prometheus.Histogram
	lag         *prometheus.GaugeVec
	ready       prometheus.Gauge

	segments    *prometheus.CounterVec
	timersDue   prometheus.Counter
	timersFired prometheus.Counter
	streamLag   *prometheus.GaugeVec
	streamTime  *prometheus.GaugeVec
	failures    prometheus.Counter
	masterMoves prometheus.Counter
	dependency  *prometheus.GaugeVec
	// now is the wall clock the stream-time lag is measured against.
	now func() time.Time
}

// New creates and registers every collector.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r, now: time.Now}
	m.consumed = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_events_consumed_total", Help: "Input records handled (valid or not), counted once per successful batch."}))
	m.applied = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_events_applied_total", Help: "Input events that changed customer state."}))
	m.duplicates = register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ltv_events_duplicate_total", Help: "Input events not applied because they were already counted (kind: event_id = duplicate event id, redelivery = offset guard)."}, []string{"kind"}))
	m.deadLetters = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_events_dead_lettered_total", Help: "Input records sent to the DLQ."}))
	m.cut = register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ltv_output_truncated_total", Help: "Output messages (dead letters, change events) written cut to fit their topic's max.message.bytes, by topic."}, []string{"topic"}))
	m.changes = register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ltv_tier_changes_total", Help: "Tier changes published, by new tier and direction."}, []string{"tier", "direction"}))
	m.reemitted = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_changes_reemitted_total", Help: "Change events published again because an earlier publication was not known to be acknowledged."}))
	m.conflicts = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_state_conflicts_total", Help: "Compare-and-set conflicts on customer state (another writer got there first)."}))
	m.lag = register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ltv_consumer_lag", Help: "Records behind the partition's high watermark at the last commit."}, []string{"topic", "partition"}))
	m.ready = register(r, prometheus.NewGauge(prometheus.GaugeOpts{Name: "ltv_ready", Help: "1 when the consumer is ready (Redis and Kafka reachable, batches succeeding, their writes on the replicas they need)."}))
	m.segments = register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ltv_segment_changes_total", Help: "Segment changes published, by new segment (\"none\" when a customer leaves every segment)."}, []string{"segment"}))
	m.timersDue = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_timers_due_total", Help: "Customers loaded because their partition's stream time reached their indexed due time."}))
	m.timersFired = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_timers_fired_total", Help: "Segment changes caused by a timer (caused_by timer:<due time>)."}))
	m.streamLag = register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ltv_stream_time_lag_seconds", Help: "Wall clock minus the input partition's stream time, at its last batch: how far its timers lag behind real time."}, []string{"partition"}))
	m.batchDur = register(r, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ltv_batch_duration_seconds", Help: "Time to make one batch durable (decode, load, apply, save, publish).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}))
	m.eventLat = register(r, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ltv_event_latency_seconds", Help: "Time from an input record's Kafka timestamp to its outputs being acknowledged.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}))
	// An alert on "stream time behind the wall clock" needs the stream
	// time itself: ltv_stream_time_lag_seconds is set only when a batch
	// ends, so it stops growing exactly when the consumer stops, while
	// time() - ltv_stream_time_seconds keeps growing.
	m.streamTime = register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ltv_stream_time_seconds", Help: "The input partition's stream time (the latest valid occurred_at read from it, SPEC §8) as a Unix timestamp, at its last batch on this instance."}, []string{"partition"}))
	m.masterMoves = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_redis_master_changes_total", Help: "Batches that found the Redis masters replaced (a failover or a restart) and were made again, because their writes may have been lost."}))
	m.failures = register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "ltv_batch_failures_total", Help: "Batch attempts that failed (Redis or Kafka unreachable or refusing) and are retried with backoff; nothing is committed meanwhile."}))
	m.dependency = register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ltv_dependency_up", Help: "1 when the named readiness check passes (redis, kafka: probed every 2 s; processing: batches and commits succeed; replication: batches' writes are on the replicas they need), else 0."}, []string{"dependency"}))
	r.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(cpuClasses)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// cpuClasses adds the Go runtime's estimates of where the process's CPU
// went (go_cpu_classes_gc_total_cpu_seconds_total against
// go_cpu_classes_total_cpu_seconds_total, among others): the collector's
// share is what a soft memory limit too close to the live heap drives
// up, and it is not visible in the process's CPU alone.
var cpuClasses = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)}

// register adds c to r and returns it, so each collector is declared once
// (name, help, labels) in the statement that keeps it, and none can be left
// out of the registry.
func register[C prometheus.Collector](r *prometheus.Registry, c C) C {
	r.MustRegister(c)
	return c
}

// BatchProcessed implements pipeline.Observer.
func (m *Metrics) BatchProcessed(s pipeline.BatchStats) {
	m.consumed.Add(float64(s.Records))
	m.applied.Add(float64(s.Applied))
	m.duplicates.WithLabelValues("event_id").Add(float64(s.Duplicates))
	m.duplicates.WithLabelValues("redelivery").Add(float64(s.Redelivered))
	m.deadLetters.Add(float64(s.DeadLetters))
	m.reemitted.Add(float64(s.Reemitted))
	m.conflicts.Add(float64(s.Conflicts))
	m.batchDur.Observe(s.Duration.Seconds())
	m.timersDue.Add(float64(s.TimersDue))
	m.timersFired.Add(float64(s.TimersFired))
	now := m.now()
	for part, t := range s.StreamTimes {
		if !t.IsZero() {
			label := strconv.Itoa(int(part))
			m.streamLag.WithLabelValues(label).Set(now.Sub(t).Seconds())
			m.streamTime.WithLabelValues(label).Set(float64(t.UnixNano()) / 1e9)
		}
	}
	for _, l := range s.Latencies {
		m.eventLat.Observe(l.Seconds())
	}
}

// BatchFailed counts a failed batch attempt (the consumer retries it).
func (m *Metrics) BatchFailed() { m.failures.Inc() }

// MastersChanged counts a batch that found the Redis masters replaced.
func (m *Metrics) MastersChanged() { m.masterMoves.Inc() }

// OutputCut counts a message written cut to fit its topic (stream.Publisher
// OnCut).
func (m *Metrics) OutputCut(topic string, _ int) { m.cut.WithLabelValues(topic).Inc() }

// SegmentChanged implements pipeline.Observer.
func (m *Metrics) SegmentChanged(_, to string) {
	if to == "" {
		to = "none"
	}
	m.segments.WithLabelValues(to).Inc()
}

// TierChanged implements pipeline.Observer.
func (m *Metrics) TierChanged(_, to string, up bool) {
	dir := "down"
	if up {
		dir = "up"
	}
	m.changes.WithLabelValues(to, dir).Inc()
}

// StateCache exposes the counters of the in-process state cache
// (store.Cached.Stats): how many customer loads it answered without Redis,
// how many went to Redis, and what it holds.
func (m *Metrics) StateCache(stats func() store.CacheStats) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ltv_state_cache_hits_total", Help: "Customer loads answered from the in-process copy, without a Redis read."}, func() float64 { return float64(stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ltv_state_cache_misses_total", Help: "Customer loads that read Redis (not cached, evicted, or with pending change events)."}, func() float64 { return float64(stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ltv_state_cache_entries", Help: "Customers with an in-process copy."}, func() float64 { return float64(stats().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ltv_state_cache_bytes", Help: "Estimated memory of the in-process copies (bounded by LTV_STATE_CACHE_BYTES)."}, func() float64 { return float64(stats().Bytes) }),
	)
}

// PredictionFailures exposes how many scorings of the predictive model
// (SPEC §9) could not be computed and gave the customer a zero prediction.
func (m *Metrics) PredictionFailures(count func() int64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ltv_prediction_failures_total",
		Help: "Scorings of the predictive model that could not be computed (numerics did not converge); the customer got a zero prediction."},
		func() float64 { return float64(count()) }))
}

// Lag records a partition's lag.
func (m *Metrics) Lag(topic string, partition int, lag int64) {
	m.lag.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(lag))
}

// Revoked forgets a partition this instance no longer holds, so its lag
// and stream time are not reported from here any more (the new owner
// reports them).
func (m *Metrics) Revoked(topic string, partition int) {
	p := strconv.Itoa(partition)
	m.lag.DeleteLabelValues(topic, p)
	m.streamLag.DeleteLabelValues(p)
	m.streamTime.DeleteLabelValues(p)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Check is one readiness dependency.
type Check struct {
	Name string                          // label of ltv_dependency_up and key in /readyz ("redis", "kafka")
	Fn   func(ctx context.Context) error // probe, nil when healthy; its context times out after the probe interval
}

// Health tracks readiness: each dependency is probed periodically, and the
// consumer reports whether its batches succeed. Ready only when all pass.
type Health struct {
	mu       sync.Mutex
	results  map[string]string // name -> "" ok, else the error
	metrics  *Metrics
	checks   []Check
	interval time.Duration
}

// NewHealth returns a Health that starts not ready until the first probes
// pass.
func NewHealth(m *Metrics, interval time.Duration, checks ...Check) *Health {
	h := &Health{results: map[string]string{}, metrics: m, checks: checks, interval: interval}
	for _, c := range checks {
		h.results[c.Name] = "not checked yet"
		if m != nil {
			m.dependency.WithLabelValues(c.Name).Set(0)
		}
	}
	return h
}

// Set records the state of a named component (for example "processing").
func (h *Health) Set(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.results[name] = ""
	} else {
		h.results[name] = err.Error()
	}
	if h.metrics != nil {
		h.metrics.ready.Set(boolGauge(h.readyLocked()))
		h.metrics.dependency.WithLabelValues(name).Set(boolGauge(err == nil))
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (h *Health) readyLocked() bool {
	for _, v := range h.results {
		if v != "" {
			return false
		}
	}
	return true
}

// Ready reports readiness and the failing components.
func (h *Health) Ready() (bool, map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]string, len(h.results))
	for k, v := range h.results {
		if v == "" {
			out[k] = "ok"
		} else {
			out[k] = v
		}
	}
	return h.readyLocked(), out
}

// Run probes the checks until ctx ends.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		for _, c := range h.checks {
			pctx, cancel := context.WithTimeout(ctx, h.interval)
			err := c.Fn(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			h.Set(c.Name, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Mux serves /healthz (the process is alive), /readyz (dependencies
// reachable and work succeeding; 503 otherwise, with the reasons as JSON)
// and /metrics.
func (h *Health) Mux(m *Metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, detail := h.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "checks": detail})
	})
	mux.Handle("/metrics", m.Handler())
	return mux
}
