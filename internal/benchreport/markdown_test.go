package benchreport

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestWriteMarkdown(t *testing.T) {
	tests := []struct {
		name    string
		report  func() Report
		chart   string
		want    []string // substrings that must appear
		notWant []string // substrings that must not appear
	}{
		{
			name:   "all targets met",
			report: sampleReport,
			chart:  "benchmarks.png",
			want: []string{
				"# Benchmarks\n",
				"Generated 2026-03-04 05:06 UTC by `make bench`.",
				"- CPU: AMD EPYC 7763 64-Core Processor\n",
				"- Cores: 4\n", "- Memory: 16.0 GiB\n",
				"- OS: Debian GNU/Linux 12 (bookworm)\n", "- Kernel: 6.1.0-18-amd64\n",
				"- Go: go1.26.8\n", "- Redis: 7.0.15\n",
				"- Broker: kfake (franz-go), in-process, loopback TCP\n",
				"**All 5 targets met.**",
				"](benchmarks.png)",
				"| Figure | Median of 3 runs | Target | Ceiling | Ratio | Met | Per run |",
				"| **End-to-end throughput** | 172,340 events/s | ≥ 150,000 events/s | — | 114.9 % of target | ✅ met | 172,340, 178,000, 163,900 |",
				"| ↳ share of Kafka consume ceiling | 172,340 events/s | — | 910,000 msg/s | 18.9 % of ceiling |",
				"| ↳ share of Redis update ceiling | 172,340 events/s | — | 402,000 events/s | 42.9 % of ceiling |",
				"| Latency p50 (produce → change event) | 3.21 ms |",
				"| **Latency p99** (produce → change event) | 12.3 ms | ≤ 50 ms | — | 24.6 % of target | ✅ met | 12.3 ms, 11.9 ms, 61.0 ms |",
				"| Latency max | 41.0 ms |",
				"| Offered rate (latency phase) | 10,000 events/s |",
				"| Achieved rate (latency phase) | 9,998 events/s | — | — | 100.0 % of offered |",
				"| Latency samples | 48,000 |",
				"| **Redis bytes per customer** | 312.4 B | ≤ 400 B | — | 78.1 % of target | ✅ met |",
				"| **Peak RSS** (consumer, throughput phase) | 123.0 MB | ≤ 200 MB | — | 61.5 % of target | ✅ met | 123.0 MB, 128.0 MB, 121.0 MB |",
				"| CPU seconds per million events (user+sys) | 5.43 s |",
				"| ↳ of which the garbage collector (Go runtime's estimate) | 29.0 % |",
				"| Kafka consume ceiling | 910,000 msg/s |",
				"| Redis update ceiling | 402,000 events/s |",
				"| yes (3/3 runs) | every run | — | — | ✅ met | yes, yes, yes |",
				"## Hot path (go test -bench -benchmem)",
				"| `github.com/ltv-stream/ltv-stream/internal/decode` | BenchmarkDecode-4 | 1,052 | 256 | 3 | 123.5 MB/s; 950,000 events/s |",
				"| `github.com/ltv-stream/ltv-stream/internal/aggregate` | BenchmarkApply | 1,100 | — | — | — |",
				"## Notes\n\nThe broker runs in-process.\n\nRedis | runs on loopback.\n",
			},
			notWant: []string{"❌", "n/a"},
		},
		{
			name: "scale series",
			report: sampleRuns(func(i int, r *Run) {
				r.Scale = []ScalePoint{
					{Customers: 500_000, Throughput: []float64{30_000, 26_000, 28_000}[i], CPUSecondsPerMillion: 9, RedisCPUSecondsPerMillion: 7, PeakRSSBytes: 190 << 20,
						OutputsPerEvent: []float64{1.2, 1.1, 1.17}[i], CacheHitRate: 0.49},
					{Customers: 50_000, Throughput: 40_000, CPUSecondsPerMillion: 8, RedisCPUSecondsPerMillion: 5.5, PeakRSSBytes: 150 << 20},
				}
			}),
			want: []string{
				"## Cost against the customer base\n",
				"| 50,000 | 40,000 events/s | 8.00 s | 5.50 s | 150.0 MB | n/a | n/a | 40,000, 40,000, 40,000 |",
				"| 500,000 | 28,000 events/s | 9.00 s | 7.00 s | 190.0 MB | 1.17 | 49.0 % | 30,000, 26,000, 28,000 |",
				"**At 500,000 customers the throughput is 70.0 % of that at 50,000** (target ≥ 80 %): ❌ missed",
			},
		},
		{
			name:    "no scale series",
			report:  sampleReport,
			notWant: []string{"Cost against the customer base"},
		},
		{
			name: "targets missed",
			report: sampleRuns(func(i int, r *Run) {
				r.Throughput, r.P99 = 120_000, 75*time.Millisecond
				if i == 1 {
					r.Verified = false
				}
			}),
			chart: "benchmarks.png",
			want: []string{
				"**2 of 5 targets met; missed: End-to-end throughput, Latency p99, Verified.**",
				"| 120,000 events/s | ≥ 150,000 events/s | — | 80.0 % of target | ❌ missed |",
				"| 75.0 ms | ≤ 50 ms | — | 150.0 % of target | ❌ missed |",
				"| no (2/3 runs) | every run | — | — | ❌ missed | yes, no, yes |",
			},
		},
		{
			name: "verification skipped",
			report: sampleRuns(func(_ int, r *Run) {
				r.Verified, r.VerifySkipped = false, true
			}),
			want: []string{"| **Verified** (Redis state = independent recomputation) | not checked | every run | — | — | ❌ not measured | not checked, not checked, not checked |"},
		},
		{
			name: "not measured and no targets",
			report: sampleWith(func(r *Report) {
				r.Runs = []Run{{Verified: true}}
				r.Targets.Throughput = 0
				r.HotPath, r.Notes = nil, nil
			}),
			want: []string{
				"**1 of 4 targets met; missed: Latency p99, Redis bytes per customer, Peak RSS.**",
				"| Median of 1 run |",
				"| **End-to-end throughput** | n/a | — | — | — |  | n/a |",
				"| **Latency p99** (produce → change event) | n/a | ≤ 50 ms | — | — | ❌ not measured | n/a |",
				"No hot-path benchmarks were recorded.",
			},
			notWant: []string{"![", "## Notes", "Infinity", "NaN"},
		},
		{
			name: "negative and non-finite values are not measured",
			report: sampleWith(func(r *Report) {
				r.Runs = []Run{{
					Events: -1, Throughput: math.NaN(), KafkaConsumeCeiling: math.Inf(1),
					P99: -time.Millisecond, RedisBytesPerCustomer: math.Inf(-1), PeakRSSBytes: -1,
					CPUSecondsPerMillion: math.NaN(), Verified: true,
				}}
			}),
			want: []string{
				"| **End-to-end throughput** | n/a | ≥ 150,000 events/s | — | — | ❌ not measured | n/a |",
				"| **Peak RSS** (consumer, throughput phase) | n/a | ≤ 200 MB | — | — | ❌ not measured | n/a |",
			},
			notWant: []string{"NaN", "Inf", " -0", "| -"},
		},
		{
			name: "floors and CPU budget",
			report: sampleRuns(func(i int, r *Run) {
				r.Cores = 2
				r.RedisBytesPerCustomer = 436.6
				r.PublicFieldsBytesPerCustomer = 394.8 + float64(i)
				r.KafkaCeilingCPUSecondsPerMillion = 5.25
				r.RedisCeilingCPUSecondsPerMillion = 9.5
				r.RedisFloorCPUSecondsPerMillion = 3.0 + float64(i)
			}),
			want: []string{
				"| **Redis bytes per customer** | 436.6 B | ≤ 400 B | — | 109.2 % of target | ❌ missed |",
				"| ↳ floor: SPEC §3 public fields alone, no bookkeeping | 395.8 B | ≤ 400 B | — | 99.0 % of target |  | 394.8 B, 395.8 B, 396.8 B |",
				"| ↳ room under the target for all bookkeeping (offset guard, dedupe window) | 4.2 B | — | — | — |  | 5.2 B, 4.2 B, 3.2 B |",
				"| CPU budget per million events at the throughput target (cores ÷ target) | 13.33 s | — | — | — |  |",
				"| ↳ Kafka alone: broker + kafka-go reader at the consume ceiling | 5.25 s | — | — | 39.4 % of budget |  | 5.25 s, 5.25 s, 5.25 s |",
				"| ↳ Redis alone: redis-server at the update ceiling | 9.50 s | — | — | 71.2 % of budget |",
				"| ↳ Redis floor: the public fields alone, as plain pipelined HSETs (no compare-and-set, no bookkeeping) | 4.00 s | — | — | 30.0 % of budget |  | 3.00 s, 4.00 s, 5.00 s |",
				"| ↳ left for everything else at best (budget − Kafka alone − Redis floor): decode, aggregate, encode, fencing, produce, commit | 4.08 s | — | — | — |  | 5.08 s, 4.08 s, 3.08 s |",
				// The floor is no target of its own.
				"**4 of 5 targets met; missed: Redis bytes per customer.**",
			},
		},
		{
			name:    "floors not measured",
			report:  sampleRuns(func(_ int, r *Run) { r.Cores = 2 }),
			notWant: []string{"floor:", "room under", "CPU budget", "Kafka alone"},
		},
		{
			name:   "no runs",
			report: func() Report { return Report{Targets: DefaultTargets()} },
			chart:  "chart.png",
			want: []string{
				"Generated unknown date.",
				"- CPU: unknown",
				"No benchmark runs were recorded.",
				"| Median of 0 runs |",
				"| **Verified** (Redis state = independent recomputation) | no (0/0 runs) | every run | — | — | ❌ not measured | — |",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteMarkdown(&buf, tt.report(), tt.chart); err != nil {
				t.Fatalf("WriteMarkdown: %v", err)
			}
			doc := buf.String()
			for _, s := range tt.want {
				if !strings.Contains(doc, s) {
					t.Errorf("missing %q in:\n%s", s, doc)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(doc, s) {
					t.Errorf("unexpected %q in:\n%s", s, doc)
				}
			}
			if !strings.HasSuffix(doc, "\n") || strings.HasSuffix(doc, "\n\n") {
				t.Error("document must end with exactly one newline")
			}
			checkTableShape(t, doc)
		})
	}
}

// checkTableShape asserts that every row of each table has as many cells as
// its header, so no unescaped "|" splits a cell.
func checkTableShape(t *testing.T, doc string) {
	t.Helper()
	cells := func(line string) int {
		return strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") - 1
	}
	want := -1
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = -1
			continue
		}
		if want < 0 {
			want = cells(line)
			continue
		}
		if got := cells(line); got != want {
			t.Errorf("row has %d cells, header %d: %s", got, want, line)
		}
	}
}

func TestWriteMarkdownDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteMarkdown(&a, sampleReport(), "benchmarks.png"); err != nil {
		t.Fatal(err)
	}
	for range 5 { // map iteration order differs between calls
		b.Reset()
		if err := WriteMarkdown(&b, sampleReport(), "benchmarks.png"); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("same report rendered to different bytes")
		}
	}
}

func TestWriteMarkdownEscapesCells(t *testing.T) {
	r := sampleReport()
	r.HotPath[0].Name = "BenchmarkA|B"
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `BenchmarkA\|B-4`) {
		t.Errorf("pipe not escaped:\n%s", buf.String())
	}
	checkTableShape(t, buf.String())
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriteMarkdownWriteError(t *testing.T) {
	boom := errors.New("disk full")
	if err := WriteMarkdown(failingWriter{boom}, sampleReport(), "x.png"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
}

func TestSignedDifferences(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{signedSeconds(-1.4166), "−1.42 s"},
		{signedSeconds(4.08), "4.08 s"},
		{signedSeconds(math.NaN()), notMeasured},
		{signedBytes(-36.64), "−36.6 B"},
		{signedBytes(5.2), "5.2 B"},
		{signedBytes(math.Inf(1)), notMeasured},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
