package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

var treeGraph = fusion.Graph{
	Entry: "A",
	Tasks: []string{"A", "B", "C"},
	Edges: []fusion.Edge{{Caller: "A", Callee: "B", Mode: fusion.Sync}, {Caller: "A", Callee: "C", Mode: fusion.Async}},
}

const (
	allRemote = "A@128,B@128,C@128"
	fused     = "A+B@256,C@128"
)

func dep(text string) activities.Deployment {
	s := fusion.MustParseSetup(text)
	return activities.Deployment{App: "tree", Setup: s, Entry: "A", Version: "v-" + s.ID()}
}

func candidatePlan(text string) plan.Plan {
	s := fusion.MustParseSetup(text)
	return plan.Plan{Planner: "model", Reason: "inline A→B",
		Candidates: []plan.Candidate{{Setup: s,
			Predicted: plan.Prediction{Metrics: fusion.Metrics{MedianMS: 100, CostPerRequest: 1e-6}}}}}
}

var convergedPlan = plan.Plan{Planner: "model", Converged: true, Reason: "nothing better"}

func verdict(o judge.Outcome, accepted bool) activities.Verdict {
	return activities.Verdict{Outcome: o, Accepted: accepted, Reason: judge.Verdict{Outcome: o, Decided: judge.DecidedObjective, Reason: string(o)}.Decision(accepted),
		Canary: fusion.Metrics{MedianMS: 110, CostPerRequest: 1.1e-6}, Stable: fusion.Metrics{MedianMS: 200}}
}

// script mocks the activities: plans and verdicts are returned in order (the last one
// repeats), and every platform call is recorded.
type script struct {
	mu         sync.Mutex
	plans      []plan.Plan
	verdicts   []activities.Verdict
	deployErr  error
	observeFor time.Duration // each Observe takes this long (workflow time)
	live       string        // the setup the platform serves when the optimizer starts ("": none)
	inputs     []any         // every Plan, Observe, Judge and Deploy input, in order
	promoteErr int           // the first promoteErr Promote calls fail
	calls      []string
	// digests makes Observe read incrementally: the k-th Observe returns a state whose digest
	// counts k invocations (and a pending one with a cold start), and has enough samples
	// only when it goes on from an earlier state.
	digests  bool
	observeN int
}

func (s *script) record(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
}

func (s *script) called() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, "\n")
}

type testEnv struct {
	*testsuite.TestWorkflowEnvironment
	s *script
}

type nopDeployer struct{}

func (nopDeployer) Deploy(context.Context, activities.DeployRequest) (activities.Deployment, error) {
	return activities.Deployment{}, nil
}
func (nopDeployer) Route(context.Context, activities.Deployment, activities.Deployment, float64) error {
	return nil
}
func (nopDeployer) Promote(context.Context, activities.Deployment) error { return nil }
func (nopDeployer) Retire(context.Context, activities.Deployment) error  { return nil }
func (nopDeployer) Traces(context.Context, activities.TraceQuery) (activities.Traces, error) {
	return activities.Traces{}, nil
}

type nopPlanner struct{}

func (nopPlanner) Plan(plan.Input) (plan.Plan, error) { return plan.Plan{}, nil }

