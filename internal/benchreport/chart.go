package benchreport

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"
)

// Chart geometry, in pixels.
const (
	// ChartWidth and ChartHeight are the size of the PNG WriteChart draws,
	// exported so the harness can set width/height attributes if it embeds
	// the image in HTML.
	ChartWidth  = 1000
	ChartHeight = 560

	plotLeft    = 180 // x of the value axis' zero
	plotRight   = 940 // x of the axis maximum
	labelMargin = 8   // nothing is drawn closer than this to the right edge
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
// others stay readable. The output is deterministic. WriteChart returns
// ErrNoRuns when r has no runs, and otherwise only errors from writing to w.
func WriteChart(w io.Writer, r Report) error {
	if len(r.Runs) == 0 {
		return ErrNoRuns
	}
	img := renderChart(r)
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode benchmark chart png: %w", err)
	}
	return nil
}

// renderChart draws the whole chart; r must have at least one run.
func renderChart(r Report) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, ChartWidth, ChartHeight))
	fillRect(img, img.Bounds(), colBackground)

	med := Median(r.Runs)
	runsWord := "runs"
	if len(r.Runs) == 1 {
		runsWord = "run"
	}
	drawTextBold(img, 12, 20, fmt.Sprintf("ltv-stream benchmark - median of %d %s", len(r.Runs), runsWord), colText)
	drawTextRight(img, ChartWidth-labelMargin-4, 20,
		fitText(machineLine(r), ChartWidth/2), colMuted)
	hLine(img, 0, ChartWidth, 30, 1, colGrid)

	drawPanel(img, throughputPanel(r, med), 34, 288)
	hLine(img, 0, ChartWidth, 292, 1, colGrid)
	drawPanel(img, budgetPanel(r.Targets, med), 296, ChartHeight-4)
	return img
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

// drawPanel draws p between y = top and y = bottom.
func drawPanel(img *image.RGBA, p panel, top, bottom int) {
	plotTop, plotBottom := top+42, bottom-28
	drawTextBold(img, 12, top+14, p.title, colText)
	if p.legend != "" {
		lx := ChartWidth - labelMargin - 4 - textWidth(p.legend)
		drawText(img, lx, top+14, p.legend, colMuted)
		vLine(img, lx-12, top+2, top+14, 2, colMarker)
	}

	var values []float64
	for _, b := range p.bars {
		values = append(values, b.value)
		values = append(values, b.markers...)
	}
	for _, r := range p.refs {
		values = append(values, r.value)
	}
	maxV, step := axisScale(values)
	x := func(v float64) int {
		v = math.Min(clean(v), maxV)
		return plotLeft + int(math.Round(v/maxV*float64(plotRight-plotLeft)))
	}

	// Grid and ticks.
	for i := 0; i <= 50; i++ { // axisScale yields about five ticks; the cap is a safeguard
		v := float64(i) * step
		if v > maxV*(1+1e-9) {
			break
		}
		tx := x(v)
		if i > 0 {
			vLine(img, tx, plotTop, plotBottom, 1, colGrid)
		}
		vLine(img, tx, plotBottom, plotBottom+4, 1, colAxis)
		drawTextCenter(img, tx, plotBottom+17, p.tick(v), colMuted)
	}
	hLine(img, plotLeft, plotRight, plotBottom, 1, colAxis)

	// Bars, category labels, run markers and cut marks.
	slot := float64(plotBottom-plotTop) / float64(max(len(p.bars), 1))
	barH := min(int(slot*0.55), 34)
	type pending struct {
		x, y   int
		s      string
		fg, bg color.RGBA // bg is filled behind the text
	}
	var labels []pending
	for i, b := range p.bars {
		cy := plotTop + int(slot*(float64(i)+0.5))
		y0, y1 := cy-barH/2, cy-barH/2+barH
		drawTextRight(img, plotLeft-10, cy+4, b.label, colText)

		end := plotLeft
		if b.value > 0 {
			end = x(b.value)
			fillRect(img, image.Rect(plotLeft, y0, max(end, plotLeft+1), y1), b.fill)
		}
		cut := b.value > maxV
		if cut {
			drawCut(img, plotRight-18, y0, y1)
		}
		labelStart := end
		for _, m := range b.markers {
			mx := x(m)
			vLine(img, mx-1, y0-5, y1+4, 2, colMarker)
			labelStart = max(labelStart, mx+1)
		}

		s := b.valueLabel
		if cut {
			s += " (bar cut)"
		}
		tw := textWidth(s)
		switch {
		case labelStart+8+tw <= ChartWidth-labelMargin:
			labels = append(labels, pending{labelStart + 8, cy + 4, s, colText, colBackground})
		case end-plotLeft >= tw+16:
			c := color.RGBA{255, 255, 255, 255}
			if isLight(b.fill) {
				c = colText
			}
			if cut {
				end = plotRight - 24 // keep clear of the cut mark
			}
			labels = append(labels, pending{end - 8 - tw, cy + 4, s, c, b.fill})
		default:
			s = fitText(s, ChartWidth-labelMargin-labelStart-8)
			labels = append(labels, pending{labelStart + 8, cy + 4, s, colText, colBackground})
		}
	}
	vLine(img, plotLeft, plotTop, plotBottom, 1, colAxis)

	// Reference lines over the bars, their labels above the plot area.
	for _, r := range p.refs {
		rx := x(r.value)
		if r.dashed {
			dashedVLine(img, rx-1, plotTop-4, plotBottom, 2, 6, 4, colText)
		} else {
			vLine(img, rx-1, plotTop-4, plotBottom, 2, colText)
		}
		lx := rx - textWidth(r.label)/2
		lx = max(plotLeft, min(lx, ChartWidth-labelMargin-textWidth(r.label)))
		drawText(img, lx, plotTop-9, r.label, colText)
	}

	// Value labels last, each on a box of the colour beneath it, so no grid
	// or reference line runs through the text.
	for _, l := range labels {
		fillRect(img, textBox(l.x, l.y, l.s, 2), l.bg)
		drawText(img, l.x, l.y, l.s, l.fg)
	}
}

// drawCut draws a slanted white gap across a bar at x, the usual sign that
// the bar is longer than the axis.
func drawCut(img *image.RGBA, x, y0, y1 int) {
	h := y1 - y0
	for y := y0 - 2; y < y1+2; y++ {
		off := (y1 + 2 - y) * 8 / max(h+4, 1)
		hLine(img, x+off, x+off+4, y, 1, colBackground)
	}
}
