// Package benchreport turns benchmark measurements into the content of
// docs/benchmarks.md and a PNG chart drawn from the same numbers.
//
// The package is pure: it measures nothing and touches no Kafka, Redis or
// file system. The benchmark harness fills a Report, then calls
// WriteMarkdown and WriteChart with writers of its choosing. Rendering is
// deterministic — the same Report always yields the same bytes — so the
// committed documents only change when the numbers do.
//
// Zero values mean "not measured": a Run field left at zero (or negative,
// NaN or infinite) is shown as "n/a" and never counts as meeting a target,
// and a zero Targets field means "no target" for that figure.
package benchreport

import (
	"cmp"
	"maps"
	"reflect"
	"slices"
	"time"
)

// Machine describes where the benchmark ran, so a reader can tell whether
// the figures are comparable with their own hardware.
type Machine struct {
	CPU          string // model name from /proc/cpuinfo
	Cores        int    // runtime.NumCPU of the harness; 0: unknown
	MemoryBytes  uint64 // MemTotal from /proc/meminfo; 0: unknown
	OS           string // e.g. "Debian GNU/Linux 12 (bookworm)"
	Kernel       string // /proc/sys/kernel/osrelease
	GoVersion    string // runtime.Version of the harness
	RedisVersion string // `redis-server --version` output; "" when not found
	Broker       string // e.g. "kfake (franz-go), in-process, loopback TCP"
}

// Run is one complete benchmark run. Several runs are summarised by their
// field-wise Median so one noisy run cannot decide the published figure.
// A zero field means the figure was not measured in that run.
type Run struct {
	Events, Customers     int           // input events and distinct customers
	Elapsed               time.Duration // consumer start → every input offset committed
	Throughput            float64       // input events/s end to end (Events / Elapsed)
	KafkaConsumeCeiling   float64       // msg/s: raw kafka-go group reader over the same records, no processing
	RedisUpdateCeiling    float64       // input events/s: the consumer's own Redis traffic for the stream (loads, compare-and-set saves, clears), replayed pipelined from Go
	OfferedRate           float64       // events/s offered in the latency phase (e.g. 10000)
	AchievedRate          float64       // events/s actually produced in the latency phase
	LatencySamples        int           // change events whose latency was measured
	P50, P99, Max         time.Duration // produce → LTV-change event appended
	RedisBytesPerCustomer float64       // used_memory delta / customers, all bookkeeping included
	// PublicFieldsBytesPerCustomer is the same for the customers' hashes
	// holding SPEC §3's public fields only: the data model's floor, under
	// which no bookkeeping can go.
	PublicFieldsBytesPerCustomer float64
	PeakRSSBytes                 int64   // consumer process peak RSS (throughput phase)
	CPUSecondsPerMillion         float64 // consumer user+sys CPU seconds per 1M events
	// GCShare is the share of the consumer's CPU its garbage collector
	// took in the throughput phase, by the Go runtime's own estimate
	// (/cpu/classes/gc/total against the busy part of /cpu/classes/total):
	// how much of the CPU figure more memory room could buy back.
	GCShare float64
	// RedisCPUSecondsPerMillion and BrokerCPUSecondsPerMillion are the
	// CPU seconds per 1M events of redis-server and of the process running
	// the broker (and the harness) during the throughput phase: with the
	// consumer's, they show where the machine's cores went.
	RedisCPUSecondsPerMillion  float64
	BrokerCPUSecondsPerMillion float64 // see RedisCPUSecondsPerMillion
	// KafkaCeilingCPUSecondsPerMillion is the CPU of the broker and the raw
	// reader per million messages at the Kafka consume ceiling, and
	// RedisCeilingCPUSecondsPerMillion redis-server's per million input
	// events at the Redis update ceiling: what reading the stream and
	// storing its state cost the machine at the least, with nothing else
	// running.
	KafkaCeilingCPUSecondsPerMillion float64
	RedisCeilingCPUSecondsPerMillion float64 // see KafkaCeilingCPUSecondsPerMillion
	// RedisFloorCPUSecondsPerMillion is redis-server's CPU per million
	// input events for the least traffic the stream needs: the public
	// fields the consumer wrote, as plain pipelined HSETs without
	// compare-and-set, bookkeeping, loads or clears. No design that keeps
	// SPEC §3's hash costs Redis less.
	RedisFloorCPUSecondsPerMillion float64
	// Cores is the machine's core count, for the CPU-bound limit.
	Cores    int
	Verified bool // final Redis state equalled an independent recomputation
	// VerifySkipped: the run did not check its final state (-no-verify,
	// -throughput-only), so Verified says nothing.
	VerifySkipped bool
	// Scale are the run's extra throughput runs over other customer
	// counts (the same number of events), smallest first: whether the
	// cost per event grows with the customer base.
	Scale []ScalePoint
}

