package experiment

import (
	"path/filepath"
	"slices"

	"github.com/fusionize/fusionize/cli/plot"
)

// WritePlots draws, per app and latency profile, three PNGs into dir with cli/plot (gonum):
// each arm's setups' median latency and cost per request over the run (<app>-<profile>-run),
// the latency CDFs of all remote against each planner's final setup (-cdf), and predicted
// against observed median and cost (-predicted). A picture with nothing to show is not
// written.
func WritePlots(r Results, dir string) error {
	for _, ap := range appProfiles(r) {
		app, profile := ap[0], ap[1]
		base := filepath.Join(dir, app+"-"+profile)
		pictures := []struct {
			name string
			rows [][]plot.Chart
		}{
			{"-run.png", runCharts(r, app, profile)},
			{"-cdf.png", cdfCharts(r, app, profile)},
			{"-predicted.png", predictedCharts(r, app, profile)},
		}
		for _, p := range pictures {
			if len(p.rows) == 0 {
				continue
			}
			if err := plot.SavePNG(base+p.name, 1100, 480*len(p.rows), p.rows...); err != nil {
				return err
			}
		}
	}
	return nil
}

// planners are the arms drawn over the run and in the CDFs: all remote, where both start,
// and the two planners (all local and the exhaustive check would squash their scale).
var planners = []string{AllRemote, FusionizePP, Model}

// runCharts: median latency and cost per request of every setup against when it ran.
func runCharts(r Results, app, profile string) [][]plot.Chart {
	lat := plot.Chart{Title: app + " (" + profile + "): median latency of each setup over the run", XLabel: "minutes into the arm", YLabel: "median latency (ms)"}
	cost := plot.Chart{Title: app + " (" + profile + "): cost of each setup over the run", XLabel: "minutes into the arm", YLabel: "$ per 1M requests"}
	for i, arm := range planners {
		rec, ok := r.Record(app, arm, profile)
		if !ok || len(rec.Setups) == 0 {
			continue
		}
		l := plot.Series{Name: arm, Line: true, Shape: plot.Shape(i % 6), Color: plot.Palette[i%len(plot.Palette)]}
		c := l
		for _, s := range rec.Setups {
			l.Points = append(l.Points, plot.Point{X: s.OffsetS / 60, Y: s.MedianMS})
			c.Points = append(c.Points, plot.Point{X: s.OffsetS / 60, Y: 1e6 * s.CostPerRequest})
		}
		lat.Series, cost.Series = append(lat.Series, l), append(cost.Series, c)
	}
	if len(lat.Series) == 0 {
		return nil
	}
	return [][]plot.Chart{{lat}, {cost}}
}

// cdfCharts: latency CDFs of all remote and each planner's final setup.
func cdfCharts(r Results, app, profile string) [][]plot.Chart {
	ch := plot.Chart{Title: app + " (" + profile + "): latency CDF, all remote against each planner's final setup", XLabel: "latency (ms)", YLabel: "share of requests"}
	for i, arm := range planners {
		rec, ok := r.Record(app, arm, profile)
		if !ok || len(rec.Final.LatencyMS) == 0 {
			continue
		}
		s := plot.Series{Name: arm + " " + rec.Final.Setup, Line: true, NoDots: true, Color: plot.Palette[i%len(plot.Palette)]}
		xs := slices.Sorted(slices.Values(rec.Final.LatencyMS))
		for j, x := range xs {
			s.Points = append(s.Points, plot.Point{X: x, Y: float64(j+1) / float64(len(xs))})
		}
		ch.Series = append(ch.Series, s)
	}
	if len(ch.Series) == 0 {
		return nil
	}
	return [][]plot.Chart{{ch}}
}

// predictedCharts: predicted against observed median and cost, the diagonal being a right
// prediction. The model's predictions are its own; for the heuristic, which predicts nothing,
// the same simulator run on its profile at each step.
func predictedCharts(r Results, app, profile string) [][]plot.Chart {
	med := plot.Chart{Title: app + " (" + profile + "): predicted against observed median", XLabel: "observed median (ms)", YLabel: "predicted median (ms)", Diagonal: true}
	cost := plot.Chart{Title: app + " (" + profile + "): predicted against observed cost", XLabel: "observed $ per 1M requests", YLabel: "predicted $ per 1M requests", Diagonal: true}
	for i, arm := range []string{Model, FusionizePP} {
		rec, ok := r.Record(app, arm, profile)
		if !ok || len(rec.Predictions) == 0 {
			continue
		}
		name := "model"
		if arm == FusionizePP {
			name = "simulator on fusionizepp's steps"
		}
		m := plot.Series{Name: name, Shape: plot.Shape(i), Color: plot.Palette[i]}
		c := m
		for _, p := range rec.Predictions {
			m.Points = append(m.Points, plot.Point{X: p.Observed.MedianMS, Y: p.Predicted.MedianMS})
			c.Points = append(c.Points, plot.Point{X: 1e6 * p.Observed.CostPerRequest, Y: 1e6 * p.Predicted.CostPerRequest})
		}
		med.Series, cost.Series = append(med.Series, m), append(cost.Series, c)
	}
	if len(med.Series) == 0 {
		return nil
	}
	return [][]plot.Chart{{med, cost}}
}
