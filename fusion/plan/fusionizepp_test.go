package plan_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
)

// ppWorld answers the heuristic's measurements with made-up but consistent figures, so a
// test can say exactly what each rule should pick.
type ppWorld struct {
	graph fusion.Graph
	// groupCost is the mean cost per invocation of the function rooted at root at mem MB.
	groupCost func(root string, mem int) float64
	// entryBilled and latency are a setup's median entry billed duration and latency.
	entryBilled, latency func(s fusion.Setup) float64
}

// run drives FusionizePP to its end and returns the setups it measured, in order, and the
// final plan.
func (w ppWorld) run(t *testing.T, f plan.FusionizePP) ([]fusion.Setup, plan.Plan) {
	t.Helper()
	var prof fusion.Profile
	var measured []fusion.Setup
	for range 40 {
		p, err := f.Plan(plan.Input{Graph: w.graph, Profile: prof, DefaultMemoryMB: 128})
		if err != nil {
			t.Fatal(err)
		}
		if p.Converged {
			return measured, p
		}
		if len(p.Measurements) != 1 {
			t.Fatalf("step %d: %d measurements requested, want 1", len(measured), len(p.Measurements))
		}
		s := p.Measurements[0].Setup
		if err := s.Validate(w.graph); err != nil {
			t.Fatalf("step %d: invalid setup %s: %v", len(measured), s, err)
		}
		if slices.ContainsFunc(measured, s.Equal) {
			t.Fatalf("step %d: %s measured twice", len(measured), s)
		}
		measured = append(measured, s)
		st := fusion.SetupStat{ID: s.ID(), Requests: 1000, Latency: fusion.Summary{Count: 1000, Median: w.latency(s)}}
		for _, g := range s.Groups {
			c := w.groupCost(g.Root, g.MemoryMB)
			gs := fusion.GroupStat{Root: g.Root, MemoryMB: g.MemoryMB, Invocations: 1000, MeanCost: c}
			if g.Root == w.graph.Entry {
				gs.BilledMS = fusion.Summary{Count: 1000, Median: w.entryBilled(s)}
			}
			st.Groups = append(st.Groups, gs)
			st.Cost.Mean += c
		}
		prof.Setups = append(prof.Setups, st)
	}
	t.Fatal("no convergence in 40 steps")
	return nil, plan.Plan{}
}

// treeWorld: fusing makes the entry slower at first (A+B is slower than all remote), the
// entry's billed duration ends the same for every memory size, each remote function is
// cheapest at its own size (C 1024, F 1536, G 1536: the paper's published Tree result), and
// all functions at 6,144 MB are the fastest setup.
func treeWorld() ppWorld {
	cheapest := map[string]int{"C": 1024, "F": 1536, "G": 1536}
	return ppWorld{
		graph: apps.TreeGraph(),
		groupCost: func(root string, mem int) float64 {
			best, ok := cheapest[root]
			if !ok {
				return 1e-5 * float64(mem) / 128
			}
			d := float64(mem - best)
			return 1e-6 + 1e-12*d*d
		},
		entryBilled: func(s fusion.Setup) float64 {
			a, _ := s.Group("A")
			switch len(a.Inlined) {
			case 0:
				return 1530
			case 1:
				return 1560 // slower than all remote: a faithful heuristic keeps it anyway
			default:
				return 1502
			}
		},
		latency: func(s fusion.Setup) float64 {
			if g, ok := s.Group("C"); ok && g.MemoryMB == 6144 {
				return 1400 // the fastest setup by latency
			}
			return 1502
		},
	}
}