// ScalePoint is one throughput run of the scale series: the same events
// count as the main run, spread over Customers customers, consumed from
// start until every offset is committed.
type ScalePoint struct {
	Customers            int     // distinct customers the run's events are spread over
	Throughput           float64 // input events/s end to end
	CPUSecondsPerMillion float64 // the consumer's
	// RedisCPUSecondsPerMillion is redis-server's: more customers than
	// the state cache holds mean more HGETALLs.
	RedisCPUSecondsPerMillion float64
	PeakRSSBytes              int64 // consumer process peak RSS
	// OutputsPerEvent are the tier and segment changes per applied input
	// event, by the consumer's counters: with the same events over more
	// customers, more of them are a customer's first, which carry the
	// first assignments SPEC §5 and §8 require. 0: not read.
	OutputsPerEvent float64
	// CacheHitRate is the share of customer loads the state cache
	// answered, in [0, 1]. 0: not read, or the cache was off.
	CacheHitRate float64
}

// MedianScale returns, per customer count that every run measured, the
// field-wise median of the runs' scale points (the lower middle value for
// an even count, as Median), smallest count first.
func MedianScale(runs []Run) []ScalePoint {
	byCount := map[int][]ScalePoint{}
	for _, r := range runs {
		for _, p := range r.Scale {
			byCount[p.Customers] = append(byCount[p.Customers], p)
		}
	}
	var out []ScalePoint
	for _, n := range slices.Sorted(maps.Keys(byCount)) {
		ps := byCount[n]
		if len(ps) != len(runs) {
			continue
		}
		mid := func(f func(ScalePoint) float64) float64 {
			v := make([]float64, len(ps))
			for i, p := range ps {
				v[i] = f(p)
			}
			slices.Sort(v)
			return v[(len(v)-1)/2]
		}
		out = append(out, ScalePoint{
			Customers:                 n,
			Throughput:                mid(func(p ScalePoint) float64 { return p.Throughput }),
			CPUSecondsPerMillion:      mid(func(p ScalePoint) float64 { return p.CPUSecondsPerMillion }),
			RedisCPUSecondsPerMillion: mid(func(p ScalePoint) float64 { return p.RedisCPUSecondsPerMillion }),
			PeakRSSBytes:              int64(mid(func(p ScalePoint) float64 { return float64(p.PeakRSSBytes) })),
			OutputsPerEvent:           mid(func(p ScalePoint) float64 { return p.OutputsPerEvent }),
			CacheHitRate:              mid(func(p ScalePoint) float64 { return p.CacheHitRate }),
		})
	}
	return out
}

// Targets are the goals the figures are judged against; they live in the
// Report so a document always states the bar it was measured against.
// A zero field means the figure has no target.
type Targets struct {
	Throughput       float64       // events/s end to end, higher is better
	P99              time.Duration // produce → change-event latency, lower is better
	BytesPerCustomer float64       // Redis bytes per customer, lower is better
	PeakRSSBytes     int64         // consumer peak RSS, lower is better
	// ScaleRatio is the least share of the smallest scale point's
	// throughput the largest must reach: the cost per event must not grow
	// with the customer base.
	ScaleRatio float64
}

