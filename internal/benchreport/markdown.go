package benchreport

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pass marks of the main table; both carry a word so they still read in a
// terminal without emoji and can be grepped.
const (
	markMet    = "✅ met"
	markMissed = "❌ missed"
	markNone   = "❌ not measured"
	dash       = "—"
)

// WriteMarkdown renders r as the complete docs/benchmarks.md document, so
// the published page is regenerated from numbers rather than edited by
// hand.
//
// chartFile is the PNG's path relative to the Markdown file (for example
// "benchmarks.png") and is embedded as an image; an empty chartFile omits
// the image. The output is deterministic: the same Report always renders
// to the same bytes. A Report without runs still renders, with every
// figure "n/a". The only error is one from writing to w.
func WriteMarkdown(w io.Writer, r Report, chartFile string) error {
	var b strings.Builder
	writeHeader(&b, r)
	writeMachine(&b, r.Machine)
	writeResults(&b, r, chartFile)
	writeScale(&b, r)
	writeHotPath(&b, r.HotPath)
	writeNotes(&b, r.Notes)
	doc := strings.TrimRight(b.String(), "\n") + "\n"
	if _, err := io.WriteString(w, doc); err != nil {
		return fmt.Errorf("write benchmark markdown: %w", err)
	}
	return nil
}

func writeHeader(b *strings.Builder, r Report) {
	b.WriteString("# Benchmarks\n\n")
	date := "unknown date"
	if !r.Date.IsZero() {
		date = r.Date.UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintf(b, "Generated %s", date)
	if cmd := strings.TrimSpace(r.Command); cmd != "" {
		fmt.Fprintf(b, " by %s", inlineCode(cmd))
	}
	b.WriteString(".\n\n")
}

func writeMachine(b *strings.Builder, m Machine) {
	orUnknown := func(s string) string {
		if s = strings.TrimSpace(s); s == "" {
			return "unknown"
		}
		return s
	}
	cores, mem := "unknown", "unknown"
	if m.Cores > 0 {
		cores = strconv.Itoa(m.Cores)
	}
	if m.MemoryBytes > 0 {
		mem = fmtGiB(m.MemoryBytes)
	}
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(b, "- CPU: %s\n", orUnknown(m.CPU))
	fmt.Fprintf(b, "- Cores: %s\n", cores)
	fmt.Fprintf(b, "- Memory: %s\n", mem)
	fmt.Fprintf(b, "- OS: %s\n", orUnknown(m.OS))
	fmt.Fprintf(b, "- Kernel: %s\n", orUnknown(m.Kernel))
	fmt.Fprintf(b, "- Go: %s\n", orUnknown(m.GoVersion))
	fmt.Fprintf(b, "- Redis: %s\n", orUnknown(m.RedisVersion))
	fmt.Fprintf(b, "- Broker: %s\n\n", orUnknown(m.Broker))
}

// row is one line of the main table.
type row struct {
	figure, median, target, ceiling, ratio, mark, perRun string
}

// perRun formats one value per run, comma-separated.
func perRun(runs []Run, f func(Run) string) string {
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = f(r)
	}
	return strings.Join(parts, ", ")
}

// markHigher is the pass mark of a higher-is-better figure.
func markHigher(v, target float64) string {
	return passMark(v, target, func(v, target float64) bool { return v >= target })
}

// markLower is the pass mark of a lower-is-better figure.
func markLower(v, target float64) string {
	return passMark(v, target, func(v, target float64) bool { return v <= target })
}

// passMark is the pass mark of v against target: none without a target,
// not measured without a value, else met when met(v, target) holds.
func passMark(v, target float64, met func(v, target float64) bool) string {
	v, target = clean(v), clean(target)
	switch {
	case target <= 0:
		return ""
	case v <= 0:
		return markNone
	case met(v, target):
		return markMet
	default:
		return markMissed
	}
}