func newEnv(t *testing.T, s *script) *testEnv {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	acts, err := activities.New(activities.Options{Deployer: nopDeployer{}, Traces: nopDeployer{},
		Planners: map[string]plan.Planner{"model": nopPlanner{}}})
	if err != nil {
		t.Fatal(err)
	}
	Register(env, acts)
	e := &testEnv{env, s}
	planN, verdictN := 0, 0
	env.OnActivity(activityObserve, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ObserveInput) (activities.Observation, error) {
		s.mu.Lock()
		s.inputs = append(s.inputs, in)
		s.mu.Unlock()
		obs := activities.Observation{Window: activities.Window{Start: in.Start, End: in.Start.Add(in.MaxWait), Deployments: in.Deployments}, Enough: true}
		for _, d := range in.Deployments {
			obs.Setups = append(obs.Setups, activities.SetupObservation{SetupID: d.Setup.ID(), Requests: in.MinWarm, Warm: in.MinWarm,
				Metrics: fusion.Metrics{MedianMS: 200, Requests: int64(in.MinWarm)}})
		}
		if s.digests {
			s.mu.Lock()
			s.observeN++
			obs.State = &activities.ReadState{Cursor: obs.Window.End, Digest: fusion.Digest{Invocations: s.observeN}}
			obs.Pending = &fusion.Digest{Invocations: 1, ColdStarts: 1}
			obs.Enough = in.From != nil
			s.mu.Unlock()
		}
		return obs, nil
	}).After(s.observeFor)
	env.OnActivity(activityPlan, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PlanInput) (plan.Plan, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.plans[min(planN, len(s.plans)-1)]
		planN++
		s.calls = append(s.calls, fmt.Sprintf("plan %s", in.Current))
		s.inputs = append(s.inputs, in)
		return p, nil
	})
	env.OnActivity(activityJudge, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.JudgeInput) (activities.Verdict, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		v := s.verdicts[min(verdictN, len(s.verdicts)-1)]
		verdictN++
		s.calls = append(s.calls, fmt.Sprintf("judge %s: %s", in.Canary.Setup, v.Outcome))
		s.inputs = append(s.inputs, in)
		return v, nil
	})
	env.OnActivity(activityDeploy, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeployInput) (activities.Deployment, error) {
		s.record("deploy %s", in.Setup)
		s.mu.Lock()
		s.inputs = append(s.inputs, in)
		s.mu.Unlock()
		if s.deployErr != nil {
			return activities.Deployment{}, s.deployErr
		}
		return dep(in.Setup.String()), nil
	})
	env.OnActivity(activityRoute, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RouteInput) error {
		s.record("route %s %.1f", in.Canary.Setup, in.Weight)
		return nil
	})
	env.OnActivity(activityPromote, mock.Anything, mock.Anything).Return(func(_ context.Context, d activities.Deployment) error {
		s.record("promote %s", d.Setup)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.promoteErr > 0 {
			s.promoteErr--
			return errors.New("platform unavailable")
		}
		return nil
	})
	env.OnActivity(activityAdopt, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AdoptInput) (activities.AdoptResult, error) {
		if s.live == "" {
			return activities.AdoptResult{Reason: "nothing is live"}, nil
		}
		s.record("adopt %s", dep(s.live).Setup)
		return activities.AdoptResult{Found: true, Live: dep(s.live), Reason: "adopted"}, nil
	})
	env.OnActivity(activityRetireOrphans, mock.Anything, mock.Anything).Return(func(_ context.Context, keep activities.Deployment) ([]string, error) {
		s.record("retire orphans but %s", keep.Setup)
		return nil, nil
	})
	env.OnActivity(activityRetire, mock.Anything, mock.Anything).Return(func(_ context.Context, d activities.Deployment) error {
		s.record("retire %s", d.Setup)
		return nil
	})
	return e
}

func settings() Settings {
	return Settings{App: "tree", Graph: treeGraph, Canary: CanaryPolicy{Weights: []float64{0.1, 0.5}, Window: time.Minute, MinSamples: 20},
		Collect: CollectPolicy{MinRequests: 20, Window: time.Minute}}
}

func cycleInput(s Settings) CycleInput {
	return CycleInput{Settings: s, Cycle: 1, Current: dep(allRemote), Seed: 1}
}

func runCycle(t *testing.T, e *testEnv, in CycleInput) (CycleResult, error) {
	t.Helper()
	e.ExecuteWorkflow(CycleWorkflow, in)
	if !e.IsWorkflowCompleted() {
		t.Fatal("cycle did not complete")
	}
	var res CycleResult
	err := e.GetWorkflowError()
	if err == nil {
		err = e.GetWorkflowResult(&res)
	}
	return res, err
}

