package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

// phaseRun is what running one phase of a cycle alone gave.
type phaseRun struct {
	Outcome   Outcome               `json:"outcome,omitempty"` // of the *stop it returned
	Reason    string                `json:"reason,omitempty"`
	Err       string                `json:"err,omitempty"` // another error
	Record    CycleRecord           `json:"record"`
	Candidate activities.Deployment `json:"candidate"` // the cycle's deployed candidate after it
	Current   activities.Deployment `json:"current"`   // a promotion's live deployment
	Plan      plan.Plan             `json:"plan"`
	Verdict   activities.Verdict    `json:"verdict"`
	Digests   int                   `json:"digests"`
	Windows   int                   `json:"windows"`
}

// phaseInput names a phase and what it gets.
type phaseInput struct {
	Phase string     `json:"phase"`
	Cycle CycleInput `json:"cycle"`
	Plan  plan.Plan  `json:"plan"` // choose's input
}

// phaseWorkflow runs one phase of a cycle alone, on the cycle's state newCycle makes.
func phaseWorkflow(ctx workflow.Context, in phaseInput) (phaseRun, error) {
	c, err := newCycle(ctx, in.Cycle)
	if err != nil {
		return phaseRun{}, err
	}
	cur := c.input.Current
	cand := plan.Candidate{Setup: dep(fused).Setup}
	var out phaseRun
	switch in.Phase {
	case "collect":
		err = c.collect(cur)
	case "plan":
		out.Plan, err = c.plan(cur)
	case "deploy":
		_, err = c.deploy(cand)
	case "canary":
		out.Verdict, _, err = c.canary(cur, dep(fused))
	case "awaitApproval":
		err = c.awaitApproval()
	case "promote":
		c.candidate = dep(fused)
		err = c.promote(cur, dep(fused), cand, verdict(judge.Pass, true))
	}
	var s *stop
	switch {
	case errors.As(err, &s):
		out.Outcome, out.Reason, out.Current = s.outcome, s.reason, s.current
	case err != nil:
		out.Err = err.Error()
	}
	out.Record, out.Candidate, out.Digests, out.Windows = c.rec, c.candidate, len(c.digests), len(c.windows)
	return out, nil
}

func runPhase(t *testing.T, s *script, in phaseInput) phaseRun {
	t.Helper()
	e := newEnv(t, s)
	e.RegisterWorkflowWithOptions(phaseWorkflow, workflow.RegisterOptions{Name: "phase"})
	e.ExecuteWorkflow("phase", in)
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() != nil {
		t.Fatalf("phase %s: %v", in.Phase, e.GetWorkflowError())
	}
	var out phaseRun
	if err := e.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPhaseCollect catches a collection that does not record the baseline's observed
// metrics or keep its window for the planner.
func TestPhaseCollect(t *testing.T) {
	s := &script{}
	out := runPhase(t, s, phaseInput{Phase: "collect", Cycle: cycleInput(settings())})
	if out.Err != "" || out.Outcome != "" || out.Record.BaselineObserved.MedianMS != 200 || out.Windows+out.Digests != 1 {
		t.Errorf("collect: %+v", out)
	}
	if strings.Contains(s.called(), "deploy") {
		t.Errorf("collecting deployed something:\n%s", s.called())
	}
}

// TestPhasePlan catches a planning phase that does not run the measurements the planner
// asks for before planning again, or runs more rounds than MaxMeasurementRounds.
func TestPhasePlan(t *testing.T) {
	measure := plan.Plan{Planner: "model", Reason: "measure first",
		Measurements: []plan.MeasurementRequest{{Setup: fusion.MustParseSetup(fused), Requests: 10, Reason: "try"}}}
	s := &script{plans: []plan.Plan{measure, candidatePlan(fused)}}
	in := cycleInput(settings())
	in.Settings.MaxMeasurementRounds = 1
	out := runPhase(t, s, phaseInput{Phase: "plan", Cycle: in})
	if out.Err != "" || len(out.Plan.Candidates) != 1 || out.Record.Measurements != 1 {
		t.Errorf("plan: %+v", out)
	}
	if got := strings.Count(s.called(), "plan "); got != 2 {
		t.Errorf("planned %d times, want 2 (before and after the measurement):\n%s", got, s.called())
	}
	if !strings.Contains(s.called(), "deploy "+fusedText) || !strings.Contains(s.called(), "retire "+fusedText) {
		t.Errorf("the measured setup was not deployed and retired:\n%s", s.called())
	}
}

// TestPhaseChoose catches a choice that deploys when the plan is infeasible, converged or
// unfinished, or when its best candidate is the current setup.
func TestPhaseChoose(t *testing.T) {
	cur := dep(allRemote)
	for _, tc := range []struct {
		name string
		p    plan.Plan
		want Outcome
	}{
		{"infeasible", plan.Plan{Infeasible: true, Reason: "no setup"}, Infeasible},
		{"converged", convergedPlan, Converged},
		{"unfinished", plan.Plan{Reason: "more measurements"}, Unfinished},
		{"the current setup", candidatePlan(allRemote), Converged},
		{"a candidate", candidatePlan(fused), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cycle{}
			cand, err := c.choose(tc.p, cur)
			var s *stop
			switch {
			case tc.want == "" && (err != nil || cand.Setup.ID() != dep(fused).Setup.ID() || c.st.Candidate.IsZero()):
				t.Errorf("choose: %+v %v, candidate in status %s", cand, err, c.st.Candidate)
			case tc.want != "" && (!errors.As(err, &s) || s.outcome != tc.want):
				t.Errorf("choose: %v, want %s", err, tc.want)
			}
		})
	}
}