// ofWhat is the Ratio cell "x % of <what>", or a dash when not computable.
func ofWhat(num, den float64, what string) string {
	if s, ok := fmtPct(num, den); ok {
		return s + " of " + what
	}
	return dash
}

// pctOr is a bare percentage, or "n/a".
func pctOr(num, den float64) string {
	if s, ok := fmtPct(num, den); ok {
		return s
	}
	return notMeasured
}

func withUnit(s, unit string) string {
	if s == notMeasured {
		return s
	}
	return s + " " + unit
}

func intOr(n int) string {
	if n <= 0 {
		return notMeasured
	}
	return fmtInt(int64(n))
}

func secondsOr(v float64) string {
	if clean(v) == 0 {
		return notMeasured
	}
	return fmtFloat(v, 2) + " s"
}

// ratioOr formats a per-event ratio with two decimals, or n/a when it was
// not read.
func ratioOr(v float64) string {
	if clean(v) == 0 {
		return notMeasured
	}
	return fmtFloat(v, 2)
}

// shareOr formats a share in [0, 1] as a percentage, or n/a when it was
// not read.
func shareOr(v float64) string {
	if s, ok := fmtPct(v, 1); ok {
		return s
	}
	return notMeasured
}

func bytesOr(v float64) string {
	if clean(v) == 0 {
		return notMeasured
	}
	return fmtFloat(v, 1) + " B"
}

// signed formats a difference, which may be negative (a budget already
// overspent), with dec decimals and unit.
func signed(v float64, dec int, unit string) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return notMeasured
	case v < 0:
		return "−" + fmtFloat(-v, dec) + " " + unit
	}
	return fmtFloat(v, dec) + " " + unit
}

