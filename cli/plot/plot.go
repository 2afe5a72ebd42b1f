// Package plot draws Fusionize's pictures as PNG with gonum.org/v1/plot: charts of points in
// named series (setups as latency against cost, a Pareto front as a line, predicted against
// observed with the diagonal), several charts to a picture. It keeps pictures readable the
// same way for every command that draws (`report`, `demo`, `experiment`): tick labels in plain
// decimals, never e-notation; a legend entry only for a series that has points, above the
// data; point labels turned inward so they stay inside the picture, which shrinks the data
// area rather than cut a label.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Point is one point of a series.
type Point struct {
	X, Y  float64
	Label string // written beside the point when the series has Labels
}

// Shape is a point's marker.
type Shape int

// The markers.
const (
	Circle Shape = iota
	Ring
	Square
	Triangle
	Cross
	Plus
)

// Series is a set of points drawn alike and named once in the legend.
type Series struct {
	Name   string // legend entry; none when empty or when the series has no points
	Points []Point
	Color  color.Color // default: the palette entry of the series' position
	Shape  Shape
	Size   float64 // marker radius in points; default 4
	Line   bool    // join the points in order (a front, a trajectory)
	Dashed bool    // dash the joining line
	NoDots bool    // with Line: the line only
	Labels bool    // write each point's Label beside it
}

// Chart is one panel: series on linear axes.
type Chart struct {
	Title          string
	XLabel, YLabel string
	Series         []Series
	// Diagonal draws y = x and gives both axes one scale (predicted against observed: points
	// on the diagonal were predicted right).
	Diagonal bool
	// FromZero starts both axes at zero, so distances read as proportions.
	FromZero bool
}

// Palette holds the default series colors: distinguishable, and legible on white.
var Palette = []color.Color{
	color.RGBA{0x1f, 0x63, 0xb4, 0xff}, // blue
	color.RGBA{0xd6, 0x3b, 0x2f, 0xff}, // red
	color.RGBA{0x2c, 0x9a, 0x45, 0xff}, // green
	color.RGBA{0x8a, 0x8a, 0x8a, 0xff}, // grey
	color.RGBA{0xe0, 0x8a, 0x10, 0xff}, // orange
	color.RGBA{0x7b, 0x3f, 0xa8, 0xff}, // purple
}

const dpi = 96

// WritePNG draws the charts in rows (each row the same height, its charts the same width) on a
// width × height pixel picture and writes it as PNG. A chart without any point is an error:
// an empty picture says nothing.
func WritePNG(w io.Writer, width, height int, rows ...[]Chart) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("plot: size %d×%d: want positive width and height", width, height)
	}
	if len(rows) == 0 {
		return errors.New("plot: no charts to draw")
	}
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }
	img := vgimg.NewWith(vgimg.UseWH(px(width), px(height)), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	rowH := dc.Size().Y / vg.Length(len(rows))
	for r, row := range rows {
		if len(row) == 0 {
			return fmt.Errorf("plot: row %d has no charts", r+1)
		}
		colW := dc.Size().X / vg.Length(len(row))
		for c, ch := range row {
			p, _, err := ch.plot()
			if err != nil {
				return fmt.Errorf("plot: chart %q: %w", ch.Title, err)
			}
			top := rowH * vg.Length(r)
			cell := draw.Crop(dc, colW*vg.Length(c), -(dc.Size().X - colW*vg.Length(c+1)), dc.Size().Y-top-rowH, -top)
			p.Draw(draw.Crop(cell, 6, -10, 4, -6)) // a margin between panels
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// SavePNG writes the picture to path, creating its directory.
func SavePNG(path string, width, height int, rows ...[]Chart) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot: create the directory of %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("plot: write %s: %w", path, cerr)
		}
	}()
	if err := WritePNG(f, width, height, rows...); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return nil
}

// plot builds the gonum plot of a chart and returns its legend's entries.
func (ch Chart) plot() (_ *gplot.Plot, legend []string, _ error) {
	xmin, xmax, ymin, ymax, n := ch.bounds()
	if n == 0 {
		return nil, nil, errors.New("no points")
	}
	p := gplot.New()
	p.Title.Text = ch.Title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text, p.Y.Label.Text = ch.XLabel, ch.YLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = decimalTicks{}, decimalTicks{}
	p.Add(plotter.NewGrid())
	for i, s := range ch.Series {
		if len(s.Points) == 0 {
			continue
		}
		thumbs, err := s.add(p, i, xmin, xmax, ymin, ymax)
		if err != nil {
			return nil, nil, fmt.Errorf("series %q: %w", s.Name, err)
		}
		if s.Name != "" {
			p.Legend.Add(s.Name, thumbs...)
			legend = append(legend, s.Name)
		}
	}
	if ch.Diagonal {
		legend = append(legend, "y = x")
	}
	ch.setRanges(p, xmin, xmax, ymin, ymax, len(legend))
	if ch.Diagonal {
		// Across the square both axes share, below the points.
		lo, hi := math.Max(p.X.Min, p.Y.Min), math.Min(p.X.Max, p.Y.Max)
		diag, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
		if err != nil {
			return nil, nil, err
		}
		diag.Color, diag.Dashes = Palette[3], []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(diag)
		p.Legend.Add("y = x", diag)
	}
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return p, legend, nil
}

