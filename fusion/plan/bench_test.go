package plan_test

import (
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/fusion/sim"
)

func benchmarkPlan(b *testing.B, app sim.App) {
	in := plan.Input{Graph: app.Graph, Profile: profileAt(app, 128, 1024, 3008), Seed: 1}
	p := plan.NewModel(plan.ModelOptions{})
	var out plan.Plan
	b.ResetTimer()
	for b.Loop() {
		var err error
		if out, err = p.Plan(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.Evaluated), "setups/op")
}

// BenchmarkModelPlanWebShop: one model plan of the 17-task web shop.
func BenchmarkModelPlanWebShop(b *testing.B) { benchmarkPlan(b, apps.WebShop()) }

// BenchmarkModelPlanSynthetic40: one model plan of a 40-task synthetic app.
func BenchmarkModelPlanSynthetic40(b *testing.B) { benchmarkPlan(b, apps.Synthetic(40, 1)) }

// BenchmarkSimulate: 2,000 simulated requests of the web shop all remote.
func BenchmarkSimulate(b *testing.B) {
	app := apps.WebShop()
	p := profileAt(app, 128, 1024)
	s := fusion.AllRemote(app.Graph, 256)
	for b.Loop() {
		if _, err := plan.Simulate(p, app.Graph, s, plan.SimOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFusionizePP: one step of the paper's heuristic on the web shop.
func BenchmarkFusionizePP(b *testing.B) {
	app := apps.WebShop()
	in := plan.Input{Graph: app.Graph, Profile: profileAt(app, 128), Seed: 1}
	for b.Loop() {
		if _, err := (plan.FusionizePP{}).Plan(in); err != nil {
			b.Fatal(err)
		}
	}
}
