package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WritePlots draws, per app and latency profile, three PNGs into dir (gonum.org/v1/plot):
// each arm's setups' median latency and cost per request over the run (<app>-<profile>-run),
// the latency CDFs of all remote against each arm's final setup (-cdf), and the model's
// predicted against observed median and cost (-predicted).
func WritePlots(r Results, dir string) error {
	for _, ap := range appProfiles(r) {
		app, profile := ap[0], ap[1]
		base := filepath.Join(dir, app+"-"+profile)
		if err := writeTiles(base+"-run.png", runPlots(r, app, profile)); err != nil {
			return err
		}
		if err := writeTiles(base+"-cdf.png", []*plot.Plot{cdfPlot(r, app, profile)}); err != nil {
			return err
		}
		if err := writeTiles(base+"-predicted.png", predictedPlots(r, app, profile)); err != nil {
			return err
		}
	}
	return nil
}

// runPlots: median latency and cost per request of every setup against the time it ran.
func runPlots(r Results, app, profile string) []*plot.Plot {
	lat, cost := newPlot(app+" ("+profile+"): median latency of each setup over the run", "minutes into the arm", "median latency (ms)"),
		newPlot(app+" ("+profile+"): cost of each setup over the run", "minutes into the arm", "$ per 1M requests")
	// Medians span orders of magnitude (all local can be far slower than any other setup).
	lat.Y.Scale, lat.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	for i, arm := range Arms {
		rec, ok := r.Record(app, arm, profile)
		if !ok || len(rec.Setups) == 0 {
			continue
		}
		var l, c plotter.XYs
		for _, s := range rec.Setups {
			l = append(l, plotter.XY{X: s.OffsetS / 60, Y: s.MedianMS})
			c = append(c, plotter.XY{X: s.OffsetS / 60, Y: 1e6 * s.CostPerRequest})
		}
		addLine(lat, arm, i, l)
		addLine(cost, arm, i, c)
	}
	return []*plot.Plot{lat, cost}
}

// cdfPlot: latency CDFs of every arm's final setup.
func cdfPlot(r Results, app, profile string) *plot.Plot {
	p := newPlot(app+" ("+profile+"): latency CDF of each arm's final setup", "latency (ms)", "share of requests")
	for i, arm := range Arms {
		rec, ok := r.Record(app, arm, profile)
		if !ok || len(rec.Final.LatencyMS) == 0 || arm == Exhaustive {
			continue
		}
		xs := slices.Sorted(slices.Values(rec.Final.LatencyMS))
		var pts plotter.XYs
		for j, x := range xs {
			pts = append(pts, plotter.XY{X: x, Y: float64(j+1) / float64(len(xs))})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			continue
		}
		line.Color = plotutil.Color(i)
		p.Add(line)
		p.Legend.Add(arm, line)
	}
	return p
}

// predictedPlots: the model's (and the heuristic's, where it ran the simulator's prediction)
// predicted against observed median and cost, with the line of perfect prediction.
func predictedPlots(r Results, app, profile string) []*plot.Plot {
	med := newPlot(app+" ("+profile+"): predicted against observed median", "observed median (ms)", "predicted median (ms)")
	cost := newPlot(app+" ("+profile+"): predicted against observed cost", "observed $ per 1M requests", "predicted $ per 1M requests")
	var maxMed, maxCost float64
	for i, arm := range []string{Model, FusionizePP} {
		rec, ok := r.Record(app, arm, profile)
		if !ok || len(rec.Predictions) == 0 {
			continue
		}
		var m, c plotter.XYs
		for _, p := range rec.Predictions {
			m = append(m, plotter.XY{X: p.Observed.MedianMS, Y: p.Predicted.MedianMS})
			c = append(c, plotter.XY{X: 1e6 * p.Observed.CostPerRequest, Y: 1e6 * p.Predicted.CostPerRequest})
			maxMed = max(maxMed, p.Observed.MedianMS, p.Predicted.MedianMS)
			maxCost = max(maxCost, 1e6*p.Observed.CostPerRequest, 1e6*p.Predicted.CostPerRequest)
		}
		addScatter(med, arm+" (simulated from its profile)", i, m)
		addScatter(cost, arm+" (simulated from its profile)", i, c)
	}
	for _, d := range []struct {
		p *plot.Plot
		m float64
	}{{med, maxMed}, {cost, maxCost}} {
		if d.m > 0 {
			if l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: d.m, Y: d.m}}); err == nil {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
				d.p.Add(l)
			}
		}
	}
	return []*plot.Plot{med, cost}
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

func addLine(p *plot.Plot, name string, i int, pts plotter.XYs) {
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return
	}
	l.Color, s.Color, s.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
}

func addScatter(p *plot.Plot, name string, i int, pts plotter.XYs) {
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return
	}
	s.Color, s.Shape = plotutil.Color(i), plotutil.Shape(i)
	p.Add(s)
	p.Legend.Add(name, s)
}

// writeTiles draws plots one above the other into a PNG.
func writeTiles(path string, plots []*plot.Plot) error {
	const w, rowH = 900, 420
	img := vgimg.New(vg.Points(w), vg.Points(float64(rowH*len(plots))))
	dc := draw.New(img)
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := plot.Align(rows, draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(10)}, dc)
	for i, p := range plots {
		p.Draw(tiles[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write plot %s: %w", path, err)
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write plot %s: %w", path, err)
	}
	return nil
}
