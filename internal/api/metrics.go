package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the read API's collectors on a private registry (so tests
// can build several servers): requests and their latency by route (the
// mux pattern, "unmatched" for none) and status code.
type Metrics struct {
	Registry *prometheus.Registry // what Handler serves: the request collectors plus the Go and process ones
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// bound caches the label-bound collectors per route and code: the
	// label lookups would otherwise cost every request a hash and an
	// allocation.
	mu    sync.RWMutex
	bound map[routeCode]*boundMetrics
}

type routeCode struct {
	route string
	code  int
}

type boundMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics registers the collectors, with the Go runtime's and the
// process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		bound:    map[routeCode]*boundMetrics{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ltv_api_requests_total", Help: "Read API requests answered, by route and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ltv_api_request_duration_seconds", Help: "Time to answer a read API request, by route and HTTP status code.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"route", "code"}),
	}
	m.Registry.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(route string, code int, d time.Duration) {
	key := routeCode{route, code}
	m.mu.RLock()
	bm := m.bound[key]
	m.mu.RUnlock()
	if bm == nil {
		c := strconv.Itoa(code)
		bm = &boundMetrics{requests: m.requests.WithLabelValues(route, c), duration: m.duration.WithLabelValues(route, c)}
		m.mu.Lock()
		m.bound[key] = bm
		m.mu.Unlock()
	}
	bm.requests.Inc()
	bm.duration.Observe(d.Seconds())
}
