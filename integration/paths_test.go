package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/optimizer"
	"github.com/fusionize/fusionize/workflows"
)

// lifecycle is one path of an optimizer through its cycles, on a real Temporal server with
// scripted activities: what the planner and the judge say (the last of each repeats), what
// a user does to it (drive), and the cycles' outcomes it must end with.
type lifecycle struct {
	name     string // the app's name, and the histories' (testdata/history-<name>*.json)
	plans    []plan.Plan
	verdicts []activities.Verdict
	settings func(*workflows.OptimizerInput)
	drive    func(t *testing.T, lc *lifecycleRun)
	outcomes []workflows.Outcome
	check    func(t *testing.T, res workflows.OptimizerResult, calls []string)
}

// TestLifecyclePaths runs an optimizer along each path a user can take it that the happy
// path does not — paused and resumed, aborted mid-canary, held for approval, an
// inconclusive canary, a failing one, continue-as-new — against a real Temporal server, and
// checks how each ends. With FUSIONIZE_RECORD_HISTORY=1 it writes every workflow's history
// to workflows/testdata, where TestReplay replays them against the current workflow code.
//
// The activities are scripted (the planner's and the judge's answers are given), so each
// path is taken for sure; the platform and the judge on live traffic are tested elsewhere.
// It catches a pause that does not hold the canary, an abort that leaves the candidate
// serving, an approval gate that promotes without approval, an inconclusive or failing
// canary that is promoted, and a continue-as-new that loses the cycle count or the records.
func TestLifecyclePaths(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	acts := &scriptedActs{paths: map[string]*lifecycle{}, state: map[string]*scriptState{}}
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	workflows.RegisterWorkflows(w)
	acts.register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, lc := range lifecyclePaths() {
		acts.add(lc)
		t.Run(lc.name, func(t *testing.T) { runLifecycle(t, c, acts, lc) })
	}
}

var pathGraph = fusion.Graph{
	Entry: "A",
	Tasks: []string{"A", "B", "C"},
	Edges: []fusion.Edge{{Caller: "A", Callee: "B", Mode: fusion.Sync}, {Caller: "A", Callee: "C", Mode: fusion.Async}},
}

var (
	pathStart = fusion.MustParseSetup("A@128,B@128,C@128")
	pathFused = fusion.MustParseSetup("A+B@256,C@128")
)

func pathCandidate() plan.Plan {
	return plan.Plan{Planner: "model", Reason: "inline A→B", Candidates: []plan.Candidate{{Setup: pathFused,
		Predicted: plan.Prediction{Metrics: fusion.Metrics{MedianMS: 100, P95MS: 150, CostPerRequest: 1e-6}}}}}
}

var pathConverged = plan.Plan{Planner: "model", Converged: true, Reason: "nothing predicted better than the current setup"}

func pathVerdict(o judge.Outcome, accepted bool, decided string) activities.Verdict {
	v := judge.Verdict{Outcome: o, Decided: decided, Reason: string(o)}
	return activities.Verdict{Outcome: o, Decided: decided, Accepted: accepted, Reason: v.Decision(accepted), StableN: 20, CanaryN: 20,
		Stable: fusion.Metrics{MedianMS: 200, CostPerRequest: 2e-6}, Canary: fusion.Metrics{MedianMS: 110, CostPerRequest: 1.1e-6}}
}

