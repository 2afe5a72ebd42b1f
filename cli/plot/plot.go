// Package plot draws the report's picture: every setup tried as a point of median latency
// against cost per request, the baseline and the final setup marked, as a PNG. It is plain Go
// (image/png and a bitmap font) so reports need nothing installed.
package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Kind marks a point's role.
type Kind int

const (
	Tried    Kind = iota // a setup measured during optimization
	Baseline             // where optimization started
	Final                // where it ended
)

// Point is one setup.
type Point struct {
	Label     string
	LatencyMS float64 // x
	Cost      float64 // y, dollars per request
	Kind      Kind
}

// Options size and title the picture.
type Options struct {
	Title         string
	Width, Height int // default 900×600
}

var (
	white     = color.RGBA{255, 255, 255, 255}
	black     = color.RGBA{30, 30, 30, 255}
	grey      = color.RGBA{215, 215, 215, 255}
	blue      = color.RGBA{60, 110, 200, 255}
	red       = color.RGBA{200, 60, 50, 255}
	green     = color.RGBA{40, 150, 70, 255}
	kindColor = map[Kind]color.RGBA{Tried: blue, Baseline: red, Final: green}
)

// WritePNG draws points and writes the PNG.
func WritePNG(w io.Writer, points []Point, opts Options) error {
	if len(points) == 0 {
		return errors.New("plot: no setups to draw")
	}
	if opts.Width == 0 {
		opts.Width = 900
	}
	if opts.Height == 0 {
		opts.Height = 600
	}
	img := image.NewRGBA(image.Rect(0, 0, opts.Width, opts.Height))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)

	const left, right, top, bottom = 90, 30, 50, 70
	x0, x1 := left, opts.Width-right
	y0, y1 := opts.Height-bottom, top
	minX, maxX, minY, maxY := bounds(points)
	px := func(v float64) int { return x0 + int((v-minX)/(maxX-minX)*float64(x1-x0)) }
	py := func(v float64) int { return y0 - int((v-minY)/(maxY-minY)*float64(y0-y1)) }

	for i := 0; i <= 5; i++ { // grid and tick labels
		vx := minX + (maxX-minX)*float64(i)/5
		vy := minY + (maxY-minY)*float64(i)/5
		line(img, px(vx), y0, px(vx), y1, grey)
		line(img, x0, py(vy), x1, py(vy), grey)
		text(img, px(vx)-15, y0+18, fmt.Sprintf("%.3g", vx), black)
		text(img, 8, py(vy)+4, fmt.Sprintf("%.3g", vy*1e6), black)
	}
	line(img, x0, y0, x1, y0, black)
	line(img, x0, y0, x0, y1, black)
	text(img, (x0+x1)/2-80, opts.Height-20, "median latency (ms)", black)
	text(img, 8, top-12, "cost ($ per million requests)", black)
	text(img, x0, 20, opts.Title, black)

	for _, k := range []Kind{Tried, Baseline, Final} { // finals drawn last, on top
		for _, p := range points {
			if p.Kind != k {
				continue
			}
			r := 4
			if k != Tried {
				r = 7
			}
			disc(img, px(p.LatencyMS), py(p.Cost), r, kindColor[k])
			if k != Tried {
				lx := px(p.LatencyMS) + 10
				if w := 7 * len(p.Label); lx+w > opts.Width-4 { // keep the label inside the picture
					lx = px(p.LatencyMS) - 10 - w
				}
				text(img, lx, py(p.Cost)-8, p.Label, kindColor[k])
			}
		}
	}
	legend := []struct {
		k    Kind
		name string
	}{{Baseline, "baseline"}, {Final, "final"}, {Tried, "tried"}}
	for i, l := range legend { // in the top margin, clear of the points
		x := x1 - 240 + 85*i
		disc(img, x, top-16, 5, kindColor[l.k])
		text(img, x+10, top-12, l.name, black)
	}
	return png.Encode(w, img)
}

func bounds(points []Point) (minX, maxX, minY, maxY float64) {
	minX, minY = math.Inf(1), math.Inf(1)
	maxX, maxY = math.Inf(-1), math.Inf(-1)
	for _, p := range points {
		minX, maxX = math.Min(minX, p.LatencyMS), math.Max(maxX, p.LatencyMS)
		minY, maxY = math.Min(minY, p.Cost), math.Max(maxY, p.Cost)
	}
	pad := func(lo, hi float64) (float64, float64) {
		span := hi - lo
		if span <= 0 {
			span = math.Max(math.Abs(hi), 1e-12)
		}
		return math.Max(0, lo-span*0.15), hi + span*0.15
	}
	minX, maxX = pad(minX, maxX)
	minY, maxY = pad(minY, maxY)
	return
}

func line(img *image.RGBA, xa, ya, xb, yb int, c color.RGBA) {
	steps := max(abs(xb-xa), abs(yb-ya), 1)
	for i := 0; i <= steps; i++ {
		img.SetRGBA(xa+(xb-xa)*i/steps, ya+(yb-ya)*i/steps, c)
	}
}

func disc(img *image.RGBA, cx, cy, r int, c color.RGBA) {
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			if x*x+y*y <= r*r {
				img.SetRGBA(cx+x, cy+y, c)
			}
		}
	}
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