// TestFusionizePPFaithful runs the heuristic on Tree and checks each rule of the authors'
// code. It fails for the earlier heuristic, which stepped the entry's memory with the others,
// kept a fusion change only when the median improved, and ended at the fastest uniform size.
func TestFusionizePPFaithful(t *testing.T) {
	w := treeWorld()
	sizes := plan.PaperMemorySizes["tree"]
	measured, final := w.run(t, plan.FusionizePP{MemorySizes: sizes})
	var got []string
	for _, s := range measured {
		got = append(got, s.String())
	}
	want := []string{
		"A@128,B@128,C@128,D@128,E@128,F@128,G@128",
		"A+B@128,C@128,D@128,E@128,F@128,G@128", // slower, and kept: never reverted
		"A+B+D@128,C@128,E@128,F@128,G@128",
		"A+B+D+E@128,C@128,F@128,G@128",
	}
	for _, m := range sizes[1:] { // 128 was measured by the last inlining step
		want = append(want, strings.ReplaceAll("A+B+D+E@128,C@M,F@M,G@M", "M", itoa(m)))
	}
	want = append(want, "A+B+D+E@128,C@1024,F@1536,G@1536")
	if !slices.Equal(got, want) {
		t.Errorf("measured\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if final.Final == nil || final.Final.String() != "A+B+D+E@128,C@1024,F@1536,G@1536" {
		t.Errorf("final %v, want the cheapest size per function (the paper's Tree result)", final.Final)
	}
}

// TestFusionizePPStopsOnEntryBilledDuration: the run ends on the setup with the lowest median
// billed duration of the entry function, whatever step measured it. It fails for a stop that
// picks among the memory step only or by request latency.
func TestFusionizePPStopsOnEntryBilledDuration(t *testing.T) {
	w := treeWorld()
	w.entryBilled = func(s fusion.Setup) float64 {
		if s.String() == "A+B+D@128,C@128,E@128,F@128,G@128" {
			return 1400
		}
		return 1502
	}
	_, final := w.run(t, plan.FusionizePP{MemorySizes: plan.PaperMemorySizes["tree"]})
	if final.Final == nil || final.Final.String() != "A+B+D@128,C@128,E@128,F@128,G@128" {
		t.Errorf("final %v, want the inlining step with the lowest entry billed duration", final.Final)
	}
}

// TestFusionizePPInliningOrder: on IoT the pairs are walked in alphabetical order of root and
// callee, one change per measurement. It fails for a walk in the graph's edge order (I→CW
// first) or one that changes several pairs at once.
func TestFusionizePPInliningOrder(t *testing.T) {
	w := ppWorld{
		graph:       apps.IoTGraph(),
		groupCost:   func(string, int) float64 { return 1e-6 },
		entryBilled: func(fusion.Setup) float64 { return 100 },
		latency:     func(fusion.Setup) float64 { return 100 },
	}
	measured, final := w.run(t, plan.FusionizePP{MemorySizes: []int{128, 1024}})
	want := []string{
		"AS@128,CA@128,CS@128,CSA@128,CSL@128,CT@128,CW@128,DJ@128,I@128,SE@128",
		"AS@128,CA+DJ@128,CS@128,CSA@128,CSL@128,CT@128,CW@128,I@128,SE@128",
		"AS@128,CA+DJ@128,CS+CSA@128,CSL@128,CT@128,CW@128,I@128,SE@128",
		"AS@128,CA+DJ@128,CS+CSA+CSL@128,CT@128,CW@128,I@128,SE@128",
		"AS@128,CA+DJ@128,CS+CSA+CSL@128,CT@128,I+CW@128,SE@128",
		"AS@128,CA+DJ@128,CS+CSA+CSL@128,CT@128,I+CW+SE@128",
		"AS@1024,CA+DJ@1024,CS+CSA+CSL@1024,CT@1024,I+CW+SE@128",
	}
	for i, s := range measured {
		if i >= len(want) || s.String() != want[i] {
			t.Fatalf("measurement %d: %s, want %s", i, s, want[min(i, len(want)-1)])
		}
	}
	// Every size costs the same: the first (smallest) wins, so the combination is the fused
	// setup itself, not measured again; every setup ties at the stop, and ties go to the
	// later setup.
	if len(measured) != len(want) || final.Final.String() != want[6] {
		t.Errorf("%d measurements, final %v; want %d and %s", len(measured), final.Final, len(want), want[6])
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestFusionizePPMeasuresWithinConstraints: the heuristic's memory step sets every function
// to each size of its list in turn; with a 256 MB cap, the sizes above are skipped (said in
// the plan) instead of measured on live traffic, and the run still ends. A heuristic that
// measured every step, as the paper's does, fails here.
func TestFusionizePPMeasuresWithinConstraints(t *testing.T) {
	app := apps.Tree()
	capped := constraint.MustCompile(constraint.Spec{Constraints: []constraint.Rule{{Name: "cap", Expr: "setup.groups.all(g, g.memory <= 256)"}}})
	pp := plan.FusionizePP{Requests: 200, MemorySizes: []int{128, 256, 1024, 2048}}
	res, err := plan.Run(pp, app, plan.RunOptions{Graph: app.Graph, Policy: capped, DefaultMemoryMB: 128, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged || len(res.Trials) < 3 {
		t.Fatalf("run: converged %v after %d trials", res.Converged, len(res.Trials))
	}
	for _, tr := range res.Trials {
		for _, g := range tr.Setup.Groups {
			if g.MemoryMB > 256 {
				t.Fatalf("%s %s ran on live traffic, breaking cap", tr.Kind, tr.Setup)
			}
		}
	}
	p, err := pp.Plan(plan.Input{Graph: app.Graph, Policy: capped, History: res.Trials, DefaultMemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Reason, "not measured, against the constraints: ") || !strings.Contains(p.Reason, "@1024 (breaks cap)") {
		t.Fatalf("the plan does not say what it skipped: %q", p.Reason)
	}
}