func signedBytes(v float64) string   { return signed(v, 1, "B") }
func signedSeconds(v float64) string { return signed(v, 2, "s") }

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// mainRows builds the main table from the runs and their median.
func mainRows(r Report) []row {
	runs, med, t := r.Runs, Median(r.Runs), r.Targets
	rate := func(f func(Run) float64, unit string) (string, string) {
		return withUnit(fmtRate(f(med)), unit), perRun(runs, func(x Run) string { return fmtRate(f(x)) })
	}
	ms := func(f func(Run) time.Duration) (string, string) {
		return fmtMs(f(med)), perRun(runs, func(x Run) string { return fmtMs(f(x)) })
	}
	var rows []row
	add := func(rw row) { rows = append(rows, rw) }

	add(row{figure: "Input events", median: intOr(med.Events),
		perRun: perRun(runs, func(x Run) string { return intOr(x.Events) })})
	add(row{figure: "Distinct customers", median: intOr(med.Customers),
		perRun: perRun(runs, func(x Run) string { return intOr(x.Customers) })})
	add(row{figure: "Elapsed (consumer start → all offsets committed)",
		median: secondsOr(med.Elapsed.Seconds()),
		perRun: perRun(runs, func(x Run) string { return secondsOr(x.Elapsed.Seconds()) })})

	thr := func(x Run) float64 { return x.Throughput }
	m, p := rate(thr, "events/s")
	tgt := dash
	if t.Throughput > 0 {
		tgt = "≥ " + fmtRate(t.Throughput) + " events/s"
	}
	add(row{figure: "**End-to-end throughput**", median: m, target: tgt,
		ratio: ofWhat(med.Throughput, t.Throughput, "target"),
		mark:  markHigher(med.Throughput, t.Throughput), perRun: p})
	add(row{figure: "↳ share of Kafka consume ceiling", median: m,
		ceiling: withUnit(fmtRate(med.KafkaConsumeCeiling), "msg/s"),
		ratio:   ofWhat(med.Throughput, med.KafkaConsumeCeiling, "ceiling"),
		perRun: perRun(runs, func(x Run) string {
			return pctOr(x.Throughput, x.KafkaConsumeCeiling)
		})})
	add(row{figure: "↳ share of Redis update ceiling", median: m,
		ceiling: withUnit(fmtRate(med.RedisUpdateCeiling), "events/s"),
		ratio:   ofWhat(med.Throughput, med.RedisUpdateCeiling, "ceiling"),
		perRun: perRun(runs, func(x Run) string {
			return pctOr(x.Throughput, x.RedisUpdateCeiling)
		})})

	m, p = ms(func(x Run) time.Duration { return x.P50 })
	add(row{figure: "Latency p50 (produce → change event)", median: m, perRun: p})
	m, p = ms(func(x Run) time.Duration { return x.P99 })
	tgt = dash
	if t.P99 > 0 {
		tgt = "≤ " + fmtMsTarget(t.P99)
	}
	add(row{figure: "**Latency p99** (produce → change event)", median: m, target: tgt,
		ratio: ofWhat(float64(med.P99), float64(t.P99), "target"),
		mark:  markLower(float64(med.P99), float64(t.P99)), perRun: p})
	m, p = ms(func(x Run) time.Duration { return x.Max })
	add(row{figure: "Latency max", median: m, perRun: p})

	m, p = rate(func(x Run) float64 { return x.OfferedRate }, "events/s")
	add(row{figure: "Offered rate (latency phase)", median: m, perRun: p})
	m, p = rate(func(x Run) float64 { return x.AchievedRate }, "events/s")
	add(row{figure: "Achieved rate (latency phase)", median: m,
		ratio: ofWhat(med.AchievedRate, med.OfferedRate, "offered"), perRun: p})
	add(row{figure: "Latency samples", median: intOr(med.LatencySamples),
		perRun: perRun(runs, func(x Run) string { return intOr(x.LatencySamples) })})

	tgt = dash
	if t.BytesPerCustomer > 0 {
		tgt = "≤ " + strconv.FormatFloat(t.BytesPerCustomer, 'f', -1, 64) + " B"
	}
	add(row{figure: "**Redis bytes per customer**", median: bytesOr(med.RedisBytesPerCustomer),
		target: tgt,
		ratio:  ofWhat(med.RedisBytesPerCustomer, t.BytesPerCustomer, "target"),
		mark:   markLower(med.RedisBytesPerCustomer, t.BytesPerCustomer),
		perRun: perRun(runs, func(x Run) string { return bytesOr(x.RedisBytesPerCustomer) })})
	if med.PublicFieldsBytesPerCustomer > 0 {
		add(row{figure: "↳ floor: SPEC §3 public fields alone, no bookkeeping", median: bytesOr(med.PublicFieldsBytesPerCustomer),
			target: tgt, ratio: ofWhat(med.PublicFieldsBytesPerCustomer, t.BytesPerCustomer, "target"),
			perRun: perRun(runs, func(x Run) string { return bytesOr(x.PublicFieldsBytesPerCustomer) })})
		if t.BytesPerCustomer > 0 {
			room := func(x Run) string { return signedBytes(t.BytesPerCustomer - x.PublicFieldsBytesPerCustomer) }
			add(row{figure: "↳ room under the target for all bookkeeping (offset guard, dedupe window)",
				median: room(med), perRun: perRun(runs, room)})
		}
	}

	tgt = dash
	if t.PeakRSSBytes > 0 {
		tgt = "≤ " + fmtMBTarget(t.PeakRSSBytes)
	}
	add(row{figure: "**Peak RSS** (consumer, throughput phase)", median: fmtMB(med.PeakRSSBytes),
		target: tgt,
		ratio:  ofWhat(float64(med.PeakRSSBytes), float64(t.PeakRSSBytes), "target"),
		mark:   markLower(float64(med.PeakRSSBytes), float64(t.PeakRSSBytes)),
		perRun: perRun(runs, func(x Run) string { return fmtMB(x.PeakRSSBytes) })})

	add(row{figure: "CPU seconds per million events (user+sys)",
		median: secondsOr(med.CPUSecondsPerMillion),
		perRun: perRun(runs, func(x Run) string { return secondsOr(x.CPUSecondsPerMillion) })})
	if med.GCShare > 0 {
		add(row{figure: "↳ of which the garbage collector (Go runtime's estimate)", median: shareOr(med.GCShare),
			perRun: perRun(runs, func(x Run) string { return shareOr(x.GCShare) })})
	}

	m, p = rate(func(x Run) float64 { return x.KafkaConsumeCeiling }, "msg/s")
	add(row{figure: "Kafka consume ceiling", median: m, perRun: p})
	m, p = rate(func(x Run) float64 { return x.RedisUpdateCeiling }, "events/s")
	add(row{figure: "Redis update ceiling", median: m, perRun: p})
	if med.RedisCPUSecondsPerMillion > 0 {
		add(row{figure: "redis-server CPU seconds per million events",
			median: secondsOr(med.RedisCPUSecondsPerMillion),
			perRun: perRun(runs, func(x Run) string { return secondsOr(x.RedisCPUSecondsPerMillion) })})
		add(row{figure: "Broker + harness CPU seconds per million events",
			median: secondsOr(med.BrokerCPUSecondsPerMillion),
			perRun: perRun(runs, func(x Run) string { return secondsOr(x.BrokerCPUSecondsPerMillion) })})
		limit := func(x Run) float64 { return x.CPUBoundLimit() }
		m, p = rate(limit, "events/s")
		add(row{figure: "CPU-bound limit (cores ÷ CPU per event of all processes)", median: m,
			ratio: ofWhat(med.Throughput, med.CPUBoundLimit(), "limit"), perRun: p})
	}
	if budget := CPUBudgetPerMillion(med.Cores, t.Throughput); budget > 0 && med.KafkaCeilingCPUSecondsPerMillion > 0 {
		add(row{figure: "CPU budget per million events at the throughput target (cores ÷ target)",
			median: secondsOr(budget), target: dash})
		add(row{figure: "↳ Kafka alone: broker + kafka-go reader at the consume ceiling",
			median: secondsOr(med.KafkaCeilingCPUSecondsPerMillion),
			ratio:  ofWhat(med.KafkaCeilingCPUSecondsPerMillion, budget, "budget"),
			perRun: perRun(runs, func(x Run) string { return secondsOr(x.KafkaCeilingCPUSecondsPerMillion) })})
		if med.RedisCeilingCPUSecondsPerMillion > 0 {
			add(row{figure: "↳ Redis alone: redis-server at the update ceiling",
				median: secondsOr(med.RedisCeilingCPUSecondsPerMillion),
				ratio:  ofWhat(med.RedisCeilingCPUSecondsPerMillion, budget, "budget"),
				perRun: perRun(runs, func(x Run) string { return secondsOr(x.RedisCeilingCPUSecondsPerMillion) })})
		}
		if med.RedisFloorCPUSecondsPerMillion > 0 {
			add(row{figure: "↳ Redis floor: the public fields alone, as plain pipelined HSETs (no compare-and-set, no bookkeeping)",
				median: secondsOr(med.RedisFloorCPUSecondsPerMillion),
				ratio:  ofWhat(med.RedisFloorCPUSecondsPerMillion, budget, "budget"),
				perRun: perRun(runs, func(x Run) string { return secondsOr(x.RedisFloorCPUSecondsPerMillion) })})
			left := func(x Run) float64 {
				return CPUBudgetPerMillion(x.Cores, t.Throughput) - x.KafkaCeilingCPUSecondsPerMillion - x.RedisFloorCPUSecondsPerMillion
			}
			add(row{figure: "↳ left for everything else at best (budget − Kafka alone − Redis floor): decode, aggregate, encode, fencing, produce, commit",
				median: signedSeconds(left(med)),
				perRun: perRun(runs, func(x Run) string { return signedSeconds(left(x)) })})
		}
	}

	verified := 0
	for _, x := range runs {
		if x.Verified {
			verified++
		}
	}
	vmark := markMissed
	if med.Verified {
		vmark = markMet
	}
	vmedian := fmt.Sprintf("%s (%d/%d runs)", yesNo(med.Verified), verified, len(runs))
	switch {
	case len(runs) == 0:
		vmark = markNone
	case allVerifySkipped(runs):
		vmark, vmedian = markNone, "not checked"
	}
	add(row{figure: "**Verified** (Redis state = independent recomputation)",
		median: vmedian,
		target: "every run", mark: vmark,
		perRun: perRun(runs, func(x Run) string {
			if x.VerifySkipped {
				return "not checked"
			}
			return yesNo(x.Verified)
		})})

	for i := range rows {
		for _, c := range []*string{&rows[i].median, &rows[i].target, &rows[i].ceiling, &rows[i].ratio, &rows[i].perRun} {
			if *c == "" {
				*c = dash
			}
		}
	}
	return rows
}

