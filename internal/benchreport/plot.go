package benchreport

import (
	"fmt"
	"image"
	"image/color"
	"math"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The chart is drawn with gonum.org/v1/plot on a vgimg canvas. Lengths are
// in points; at chartDPI one pixel is px(1).
const chartDPI = 96

// px converts pixels of the PNG into canvas points.
func px(n float64) vg.Length { return vg.Length(n * 72 / chartDPI) }

var (
	headerHeight = px(34) // the title line above the panels
	panelTitle   = px(24) // each panel's title line
	margin       = px(12) // left and right edge of the image
	barWidth     = px(30) // thickness of a bar
	labelGap     = px(8)  // between a bar's end and its value label
	cutWidth     = px(5)  // the white gap of a cut bar
	markerReach  = px(5)  // how far a run marker sticks out of its bar
)

// sans returns a Liberation Sans text style of size pt, black by default.
func sans(pt float64, bold bool) text.Style {
	f := font.Font{Typeface: "Liberation", Variant: "Sans"}
	if bold {
		f.Weight = stdfont.WeightBold
	}
	return text.Style{
		Color:   colText,
		Font:    font.From(f, vg.Length(pt)),
		XAlign:  draw.XLeft,
		YAlign:  draw.YCenter,
		Handler: plot.DefaultTextHandler,
	}
}

// renderChart draws the whole chart; r must have at least one run.
func renderChart(r Report) (image.Image, error) {
	canvas := vgimg.NewWith(
		vgimg.UseWH(px(ChartWidth), px(ChartHeight)),
		vgimg.UseDPI(chartDPI),
		vgimg.UseBackgroundColor(colBackground),
	)
	dc := draw.New(canvas)

	med := Median(r.Runs)
	runsWord := "runs"
	if len(r.Runs) == 1 {
		runsWord = "run"
	}
	top := dc.Max.Y - headerHeight/2
	title := sans(11, true)
	dc.FillText(title, vg.Point{X: margin, Y: top},
		fmt.Sprintf("ltv-stream benchmark - median of %d %s", len(r.Runs), runsWord))
	provenance := sans(9, false)
	provenance.Color = colMuted
	provenance.XAlign = draw.XRight
	dc.FillText(provenance, vg.Point{X: dc.Max.X - margin, Y: top},
		fitText(provenance, machineLine(r), dc.Size().X/2))

	panels := []panel{throughputPanel(r, med), budgetPanel(r.Targets, med)}
	plots := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		pl, err := panelPlot(p)
		if err != nil {
			return nil, fmt.Errorf("plot %q: %w", p.title, err)
		}
		plots[i] = []*plot.Plot{pl}
	}
	// One column of tiles, each below its title line; Align lines the
	// panels' value axes up with each other.
	tiles := draw.Tiles{Rows: len(panels), Cols: 1,
		PadTop: panelTitle, PadY: panelTitle + px(6), PadLeft: margin, PadRight: margin, PadBottom: px(4)}
	body := draw.Crop(dc, 0, 0, 0, -headerHeight)
	aligned := plot.Align(plots, tiles, body)
	rule := draw.LineStyle{Color: colGrid, Width: px(1)}
	for i, p := range panels {
		top := tiles.At(body, 0, i).Max.Y + panelTitle
		dc.StrokeLine2(rule, dc.Min.X, top, dc.Max.X, top)
		dc.FillText(sans(10.5, true), vg.Point{X: margin, Y: top - panelTitle/2}, p.title)
		plots[i][0].Draw(aligned[i][0])
	}
	return canvas.Image(), nil
}