func wantCalls(t *testing.T, s *script, want ...string) {
	t.Helper()
	if got := s.called(); got != strings.Join(want, "\n") {
		t.Errorf("platform calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

var (
	allRemoteText = fusion.MustParseSetup(allRemote).String()
	fusedText     = fusion.MustParseSetup(fused).String()
)

// TestCycleCarriesPricesAndArch runs a promoting cycle of an app configured for arm64 with its
// own prices. Catches a cycle that plans, observes or judges with the worker's default prices,
// or deploys without the configured architecture.
func TestCycleCarriesPricesAndArch(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
	e := newEnv(t, s)
	set := settings()
	prices := fusion.Prices{Arch: fusion.ARM64, ARM64GBSecond: 1e-5}
	set.Prices, set.Arch = &prices, fusion.ARM64
	if res, err := runCycle(t, e, cycleInput(set)); err != nil || res.Outcome != Promoted {
		t.Fatalf("cycle %+v %v", res.Outcome, err)
	}
	kinds := map[string]int{}
	for _, in := range s.inputs {
		var got *fusion.Prices
		switch in := in.(type) {
		case activities.PlanInput:
			got = in.Prices
		case activities.ObserveInput:
			got = in.Prices
		case activities.JudgeInput:
			got = in.Prices
		case activities.DeployInput:
			if in.Arch != fusion.ARM64 {
				t.Errorf("deploy of %s for architecture %q, want arm64", in.Setup, in.Arch)
			}
			kinds["deploy"]++
			continue
		}
		kinds[fmt.Sprintf("%T", in)]++
		if got == nil || *got != prices {
			t.Errorf("%T carries prices %v, want %+v", in, got, prices)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("inputs seen %v, want plan, observe, judge and deploy", kinds)
	}
}

func TestCycleConverged(t *testing.T) {
	s := &script{plans: []plan.Plan{convergedPlan}}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Converged || res.Current.Setup.ID() != dep(allRemote).Setup.ID() {
		t.Fatalf("result %+v", res)
	}
	wantCalls(t, s, "plan "+allRemoteText)
}

func TestCyclePromoted(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Promoted || res.Current.Setup.ID() != dep(fused).Setup.ID() {
		t.Fatalf("result %+v", res)
	}
	if r := res.Record; r.Predicted.MedianMS != 100 || r.CandidateObserved.MedianMS != 110 || r.Verdict != judge.Pass {
		t.Errorf("record %+v", r)
	}
	if len(res.Trials) != 1 || !res.Trials[0].Promoted {
		t.Errorf("trials %+v", res.Trials)
	}
	wantCalls(t, s, "plan "+allRemoteText, "deploy "+fusedText,
		"route "+fusedText+" 0.1", "judge "+fusedText+": pass",
		"route "+fusedText+" 0.5", "judge "+fusedText+": pass",
		"promote "+fusedText, "retire "+allRemoteText)
}

func TestCycleRolledBackOnFail(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Fail, false)}}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != RolledBack || res.Current.Setup.ID() != dep(allRemote).Setup.ID() {
		t.Fatalf("result %+v", res)
	}
	wantCalls(t, s, "plan "+allRemoteText, "deploy "+fusedText,
		"route "+fusedText+" 0.1", "judge "+fusedText+": fail",
		"promote "+allRemoteText, "retire "+fusedText)
	if len(res.Trials) != 1 || res.Trials[0].Promoted || res.Trials[0].Verdict != "fail" {
		t.Errorf("trials %+v", res.Trials)
	}
}

// TestCycleAcceptedDespiteFail: the acceptance rule decides, not the judge's outcome; a
// policy that accepts a failed verdict (a custom rule) promotes. Catches a cycle that rolls
// back on a fail before asking the rule (which printed "fail (accepted: true)").
func TestCycleAcceptedDespiteFail(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Fail, true)}}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Promoted || !strings.HasPrefix(res.Record.Reason, "promote: ") || !strings.Contains(res.Record.Reason, "overrides") {
		t.Fatalf("result %+v", res)
	}
}

func TestCycleNotAcceptedByPolicy(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, false)}}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != RolledBack || !strings.Contains(res.Record.Reason, "acceptance rule") {
		t.Fatalf("result %+v", res)
	}
}

