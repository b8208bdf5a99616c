package benchreport

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSignTestP(t *testing.T) {
	for _, tc := range []struct {
		wins, n int
		want    float64
	}{
		{6, 6, 2.0 / 64},
		{0, 6, 2.0 / 64},
		{5, 6, 2 * 7.0 / 64},
		{1, 6, 2 * 7.0 / 64},
		{3, 6, 1},
		{3, 3, 0.25},
		{2, 3, 1},
		{10, 10, 2.0 / 1024},
		{0, 0, 1},
	} {
		if got := signTestP(tc.wins, tc.n); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("signTestP(%d, %d) = %v, want %v", tc.wins, tc.n, got, tc.want)
		}
	}
}

// pairRun is a run with the compared figures set.
func pairRun(tput, consumer, gcShare, redis, broker float64, rssMB int64) Run {
	return Run{Throughput: tput, CPUSecondsPerMillion: consumer, GCShare: gcShare,
		RedisCPUSecondsPerMillion: redis, BrokerCPUSecondsPerMillion: broker, PeakRSSBytes: rssMB << 20}
}

func TestPairedCountsWhatEachPairSays(t *testing.T) {
	c := Comparison{
		A: []Run{pairRun(30000, 24, 0.2, 27, 5, 190), pairRun(26000, 26, 0.2, 30, 6, 192), pairRun(32000, 22, 0.2, 25, 5, 191), pairRun(28000, 23, 0, 27, 5, 190)},
		B: []Run{pairRun(31500, 22, 0.1, 27, 5, 200), pairRun(27300, 23.4, 0.1, 29, 6, 199), pairRun(31000, 23.1, 0.1, 26, 5, 201), pairRun(29400, 20.7, 0.1, 27, 5, 198)},
	}
	got := map[string]PairedFigure{}
	for _, p := range c.Paired() {
		got[p.Name] = p
	}
	for _, tc := range []struct {
		name            string
		medA, medB, chg float64
		better, pairs   int
		wantP           float64
		reason          string
	}{
		{name: "End-to-end throughput (events/s)", medA: 29000, medB: 30200, chg: 0.05, better: 3, pairs: 4, wantP: 0.625,
			reason: "higher is better: B won pairs 1, 2 and 4 by 5 %, lost pair 3"},
		{name: "Consumer CPU s per million events", medA: 23.5, medB: 22.55, chg: (-0.1 + 22/24.0 - 1) / 2, better: 3, pairs: 4, wantP: 0.625,
			reason: "lower is better: B used 10 % less in pairs 2 and 4, 8.3 % less in pair 1, 5 % more in pair 3"},
		{name: "↳ of which the garbage collector", medA: 4.8, medB: 2.31, chg: -0.5416666666666667, better: 3, pairs: 3, wantP: 0.25,
			reason: "pair 4's A measured no collector share: the pair does not count"},
		{name: "redis-server CPU s per million events", medA: 27, medB: 27, chg: 0, better: 1, pairs: 4, wantP: 1,
			reason: "two ties, one win, one loss: the ties leave the sign test"},
		{name: "Consumer peak RSS (MB)", medA: 190.5, medB: 199.5, chg: (8.0/190 + 10.0/191) / 2, better: 0, pairs: 4, wantP: 0.125,
			reason: "B used more memory in every pair"},
	} {
		p, ok := got[tc.name]
		if !ok {
			t.Fatalf("no figure %q in %v", tc.name, got)
		}
		if !near(p.MedianA, tc.medA) || !near(p.MedianB, tc.medB) || !near(p.MedianChange, tc.chg) ||
			p.BetterInB != tc.better || p.Pairs != tc.pairs || !near(p.SignP, tc.wantP) {
			t.Errorf("%s: got %+v, want medians %v / %v, change %v, B better in %d of %d, p %v (%s)",
				tc.name, p, tc.medA, tc.medB, tc.chg, tc.better, tc.pairs, tc.wantP, tc.reason)
		}
	}
}

// withP99 is r with a p99 latency of ms milliseconds.
func withP99(r Run, ms float64) Run {
	r.P99 = time.Duration(ms * float64(time.Millisecond))
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestPairedUsesTheShorterSide(t *testing.T) {
	c := Comparison{A: []Run{pairRun(1, 1, 0, 1, 1, 1), pairRun(2, 2, 0, 2, 2, 2)}, B: []Run{pairRun(3, 3, 0, 3, 3, 3)}}
	for _, p := range c.Paired() {
		if strings.Contains(p.Name, "garbage") || strings.HasPrefix(p.Name, "Latency") {
			if p.Pairs != 0 || p.SignP != 0 {
				t.Errorf("%s measured in no pair: %+v", p.Name, p)
			}
			continue
		}
		if p.Pairs != 1 {
			t.Errorf("%s: %d pairs, want 1 (B has one run)", p.Name, p.Pairs)
		}
	}
}

func TestWriteComparison(t *testing.T) {
	c := Comparison{
		NameA: "/tmp/consumer-old", NameB: "/tmp/consumer-new",
		A:     []Run{withP99(pairRun(30000, 24, 0, 27, 5, 190), 41.2), pairRun(26000, 26, 0, 30, 6, 192)},
		B:     []Run{withP99(pairRun(31500, 22, 0, 27, 5, 200), 63.7), pairRun(27300, 23.4, 0, 29, 6, 199)},
		Notes: []string{"Consumer settings: LTV_WORKERS=6 (B only)."},
	}
	var buf bytes.Buffer
	if err := WriteComparison(&buf, c); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"# Paired comparison: A = /tmp/consumer-old, B = /tmp/consumer-new",
		"2 pairs, run alternately",
		"| End-to-end throughput (events/s) | 28,000 | 29,400 | +5.0 % | 2 of 2 | 0.50 |",
		"| Consumer CPU s per million events | 25.0 | 22.7 | -9.2 % | 2 of 2 | 0.50 |",
		"| ↳ of which the garbage collector | n/a | n/a | n/a | 0 of 0 | n/a |",
		"| Consumer peak RSS (MB) | 191.0 | 199.5 | +4.5 % | 0 of 2 | 0.50 |",
		"| 1 | 30,000 / 31,500 | 24.0 / 22.0 | n/a / n/a |",
		"| 2 | 26,000 / 27,300 |",
		"| Latency p99 (ms) | 41.2 | 63.7 | +54.6 % | 0 of 1 | 1.00 |",
		"| Latency p50 (ms) | n/a | n/a | n/a | 0 of 0 | n/a |",
		"| 41.2 / 63.7 |",
		"| n/a / n/a |\n",
		"- Consumer settings: LTV_WORKERS=6 (B only).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("comparison lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteComparisonReportsWriteErrors(t *testing.T) {
	boom := errors.New("disk full")
	if err := WriteComparison(failingWriter{boom}, Comparison{}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
}