// setRanges pads the data ranges, leaving room above the points for the legend.
func (ch Chart) setRanges(p *gplot.Plot, xmin, xmax, ymin, ymax float64, legendRows int) {
	pad := func(lo, hi float64) (float64, float64) {
		span := hi - lo
		if span <= 0 {
			span = math.Max(math.Abs(hi)*0.2, 1e-12)
		}
		return lo - 0.06*span, hi + 0.06*span
	}
	if ch.Diagonal { // one scale on both axes, so that y = x is the diagonal
		xmin, ymin = math.Min(xmin, ymin), math.Min(xmin, ymin)
		xmax, ymax = math.Max(xmax, ymax), math.Max(xmax, ymax)
	}
	xmin, xmax = pad(xmin, xmax)
	ymin, ymax = pad(ymin, ymax)
	if ch.FromZero {
		xmin, ymin = math.Min(0, xmin), math.Min(0, ymin)
	} else {
		xmin, ymin = clampAtZero(xmin, xmax), clampAtZero(ymin, ymax)
	}
	if legendRows > 0 {
		ymax += (ymax - ymin) * 0.09 * float64(legendRows)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
}

// clampAtZero keeps an axis of positive data from showing negative values.
func clampAtZero(lo, hi float64) float64 {
	if lo < 0 && hi > 0 {
		return 0
	}
	return lo
}

func (ch Chart) bounds() (xmin, xmax, ymin, ymax float64, n int) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, s := range ch.Series {
		for _, pt := range s.Points {
			if math.IsNaN(pt.X) || math.IsNaN(pt.Y) || math.IsInf(pt.X, 0) || math.IsInf(pt.Y, 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
			n++
		}
	}
	return
}

// add draws a series and returns what its legend entry shows.
func (s Series) add(p *gplot.Plot, i int, xmin, xmax, ymin, ymax float64) ([]gplot.Thumbnailer, error) {
	xys := make(plotter.XYs, 0, len(s.Points))
	for _, pt := range s.Points {
		if !math.IsNaN(pt.X) && !math.IsNaN(pt.Y) && !math.IsInf(pt.X, 0) && !math.IsInf(pt.Y, 0) {
			xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
		}
	}
	col := s.Color
	if col == nil {
		col = Palette[i%len(Palette)]
	}
	var thumbs []gplot.Thumbnailer
	if s.Line {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = col, vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		thumbs = append(thumbs, l)
	}
	if !s.Line || !s.NoDots {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		size := s.Size
		if size == 0 {
			size = 4
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(size), Shape: s.Shape.glyph()}
		p.Add(sc)
		thumbs = append(thumbs, sc)
	}
	if s.Labels {
		labels, err := s.labels(col, (xmin+xmax)/2, (ymin+ymax)/2)
		if err != nil {
			return nil, err
		}
		for _, l := range labels {
			p.Add(l)
		}
	}
	return thumbs, nil
}

// labels writes each point's label beside it, on the side towards the middle of the data so
// that it grows inward (one gonum Labels per quadrant, since an offset is per Labels); the plot
// keeps every label's box inside the picture.
func (s Series) labels(col color.Color, xmid, ymid float64) ([]*plotter.Labels, error) {
	type side struct{ right, top bool }
	xys, strs := map[side]plotter.XYs{}, map[side][]string{}
	var order []side
	for _, pt := range s.Points {
		if pt.Label == "" || math.IsNaN(pt.X) || math.IsNaN(pt.Y) {
			continue
		}
		k := side{right: pt.X > xmid, top: pt.Y > ymid}
		if _, ok := xys[k]; !ok {
			order = append(order, k)
		}
		xys[k] = append(xys[k], plotter.XY{X: pt.X, Y: pt.Y})
		strs[k] = append(strs[k], pt.Label)
	}
	gap := vg.Points(max(s.Size, 4) + 3)
	var out []*plotter.Labels
	for _, k := range order {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys[k], Labels: strs[k]})
		if err != nil {
			return nil, err
		}
		l.Offset = vg.Point{X: gap, Y: gap / 2}
		for i := range l.TextStyle {
			st := &l.TextStyle[i]
			st.Color, st.Font = col, font.From(plotter.DefaultFont, vg.Points(9))
			st.XAlign, st.YAlign = text.XLeft, text.YBottom
			if k.right {
				st.XAlign = text.XRight
			}
			if k.top {
				st.YAlign = text.YTop
			}
		}
		if k.right {
			l.Offset.X = -gap
		}
		if k.top {
			l.Offset.Y = -gap / 2
		}
		out = append(out, l)
	}
	return out, nil
}

func (sh Shape) glyph() draw.GlyphDrawer {
	switch sh {
	case Ring:
		return draw.RingGlyph{}
	case Square:
		return draw.BoxGlyph{}
	case Triangle:
		return draw.PyramidGlyph{}
	case Cross:
		return draw.CrossGlyph{}
	case Plus:
		return draw.PlusGlyph{}
	}
	return draw.CircleGlyph{}
}

// decimalTicks are gonum's default tick positions labelled in plain decimals with as many
// digits as the labelled values need: 0.0015, 2.5, 1200 — never 1.5e-03, never 1.5 as "2".
type decimalTicks struct{}

func (decimalTicks) Ticks(lo, hi float64) []gplot.Tick {
	ticks := gplot.DefaultTicks{}.Ticks(lo, hi)
	prec := 0
	for _, t := range ticks {
		if t.Label != "" {
			prec = max(prec, decimals(t.Value))
		}
	}
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', prec, 64)
		}
	}
	return ticks
}

// decimals returns the digits after the point that write v exactly enough (2.5 → 1), at most 12.
func decimals(v float64) int {
	v = math.Abs(v)
	for d := 0; d < 12; d++ {
		scaled := v * math.Pow10(d)
		if math.Abs(scaled-math.Round(scaled)) <= 1e-6*math.Max(scaled, 1) {
			return d
		}
	}
	return 12
}
