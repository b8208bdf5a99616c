package benchreport

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestDefaultTargets(t *testing.T) {
	got := DefaultTargets()
	want := Targets{Throughput: 150000, P99: 50 * time.Millisecond, BytesPerCustomer: 400, PeakRSSBytes: 200 << 20, ScaleRatio: 0.8}
	if got != want {
		t.Errorf("DefaultTargets() = %+v, want %+v", got, want)
	}
}

func TestMedian(t *testing.T) {
	// run builds a Run whose every numeric field derives from v, so a field
	// taken from the wrong run shows up immediately.
	run := func(v int, verified bool) Run {
		return Run{
			Events: v, Customers: v * 10, Elapsed: time.Duration(v) * time.Second,
			Throughput: float64(v) * 1000, KafkaConsumeCeiling: float64(v) * 2000,
			RedisUpdateCeiling: float64(v) * 3000, OfferedRate: float64(v), AchievedRate: float64(v) / 2,
			LatencySamples: v * 7, P50: time.Duration(v) * time.Millisecond,
			P99: time.Duration(v) * 2 * time.Millisecond, Max: time.Duration(v) * 3 * time.Millisecond,
			RedisBytesPerCustomer: float64(v) + 0.5, PeakRSSBytes: int64(v) << 20,
			CPUSecondsPerMillion: float64(v) / 10, Verified: verified,
		}
	}
	tests := []struct {
		name string
		runs []Run
		want Run
	}{
		{name: "no runs", runs: nil, want: Run{}},
		{name: "one run", runs: []Run{run(5, true)}, want: run(5, true)},
		{name: "odd count, unsorted", runs: []Run{run(9, true), run(1, true), run(4, true)}, want: run(4, true)},
		{name: "even count takes the lower middle", runs: []Run{run(8, true), run(2, true), run(6, true), run(4, true)}, want: run(4, true)},
		{name: "two runs", runs: []Run{run(3, true), run(7, true)}, want: run(3, true)},
		{name: "one unverified run fails verification", runs: []Run{run(1, true), run(2, false), run(3, true)}, want: run(2, false)},
		{name: "single unverified run", runs: []Run{run(1, false)}, want: run(1, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Median(tt.runs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Median:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMedianFieldsAreIndependent(t *testing.T) {
	runs := []Run{
		{Throughput: 100, P99: 30 * time.Millisecond, PeakRSSBytes: 5, Verified: true},
		{Throughput: 300, P99: 10 * time.Millisecond, PeakRSSBytes: 1, Verified: true},
		{Throughput: 200, P99: 20 * time.Millisecond, PeakRSSBytes: 9, Verified: true},
	}
	got := Median(runs)
	want := Run{Throughput: 200, P99: 20 * time.Millisecond, PeakRSSBytes: 5, Verified: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Median = %+v, want %+v", got, want)
	}
	if runs[0].Throughput != 100 || runs[1].Throughput != 300 {
		t.Error("Median reordered its input")
	}
}

func TestFormatters(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"small int", fmtInt(7), "7"},
		{"thousands", fmtInt(1234), "1,234"},
		{"millions", fmtInt(1234567), "1,234,567"},
		{"negative", fmtInt(-1234567), "-1,234,567"},
		{"exact group", fmtInt(100000), "100,000"},
		{"rate rounds", fmtRate(172339.6), "172,340"},
		{"rate zero", fmtRate(0), "n/a"},
		{"ms small", fmtMs(3210 * time.Microsecond), "3.21 ms"},
		{"ms large", fmtMs(12345 * time.Microsecond), "12.3 ms"},
		{"ms huge", fmtMs(2 * time.Second), "2,000.0 ms"},
		{"ms zero", fmtMs(0), "n/a"},
		{"MB", fmtMB(123 << 20), "123.0 MB"},
		{"MB target", fmtMBTarget(200 << 20), "200 MB"},
		{"compact k", fmtCompact(150000), "150k"},
		{"compact M", fmtCompact(1500000), "1.5M"},
		{"compact noise", fmtCompact(3 * 0.2), "0.6"},
		{"ns/op large", fmtNsPerOp(1052.4), "1,052"},
		{"ns/op small", fmtNsPerOp(3.14159), "3.14"},
		{"metric", fmtMetric(123456), "123,456"},
		{"metric small", fmtMetric(4.5), "4.5"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestCPUBoundLimit(t *testing.T) {
	tests := []struct {
		run  Run
		want float64
	}{
		// 2 cores, 20 + 16 + 4 = 40 CPU-s per million → 50,000 events/s.
		{Run{Cores: 2, CPUSecondsPerMillion: 20, RedisCPUSecondsPerMillion: 16, BrokerCPUSecondsPerMillion: 4}, 50_000},
		{Run{Cores: 2, CPUSecondsPerMillion: 20}, 0}, // Redis not measured
		{Run{CPUSecondsPerMillion: 20, RedisCPUSecondsPerMillion: 16}, 0},
	}
	for _, tc := range tests {
		if got := tc.run.CPUBoundLimit(); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%+v: CPUBoundLimit = %v, want %v", tc.run, got, tc.want)
		}
	}
}

func TestCPUBudgetPerMillion(t *testing.T) {
	tests := []struct {
		cores  int
		target float64
		want   float64
	}{
		{2, 150_000, 13.333333333},
		{4, 100_000, 40},
		{0, 150_000, 0},
		{2, 0, 0},
	}
	for _, tc := range tests {
		if got := CPUBudgetPerMillion(tc.cores, tc.target); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("CPUBudgetPerMillion(%d, %v) = %v, want %v", tc.cores, tc.target, got, tc.want)
		}
	}
}

// MedianScale takes each customer count's median field by field, smallest
// count first, and leaves out a count that not every run measured.
func TestMedianScale(t *testing.T) {
	pt := func(n int, thr, cpu float64, rss int64) ScalePoint {
		return ScalePoint{Customers: n, Throughput: thr, CPUSecondsPerMillion: cpu, RedisCPUSecondsPerMillion: cpu / 2, PeakRSSBytes: rss}
	}
	runs := []Run{
		{Scale: []ScalePoint{pt(50, 100, 9, 3), pt(500, 80, 12, 7), pt(7, 1, 1, 1)}},
		{Scale: []ScalePoint{pt(500, 60, 10, 5), pt(50, 300, 5, 1)}},
		{Scale: []ScalePoint{pt(50, 200, 7, 2), pt(500, 70, 14, 6)}},
	}
	want := []ScalePoint{pt(50, 200, 7, 2), pt(500, 70, 12, 6)}
	if got := MedianScale(runs); !reflect.DeepEqual(got, want) {
		t.Errorf("MedianScale:\n got %+v\nwant %+v", got, want)
	}
	if got := MedianScale([]Run{{}, {}}); got != nil {
		t.Errorf("no scale points: %+v", got)
	}
}