// summary states how many targets were met and names the missed ones, so
// the verdict is the first thing a reader sees.
func summary(rows []row) string {
	var total, met int
	var missed []string
	for _, rw := range rows {
		if rw.mark == "" {
			continue
		}
		total++
		if rw.mark == markMet {
			met++
			continue
		}
		name := strings.ReplaceAll(rw.figure, "**", "")
		if i := strings.Index(name, " ("); i > 0 {
			name = name[:i]
		}
		missed = append(missed, name)
	}
	if total > 0 && met == total {
		return fmt.Sprintf("**All %d targets met.**", total)
	}
	return fmt.Sprintf("**%d of %d targets met; missed: %s.**", met, total, strings.Join(missed, ", "))
}

func writeResults(b *strings.Builder, r Report, chartFile string) {
	n := len(r.Runs)
	runsWord := plural(n, "run", "runs")
	rows := mainRows(r)
	b.WriteString("## Results\n\n")
	b.WriteString(summary(rows) + "\n\n")
	if n == 0 {
		b.WriteString("No benchmark runs were recorded.\n\n")
	}
	fmt.Fprintf(b, "Each figure is the median of %d %s, taken field by field "+
		"(the lower of the two middle values for an even count, so every figure was actually measured). "+
		"The Kafka consume ceiling is a raw kafka-go group reader over the same records with no processing; "+
		"the Redis update ceiling is the consumer's own Redis traffic for the same stream (loads, "+
		"compare-and-set saves, pending clears, stream times, due queries and timer-index settles), recorded and replayed pipelined from Go, in input events/s. "+
		"The CPU-bound limit is what the machine's cores allow at the CPU cost per event measured for the "+
		"consumer, redis-server and the broker together. RSS is in MB of 2^20 bytes.\n\n", n, runsWord)
	if chartFile != "" {
		fmt.Fprintf(b, "![Throughput against target and ceilings; p99 latency, Redis bytes per customer "+
			"and peak RSS as a share of their targets](%s)\n\n", chartFile)
	}
	fmt.Fprintf(b, "| Figure | Median of %d %s | Target | Ceiling | Ratio | Met | Per run |\n", n, runsWord)
	b.WriteString("|---|--:|--:|--:|--:|:-:|---|\n")
	for _, rw := range rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			cell(rw.figure), cell(rw.median), cell(rw.target), cell(rw.ceiling),
			cell(rw.ratio), cell(rw.mark), cell(rw.perRun))
	}
	b.WriteString("\n")
}

