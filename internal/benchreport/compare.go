package benchreport

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Comparison is two builds (or settings) run alternately on one machine,
// pair after pair: A[i] and B[i] ran back to back on the same stream. This
// machine's speed drifts by more within an hour than most changes move a
// figure, so a change is judged by its pairs (in how many B did better,
// and by how much), not by the difference of two separate series.
type Comparison struct {
	NameA, NameB string // how the table names the two sides
	A, B         []Run  // the pairs' runs, pair i = A[i], B[i]
	Notes        []string
}

// comparedFigure is one row of the comparison: how to read the figure
// from a run, how to show it, and which direction is better.
type comparedFigure struct {
	name         string
	value        func(Run) float64
	show         func(float64) string
	higherIsBest bool
}

// oneDecimal shows a compared figure with one decimal.
func oneDecimal(v float64) string { return fmtFloat(v, 1) }

var comparedFigures = []comparedFigure{
	{"End-to-end throughput (events/s)", func(r Run) float64 { return r.Throughput }, fmtRate, true},
	{"Consumer CPU s per million events", func(r Run) float64 { return r.CPUSecondsPerMillion }, oneDecimal, false},
	{"↳ of which the garbage collector", func(r Run) float64 { return r.GCShare * r.CPUSecondsPerMillion }, oneDecimal, false},
	{"redis-server CPU s per million events", func(r Run) float64 { return r.RedisCPUSecondsPerMillion }, oneDecimal, false},
	{"Broker + harness CPU s per million events", func(r Run) float64 { return r.BrokerCPUSecondsPerMillion }, oneDecimal, false},
	{"Consumer peak RSS (MB)", func(r Run) float64 { return float64(r.PeakRSSBytes) / mib }, oneDecimal, false},
	{"Latency p50 (ms)", func(r Run) float64 { return r.P50.Seconds() * 1000 }, oneDecimal, false},
	{"Latency p99 (ms)", func(r Run) float64 { return r.P99.Seconds() * 1000 }, oneDecimal, false},
}

// PairedFigure is what the pairs say about one figure.
type PairedFigure struct {
	Name             string
	MedianA, MedianB float64
	// MedianChange is the median over the pairs of B/A − 1: +0.05 means B's
	// figure was 5 % above A's in the typical pair.
	MedianChange float64
	// BetterInB counts the pairs in which B's figure was better (higher
	// throughput, less CPU or memory), Pairs those with both measured.
	BetterInB, Pairs int
	// SignP is the two-sided sign test's p-value for BetterInB of the
	// pairs without a tie: how often chance alone would give a split at
	// least this uneven. With 3 pairs it cannot go below 0.25, with 6
	// pairs 0.03.
	SignP float64
}

// Paired summarises every compared figure over the pairs. A pair counts
// for a figure only when both runs measured it (a positive, finite
// value).
func (c Comparison) Paired() []PairedFigure {
	n := min(len(c.A), len(c.B))
	out := make([]PairedFigure, 0, len(comparedFigures))
	for _, f := range comparedFigures {
		var as, bs, changes []float64
		better, ties := 0, 0
		for i := 0; i < n; i++ {
			a, b := f.value(c.A[i]), f.value(c.B[i])
			if !measured(a) || !measured(b) {
				continue
			}
			as, bs, changes = append(as, a), append(bs, b), append(changes, b/a-1)
			switch {
			case a == b:
				ties++
			case (b > a) == f.higherIsBest:
				better++
			}
		}
		p := PairedFigure{Name: f.name, Pairs: len(as), BetterInB: better}
		if len(as) > 0 {
			p.MedianA, p.MedianB, p.MedianChange = median(as), median(bs), median(changes)
			p.SignP = signTestP(better, len(as)-ties)
		}
		out = append(out, p)
	}
	return out
}

// measured reports whether v is a figure a run actually measured.
func measured(v float64) bool { return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }

// median is the middle value, the mean of the two middle ones for an even
// count. Unlike the report's Median, which keeps a value some run
// measured, a comparison must not lean: the lower middle value of the
// changes per pair would favour the side whose figure is better lower.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 0 {
		return (s[mid-1] + s[mid]) / 2
	}
	return s[mid]
}

// signTestP is the two-sided sign test's p-value for wins of n untied
// pairs: the chance that a fair coin splits n tosses at least as unevenly,
// by the binomial distribution, at most 1.
func signTestP(wins, n int) float64 {
	if n == 0 {
		return 1
	}
	k := min(wins, n-wins)
	tail := 0.0
	for i := 0; i <= k; i++ {
		tail += binomial(n, i)
	}
	return min(1, 2*tail/math.Pow(2, float64(n)))
}

// binomial is n choose k as a float64 (exact for the pair counts used).
func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// WriteComparison writes the comparison as markdown: per figure the two
// sides' medians, the median change per pair, and in how many pairs B did
// better, then every pair's runs.
func WriteComparison(w io.Writer, c Comparison) error {
	var b strings.Builder
	n := min(len(c.A), len(c.B))
	fmt.Fprintf(&b, "# Paired comparison: A = %s, B = %s\n\n", c.NameA, c.NameB)
	pairs := "pairs"
	if n == 1 {
		pairs = "pair"
	}
	fmt.Fprintf(&b, "%d %s, run alternately (A B, B A, A B, …), each pair on the same stream. "+
		"\"B better\" counts the pairs in which B's figure was better; p is the two-sided sign test's "+
		"chance of a split at least that uneven with no difference at all.\n\n", n, pairs)
	b.WriteString("| Figure | A (median) | B (median) | B vs A, median per pair | B better | p |\n|---|--:|--:|--:|:-:|--:|\n")
	for i, p := range c.Paired() {
		f := comparedFigures[i]
		if p.Pairs == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | 0 of 0 | %s |\n", p.Name, notMeasured, notMeasured, notMeasured, notMeasured)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %+.1f %% | %d of %d | %.2f |\n",
			p.Name, f.show(p.MedianA), f.show(p.MedianB), 100*p.MedianChange, p.BetterInB, p.Pairs, p.SignP)
	}
	b.WriteString("\n| Pair | ")
	for i, f := range comparedFigures {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(f.name)
	}
	b.WriteString(" |\n|---|" + strings.Repeat("--:|", len(comparedFigures)) + "\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "| %d |", i+1)
		for _, f := range comparedFigures {
			fmt.Fprintf(&b, " %s / %s |", showMeasured(f, c.A[i]), showMeasured(f, c.B[i]))
		}
		b.WriteString("\n")
	}
	if len(c.Notes) > 0 {
		b.WriteString("\n")
		for _, note := range c.Notes {
			fmt.Fprintf(&b, "- %s\n", note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// showMeasured shows a run's figure, or n/a when the run did not measure it.
func showMeasured(f comparedFigure, r Run) string {
	if v := f.value(r); measured(v) {
		return f.show(v)
	}
	return notMeasured
}