// TestPhaseDeploy catches a failed deployment that is not cleaned up or does not end the
// cycle as deploy-failed, and a deployment that does not keep its candidate for rollback.
func TestPhaseDeploy(t *testing.T) {
	out := runPhase(t, &script{}, phaseInput{Phase: "deploy", Cycle: cycleInput(settings())})
	if out.Outcome != "" || out.Candidate.Setup.ID() != dep(fused).Setup.ID() {
		t.Errorf("deploy: %+v", out)
	}
	s := &script{deployErr: errors.New("no capacity")}
	out = runPhase(t, s, phaseInput{Phase: "deploy", Cycle: cycleInput(settings())})
	if out.Outcome != DeployFailed || !strings.Contains(s.called(), "retire "+fusedText) {
		t.Errorf("failed deploy: %+v\n%s", out, s.called())
	}
}

// TestPhaseCanary catches a canary that goes on to a later step after a step the policy did
// not accept, or that promotes without the acceptance.
func TestPhaseCanary(t *testing.T) {
	s := &script{verdicts: []activities.Verdict{verdict(judge.Fail, false)}}
	out := runPhase(t, s, phaseInput{Phase: "canary", Cycle: cycleInput(settings())})
	if out.Outcome != RolledBack || strings.Count(s.called(), "route ") != 1 {
		t.Errorf("canary: %+v\n%s", out, s.called())
	}
	s = &script{verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
	out = runPhase(t, s, phaseInput{Phase: "canary", Cycle: cycleInput(settings())})
	if out.Outcome != "" || !out.Verdict.Accepted || strings.Count(s.called(), "route ") != 2 {
		t.Errorf("passing canary: %+v\n%s", out, s.called())
	}
}

// TestPhaseInconclusive catches an inconclusive verdict that extends beyond MaxExtensions,
// or rolls back at once under the extend policy.
func TestPhaseInconclusive(t *testing.T) {
	in := cycleInput(settings())
	in.Settings.Canary.Weights = []float64{0.5}
	in.Settings.Canary.OnInconclusive, in.Settings.Canary.MaxExtensions = Extend, 2
	s := &script{verdicts: []activities.Verdict{verdict(judge.Inconclusive, false)}}
	out := runPhase(t, s, phaseInput{Phase: "canary", Cycle: in})
	if out.Outcome != RolledBack || strings.Count(s.called(), "judge ") != 3 || !strings.Contains(out.Reason, "after 2 extensions") {
		t.Errorf("inconclusive: %+v\n%s", out, s.called())
	}
}

// TestPhaseAwaitApproval catches a promotion gate that lets a candidate through without an
// approval, or waits past its timeout.
func TestPhaseAwaitApproval(t *testing.T) {
	in := cycleInput(settings())
	in.Settings.Canary.RequireApproval, in.Settings.Canary.ApprovalTimeout = true, time.Hour
	out := runPhase(t, &script{}, phaseInput{Phase: "awaitApproval", Cycle: in})
	if out.Outcome != RolledBack || !strings.Contains(out.Reason, "no approval within 1h0m0s") {
		t.Errorf("await approval: %+v", out)
	}
	in.Settings.Canary.RequireApproval = false
	if out := runPhase(t, &script{}, phaseInput{Phase: "awaitApproval", Cycle: in}); out.Outcome != "" || out.Err != "" {
		t.Errorf("no approval required: %+v", out)
	}
}

// TestPhasePromote catches a promotion that does not make the candidate live, does not
// retire the old setup, or ends as promoted when routing failed.
func TestPhasePromote(t *testing.T) {
	s := &script{}
	out := runPhase(t, s, phaseInput{Phase: "promote", Cycle: cycleInput(settings())})
	if out.Outcome != Promoted || out.Current.Setup.ID() != dep(fused).Setup.ID() || !out.Candidate.Setup.IsZero() {
		t.Errorf("promote: %+v", out)
	}
	if want := "promote " + fusedText + "\nretire " + allRemoteText; !strings.Contains(s.called(), want) {
		t.Errorf("calls:\n%s\nwant %q", s.called(), want)
	}
	s = &script{promoteErr: 100}
	if out := runPhase(t, s, phaseInput{Phase: "promote", Cycle: cycleInput(settings())}); out.Outcome != RolledBack || strings.Contains(s.called(), "retire") {
		t.Errorf("failed promotion: %+v\n%s", out, s.called())
	}
}