func TestCycleInconclusive(t *testing.T) {
	inc, pass := verdict(judge.Inconclusive, false), verdict(judge.Pass, true)
	for _, tc := range []struct {
		name     string
		policy   Inconclusive
		verdicts []activities.Verdict
		want     Outcome
		judged   int
	}{
		{"extend then pass", Extend, []activities.Verdict{inc, pass}, Promoted, 3},
		{"extend until rollback", Extend, []activities.Verdict{inc}, RolledBack, 3},
		{"rollback at once", Rollback, []activities.Verdict{inc}, RolledBack, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: tc.verdicts}
			e := newEnv(t, s)
			in := cycleInput(settings())
			in.Settings.Canary.OnInconclusive = tc.policy
			res, err := runCycle(t, e, in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s (%s)", res.Outcome, tc.want, res.Record.Reason)
			}
			if n := strings.Count(s.called(), "judge "); n != tc.judged {
				t.Errorf("judged %d times, want %d:\n%s", n, tc.judged, s.called())
			}
			if tc.want == RolledBack && !strings.HasSuffix(s.called(), "promote "+allRemoteText+"\nretire "+fusedText) {
				t.Errorf("no rollback:\n%s", s.called())
			}
		})
	}
}

func TestCycleInconclusivePause(t *testing.T) {
	inc, pass := verdict(judge.Inconclusive, false), verdict(judge.Pass, true)
	for _, tc := range []struct {
		action string
		want   Outcome
	}{
		{UpdateResume, Promoted}, // observed again, then passes
		{UpdateApprove, Promoted},
		{UpdateAbort, Aborted},
	} {
		t.Run(tc.action, func(t *testing.T) {
			s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{inc, pass}, observeFor: time.Minute}
			e := newEnv(t, s)
			in := cycleInput(settings())
			in.Settings.Canary.OnInconclusive = Pause
			// Collection takes 1 min, the first canary step's observation 1 min: the
			// verdict comes at 2 min; the human answers at 10 min.
			e.RegisterDelayedCallback(func() {
				v, err := e.QueryWorkflow(QueryStatus)
				if err != nil {
					t.Error(err)
					return
				}
				var st Status
				if err := v.Get(&st); err != nil || st.Phase != PhasePaused || !st.Paused {
					t.Errorf("status while paused: %+v %v", st, err)
				}
				e.SignalWorkflow(SignalControl, Control{Action: tc.action})
			}, 10*time.Minute)
			res, err := runCycle(t, e, in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s (%s)", res.Outcome, tc.want, res.Record.Reason)
			}
			if tc.action == UpdateApprove && strings.Contains(s.called(), "route "+fusedText+" 0.5") {
				t.Errorf("approval should skip the remaining steps:\n%s", s.called())
			}
			if tc.want == Aborted && !strings.HasSuffix(s.called(), "promote "+allRemoteText+"\nretire "+fusedText) {
				t.Errorf("abort did not roll back:\n%s", s.called())
			}
		})
	}
}

func TestCyclePauseAndResume(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}, observeFor: time.Minute}
	e := newEnv(t, s)
	var during string
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalControl, Control{Action: UpdatePause}) }, 30*time.Second)
	e.RegisterDelayedCallback(func() {
		during = s.called()
		e.SignalWorkflow(SignalControl, Control{Action: UpdateResume})
	}, time.Hour)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Promoted {
		t.Fatalf("outcome %s", res.Outcome)
	}
	// Paused during collection: nothing was planned until the resume.
	if during != "" {
		t.Errorf("calls while paused: %q", during)
	}
}

func TestCycleAbortMidCanary(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}, observeFor: time.Minute}
	e := newEnv(t, s)
	// Collection: 1 min (one observe, enough); step 1 observe 1 min: abort at 1.5 min.
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalControl, Control{Action: UpdateAbort, Reason: "test"}) }, 90*time.Second)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Aborted || res.Current.Setup.ID() != dep(allRemote).Setup.ID() {
		t.Fatalf("result %+v", res)
	}
	wantCalls(t, s, "plan "+allRemoteText, "deploy "+fusedText, "route "+fusedText+" 0.1",
		"promote "+allRemoteText, "retire "+fusedText)
}