func lifecyclePaths() []lifecycle {
	pass := pathVerdict(judge.Pass, true, judge.DecidedObjective)
	two := []workflows.Outcome{workflows.Promoted, workflows.Converged}
	return []lifecycle{{
		name: "paused", plans: []plan.Plan{pathCandidate(), pathConverged}, verdicts: []activities.Verdict{pass}, outcomes: two,
		drive: func(t *testing.T, lc *lifecycleRun) {
			lc.waitPhase(t, workflows.PhaseCanary)
			lc.update(t, workflows.UpdatePause)
			lc.waitPhase(t, workflows.PhasePaused)
			time.Sleep(time.Second) // it must stay paused
			if st := lc.status(t); st.Phase != workflows.PhasePaused || !st.Paused {
				t.Fatalf("status a second after the pause: %+v", st)
			}
			lc.update(t, workflows.UpdateResume)
		},
	}, {
		name: "aborted", plans: []plan.Plan{pathCandidate()}, verdicts: []activities.Verdict{pass},
		outcomes: []workflows.Outcome{workflows.Aborted},
		drive: func(t *testing.T, lc *lifecycleRun) {
			lc.waitPhase(t, workflows.PhaseCanary)
			lc.update(t, workflows.UpdateAbort)
		},
		check: func(t *testing.T, res workflows.OptimizerResult, calls []string) {
			if !res.Aborted || !res.Current.Setup.Equal(pathStart) {
				t.Errorf("aborted %t, current %s: want aborted back on %s", res.Aborted, res.Current.Setup, pathStart)
			}
			wantCallsEnd(t, calls, "promote "+pathStart.String(), "retire "+pathFused.String())
		},
	}, {
		name: "approval", plans: []plan.Plan{pathCandidate(), pathConverged}, verdicts: []activities.Verdict{pass}, outcomes: two,
		settings: func(in *workflows.OptimizerInput) { in.Settings.Canary.RequireApproval = true },
		drive: func(t *testing.T, lc *lifecycleRun) {
			lc.waitPhase(t, workflows.PhaseAwaitingApproval)
			time.Sleep(time.Second) // nothing is promoted before the approval
			if calls := lc.acts.calls(lc.name); slices.Contains(calls, "promote "+pathFused.String()) {
				t.Fatalf("promoted before approval: %v", calls)
			}
			lc.update(t, workflows.UpdateApprove)
		},
	}, {
		name: "inconclusive", plans: []plan.Plan{pathCandidate(), pathConverged},
		verdicts: []activities.Verdict{pathVerdict(judge.Inconclusive, false, judge.DecidedSamples)},
		outcomes: []workflows.Outcome{workflows.RolledBack, workflows.Converged},
		check: func(t *testing.T, res workflows.OptimizerResult, calls []string) {
			// Two steps' worth of judging: the step and its one extension.
			if n := countPrefix(calls, "judge "); n != 2 || res.Records[0].Verdict != judge.Inconclusive {
				t.Errorf("judged %d times, verdict %s: want the step and one extension, inconclusive", n, res.Records[0].Verdict)
			}
		},
	}, {
		name: "rolledback", plans: []plan.Plan{pathCandidate(), pathConverged},
		verdicts: []activities.Verdict{pathVerdict(judge.Fail, false, judge.DecidedLatency)},
		outcomes: []workflows.Outcome{workflows.RolledBack, workflows.Converged},
		check: func(t *testing.T, res workflows.OptimizerResult, calls []string) {
			if !res.Current.Setup.Equal(pathStart) || slices.Contains(calls, "promote "+pathFused.String()) {
				t.Errorf("current %s, calls %v: want the failing candidate never promoted", res.Current.Setup, calls)
			}
		},
	}, {
		name: "continued", plans: []plan.Plan{pathCandidate(), pathCandidate(), pathConverged},
		verdicts: []activities.Verdict{pathVerdict(judge.Fail, false, judge.DecidedLatency)},
		settings: func(in *workflows.OptimizerInput) { in.CyclesPerRun = 2 },
		outcomes: []workflows.Outcome{workflows.RolledBack, workflows.RolledBack, workflows.Converged},
		check: func(t *testing.T, res workflows.OptimizerResult, _ []string) {
			if res.Cycles != 3 {
				t.Errorf("%d cycles, want 3 carried across continue-as-new", res.Cycles)
			}
		},
	}}
}

