package benchreport

import (
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"
)

// ChartWidth and ChartHeight are the size in pixels of the PNG WriteChart
// draws, exported so the harness can set width/height attributes if it
// embeds the image in HTML.
const (
	ChartWidth  = 1000
	ChartHeight = 560
)

// ErrNoRuns is returned by WriteChart for a Report without runs: a chart of
// nothing would look like a chart of zeros, so the harness must decide what
// to publish instead.
var ErrNoRuns = errors.New("benchreport: no runs to chart")

var (
	colBackground = color.RGBA{255, 255, 255, 255}
	colText       = color.RGBA{33, 37, 41, 255}
	colMuted      = color.RGBA{108, 117, 125, 255}
	colGrid       = color.RGBA{233, 236, 239, 255}
	colAxis       = color.RGBA{134, 142, 150, 255}
	colE2E        = color.RGBA{59, 104, 160, 255}
	colRedis      = color.RGBA{134, 176, 222, 255}
	colKafka      = color.RGBA{190, 212, 236, 255}
	colCPU        = color.RGBA{176, 176, 176, 255}
	colGood       = color.RGBA{84, 160, 75, 255}
	colBad        = color.RGBA{214, 69, 65, 255}
	colMarker     = color.RGBA{20, 24, 28, 255}
)

// WriteChart draws the PNG chart of r — the median of r.Runs — so the
// document's figures can be taken in at a glance. The image is
// ChartWidth×ChartHeight pixels with two panels: throughput against its
// target and the two ceilings, and p99 latency, Redis bytes per customer and
// peak RSS as a share of their targets (lower is better).
//
// Zero ("not measured") figures and zero targets are labelled as such
// instead of drawn; an axis dominated by one much larger value is cut so the
// others stay readable. The output is deterministic; it is drawn with
// gonum.org/v1/plot. WriteChart returns ErrNoRuns when r has no runs, and
// otherwise errors from building the plot or from writing to w.
func WriteChart(w io.Writer, r Report) error {
	if len(r.Runs) == 0 {
		return ErrNoRuns
	}
	img, err := renderChart(r)
	if err != nil {
		return fmt.Errorf("draw benchmark chart: %w", err)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode benchmark chart png: %w", err)
	}
	return nil
}

// machineLine is the chart's one-line provenance.
func machineLine(r Report) string {
	s := ""
	add := func(part string) {
		if part == "" {
			return
		}
		if s != "" {
			s += " | "
		}
		s += part
	}
	if !r.Date.IsZero() {
		add(r.Date.UTC().Format("2006-01-02"))
	}
	if r.Machine.Cores > 0 {
		add(strconv.Itoa(r.Machine.Cores) + " cores")
	}
	add(r.Machine.GoVersion)
	if r.Machine.RedisVersion != "" {
		add("redis " + r.Machine.RedisVersion)
	}
	add(r.Machine.CPU)
	return s
}

// bar is one horizontal bar of a panel, in the panel's axis units.
type bar struct {
	label      string  // category, left of the axis
	value      float64 // ≤ 0 or non-finite: nothing drawn
	valueLabel string  // drawn at the end of the bar
	fill       color.RGBA
	markers    []float64 // individual-run values drawn as ticks across the bar
}

// refLine is a vertical reference line across a panel's plot area.
type refLine struct {
	value  float64
	label  string
	dashed bool
}

// panel is one bar chart of the figure.
type panel struct {
	title  string
	legend string // drawn after a marker sample when non-empty
	bars   []bar
	refs   []refLine
	tick   func(float64) string
}