func TestCycleApproval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		approve bool
		want    Outcome
	}{{"approved", true, Promoted}, {"timed out", false, RolledBack}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
			e := newEnv(t, s)
			in := cycleInput(settings())
			in.Settings.Canary.RequireApproval = true
			in.Settings.Canary.ApprovalTimeout = 24 * time.Hour
			var phase Phase
			e.RegisterDelayedCallback(func() {
				v, _ := e.QueryWorkflow(QueryStatus)
				var st Status
				_ = v.Get(&st)
				phase = st.Phase
				if tc.approve {
					e.SignalWorkflow(SignalControl, Control{Action: UpdateApprove})
				}
			}, time.Hour)
			res, err := runCycle(t, e, in)
			if err != nil {
				t.Fatal(err)
			}
			if phase != PhaseAwaitingApproval {
				t.Errorf("phase before approval %q", phase)
			}
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s (%s)", res.Outcome, tc.want, res.Record.Reason)
			}
		})
	}
}

// TestApprovalBelongsToOneGate approves while the cycle is merely paused (no gate open), then
// resumes. Catches a sticky approval flag: the old cycle kept it and skipped the second canary
// step and the approval gate, promoting a candidate nobody approved. Here no approval comes at
// the gate, so the cycle must run both steps and roll back when the approval times out.
func TestApprovalBelongsToOneGate(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}, observeFor: time.Minute}
	e := newEnv(t, s)
	in := cycleInput(settings())
	in.Settings.Canary.RequireApproval = true
	in.Settings.Canary.ApprovalTimeout = 24 * time.Hour
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalControl, Control{Action: UpdatePause}) }, 30*time.Second)
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalControl, Control{Action: UpdateApprove}) }, 40*time.Second)
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalControl, Control{Action: UpdateResume}) }, 50*time.Second)
	res, err := runCycle(t, e, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != RolledBack || !strings.Contains(res.Record.Reason, "no approval") {
		t.Errorf("outcome %s (%s), want rolled back for want of an approval at the gate", res.Outcome, res.Record.Reason)
	}
	if !strings.Contains(s.called(), "route "+fusedText+" 0.5") {
		t.Errorf("the second canary step was skipped:\n%s", s.called())
	}
}

// TestOptimizerRejectsApprovalWithoutGate: approve during a plain pause is refused by the
// update's validator, so it leaves no history and cannot apply to a later gate.
func TestOptimizerRejectsApprovalWithoutGate(t *testing.T) {
	s := &script{plans: []plan.Plan{convergedPlan}, observeFor: time.Minute}
	e := newEnv(t, s)
	rejected := false
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdatePause, "", &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) },
			OnAccept: func() {}, OnComplete: func(any, error) {}}, "look")
	}, 30*time.Second)
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateApprove, "", &testsuite.TestUpdateCallback{OnReject: func(error) { rejected = true },
			OnAccept: func() {}, OnComplete: func(any, error) {}}, "sure")
		e.UpdateWorkflow(UpdateAbort, "", &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) },
			OnAccept: func() {}, OnComplete: func(any, error) {}}, "done")
	}, 2*time.Minute)
	e.ExecuteWorkflow(OptimizerWorkflow, optimizerInput())
	if !rejected {
		t.Error("approve during a plain pause was accepted")
	}
}

func TestCycleDeployFailed(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, deployErr: temporal.NewNonRetryableApplicationError("quota", activities.ErrDeploy, nil)}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != DeployFailed || res.Current.Setup.ID() != dep(allRemote).Setup.ID() {
		t.Fatalf("result %+v", res)
	}
	wantCalls(t, s, "plan "+allRemoteText, "deploy "+fusedText, "retire "+fusedText)
	// The candidate is in the history as not promoted, so the planner does not propose it
	// again in the next cycle (which starts at once): without it, a candidate that cannot be
	// deployed is deployed in a loop.
	if len(res.Trials) != 1 || !res.Trials[0].Setup.Equal(fusion.MustParseSetup(fused)) || res.Trials[0].Promoted || res.Trials[0].Kind != plan.Canary {
		t.Errorf("trials %+v: want the candidate, not promoted", res.Trials)
	}
}

