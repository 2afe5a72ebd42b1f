package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/fusionize/fusionize/cli/plot"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/workflows"
)

// reportPath is where `report` and `demo` write an app's picture: one reports directory under
// the data directory, one file per run.
func reportPath(dataDir, app string, now time.Time) string {
	return filepath.Join(dataDir, "reports", fmt.Sprintf("%s-%s.png", app, now.Format("20060102-150405")))
}

// perMillion turns dollars per request into dollars per million requests, the unit the
// tables print, so that axes read 1.57 rather than 0.00000157.
const perMillion = 1e6

// reportCharts are the report's pictures: on top every setup observed as median latency
// against cost; below, when the planner predicted, each cycle's prediction against what the
// canary then observed, for latency and for cost.
func reportCharts(app string, rs []workflows.CycleRecord, cmp Comparison) [][]plot.Chart {
	rows := [][]plot.Chart{{tradeoffChart(app, rs, cmp)}}
	lat, cost := predictedObservedCharts(rs)
	if len(lat.Series[0].Points)+len(lat.Series[1].Points) > 0 {
		rows = append(rows, []plot.Chart{lat, cost})
	}
	return rows
}

// tradeoffChart plots the setups observed: where optimization started, each candidate a canary
// measured (labelled by its cycle, as in the history table), and where it ended.
func tradeoffChart(app string, rs []workflows.CycleRecord, cmp Comparison) plot.Chart {
	var tried []plot.Point
	for _, r := range rs {
		m := r.CandidateObserved
		if r.Candidate.IsZero() || m.MedianMS <= 0 || r.Candidate.Equal(cmp.AfterSetup) || r.Candidate.Equal(cmp.BeforeSetup) {
			continue
		}
		tried = append(tried, plot.Point{X: m.MedianMS, Y: m.CostPerRequest * perMillion, Label: fmt.Sprintf("#%d %s", r.Cycle, r.Outcome)})
	}
	point := func(setup fusion.Setup, m constraint.Metrics) []plot.Point {
		if m.MedianMS <= 0 {
			return nil
		}
		return []plot.Point{{X: m.MedianMS, Y: m.CostPerRequest * perMillion, Label: setup.String()}}
	}
	series := []plot.Series{
		{Name: "canaried, not kept (cycle #)", Points: tried, Color: plot.Palette[0], Labels: true},
		{Name: "before", Points: point(cmp.BeforeSetup, cmp.Before), Color: plot.Palette[1], Size: 6, Labels: true},
	}
	if !cmp.AfterSetup.Equal(cmp.BeforeSetup) {
		series = append(series, plot.Series{Name: "after", Points: point(cmp.AfterSetup, cmp.After), Color: plot.Palette[2], Size: 7, Shape: plot.Square, Labels: true})
	}
	title := app + ": setups observed on live traffic"
	if front := frontSeries(rs); front != nil {
		series = append(front, series...)
		title += ", and the model's predicted front"
	}
	return plot.Chart{
		Title:  title,
		XLabel: "median latency (ms)", YLabel: "cost ($ per million requests)",
		Series: series,
	}
}

// frontSeries draws the last planning's predicted Pareto front of latency against cost and,
// marked on it, the setup that cycle chose (the candidate it canaried, or the current setup
// when it converged); nil when no cycle predicted a front (the paper's heuristic).
func frontSeries(rs []workflows.CycleRecord) []plot.Series {
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if len(r.Front) == 0 {
			continue
		}
		pts := make([]plot.Point, 0, len(r.Front))
		for _, f := range r.Front {
			pts = append(pts, plot.Point{X: f.MedianMS, Y: f.CostPerRequest * perMillion})
		}
		chosen, verb := r.Predicted, "chose"
		if r.Candidate.IsZero() {
			chosen, verb = r.BaselinePredicted, "kept"
		}
		out := []plot.Series{{Name: fmt.Sprintf("predicted Pareto front, cycle %d", r.Cycle), Points: pts,
			Color: plot.Palette[3], Line: true, Dashed: true, Size: 2.5}}
		if chosen.MedianMS > 0 {
			out = append(out, plot.Series{Name: fmt.Sprintf("predicted: the setup cycle %d %s", r.Cycle, verb),
				Points: []plot.Point{{X: chosen.MedianMS, Y: chosen.CostPerRequest * perMillion}}, Color: plot.Palette[5], Shape: plot.Cross, Size: 7})
		}
		return out
	}
	return nil
}

// predictedObservedCharts plot, per cycle, the model's prediction of the candidate and of the
// current setup against what the canary observed; points on the diagonal were predicted right.
func predictedObservedCharts(rs []workflows.CycleRecord) (lat, cost plot.Chart) {
	var candLat, baseLat, candCost, baseCost []plot.Point
	for _, r := range rs {
		label := fmt.Sprintf("#%d", r.Cycle)
		if p, o := r.Predicted, r.CandidateObserved; !r.Candidate.IsZero() && p.MedianMS > 0 && o.MedianMS > 0 {
			candLat = append(candLat, plot.Point{X: p.MedianMS, Y: o.MedianMS, Label: label})
			if p.CostPerRequest > 0 && o.CostPerRequest > 0 {
				candCost = append(candCost, plot.Point{X: p.CostPerRequest * perMillion, Y: o.CostPerRequest * perMillion, Label: label})
			}
		}
		if p, o := r.BaselinePredicted, r.BaselineObserved; p.MedianMS > 0 && o.MedianMS > 0 {
			baseLat = append(baseLat, plot.Point{X: p.MedianMS, Y: o.MedianMS, Label: label})
			if p.CostPerRequest > 0 && o.CostPerRequest > 0 {
				baseCost = append(baseCost, plot.Point{X: p.CostPerRequest * perMillion, Y: o.CostPerRequest * perMillion, Label: label})
			}
		}
	}
	series := func(cand, base []plot.Point) []plot.Series {
		return []plot.Series{
			{Name: "candidate", Points: cand, Color: plot.Palette[0], Labels: true},
			{Name: "current setup", Points: base, Color: plot.Palette[4], Shape: plot.Triangle, Labels: true},
		}
	}
	lat = plot.Chart{Title: "median latency per cycle: predicted against observed", XLabel: "predicted (ms)", YLabel: "observed (ms)",
		Series: series(candLat, baseLat), Diagonal: true}
	cost = plot.Chart{Title: "cost per cycle: predicted against observed", XLabel: "predicted ($ per million requests)",
		YLabel: "observed ($ per million requests)", Series: series(candCost, baseCost), Diagonal: true}
	return lat, cost
}