// clean maps "not measured" values (zero, negative, NaN, ±Inf) to 0.
func clean(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func throughputPanel(r Report, med Run) panel {
	e2e := bar{
		label:      "End-to-end (median)",
		value:      clean(med.Throughput),
		valueLabel: rateLabel(med.Throughput),
		fill:       colE2E,
	}
	p := panel{title: "Throughput (events/s)", tick: fmtCompact}
	if len(r.Runs) > 1 {
		for _, run := range r.Runs {
			if v := clean(run.Throughput); v > 0 {
				e2e.markers = append(e2e.markers, v)
			}
		}
		if len(e2e.markers) > 0 {
			p.legend = fmt.Sprintf("individual runs (%d)", len(e2e.markers))
		}
	}
	p.bars = []bar{
		e2e,
		{label: "Redis update ceiling", value: clean(med.RedisUpdateCeiling),
			valueLabel: rateLabel(med.RedisUpdateCeiling), fill: colRedis},
		{label: "Kafka consume ceiling", value: clean(med.KafkaConsumeCeiling),
			valueLabel: rateLabel(med.KafkaConsumeCeiling), fill: colKafka},
	}
	if limit := clean(med.CPUBoundLimit()); limit > 0 {
		// What the cores allow at the measured CPU cost per event of the
		// consumer, Redis and the broker together.
		p.bars = append(p.bars[:2], append([]bar{{label: "CPU-bound limit", value: limit,
			valueLabel: rateLabel(limit), fill: colCPU}}, p.bars[2:]...)...)
	}
	if t := clean(r.Targets.Throughput); t > 0 {
		p.refs = []refLine{{value: t, label: "target " + fmtCompact(t), dashed: true}}
	}
	return p
}

// rateLabel is a bar's value label, e.g. "172,340/s".
func rateLabel(v float64) string {
	if clean(v) == 0 {
		return "not measured"
	}
	return fmtRate(v) + "/s"
}

func budgetPanel(t Targets, med Run) panel {
	share := func(label string, v, target float64, vs, ts string) bar {
		b := bar{label: label}
		switch {
		case clean(target) == 0:
			b.valueLabel = "no target"
		case clean(v) == 0:
			b.valueLabel = "not measured (target " + ts + ")"
		default:
			b.value = 100 * v / target
			b.valueLabel = fmt.Sprintf("%s / %s (%s %%)", vs, ts, fmtFloat(b.value, 1))
			b.fill = colGood
			if b.value > 100 {
				b.fill = colBad
			}
		}
		return b
	}
	return panel{
		title: "Share of budget (lower is better)",
		tick:  func(v float64) string { return fmtCompact(v) + " %" },
		refs:  []refLine{{value: 100, label: "target = 100 %"}},
		bars: []bar{
			share("p99 latency", float64(med.P99), float64(t.P99),
				fmtMs(med.P99), fmtMsTarget(t.P99)),
			share("Redis bytes/customer", med.RedisBytesPerCustomer, t.BytesPerCustomer,
				bytesOr(med.RedisBytesPerCustomer), strconv.FormatFloat(t.BytesPerCustomer, 'f', -1, 64)+" B"),
			share("Peak RSS", float64(med.PeakRSSBytes), float64(t.PeakRSSBytes),
				fmtMB(med.PeakRSSBytes), fmtMBTarget(t.PeakRSSBytes)),
		},
	}
}

// axisScale chooses the axis maximum and tick step for values. When the
// largest value is more than three times the next one the axis is cut just
// above the next one, so one huge ceiling does not flatten every other
// bar; bars beyond the maximum are then drawn cut. With no positive value
// the axis spans 0..1.
func axisScale(values []float64) (maxV, step float64) {
	var vs []float64
	for _, v := range values {
		if v = clean(v); v > 0 {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 1, 0.2
	}
	slices.Sort(vs)
	slices.Reverse(vs)
	top := vs[0] * 1.08
	if len(vs) > 1 && vs[0] > 3*vs[1] {
		top = vs[1] * 1.3
	}
	step = niceStep(top / 5)
	maxV = math.Ceil(top/step) * step
	if maxV <= 0 || step <= 0 || math.IsInf(maxV, 0) || math.IsNaN(maxV) || math.IsNaN(step) {
		return 1, 0.2 // values near the float64 limits: draw an empty axis
	}
	return maxV, step
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / exp; {
	case f <= 1:
		return exp
	case f <= 2:
		return 2 * exp
	case f <= 5:
		return 5 * exp
	default:
		return 10 * exp
	}
}