func TestCycleMeasurement(t *testing.T) {
	mem := fusion.MustParseSetup("A@512,B@512,C@512")
	measure := plan.Plan{Planner: "model", Measurements: []plan.MeasurementRequest{{Setup: mem, Requests: 10, Reason: "memory scaling"}}}
	s := &script{plans: []plan.Plan{measure, convergedPlan}}
	e := newEnv(t, s)
	res, err := runCycle(t, e, cycleInput(settings()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Converged || len(res.Trials) != 1 || res.Trials[0].Kind != plan.Measurement {
		t.Log(s.called())
		t.Fatalf("result %+v", res)
	}
	wantCalls(t, s, "plan "+allRemoteText, "deploy "+mem.String(), "route "+mem.String()+" 0.1",
		"promote "+allRemoteText, "retire "+mem.String(), "plan "+allRemoteText)
}

// TestMeasurementCleanedUpWhenRouteBackFails: routing every request back to the current setup
// after a measurement fails through all its retries (the platform was down), so the cycle
// fails. Catches the old cycle, which returned at once and left the measured setup's
// functions and version behind: the failed cycle must route back and retire it.
func TestMeasurementCleanedUpWhenRouteBackFails(t *testing.T) {
	mem := fusion.MustParseSetup("A@512,B@512,C@512")
	measure := plan.Plan{Planner: "model", Measurements: []plan.MeasurementRequest{{Setup: mem, Requests: 10, Reason: "memory scaling"}}}
	s := &script{plans: []plan.Plan{measure, convergedPlan}, promoteErr: int(shortOptions.RetryPolicy.MaximumAttempts)}
	e := newEnv(t, s)
	if _, err := runCycle(t, e, cycleInput(settings())); err == nil {
		t.Fatal("the cycle succeeded although routing back failed")
	}
	calls := s.called()
	if !strings.HasSuffix(calls, "promote "+allRemoteText+"\nretire "+mem.String()) {
		t.Errorf("the failed cycle did not route back and retire the measured setup:\n%s", calls)
	}
}

// TestPlannerRunsToItsEnd: the planner asks for more measurement rounds than a cycle may run.
// Catches the old cycle, which reported the round limit as "converged" (so the optimizer
// stopped, or waited an hour): the cycle must end unfinished and the optimizer go on at once
// until the planner itself converges.
func TestPlannerRunsToItsEnd(t *testing.T) {
	mem := fusion.MustParseSetup("A@512,B@512,C@512")
	measure := plan.Plan{Planner: "fusionize++", Measurements: []plan.MeasurementRequest{{Setup: mem, Requests: 10, Reason: "memory step"}}}
	s := &script{plans: []plan.Plan{measure, measure, convergedPlan}}
	e := newEnv(t, s)
	in := optimizerInput()
	in.Settings.MaxMeasurementRounds = 1
	in.RecheckInterval = 24 * time.Hour
	e.ExecuteWorkflow(OptimizerWorkflow, in)
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Cycles != 2 || !res.Converged || res.Records[0].Outcome != Unfinished || res.Records[1].Outcome != Converged {
		t.Fatalf("result: %d cycles, converged %t, records %+v", res.Cycles, res.Converged, res.Records)
	}
	if gap := res.Records[1].Started.Sub(res.Records[0].Ended); gap > time.Minute {
		t.Errorf("the next cycle started %v after the unfinished one, want at once", gap)
	}
}

// TestInfeasibleIsNotConverged: no setup satisfies the constraints. Catches an optimizer that
// reports it as converged: it must end (StopWhenConverged) infeasible, not converged, and
// say so in its status.
func TestInfeasibleIsNotConverged(t *testing.T) {
	s := &script{plans: []plan.Plan{{Planner: "model", Converged: true, Infeasible: true, Reason: "no setup satisfies the constraints"}}}
	e := newEnv(t, s)
	e.ExecuteWorkflow(OptimizerWorkflow, optimizerInput())
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Converged || !res.Infeasible || res.Records[0].Outcome != Infeasible {
		t.Fatalf("result: converged %t, infeasible %t, records %+v", res.Converged, res.Infeasible, res.Records)
	}
	v, err := e.QueryWorkflow(QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := v.Get(&st); err != nil || st.Phase != PhaseInfeasible || !st.Infeasible || st.Converged {
		t.Errorf("status %+v %v, want phase infeasible", st, err)
	}
}

func TestCycleInvalidSettings(t *testing.T) {
	e := newEnv(t, &script{plans: []plan.Plan{convergedPlan}})
	in := cycleInput(settings())
	in.Settings.Canary.Weights = []float64{0.5, 0.2}
	_, err := runCycle(t, e, in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrInvalidInput || !appErr.NonRetryable() {
		t.Fatalf("error %v", err)
	}
}

func optimizerInput() OptimizerInput {
	return OptimizerInput{Settings: settings(), Initial: fusion.MustParseSetup(allRemote), StopWhenConverged: true}
}

func TestOptimizerConverges(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused), convergedPlan}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
	e := newEnv(t, s)
	e.ExecuteWorkflow(OptimizerWorkflow, optimizerInput())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if !res.Converged || res.Cycles != 2 || res.Current.Setup.ID() != dep(fused).Setup.ID() {
		t.Fatalf("result %+v", res)
	}
	if len(res.Records) != 2 || res.Records[0].Outcome != Promoted || res.Records[1].Outcome != Converged {
		t.Fatalf("records %+v", res.Records)
	}
	v, err := e.QueryWorkflow(QueryHistory)
	if err != nil {
		t.Fatal(err)
	}
	var hist []CycleRecord
	if err := v.Get(&hist); err != nil || len(hist) != 2 {
		t.Fatalf("history %+v %v", hist, err)
	}
	wantCalls(t, s, "deploy "+allRemoteText, "promote "+allRemoteText, "retire orphans but "+allRemoteText,
		"plan "+allRemoteText, "deploy "+fusedText,
		"route "+fusedText+" 0.1", "judge "+fusedText+": pass",
		"route "+fusedText+" 0.5", "judge "+fusedText+": pass",
		"promote "+fusedText, "retire "+allRemoteText,
		"plan "+fusedText)
}

// TestOptimizerAdoptsLive starts an optimizer of an app that already serves the fused setup
// (left by an aborted optimizer). Catches an optimizer that decides "nothing deployed yet"
// from workflow state alone: it would deploy the initial all-remote setup and promote it to
// all traffic with no canary, orphaning the fused setup.
func TestOptimizerAdoptsLive(t *testing.T) {
	s := &script{plans: []plan.Plan{convergedPlan}, live: fused}
	e := newEnv(t, s)
	e.ExecuteWorkflow(OptimizerWorkflow, optimizerInput())
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Current.Setup.ID() != dep(fused).Setup.ID() {
		t.Errorf("current %s, want the live %s", res.Current.Setup, fusedText)
	}
	wantCalls(t, s, "adopt "+fusedText, "retire orphans but "+fusedText, "plan "+fusedText)
}

func TestOptimizerWatchesAfterConvergence(t *testing.T) {
	s := &script{plans: []plan.Plan{convergedPlan}}
	e := newEnv(t, s)
	in := optimizerInput()
	in.StopWhenConverged = false
	in.RecheckInterval = time.Hour
	in.MaxCycles = 3
	e.ExecuteWorkflow(OptimizerWorkflow, in)
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Cycles != 3 || !res.Converged {
		t.Fatalf("result %+v", res)
	}
	if n := strings.Count(s.called(), "plan "); n != 3 {
		t.Errorf("planned %d times, want 3", n)
	}
}

func TestOptimizerContinuesAsNew(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Fail, false)}}
	e := newEnv(t, s)
	in := optimizerInput()
	in.CyclesPerRun = 2
	e.ExecuteWorkflow(OptimizerWorkflow, in)
	err := e.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("error %v, want continue as new", err)
	}
	var next OptimizerInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.State == nil || next.State.Cycles != 2 || len(next.State.Records) != 2 || next.State.Current.Setup.ID() != dep(allRemote).Setup.ID() {
		t.Fatalf("carried state %+v", next.State)
	}
	if len(next.State.History) != 2 {
		t.Errorf("trials carried %+v", next.State.History)
	}
}