// panelPlot builds the gonum plot of p: one horizontal bar per p.bars,
// first at the top, with value labels, run markers, cut marks, reference
// lines and a tick axis from axisScale.
func panelPlot(p panel) (*plot.Plot, error) {
	pl := plot.New()
	pl.BackgroundColor = nil // the canvas is already white

	var values []float64
	for _, b := range p.bars {
		values = append(values, b.value)
		values = append(values, b.markers...)
	}
	for _, r := range p.refs {
		values = append(values, r.value)
	}
	maxV, step := axisScale(values)

	n := len(p.bars)
	y := func(i int) float64 { return float64(n - 1 - i) } // first bar on top
	names := make([]string, n)
	labels := &valueLabels{maxV: maxV}
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	grid.Vertical = draw.LineStyle{Color: colGrid, Width: px(1)}
	pl.Add(grid)

	for i, b := range p.bars {
		names[n-1-i] = b.label
		labels.bars = append(labels.bars, placedBar{bar: b, y: y(i)})
		if b.value <= 0 {
			continue
		}
		bc, err := plotter.NewBarChart(plotter.Values{math.Min(b.value, maxV)}, barWidth)
		if err != nil {
			return nil, fmt.Errorf("bar %q: %w", b.label, err)
		}
		bc.Horizontal, bc.XMin, bc.Color = true, y(i), b.fill
		bc.LineStyle.Width = 0
		pl.Add(bc)
		if len(b.markers) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(b.markers))
		for k, m := range b.markers {
			pts[k] = plotter.XY{X: math.Min(m, maxV), Y: y(i)}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, fmt.Errorf("markers of %q: %w", b.label, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: colMarker, Radius: barWidth/2 + markerReach, Shape: tickGlyph{}}
		pl.Add(sc)
		if p.legend != "" {
			thumb := *sc // a shorter stroke in the legend
			thumb.Radius = px(7)
			pl.Legend.Add(p.legend, &thumb)
		}
	}
	refTop := float64(n) - 0.5
	for _, r := range p.refs {
		v := math.Min(clean(r.value), maxV)
		line, err := plotter.NewLine(plotter.XYs{{X: v, Y: -0.5}, {X: v, Y: refTop}})
		if err != nil {
			return nil, fmt.Errorf("reference line %q: %w", r.label, err)
		}
		line.LineStyle = draw.LineStyle{Color: colText, Width: px(2)}
		if r.dashed {
			line.Dashes = []vg.Length{px(6), px(4)}
		}
		pl.Add(line)
		lab, err := plotter.NewLabels(plotter.XYLabels{
			XYs: plotter.XYs{{X: v, Y: refTop}}, Labels: []string{r.label},
		})
		if err != nil {
			return nil, fmt.Errorf("reference label %q: %w", r.label, err)
		}
		sty := sans(9, false)
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YBottom
		lab.TextStyle = []text.Style{sty}
		lab.Offset = vg.Point{Y: px(3)}
		pl.Add(lab)
	}
	pl.Add(labels)

	pl.NominalY(names...)
	pl.Y.Tick.Label = sans(10, false)
	pl.Y.Tick.Label.XAlign = draw.XRight
	pl.Y.Min, pl.Y.Max = -0.5, refTop+0.45 // room above the top bar for the reference labels
	pl.Y.Padding = px(10)

	var ticks []plot.Tick
	for i := 0; i <= 50; i++ { // axisScale yields about five ticks; the cap is a safeguard
		v := float64(i) * step
		if v > maxV*(1+1e-9) {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: p.tick(v)})
	}
	pl.X.Min, pl.X.Max = 0, maxV
	pl.X.Tick.Marker = plot.ConstantTicks(ticks)
	pl.X.Tick.Label = sans(9, false)
	pl.X.Tick.Label.Color = colMuted
	pl.X.Tick.Label.XAlign, pl.X.Tick.Label.YAlign = draw.XCenter, draw.YTop
	pl.X.Tick.LineStyle = draw.LineStyle{Color: colAxis, Width: px(1)}
	pl.X.LineStyle = draw.LineStyle{Color: colAxis, Width: px(1)}
	pl.X.Padding = 0

	pl.Legend.TextStyle = sans(9, false)
	pl.Legend.TextStyle.Color = colMuted
	pl.Legend.Top = true
	pl.Legend.ThumbnailWidth = px(12)
	pl.Legend.YOffs = panelTitle/2 + px(6) // up into the panel's title line
	return pl, nil
}

// tickGlyph draws a run marker: a vertical stroke through the bar.
type tickGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (tickGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	ls := draw.LineStyle{Color: sty.Color, Width: px(2)}
	c.StrokeLine2(ls, pt.X, pt.Y-sty.Radius, pt.X, pt.Y+sty.Radius)
}

// placedBar is a bar and its position on the category axis.
type placedBar struct {
	bar
	y float64
}

// valueLabels is a plot.Plotter that writes each bar's value label after
// the bar, or inside its end when it would not fit in the plot, and marks
// bars longer than the axis with a slanted white gap.
type valueLabels struct {
	bars []placedBar
	maxV float64
}

// Plot implements plot.Plotter.
func (v *valueLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, b := range v.bars {
		y := trY(b.y)
		end := trX(math.Min(b.value, v.maxV))
		cut := b.value > v.maxV
		if cut {
			x := end - px(18)
			c.FillPolygon(colBackground, []vg.Point{
				{X: x, Y: y - barWidth/2 - px(2)}, {X: x + cutWidth, Y: y - barWidth/2 - px(2)},
				{X: x + cutWidth + px(8), Y: y + barWidth/2 + px(2)}, {X: x + px(8), Y: y + barWidth/2 + px(2)},
			})
		}
		start := end
		for _, m := range b.markers {
			start = max(start, trX(math.Min(m, v.maxV))+px(1))
		}
		s := b.valueLabel
		if cut {
			s += " (bar cut)"
		}
		sty := sans(10, false)
		w := sty.Width(s)
		x, bg := start+labelGap, colBackground
		right := c.Max.X + margin/2 // the label may reach into the margin
		switch {
		case x+w <= right:
		case end-c.Min.X >= w+2*labelGap: // inside the bar's end, clear of a cut mark
			x, bg = end-labelGap-w, b.fill
			if cut {
				x = end - px(26) - w
			}
			sty.Color = color.White
			if isLight(b.fill) {
				sty.Color = colText
			}
		default:
			s = fitText(sty, s, right-x)
			w = sty.Width(s)
		}
		// On a box of the colour beneath, so no grid or reference line
		// runs through the text.
		x0, x1, y0, y1 := x-px(2), x+w+px(2), y-px(8), y+px(8)
		c.FillPolygon(bg, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		// Centred on the line height, figures without descenders would
		// sit low: lift them by half the descent.
		c.FillText(sty, vg.Point{X: x, Y: y + sty.FontExtents().Descent/2}, s)
	}
}

// fitText shortens s with "..." until it is at most maxWidth wide in sty.
func fitText(sty text.Style, s string, maxWidth vg.Length) string {
	if sty.Width(s) <= maxWidth {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && sty.Width(string(r)+"...") > maxWidth {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}

// isLight reports whether dark text reads better than white on c.
func isLight(c color.RGBA) bool {
	return 299*int(c.R)+587*int(c.G)+114*int(c.B) > 160*1000
}