// DefaultTargets returns the project's published targets (150,000 events/s,
// p99 ≤ 50 ms, ≤ 400 Redis bytes per customer, peak RSS ≤ 200 MB where
// MB = 2^20 bytes), so the harness and the tests agree on one definition.
func DefaultTargets() Targets {
	return Targets{
		Throughput:       150_000,
		P99:              50 * time.Millisecond,
		BytesPerCustomer: 400,
		PeakRSSBytes:     200 << 20,
		ScaleRatio:       0.8,
	}
}

// Report is everything docs/benchmarks.md shows; the chart is drawn from the
// same value, so document and picture cannot disagree.
type Report struct {
	Date    time.Time // when the report was generated; zero prints "unknown date"
	Command string    // the command that produced it, e.g. "make bench"
	Machine Machine   // where the runs were made
	Targets Targets   // the bar the figures are judged against, e.g. DefaultTargets
	Runs    []Run     // every run; the report publishes their Median
	HotPath []GoBench // micro-benchmarks of the hot path (ParseGoBench)
	Notes   []string  // free-form paragraphs appended at the end
}

// Median returns the field-wise median of runs, the robust summary the
// report publishes.
//
// Each numeric field is taken independently (so Throughput is the median
// throughput, not Events/Elapsed of the median run). For an even number of
// runs the lower-middle value is used — the value at index (n-1)/2 after
// sorting ascending — so every published figure is one that was actually
// measured, never an interpolation; for throughput this errs on the
// pessimistic side, for latencies and memory on the optimistic side.
// Verified is true only if every run verified. Median of no runs is the
// zero Run.
func Median(runs []Run) Run {
	var out Run
	if len(runs) == 0 {
		return out
	}
	// Every numeric field by reflection, so a figure added to Run is
	// summarised without being listed here.
	dst := reflect.ValueOf(&out).Elem()
	vals := make([]reflect.Value, len(runs))
	for f := 0; f < dst.NumField(); f++ {
		for i := range runs {
			vals[i] = reflect.ValueOf(runs[i]).Field(f)
		}
		switch dst.Field(f).Kind() {
		case reflect.Int, reflect.Int64:
			slices.SortFunc(vals, func(x, y reflect.Value) int { return cmp.Compare(x.Int(), y.Int()) })
		case reflect.Float64:
			slices.SortFunc(vals, func(x, y reflect.Value) int { return cmp.Compare(x.Float(), y.Float()) })
		default:
			continue
		}
		dst.Field(f).Set(vals[(len(vals)-1)/2])
	}
	out.Verified = true
	for _, r := range runs {
		out.Verified = out.Verified && r.Verified
	}
	return out
}

// CPUBoundLimit is the throughput the machine's cores allow at the
// measured CPU cost per event of all processes together (consumer, Redis,
// broker): cores ÷ CPU seconds per event. 0 when not measured.
func (r Run) CPUBoundLimit() float64 {
	total := r.CPUSecondsPerMillion + r.RedisCPUSecondsPerMillion + r.BrokerCPUSecondsPerMillion
	if r.Cores <= 0 || total <= 0 || r.RedisCPUSecondsPerMillion <= 0 {
		return 0
	}
	return float64(r.Cores) / (total / 1e6)
}

// CPUBudgetPerMillion is the CPU seconds per million events the machine's
// cores can spend at the throughput target (cores ÷ target): whatever
// reads, processes and stores an event must fit in it. 0 when either is
// unknown.
func CPUBudgetPerMillion(cores int, target float64) float64 {
	if cores <= 0 || target <= 0 {
		return 0
	}
	return float64(cores) / target * 1e6
}
