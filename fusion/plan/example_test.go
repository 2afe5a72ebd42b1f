package plan_test

import (
	"fmt"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
)

// The model planner on the tree app, profiled all remote at three memory sizes, with a
// policy that keeps the CPU-heavy C isolated and caps memory.
func ExampleModel() {
	app := apps.Tree()
	b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
	var history []plan.Trial
	for i, m := range []int{128, 1024, 3008} {
		s := fusion.AllRemote(app.Graph, m)
		records, reports := app.Measure(s, 300, uint64(i))
		b.AddRecords(records...)
		b.AddReports(reports...)
		history = append(history, plan.Trial{Setup: s, Kind: plan.Measurement})
	}
	policy := constraint.MustCompile(constraint.Spec{Constraints: []constraint.Rule{
		{Name: "isolate-C", Expr: `setup.groups.all(g, g.root == "C" || !("C" in g.tasks))`},
		{Name: "memory-cap", Expr: `setup.groups.all(g, g.memory <= 1024)`},
	}})
	p, err := plan.NewModel(plan.ModelOptions{}).Plan(plan.Input{
		Graph:   app.Graph,
		Current: fusion.AllRemote(app.Graph, 128),
		Profile: b.Profile(),
		Policy:  policy,
		History: history,
		Seed:    1,
	})
	if err != nil {
		panic(err)
	}
	best := p.Candidates[0]
	fmt.Println("canary:", best.Setup)
	fmt.Printf("latency %.0f %% lower, cost %.0f %% lower\n", 100*best.LatencyGain, 100*best.CostGain)
	// Output:
	// canary: A+B+D+E@128,C+F+G@1024
	// latency 5 % lower, cost 39 % lower
}

// The paper's heuristic asks for one live measurement per step.
func ExampleFusionizePP() {
	app := apps.IoT()
	start := fusion.AllRemote(app.Graph, 128)
	records, reports := app.Measure(start, 300, 1)
	p, _ := plan.FusionizePP{}.Plan(plan.Input{
		Graph:   app.Graph,
		Profile: fusion.BuildProfile(app.Graph, records, reports),
	})
	fmt.Println(p.Measurements[0].Reason)
	fmt.Println(p.Measurements[0].Setup)
	// Output:
	// fusion: inline DJ into CA (sync)
	// AS@128,CA+DJ@128,CS@128,CSA@128,CSL@128,CT@128,CW@128,I@128,SE@128
}