// lifecycleRun is one path being run.
type lifecycleRun struct {
	name string
	id   string
	c    client.Client
	acts *scriptedActs
}

func runLifecycle(t *testing.T, c client.Client, acts *scriptedActs, lc lifecycle) {
	in := workflows.OptimizerInput{StopWhenConverged: true, Initial: pathStart, Settings: workflows.Settings{
		App: lc.name, Graph: pathGraph, MemorySizes: []int{128, 256},
		Canary: workflows.CanaryPolicy{Weights: []float64{0.3, 0.6}, Window: 2 * time.Second, MinSamples: 20,
			OnInconclusive: workflows.Extend, MaxExtensions: 1, Drain: time.Second},
		Collect: workflows.CollectPolicy{MinRequests: 20, Window: 2 * time.Second},
	}}
	if lc.settings != nil {
		lc.settings(&in)
	}
	run, err := optimizer.Start(context.Background(), c, in, optimizer.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := &lifecycleRun{name: lc.name, id: run.GetID(), c: c, acts: acts}
	if lc.drive != nil {
		lc.drive(t, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.OptimizerResult
	// A run that continued as new is followed to its last run.
	if err := c.GetWorkflow(ctx, r.id, "").Get(ctx, &res); err != nil {
		t.Fatalf("optimizer: %v", err)
	}
	var got []workflows.Outcome
	for _, rec := range res.Records {
		got = append(got, rec.Outcome)
	}
	if !slices.Equal(got, lc.outcomes) {
		t.Fatalf("cycles ended %v, want %v\nrecords %+v", got, lc.outcomes, res.Records)
	}
	calls := acts.calls(lc.name)
	if lc.check != nil {
		lc.check(t, res, calls)
	}
	if len(lc.outcomes) == 2 && lc.outcomes[0] == workflows.Promoted {
		wantCallsEnd(t, calls[:len(calls)-1], "promote "+pathFused.String(), "retire "+pathStart.String())
	}
	recordHistories(t, c, r.id, run.GetRunID(), firstRunCycles(lc, in))
}

// firstRunCycles is the number of cycles the optimizer's first run made (the one whose
// history is recorded).
func firstRunCycles(lc lifecycle, in workflows.OptimizerInput) int {
	if in.CyclesPerRun > 0 {
		return min(in.CyclesPerRun, len(lc.outcomes))
	}
	return len(lc.outcomes)
}

func (r *lifecycleRun) status(t *testing.T) workflows.Status {
	t.Helper()
	v, err := r.c.QueryWorkflow(context.Background(), r.id, "", workflows.QueryStatus)
	var st workflows.Status
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		t.Logf("status query: %v", err)
	}
	return st
}

func (r *lifecycleRun) waitPhase(t *testing.T, p workflows.Phase) {
	t.Helper()
	waitFor(t, time.Minute, "phase "+string(p), func() bool { return r.status(t).Phase == p })
}

func (r *lifecycleRun) update(t *testing.T, name string) {
	t.Helper()
	h, err := r.c.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{WorkflowID: r.id, UpdateName: name,
		Args: []any{"lifecycle test"}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(context.Background(), nil)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func wantCallsEnd(t *testing.T, calls []string, want ...string) {
	t.Helper()
	if len(calls) < len(want) || !slices.Equal(calls[len(calls)-len(want):], want) {
		t.Errorf("platform calls end\n%s\nwant them to end\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

func countPrefix(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// scriptedActs are Fusionize's activities, registered under their names, answering from each
// app's lifecycle script and recording every platform call by app.
type scriptedActs struct {
	mu    sync.Mutex
	paths map[string]*lifecycle
	state map[string]*scriptState
}

type scriptState struct {
	plans, verdicts, observes int
	calls                     []string
}

func (a *scriptedActs) add(lc lifecycle) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.paths[lc.name], a.state[lc.name] = &lc, &scriptState{}
}

func (a *scriptedActs) record(app, format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state[app]
	st.calls = append(st.calls, fmt.Sprintf(format, args...))
}

func (a *scriptedActs) calls(app string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.state[app].calls)
}

func (a *scriptedActs) register(w worker.Worker) {
	reg := func(name string, fn any) {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: workflows.ActivityPrefix + name})
	}
	reg("Deploy", a.deploy)
	reg("Route", a.route)
	reg("Promote", a.promote)
	reg("Retire", a.retire)
	reg("Observe", a.observe)
	reg("Plan", a.plan)
	reg("Judge", a.judge)
	reg("Adopt", a.adopt)
	reg("RetireOrphans", a.retireOrphans)
}

func (a *scriptedActs) deploy(_ context.Context, in activities.DeployInput) (activities.Deployment, error) {
	a.record(in.App, "deploy %s", in.Setup)
	return activities.Deployment{App: in.App, Setup: in.Setup, Entry: in.Graph.Entry, Version: "v-" + in.Setup.ID(),
		LogGroup: "/fusionize/" + in.App}, nil
}

func (a *scriptedActs) route(_ context.Context, in activities.RouteInput) error {
	a.record(in.Stable.App, "route %s %.1f", in.Canary.Setup, in.Weight)
	return nil
}

func (a *scriptedActs) promote(_ context.Context, d activities.Deployment) error {
	a.record(d.App, "promote %s", d.Setup)
	return nil
}

func (a *scriptedActs) retire(_ context.Context, d activities.Deployment) error {
	a.record(d.App, "retire %s", d.Setup)
	return nil
}

// observe sees enough warm requests of every deployment after half a second (so that a
// user's update can reach a canary while it observes), with a digest as the real reader's.
func (a *scriptedActs) observe(ctx context.Context, in activities.ObserveInput) (activities.Observation, error) {
	select {
	case <-ctx.Done():
		return activities.Observation{}, ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	a.mu.Lock()
	st := a.state[in.App]
	st.observes++
	n := st.observes
	a.mu.Unlock()
	end := in.Start.Add(500 * time.Millisecond)
	obs := activities.Observation{Window: activities.Window{Start: in.Start, End: end, Deployments: in.Deployments}, Enough: true,
		State: &activities.ReadState{Cursor: end, Digest: fusion.Digest{Invocations: n * in.MinWarm}}}
	for _, d := range in.Deployments {
		obs.Setups = append(obs.Setups, activities.SetupObservation{SetupID: d.Setup.ID(), Requests: in.MinWarm, Warm: in.MinWarm,
			Metrics: fusion.Metrics{MedianMS: 200, P95MS: 300, CostPerRequest: 2e-6, Requests: int64(in.MinWarm)}})
	}
	return obs, nil
}

func (a *scriptedActs) plan(_ context.Context, in activities.PlanInput) (plan.Plan, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lc, st := a.paths[in.App], a.state[in.App]
	p := lc.plans[min(st.plans, len(lc.plans)-1)]
	st.plans++
	st.calls = append(st.calls, "plan "+in.Current.String())
	return p, nil
}

func (a *scriptedActs) judge(_ context.Context, in activities.JudgeInput) (activities.Verdict, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lc, st := a.paths[in.App], a.state[in.App]
	v := lc.verdicts[min(st.verdicts, len(lc.verdicts)-1)]
	st.verdicts++
	st.calls = append(st.calls, fmt.Sprintf("judge %s: %s", in.Canary.Setup, v.Outcome))
	return v, nil
}

func (a *scriptedActs) adopt(context.Context, activities.AdoptInput) (activities.AdoptResult, error) {
	return activities.AdoptResult{Reason: "nothing is live"}, nil
}

func (a *scriptedActs) retireOrphans(_ context.Context, keep activities.Deployment) ([]string, error) {
	a.record(keep.App, "retire orphans but %s", keep.Setup)
	return nil, nil
}
