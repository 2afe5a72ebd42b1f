package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/workflows"
)

func m(med, p95, cost float64) constraint.Metrics {
	return constraint.Metrics{MedianMS: med, P95MS: p95, CostPerRequest: cost}
}

func TestCompareChainsSideBySideRatios(t *testing.T) {
	rs := []workflows.CycleRecord{
		{Cycle: 1, Outcome: workflows.Promoted, Baseline: "A@128,B@128", Candidate: "A+B@128", BaselineObserved: m(100, 200, 4e-6), CandidateObserved: m(80, 150, 2e-6)},
		{Cycle: 2, Outcome: workflows.RolledBack, Baseline: "A+B@128", Candidate: "A+B@256", BaselineObserved: m(120, 220, 2e-6), CandidateObserved: m(200, 300, 3e-6)},
		// Load drifted up: the same setup is slower in this canary, but the candidate still wins by 10 %.
		{Cycle: 3, Outcome: workflows.Promoted, Baseline: "A+B@128", Candidate: "A+B@512", BaselineObserved: m(160, 300, 0), CandidateObserved: m(144, 270, 1e-6)},
		{Cycle: 4, Outcome: workflows.Converged, Baseline: "A+B@512", BaselineObserved: m(150, 280, 1e-6)},
	}
	c, ok := Compare(rs)
	if !ok || c.Promotions != 2 || c.BeforeSetup != "A@128,B@128" || c.AfterSetup != "A+B@512" {
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
		{Cycle: 1, Outcome: workflows.Promoted, Baseline: "A@128,B@128", Candidate: "A+B@128", BaselineObserved: m(100, 200, 4e-6), CandidateObserved: m(80, 150, 2e-6)},
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
