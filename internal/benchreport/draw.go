package benchreport

import (
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Small raster helpers for the chart. Everything draws onto an *image.RGBA,
// clipped to its bounds by image/draw, so out-of-range coordinates are
// harmless.

// face is the only font: the 7×13 bitmap face, ASCII plus Latin-1.
var face font.Face = basicfont.Face7x13

const (
	textAscent = 11 // pixels above the baseline in face
	textHeight = 13
)

// fillRect fills r with c.
func fillRect(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r.Canon(), image.NewUniform(c), image.Point{}, draw.Src)
}

// hLine draws a horizontal line from x0 to x1 inclusive, width px thick
// downward from y.
func hLine(img *image.RGBA, x0, x1, y, width int, c color.Color) {
	if x1 < x0 {
		x0, x1 = x1, x0
	}
	fillRect(img, image.Rect(x0, y, x1+1, y+width), c)
}

// vLine draws a vertical line from y0 to y1 inclusive, width px thick to
// the right of x.
func vLine(img *image.RGBA, x, y0, y1, width int, c color.Color) {
	if y1 < y0 {
		y0, y1 = y1, y0
	}
	fillRect(img, image.Rect(x, y0, x+width, y1+1), c)
}

// dashedVLine draws a vertical line of dash-long segments separated by gap.
func dashedVLine(img *image.RGBA, x, y0, y1, width, dash, gap int, c color.Color) {
	if y1 < y0 {
		y0, y1 = y1, y0
	}
	if dash <= 0 {
		dash = 1
	}
	for y := y0; y <= y1; y += dash + gap {
		vLine(img, x, y, min(y+dash-1, y1), width, c)
	}
}

// textWidth is the advance of s in face, in pixels.
func textWidth(s string) int { return font.MeasureString(face, s).Ceil() }

// drawText draws s with its baseline at y, starting at x.
func drawText(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// drawTextBold fakes a bold weight by drawing s twice, one pixel apart.
func drawTextBold(img *image.RGBA, x, y int, s string, c color.Color) {
	drawText(img, x, y, s, c)
	drawText(img, x+1, y, s, c)
}

// drawTextRight draws s so that it ends at x.
func drawTextRight(img *image.RGBA, x, y int, s string, c color.Color) {
	drawText(img, x-textWidth(s), y, s, c)
}

// drawTextCenter draws s centred on x.
func drawTextCenter(img *image.RGBA, x, y int, s string, c color.Color) {
	drawText(img, x-textWidth(s)/2, y, s, c)
}

// textBox is the rectangle s occupies when drawn at (x, baseline y),
// padded by pad pixels.
func textBox(x, y int, s string, pad int) image.Rectangle {
	return image.Rect(x-pad, y-textAscent-pad, x+textWidth(s)+pad, y-textAscent+textHeight+pad)
}

// fitText shortens s with "..." until it is at most maxWidth pixels wide.
func fitText(s string, maxWidth int) string {
	if textWidth(s) <= maxWidth {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && textWidth(string(r)+"...") > maxWidth {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}

// isLight reports whether dark text reads better than white on c.
func isLight(c color.RGBA) bool {
	return 299*int(c.R)+587*int(c.G)+114*int(c.B) > 160*1000
}
