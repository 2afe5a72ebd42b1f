package cli

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/cli/plot"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/workflows"
)

func m(med, p95, cost float64) constraint.Metrics {
	return constraint.Metrics{MedianMS: med, P95MS: p95, CostPerRequest: cost}
}

func TestCompareChainsSideBySideRatios(t *testing.T) {
	rs := []workflows.CycleRecord{
		{Cycle: 1, Outcome: workflows.Promoted, Baseline: fusion.MustParseSetup("A@128,B@128"), Candidate: fusion.MustParseSetup("A+B@128"), BaselineObserved: m(100, 200, 4e-6), CandidateObserved: m(80, 150, 2e-6)},
		{Cycle: 2, Outcome: workflows.RolledBack, Baseline: fusion.MustParseSetup("A+B@128"), Candidate: fusion.MustParseSetup("A+B@256"), BaselineObserved: m(120, 220, 2e-6), CandidateObserved: m(200, 300, 3e-6)},
		// Load drifted up: the same setup is slower in this canary, but the candidate still wins by 10 %.
		{Cycle: 3, Outcome: workflows.Promoted, Baseline: fusion.MustParseSetup("A+B@128"), Candidate: fusion.MustParseSetup("A+B@512"), BaselineObserved: m(160, 300, 0), CandidateObserved: m(144, 270, 1e-6)},
		{Cycle: 4, Outcome: workflows.Converged, Baseline: fusion.MustParseSetup("A+B@512"), BaselineObserved: m(150, 280, 1e-6)},
	}
	c, ok := Compare(rs)
	if !ok || c.Promotions != 2 || c.BeforeSetup.String() != "A@128,B@128" || c.AfterSetup.String() != "A+B@512" {
		t.Fatalf("comparison %+v", c)
	}
	if got := c.Change.MedianMS; got < 0.719 || got > 0.721 { // 0.8 × 0.9
		t.Errorf("median ratio %v, want 0.72", got)
	}
	if c.Change.CostPerRequest != 0 {
		t.Errorf("cost ratio %v, want unknown (a canary arm without cost)", c.Change.CostPerRequest)
	}
	var buf bytes.Buffer
	WriteComparison(&buf, c)
	for _, want := range []string{"-28.0 %", "n/a", "2 promotions"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if _, ok := Compare(rs[3:]); ok {
		t.Error("a history without promotion has no before/after")
	}
}

func TestWriteReportPlots(t *testing.T) {
	rs := []workflows.CycleRecord{
		{Cycle: 1, Outcome: workflows.Promoted, Baseline: fusion.MustParseSetup("A@128,B@128"), Candidate: fusion.MustParseSetup("A+B@128"), BaselineObserved: m(100, 200, 4e-6), CandidateObserved: m(80, 150, 2e-6)},
	}
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "r.png")
	if err := WriteReport(&buf, "t", rs, path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "-20.0 %") || !strings.Contains(buf.String(), "side by side") || !strings.Contains(buf.String(), path) {
		t.Fatalf("report:\n%s", buf.String())
	}
}

// Catches plotting cost in dollars per request (axes of 0.000002), drawing the promoted
// candidate twice (as tried and as after), leaving out the rolled-back one, and dropping the
// predicted-against-observed pictures.
func TestReportChartsShowWhatHappened(t *testing.T) {
	rs := []workflows.CycleRecord{
		{Cycle: 1, Outcome: workflows.Promoted, Baseline: fusion.MustParseSetup("A@128,B@128"), Candidate: fusion.MustParseSetup("A+B@128"), BaselineObserved: m(100, 200, 4e-6), CandidateObserved: m(80, 150, 2e-6),
			Predicted: m(70, 120, 1.5e-6), BaselinePredicted: m(95, 190, 4.2e-6)},
		{Cycle: 2, Outcome: workflows.RolledBack, Baseline: fusion.MustParseSetup("A+B@128"), Candidate: fusion.MustParseSetup("A+B@256"), BaselineObserved: m(82, 150, 2e-6), CandidateObserved: m(90, 160, 3e-6),
			Predicted: m(60, 100, 2.5e-6)},
		{Cycle: 3, Outcome: workflows.Converged, Baseline: fusion.MustParseSetup("A+B@128"), BaselineObserved: m(81, 150, 2e-6)},
	}
	rs[1].Front = []plan.FrontPoint{{Text: "A+B@512", MedianMS: 50, CostPerRequest: 4e-6}, {Text: "A+B@256", MedianMS: 60, CostPerRequest: 2.5e-6}}
	cmp, _ := Compare(rs)
	rows := reportCharts("t", rs, cmp)
	if len(rows) != 2 || len(rows[1]) != 2 {
		t.Fatalf("rows %d: want the trade-off and, below, predicted against observed for latency and cost", len(rows))
	}
	byName := map[string][]plot.Point{}
	for _, s := range rows[0][0].Series {
		byName[s.Name] = s.Points
	}
	tried := byName["canaried, not kept (cycle #)"]
	if len(tried) != 1 || tried[0].Label != "#2 rolled-back" || tried[0].X != 90 || math.Abs(tried[0].Y-3) > 1e-9 {
		t.Errorf("tried %+v: want the rolled-back cycle 2 alone at (90 ms, $3 per million)", tried)
	}
	if f := byName["predicted Pareto front, cycle 2"]; len(f) != 2 || f[1].X != 60 || math.Abs(f[1].Y-2.5) > 1e-9 {
		t.Errorf("front %+v: want cycle 2's two predicted points", f)
	}
	if c := byName["predicted: the setup cycle 2 chose"]; len(c) != 1 || c[0].X != 60 {
		t.Errorf("chosen %+v: want cycle 2's candidate as predicted, at 60 ms", c)
	}
	if a := byName["after"]; len(a) != 1 || a[0].Label != "A+B@128" || math.Abs(a[0].Y-2) > 1e-9 {
		t.Errorf("after %+v", a)
	}
	lat := rows[1][0]
	if c := lat.Series[0].Points; len(c) != 2 || c[0] != (plot.Point{X: 70, Y: 80, Label: "#1"}) || !lat.Diagonal {
		t.Errorf("candidate latency predicted/observed %+v", c)
	}
	if b := lat.Series[1].Points; len(b) != 1 || b[0].X != 95 {
		t.Errorf("current setup predicted/observed %+v: only cycle 1 predicted it", b)
	}
	// The paper's heuristic predicts nothing: no prediction pictures.
	for i := range rs {
		rs[i].Predicted, rs[i].BaselinePredicted = constraint.Metrics{}, constraint.Metrics{}
	}
	if rows := reportCharts("t", rs, cmp); len(rows) != 1 {
		t.Errorf("%d rows without predictions, want 1", len(rows))
	}
}