// writeScale renders the scale series: throughput and cost at other
// customer counts, and whether the largest keeps its share of the
// smallest's throughput. Nothing when no run measured one.
func writeScale(b *strings.Builder, r Report) {
	points := MedianScale(r.Runs)
	if len(points) == 0 {
		return
	}
	b.WriteString("## Cost against the customer base\n\n")
	fmt.Fprintf(b, "The same number of events as the main run, spread over other customer counts: more customers "+
		"mean more of the events are a customer's first (each first order brings the first tier and segment "+
		"assignments SPEC §5 and §8 require, so more change events per input event), and more customers than "+
		"the state cache holds mean more `HGETALL`s. Outputs and cache hits are the consumer's own counters "+
		"(`ltv_tier_changes_total` and `ltv_segment_changes_total` per `ltv_events_applied_total`; "+
		"`ltv_state_cache_hits_total` of hits and misses). Medians of %d %s, one throughput run per count in each.\n\n",
		len(r.Runs), plural(len(r.Runs), "run", "runs"))
	b.WriteString("| Customers | Throughput | Consumer CPU s per million events | redis-server CPU s per million events | Peak RSS | Change events per applied event | State-cache hits | Throughput per run |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, pt := range points {
		n := pt.Customers
		each := perRun(r.Runs, func(x Run) string {
			for _, q := range x.Scale {
				if q.Customers == n {
					return fmtRate(q.Throughput)
				}
			}
			return notMeasured
		})
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", fmtInt(int64(n)), withUnit(fmtRate(pt.Throughput), "events/s"),
			secondsOr(pt.CPUSecondsPerMillion), secondsOr(pt.RedisCPUSecondsPerMillion), fmtMB(pt.PeakRSSBytes),
			ratioOr(pt.OutputsPerEvent), shareOr(pt.CacheHitRate), each)
	}
	b.WriteString("\n")
	if len(points) > 1 && r.Targets.ScaleRatio > 0 {
		small, large := points[0], points[len(points)-1]
		share, ok := fmtPct(large.Throughput, small.Throughput)
		if !ok {
			share = notMeasured
		}
		fmt.Fprintf(b, "**At %s customers the throughput is %s of that at %s** (target ≥ %s): %s\n\n",
			fmtInt(int64(large.Customers)), share, fmtInt(int64(small.Customers)),
			strconv.FormatFloat(100*r.Targets.ScaleRatio, 'f', -1, 64)+" %",
			markHigher(large.Throughput, r.Targets.ScaleRatio*small.Throughput))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func writeHotPath(b *strings.Builder, benches []GoBench) {
	b.WriteString("## Hot path (go test -bench -benchmem)\n\n")
	if len(benches) == 0 {
		b.WriteString("No hot-path benchmarks were recorded.\n\n")
		return
	}
	b.WriteString("| Package | Benchmark | ns/op | B/op | allocs/op | Extra metrics |\n")
	b.WriteString("|---|---|--:|--:|--:|---|\n")
	for _, g := range benches {
		name := g.Name
		if g.Procs > 1 {
			name += "-" + strconv.Itoa(g.Procs)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n",
			cell(inlineCode(g.Package)), cell(name), fmtNsPerOp(g.NsPerOp),
			countOrDash(g.BytesPerOp), countOrDash(g.AllocsPerOp), cell(extraMetrics(g.Extra)))
	}
	b.WriteString("\n")
}

func countOrDash(n int64) string {
	if n < 0 {
		return dash
	}
	return fmtInt(n)
}

// extraMetrics lists custom metrics sorted by unit, for determinism.
func extraMetrics(m map[string]float64) string {
	if len(m) == 0 {
		return dash
	}
	parts := make([]string, 0, len(m))
	for _, unit := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmtMetric(m[unit])+" "+unit)
	}
	return strings.Join(parts, "; ")
}

func writeNotes(b *strings.Builder, notes []string) {
	var paras []string
	for _, n := range notes {
		if n = strings.TrimSpace(n); n != "" {
			paras = append(paras, n)
		}
	}
	if len(paras) == 0 {
		return
	}
	b.WriteString("## Notes\n\n")
	for _, p := range paras {
		b.WriteString(p + "\n\n")
	}
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\r\n", " ")
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// inlineCode wraps s in a code span that survives backticks inside s.
func inlineCode(s string) string {
	if s == "" {
		return dash
	}
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return "`` " + s + " ``"
}

// allVerifySkipped reports whether no run checked its final state.
func allVerifySkipped(runs []Run) bool {
	for _, r := range runs {
		if !r.VerifySkipped {
			return false
		}
	}
	return true
}