func TestOptimizerUpdates(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}, observeFor: time.Minute}
	e := newEnv(t, s)
	in := optimizerInput()
	in.Settings.Canary.RequireApproval = true
	update := func(name string, wantErr bool) {
		e.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) {
				if !wantErr {
					t.Errorf("%s rejected: %v", name, err)
				}
			},
			OnAccept: func() {
				if wantErr {
					t.Errorf("%s accepted", name)
				}
			},
			OnComplete: func(any, error) {},
		}, "test")
	}
	status := func() Status {
		v, err := e.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		var st Status
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	e.RegisterDelayedCallback(func() { update(UpdateApprove, true) }, 10*time.Second) // nothing to approve yet
	e.RegisterDelayedCallback(func() { update(UpdatePause, false) }, 30*time.Second)
	e.RegisterDelayedCallback(func() {
		if st := status(); !st.Paused || st.Phase != PhasePaused {
			t.Errorf("status while paused %+v", st)
		}
		update(UpdateResume, false)
	}, time.Hour)
	e.RegisterDelayedCallback(func() {
		if st := status(); st.Phase != PhaseAwaitingApproval || st.Candidate.ID() != dep(fused).Setup.ID() {
			t.Errorf("status before approval %+v", st)
		}
		update(UpdateApprove, false)
	}, 3*time.Hour)
	e.ExecuteWorkflow(OptimizerWorkflow, in)
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Current.Setup.ID() != dep(fused).Setup.ID() || !res.Converged {
		t.Fatalf("result %+v", res)
	}
}

