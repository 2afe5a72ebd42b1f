package plan_test

import (
	"math"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/fusion/sim"
)

// coldFirst is the ground truth, except that the first run of the start setup is all cold
// starts, as a fresh deployment under the AWS latency profile nearly was live.
type coldFirst struct {
	sim.App
	runs int
}

func (c *coldFirst) Measure(s fusion.Setup, requests int, seed uint64) ([]fusion.TraceRecord, []fusion.Report) {
	recs, reps := c.App.Measure(s, requests, seed)
	if c.runs++; c.runs == 1 {
		for i := range recs {
			recs[i].Cold = true
		}
	}
	return recs, reps
}

// onceCandidate proposes one setup, then converges.
type onceCandidate struct{ s fusion.Setup }

func (o onceCandidate) Plan(in plan.Input) (plan.Plan, error) {
	for _, t := range in.History {
		if t.Kind == plan.Canary {
			return plan.Plan{Planner: "once", Converged: true, Reason: "tried"}, nil
		}
	}
	return plan.Plan{Planner: "once", Candidates: []plan.Candidate{{Setup: o.s}}}, nil
}

// TestRunGivesTheJudgeABaseline: the start setup's only run left no warm request, so the
// judge could not compare anything with it. Run must run the current setup again for the
// judge's warm samples and then judge the canary on its merits (Tree fused is cheaper).
// Catches the loop that judged against the stale first run and called every canary
// inconclusive: live, the Tree run with the AWS profile promoted nothing in 57 canaries.
func TestRunGivesTheJudgeABaseline(t *testing.T) {
	app := apps.Tree()
	env := &coldFirst{App: app}
	fused := fusion.MustParseSetup("A+B+D+E@128,C+F+G@1024")
	res, err := plan.Run(onceCandidate{fused}, env, plan.RunOptions{Graph: app.Graph, Requests: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, tr := range res.Trials {
		kinds = append(kinds, string(tr.Kind)+" "+tr.Setup.String()+" "+tr.Verdict)
	}
	if len(res.Trials) != 3 || res.Trials[1].Kind != plan.Baseline || !res.Trials[1].Setup.Equal(res.Trials[0].Setup) {
		t.Fatalf("trials %q: want the start measured, measured again, then the canary", kinds)
	}
	if c := res.Trials[2]; c.Verdict == "inconclusive" || !c.Promoted {
		t.Errorf("canary %q: want it judged on warm samples and promoted", kinds)
	}
	if res.Experiments != 3 || res.Requests != 300 {
		t.Errorf("%d experiments, %d requests: the baseline's second run must be counted", res.Experiments, res.Requests)
	}
}

// windowOf records the canary window every plan is asked for.
type windowOf struct {
	onceCandidate
	windows []int
}

func (w *windowOf) Plan(in plan.Input) (plan.Plan, error) {
	w.windows = append(w.windows, in.WindowRequests)
	return w.onceCandidate.Plan(in)
}

// TestRunTellsThePlannerItsWindow: a canary of Run's runs Requests requests of the
// candidate, and the model spreads a new function's cold starts over the window it is told
// (300 by default). Live at 60 requests per canary, a window of 300 had IoT's canaries
// predicted faster than their cold first seconds ran. Catches a loop that does not say.
func TestRunTellsThePlannerItsWindow(t *testing.T) {
	app := apps.Tree()
	p := &windowOf{onceCandidate: onceCandidate{fusion.MustParseSetup("A+B+D+E@128,C+F+G@1024")}}
	if _, err := plan.Run(p, &app, plan.RunOptions{Graph: app.Graph, Requests: 60, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	for i, w := range p.windows {
		if w != 60 {
			t.Errorf("plan %d of %d was told a window of %d requests, want 60", i+1, len(p.windows), w)
		}
	}
	if len(p.windows) == 0 {
		t.Error("Run asked for no plan")
	}
}

// TestCalibrationLeavesTheBilledGapAlone: live, every REPORT Duration is the handler's time
// plus about half a millisecond around it (the runtime's response and the platform's), and
// billed milliseconds round up from there. Calibrating on billed durations took that for an
// error of the groups: IoT's entry group billed 6.5 ms against 5 predicted, its handler
// 4.5 ms against 4.3, and the correction (×1.3) had the current setup predicted at 6.2 ms
// where it ran at 4.3. The model now calibrates on handler durations and bills the gap
// itself: the setup that ran is predicted as it ran, in latency and in cost. The gap here is
// 100 ms, to matter against the simulator's full-scale IoT as half a millisecond does live.
// Catches the calibration on billed durations without the gap (median +198 %) and a model
// that does not bill the gap (cost -11 %).
func TestCalibrationLeavesTheBilledGapAlone(t *testing.T) {
	app := apps.IoT()
	const gapMS = 100
	b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
	in := plan.Input{Graph: app.Graph, Current: fusion.AllRemote(app.Graph, 128), Seed: 1}
	for i, m := range []int{128, 1024, 3008} {
		s := fusion.AllRemote(app.Graph, m)
		recs, reps := app.Measure(s, 300, uint64(i+1))
		for k := range reps {
			reps[k].DurationMS += gapMS
			reps[k].BilledMS = int64(math.Ceil(reps[k].DurationMS))
		}
		b.AddRecords(recs...)
		b.AddReports(reps...)
		in.History = append(in.History, plan.Trial{Setup: s, Kind: plan.Measurement})
	}
	in.Profile = b.Profile()
	obs, ok := plan.Observe(in.Profile, in.Current)
	if !ok {
		t.Fatal("the current setup is not in the profile")
	}
	p, err := plan.NewModel(plan.ModelOptions{}).Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Current == nil {
		t.Fatalf("no prediction of the current setup: %s", p.Reason)
	}
	dm := p.Current.MedianMS/obs.MedianMS - 1
	dc := p.Current.CostPerRequest/obs.CostPerRequest - 1
	t.Logf("current %s: median %.2f predicted, %.2f observed (%+.0f %%); cost %.3f / %.3f $ per 1M (%+.0f %%); %s",
		in.Current, p.Current.MedianMS, obs.MedianMS, 100*dm, 1e6*p.Current.CostPerRequest, 1e6*obs.CostPerRequest, 100*dc, p.Reason)
	if math.Abs(dm) > 0.1 || math.Abs(dc) > 0.1 {
		t.Errorf("the setup that ran is predicted %+.0f %% off on its median and %+.0f %% on cost, want within 10 %%", 100*dm, 100*dc)
	}
}