func TestOptimizerAbort(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}, observeFor: time.Minute}
	e := newEnv(t, s)
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateAbort, "", &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) },
			OnAccept: func() {}, OnComplete: func(any, error) {}}, "enough")
	}, 150*time.Second)
	e.ExecuteWorkflow(OptimizerWorkflow, optimizerInput())
	var res OptimizerResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if !res.Aborted || res.Current.Setup.ID() != dep(allRemote).Setup.ID() || len(res.Records) != 1 || res.Records[0].Outcome != Aborted {
		t.Fatalf("result %+v", res)
	}
	if !strings.HasSuffix(s.called(), "promote "+allRemoteText+"\nretire "+fusedText) {
		t.Errorf("abort did not roll back:\n%s", s.called())
	}
}

// TestCycleDigests: with observations that carry digests, each Observe of a window goes on
// from the last one's state (an extension from the step's, wanting new samples beyond the
// ones seen), the judge gets the step's digest instead of reading logs, and the planner's
// digests are one per window — an extension's replacing its step's. It catches chunks that
// read their window again, a judge reading logs, and a step counted twice by the planner.
func TestCycleDigests(t *testing.T) {
	inc, pass := verdict(judge.Inconclusive, false), verdict(judge.Pass, true)
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{inc, pass}, digests: true}
	e := newEnv(t, s)
	in := cycleInput(settings())
	in.Settings.Canary.OnInconclusive = Extend
	res, err := runCycle(t, e, in)
	if err != nil || res.Outcome != Promoted {
		t.Fatalf("outcome %s %v, want promoted", res.Outcome, err)
	}
	// Observe calls: collect 1, 2; step 1: 3, 4; its extension: 5; step 2: 6, 7.
	var froms, judged []int
	before := 0
	for _, x := range s.inputs {
		switch in := x.(type) {
		case activities.ObserveInput:
			n := 0
			if in.From != nil {
				n = in.From.Digest.Invocations
			}
			froms = append(froms, n)
			before += len(in.Before)
		case activities.JudgeInput:
			if in.Digest == nil {
				t.Fatal("the judge got no digest")
			}
			judged = append(judged, in.Digest.Invocations)
		case activities.PlanInput:
			if len(in.Windows) != 0 {
				t.Errorf("the planner reads %d windows", len(in.Windows))
			}
		}
	}
	if want := []int{0, 1, 0, 3, 4, 0, 6}; !slices.Equal(froms, want) {
		t.Errorf("Observe went on from the states of calls %v, want %v", froms, want)
	}
	if before != 2 { // the extension wants new samples of both arms beyond those seen
		t.Errorf("%d counts seen before given to Observe, want the extension's 2", before)
	}
	if want := []int{4 + 1, 5 + 1, 7 + 1}; !slices.Equal(judged, want) {
		t.Errorf("judged digests of %v invocations, want %v (each step's last state and its pending traces)", judged, want)
	}
	var kept []int
	for _, d := range res.Digests {
		kept = append(kept, d.Invocations)
	}
	if want := []int{2 + 1, 5 + 1, 7 + 1}; !slices.Equal(kept, want) || len(res.Windows) != 0 {
		t.Errorf("digests kept for the planner %v (windows %d), want %v", kept, len(res.Windows), want)
	}
}
