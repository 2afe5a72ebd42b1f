package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

// observeChunks is how many Observe activities a canary step or a collection is split into,
// so that the status shows samples as they come and an abort is quick.
const observeChunks = 4

// errAborted ends a cycle's work when an abort arrived.
var errAborted = errors.New("aborted")

type cycle struct {
	in      Settings
	input   CycleInput
	root    workflow.Context // the workflow's own context
	ctx     workflow.Context // cancelled on abort
	cancel  workflow.CancelFunc
	st      Status
	rec     CycleRecord
	paused  bool
	aborted bool
	// gate is the approval gate that is open ("" when none) and approval the gate an
	// approval arrived for: an approval applies to one gate of one cycle, never later ones.
	gate     string
	approval string
	parent   *workflow.Execution
	trials   []plan.Trial
	digests  []fusion.Digest     // of the traces observed, for the planner
	windows  []activities.Window // observed without a digest (histories recorded before)
	// stepDigest is 1 + the index in digests of the current canary step's digest, which an
	// extension replaces with its own (it holds the step's traces so far); 0 when none.
	stepDigest int
	// candidate is the deployed candidate or measured setup, kept for rollback.
	candidate activities.Deployment
}

// Cycle is one optimization cycle of an app: collect, plan, deploy, canary, judge, promote or
// roll back, record. It never leaves the app without a live setup: a failed deployment or
// canary, an abort or a cancellation routes every request back to the current setup and
// retires what the cycle deployed.
func Cycle(ctx workflow.Context, in CycleInput) (CycleResult, error) {
	c, err := newCycle(ctx, in)
	if err != nil {
		return CycleResult{}, err
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return c.st, nil }); err != nil {
		return CycleResult{}, err
	}
	workflow.Go(ctx, c.receiveControls)

	res, err := c.run()
	if err != nil && (temporal.IsCanceledError(err) || errors.Is(err, errAborted)) && !c.aborted {
		// The workflow itself was cancelled: clean up, then report the cancellation.
		res = c.finish(c.abortCleanup(res.Current))
		return res, err
	}
	if err != nil {
		c.cleanupAfterFailure()
		return CycleResult{}, err
	}
	return res, nil
}

// newCycle validates the input's settings and makes the cycle's state.
func newCycle(ctx workflow.Context, in CycleInput) (*cycle, error) {
	s := withCollectDefault(ctx, in.Settings).WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("cycle settings: %v", err), activities.ErrInvalidInput, nil)
	}
	c := &cycle{in: s, input: in, root: ctx}
	c.ctx, c.cancel = workflow.WithCancel(ctx)
	if info := workflow.GetInfo(ctx); info.ParentWorkflowExecution != nil {
		c.parent = info.ParentWorkflowExecution
	}
	now := workflow.Now(ctx)
	c.st = Status{App: s.App, Cycle: in.Cycle, Current: in.Current.Setup, Updated: now}
	c.rec = CycleRecord{Cycle: in.Cycle, Started: now, Baseline: in.Current.Setup, Planner: s.Planner}
	return c, nil
}

// cleanupAfterFailure leaves only what serves when a cycle fails: every request goes back to
// the current setup, and a deployed candidate or measured setup is retired.
func (c *cycle) cleanupAfterFailure() {
	if c.candidate.Setup.IsZero() && c.st.Candidate.IsZero() {
		return
	}
	ctx := c.cleanupCtx()
	cur := c.input.Current
	if err := promoteActivity.run(ctx, shortOptions, cur); err != nil {
		workflow.GetLogger(c.root).Error("route back to the current setup failed", "setup", cur.Setup.ID(), "error", err)
		return // what still takes traffic cannot be retired; the optimizer retires orphans later
	}
	d := c.candidate
	if d.Setup.IsZero() {
		d = c.planned(c.st.Candidate)
	}
	if d.Setup.ID() != cur.Setup.ID() {
		c.retire(ctx, d)
	}
	c.candidate = activities.Deployment{}
	c.st.Candidate = fusion.Setup{}
}

func (c *cycle) receiveControls(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalControl)
	for {
		var ctl Control
		ch.Receive(ctx, &ctl)
		c.apply(ctl)
	}
}

func (c *cycle) apply(ctl Control) {
	switch ctl.Action {
	case UpdatePause:
		c.paused = true
	case UpdateResume:
		c.paused = false
	case UpdateApprove:
		if c.gate != "" {
			c.approval = c.gate
			c.paused = false
		}
	case UpdateAbort:
		if !c.aborted {
			c.aborted = true
			c.rec.Reason = "aborted: " + ctl.Reason
			c.cancel()
		}
	}
	c.report()
}

// openGate opens an approval gate: from now until closeGate, an approval applies to it.
func (c *cycle) openGate(gate string) {
	c.gate, c.approval = gate, ""
	c.st.Gate = gate
}

// closeGate closes the gate and reports whether it was approved.
func (c *cycle) closeGate(gate string) bool {
	approved := c.approval == gate
	c.gate, c.approval = "", ""
	c.st.Gate = ""
	return approved
}

// setPhase records the phase, upserts the search attribute and tells the parent.
func (c *cycle) setPhase(p Phase, msg string) {
	c.st.Phase = p
	c.st.Message = msg
	setDetails(c.root, c.in, &c.st)
	c.report()
}

// report sends the status to the parent optimizer, if any.
func (c *cycle) report() {
	c.st.Paused = c.paused
	c.st.Updated = workflow.Now(c.root)
	c.st.Seq++
	if c.parent != nil {
		// Fire and forget: a parent that is gone has nobody to tell.
		workflow.SignalExternalWorkflow(c.root, c.parent.ID, "", SignalProgress, c.st)
	}
}

// checkpoint waits while paused; it returns errAborted after an abort.
func (c *cycle) checkpoint() error {
	if c.aborted {
		return errAborted
	}
	if !c.paused {
		return nil
	}
	prev, msg := c.st.Phase, c.st.Message
	c.setPhase(PhasePaused, "paused during "+string(prev))
	if err := workflow.Await(c.root, func() bool { return !c.paused || c.aborted }); err != nil {
		return err
	}
	if c.aborted {
		return errAborted
	}
	c.setPhase(prev, msg)
	return nil
}

// exec runs an activity on the cancellable context with options o; after an abort its
// error is errAborted.
func exec[I, O any](c *cycle, a activityCall[I, O], o workflow.ActivityOptions, in I) (O, error) {
	out, err := a.run(c.ctx, o, in)
	if err != nil && c.aborted {
		return out, errAborted
	}
	return out, err
}

// execAction is exec for an activity without a result.
func execAction[I any](c *cycle, a actionCall[I], o workflow.ActivityOptions, in I) error {
	err := a.run(c.ctx, o, in)
	if err != nil && c.aborted {
		return errAborted
	}
	return err
}

// cleanupCtx is a context that still runs activities after an abort or cancellation.
func (c *cycle) cleanupCtx() workflow.Context {
	ctx, _ := workflow.NewDisconnectedContext(c.root)
	return workflow.WithActivityOptions(ctx, shortOptions)
}

// heartbeatTimeout is how long an activity may go without a heartbeat before Temporal
// retries it, on another worker if need be: a worker killed mid-activity costs this long,
// not minutes. Activities heartbeat every activities.HeartbeatInterval.
const heartbeatTimeout = 15 * time.Second

var (
	// shortOptions are for calls that take milliseconds (route, promote): a killed worker
	// costs their start-to-close timeout.
	shortOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 10},
	}
	deployOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 3},
	}
	retireOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 5},
	}
	planOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 5},
	}
)

func observeOptions(maxWait time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: maxWait + 5*time.Minute,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 5},
	}
}

func (c *cycle) finish(res CycleResult) CycleResult {
	c.rec.Outcome = res.Outcome
	c.rec.Ended = workflow.Now(c.root)
	res.Record = c.rec
	res.Trials = c.trials
	res.Digests = c.digests
	res.Windows = c.windows
	c.st.Candidate = fusion.Setup{}
	c.st.Current = res.Current.Setup
	c.st.Converged = res.Outcome == Converged
	phase := PhaseDone
	if res.Outcome == Aborted {
		phase = PhaseAborted
	}
	c.setPhase(phase, fmt.Sprintf("cycle %d %s", c.input.Cycle, res.Outcome))
	m := metricsFor(c.root, c.in.App)
	m.WithTags(map[string]string{"outcome": string(res.Outcome)}).Counter(MetricCycles).Inc(1)
	switch res.Outcome {
	case Promoted:
		m.Counter(MetricPromotions).Inc(1)
	case RolledBack:
		m.Counter(MetricRollbacks).Inc(1)
	}
	return res
}

// abortCleanup routes everything back to the current setup and retires a deployed candidate.
func (c *cycle) abortCleanup(cur activities.Deployment) CycleResult {
	c.setPhase(PhaseRollingBack, "aborted")
	ctx := c.cleanupCtx()
	if !c.st.Candidate.IsZero() {
		c.rollbackWith(ctx)
	}
	if c.rec.Reason == "" {
		c.rec.Reason = "aborted"
	}
	return CycleResult{Outcome: Aborted, Current: cur}
}

// stop ends a cycle before its last phase, or after it (Promoted): every phase returns nil
// to go on, a *stop to end the cycle with an outcome, or another error (errAborted, a
// cancellation, a workflow failure) for end to handle.
type stop struct {
	outcome Outcome
	reason  string
	current activities.Deployment // the live deployment after a promotion
}

func (s *stop) Error() string { return fmt.Sprintf("cycle %s: %s", s.outcome, s.reason) }

// ended ends the cycle with outcome o; a RolledBack one rolls the candidate back first.
func ended(o Outcome, reason string) error { return &stop{outcome: o, reason: reason} }

// run runs the phases in order and turns how they ended into the cycle's result.
func (c *cycle) run() (CycleResult, error) {
	cur := c.input.Current
	return c.end(cur, c.phases(cur))
}

func (c *cycle) phases(cur activities.Deployment) error {
	if err := c.collect(cur); err != nil {
		return err
	}
	p, err := c.plan(cur)
	if err != nil {
		return err
	}
	cand, err := c.choose(p, cur)
	if err != nil {
		return err
	}
	dep, err := c.deploy(cand)
	if err != nil {
		return err
	}
	v, promoteNow, err := c.canary(cur, dep)
	if err != nil {
		return err
	}
	if !promoteNow {
		if err := c.awaitApproval(); err != nil {
			return err
		}
	}
	return c.promote(cur, dep, cand, v)
}

// end finishes the cycle after the phases returned err: a *stop gives the outcome (rolling
// back first when it is RolledBack), an abort cleans up, anything else fails the workflow.
func (c *cycle) end(cur activities.Deployment, err error) (CycleResult, error) {
	res := CycleResult{Current: cur}
	var s *stop
	switch {
	case errors.As(err, &s) && s.outcome == RolledBack:
		return c.rollback(res, s.reason)
	case errors.As(err, &s):
		if s.reason != "" {
			c.rec.Reason = s.reason
		}
		if !s.current.Setup.IsZero() {
			res.Current = s.current
		}
		res.Outcome = s.outcome
		return c.finish(res), nil
	case errors.Is(err, errAborted) || (c.aborted && temporal.IsCanceledError(err)):
		return c.finish(c.abortCleanup(cur)), nil
	default:
		return res, err
	}
}

// collect observes the current setup's traffic.
func (c *cycle) collect(cur activities.Deployment) error {
	if err := c.checkpoint(); err != nil {
		return err
	}
	c.setPhase(PhaseCollecting, fmt.Sprintf("observing %d requests of the current setup", c.in.Collect.MinRequests))
	obs, err := c.observe([]activities.Deployment{cur}, c.in.Collect.MinRequests, c.in.Collect.Window, nil)
	if err != nil {
		return err
	}
	c.keep(obs.Window, obs)
	c.rec.BaselineObserved = obs.Setup(cur.Setup.ID()).Metrics
	return nil
}

// plan asks the planner, running the measurements it asks for first, up to
// MaxMeasurementRounds times.
func (c *cycle) plan(cur activities.Deployment) (plan.Plan, error) {
	for round := 0; ; round++ {
		if err := c.checkpoint(); err != nil {
			return plan.Plan{}, err
		}
		c.setPhase(PhasePlanning, "planning with "+c.in.Planner)
		in := activities.PlanInput{App: c.in.App, Graph: c.in.Graph, Current: cur.Setup,
			Digests: append(last(c.input.Digests, MaxWindows), c.digests...),
			Windows: append(last(c.input.Windows, MaxWindows), c.windows...), Policy: c.in.Policy, Planner: c.in.Planner,
			History: append(last(c.input.History, MaxTrials), c.trials...), MemorySizes: c.in.MemorySizes, Seed: c.input.Seed + uint64(round), Prices: c.in.Prices,
			WindowRequests: canaryRequests(c.in.Canary), MaxSlowdown: c.in.Canary.Judge.MaxSlowdown}
		p, err := exec(c, planActivity, planOptions, in)
		if err != nil {
			return p, err
		}
		c.rec.PlanReason = p.Reason
		if len(p.Measurements) == 0 || round >= c.in.MaxMeasurementRounds {
			return p, nil
		}
		for _, m := range p.Measurements {
			if err := c.measure(cur, m); err != nil {
				return p, err
			}
		}
	}
}

// choose takes the plan's best candidate, or ends the cycle as converged.
func (c *cycle) choose(p plan.Plan, cur activities.Deployment) (plan.Candidate, error) {
	if p.Current != nil {
		c.rec.BaselinePredicted = p.Current.Metrics
	}
	c.rec.Front = p.Front
	switch {
	case p.Infeasible:
		return plan.Candidate{}, ended(Infeasible, "no setup satisfies the constraints: "+p.Reason)
	case p.Converged:
		return plan.Candidate{}, ended(Converged, p.Reason)
	case len(p.Candidates) == 0:
		// The planner needs more measurements than one cycle may run: it goes on in the
		// next cycle, which the optimizer starts at once.
		return plan.Candidate{}, ended(Unfinished, fmt.Sprintf("the planner goes on next cycle after %d measurement rounds: %s", c.in.MaxMeasurementRounds, p.Reason))
	}
	cand := p.Candidates[0]
	c.rec.Candidate, c.rec.Predicted = cand.Setup, cand.Predicted.Metrics
	if cand.Setup.ID() == cur.Setup.ID() {
		return cand, ended(Converged, "the best candidate is the current setup")
	}
	c.st.Candidate = cand.Setup
	return cand, nil
}

// deploy deploys the candidate; a failed deploy cleans up and ends the cycle.
func (c *cycle) deploy(cand plan.Candidate) (activities.Deployment, error) {
	if err := c.checkpoint(); err != nil {
		return activities.Deployment{}, err
	}
	c.setPhase(PhaseDeploying, "deploying "+c.rec.Candidate.String())
	dep, err := exec(c, deployActivity, deployOptions, activities.DeployInput{App: c.in.App, Graph: c.in.Graph, Arch: c.in.Arch, Setup: cand.Setup})
	if err != nil {
		if c.aborted {
			return dep, errAborted
		}
		// Clean up whatever was made; the current setup keeps serving. The candidate enters
		// the history as a canary that was not promoted, so that the planner does not propose
		// it again at once (the next cycle starts without a pause: a candidate that cannot be
		// deployed would be deployed in a loop).
		c.retire(c.cleanupCtx(), c.planned(cand.Setup))
		c.st.Candidate = fusion.Setup{}
		c.trials = append(c.trials, plan.Trial{Setup: cand.Setup, Kind: plan.Canary, Predicted: cand.Predicted.Metrics, Verdict: string(DeployFailed)})
		return dep, ended(DeployFailed, fmt.Sprintf("deploy %s: %s", cand.Setup.ID(), errText(err)))
	}
	c.candidate = dep
	return dep, nil
}

// canary runs the canary steps; it returns the last step's verdict, which the policy
// accepted, and promoteNow when a human approved promotion at a step's gate.
func (c *cycle) canary(cur, dep activities.Deployment) (v activities.Verdict, promoteNow bool, err error) {
	for step, w := range c.in.Canary.Weights {
		if v, promoteNow, err = c.canaryStep(step, w, cur, dep); err != nil {
			return v, false, err
		}
		if !v.Accepted {
			return v, false, ended(RolledBack, v.Reason)
		}
		if promoteNow {
			break // a human approved promotion at this step's gate: skip the remaining steps
		}
	}
	if !v.Accepted {
		return v, false, ended(RolledBack, v.Reason) // no step ran
	}
	return v, promoteNow, nil
}

// canaryStep routes the share w of requests to the candidate and observes until the judge
// decides, or the policy for inconclusive verdicts gives up; promoteNow is true when a
// human approved promotion at the step's gate.
func (c *cycle) canaryStep(step int, w float64, cur, dep activities.Deployment) (v activities.Verdict, promoteNow bool, err error) {
	c.st.Step, c.st.Weight = step+1, w
	c.st.StableSamples, c.st.CanarySamples = 0, 0
	if err := c.checkpoint(); err != nil {
		return v, false, err
	}
	c.setPhase(PhaseCanary, fmt.Sprintf("step %d: %.0f %% of requests on the candidate", step+1, 100*w))
	if err := execAction(c, routeActivity, shortOptions, activities.RouteInput{Stable: cur, Canary: dep, Weight: w}); err != nil {
		if c.aborted {
			return v, false, errAborted
		}
		return v, false, ended(RolledBack, fmt.Sprintf("route: %v", err))
	}
	start := workflow.Now(c.root)
	var seen *activities.Observation // what the step observed so far, across extensions
	c.stepDigest = 0
	for ext := 0; ; ext++ {
		if v, seen, err = c.observeStep(cur, dep, start, seen); err != nil {
			if errors.Is(err, errAborted) || c.aborted {
				return v, false, errAborted
			}
			return v, false, ended(RolledBack, fmt.Sprintf("canary step %d: %v", step+1, err))
		}
		if v.Outcome != judge.Inconclusive {
			return v, false, nil
		}
		metricsFor(c.root, c.in.App).Counter(MetricInconclusive).Inc(1)
		var again bool
		if again, promoteNow, err = c.inconclusive(step, ext, &v); err != nil || !again {
			return v, promoteNow, err
		}
	}
}

// inconclusive applies the policy to an inconclusive verdict v of a step after ext
// extensions: observe again (again), end the step with v (neither; or promoteNow when a
// human approved at the step's gate, which makes v a pass), or end the cycle (an error).
func (c *cycle) inconclusive(step, ext int, v *activities.Verdict) (again, promoteNow bool, err error) {
	switch c.in.Canary.OnInconclusive {
	case Rollback:
		return false, false, ended(RolledBack, "inconclusive: "+v.Reason)
	case Extend:
		if ext >= c.in.Canary.MaxExtensions {
			return false, false, ended(RolledBack, fmt.Sprintf("inconclusive after %d extensions: %s", ext, v.Reason))
		}
		c.setPhase(PhaseCanary, fmt.Sprintf("step %d inconclusive, extending (%d of %d)", step+1, ext+1, c.in.Canary.MaxExtensions))
		return true, false, nil
	case Pause:
		gate := fmt.Sprintf("step %d inconclusive (%d)", step+1, ext+1)
		c.paused = true
		c.openGate(gate)
		c.setPhase(PhasePaused, fmt.Sprintf("step %d inconclusive: resume to observe again, approve to promote, abort to roll back", step+1))
		err := workflow.Await(c.root, func() bool { return !c.paused || c.aborted })
		approved := c.closeGate(gate)
		if err != nil {
			return false, false, err
		}
		if c.aborted {
			return false, false, errAborted
		}
		if approved {
			v.Outcome, v.Accepted = judge.Pass, true
			v.Reason = "approved by a human after an inconclusive verdict: " + v.Reason
			return false, true, nil
		}
		c.setPhase(PhaseCanary, fmt.Sprintf("step %d resumed", step+1))
		return true, false, nil
	}
	return false, false, nil
}

// awaitApproval holds a passed canary at the promotion gate until a human approves, when
// the policy asks for it.
func (c *cycle) awaitApproval() error {
	if !c.in.Canary.RequireApproval {
		return nil
	}
	const gate = "promotion"
	c.openGate(gate)
	c.setPhase(PhaseAwaitingApproval, "canary passed: approve to promote, abort to roll back")
	cond := func() bool { return c.approval == gate || c.aborted }
	ok, err := true, error(nil)
	if c.in.Canary.ApprovalTimeout > 0 {
		ok, err = workflow.AwaitWithTimeout(c.root, c.in.Canary.ApprovalTimeout, cond)
	} else {
		err = workflow.Await(c.root, cond)
	}
	c.closeGate(gate)
	if err != nil {
		return err
	}
	if c.aborted {
		return errAborted
	}
	if !ok {
		return ended(RolledBack, fmt.Sprintf("no approval within %v", c.in.Canary.ApprovalTimeout))
	}
	return nil
}

// promote makes the candidate live, then retires the old setup.
func (c *cycle) promote(cur, dep activities.Deployment, cand plan.Candidate, v activities.Verdict) error {
	c.setPhase(PhasePromoting, "promoting "+c.rec.Candidate.String())
	pctx := c.cleanupCtx() // a promotion, once begun, finishes even if aborted now
	if err := promoteActivity.run(pctx, shortOptions, dep); err != nil {
		return ended(RolledBack, fmt.Sprintf("promote: %v", err))
	}
	c.candidate = activities.Deployment{}
	if cur.Setup.ID() != dep.Setup.ID() {
		c.retire(pctx, cur)
	}
	c.trials = append(c.trials, plan.Trial{Setup: cand.Setup, Kind: plan.Canary, Observed: v.Canary, Predicted: c.rec.Predicted, Promoted: true, Verdict: string(v.Outcome),
		Baseline: cur.Setup, BaselinePredicted: c.rec.BaselinePredicted, BaselineObserved: v.Stable})
	return &stop{outcome: Promoted, reason: v.Reason, current: dep}
}

// planned is the deployment a setup would have, for cleanup after a failed deploy.
func (c *cycle) planned(s fusion.Setup) activities.Deployment {
	return activities.Deployment{App: c.in.App, Setup: s, Entry: c.in.Graph.Entry}
}

func (c *cycle) retire(ctx workflow.Context, d activities.Deployment) {
	if c.in.Canary.Drain > 0 {
		_ = workflow.Sleep(ctx, c.in.Canary.Drain) // let requests in flight finish
	}
	if err := retireActivity.run(ctx, retireOptions, d); err != nil {
		workflow.GetLogger(c.root).Warn("retire failed; functions are left behind", "setup", d.Setup.ID(), "error", err)
	}
}

// rollback routes every request to the current setup and retires the candidate.
func (c *cycle) rollback(res CycleResult, reason string) (CycleResult, error) {
	c.rollbackWith(c.cleanupCtx())
	c.rec.Reason = reason
	res.Outcome = RolledBack
	return c.finish(res), nil
}

func (c *cycle) rollbackWith(ctx workflow.Context) {
	c.setPhase(PhaseRollingBack, "rolling back "+c.st.Candidate.String())
	cur := c.input.Current
	if err := promoteActivity.run(ctx, shortOptions, cur); err != nil {
		workflow.GetLogger(c.root).Error("roll back failed", "setup", cur.Setup.ID(), "error", err)
	}
	if id := c.candidate.Setup.ID(); id != "" && id != cur.Setup.ID() {
		c.trials = append(c.trials, plan.Trial{Setup: c.candidate.Setup, Kind: plan.Canary, Observed: c.rec.CandidateObserved, Predicted: c.rec.Predicted, Verdict: string(c.rec.Verdict),
			Baseline: cur.Setup, BaselinePredicted: c.rec.BaselinePredicted, BaselineObserved: c.rec.BaselineObserved})
		c.retire(ctx, c.candidate)
	} else if id := c.st.Candidate.ID(); id != "" && id != cur.Setup.ID() {
		c.retire(ctx, c.planned(c.st.Candidate))
	}
	c.candidate = activities.Deployment{}
}

// keep keeps what was observed in a window for the planner: its digest, thinned and without
// per-request samples, or, for an observation recorded before observations carried digests,
// the window to read.
func (c *cycle) keep(w activities.Window, obs activities.Observation) {
	d, ok := obs.Digest()
	if !ok {
		c.windows = append(c.windows, w)
		return
	}
	c.digests = append(c.digests, d.Thin(activities.PlanDigestKeep, 0))
}

// observe collects until every deployment has min warm requests (more than prev, an earlier
// observation of the same deployments to go on from, had seen) or window has passed, in
// observeChunks activities, each reading on from where the last stood.
func (c *cycle) observe(deps []activities.Deployment, min int, window time.Duration, prev *activities.Observation) (activities.Observation, error) {
	start := workflow.Now(c.root)
	var from *activities.ReadState
	var before []activities.SetupObservation
	if prev != nil && prev.State != nil {
		from, before, start = prev.State, prev.Setups, prev.State.Cursor
	}
	chunk := window / observeChunks
	var obs activities.Observation
	for i := 0; i < observeChunks; i++ {
		in := activities.ObserveInput{App: c.in.App, Deployments: deps, Start: start, MinWarm: min, MaxWait: chunk, Prices: c.in.Prices, From: from, Before: before}
		var err error
		if obs, err = exec(c, observeActivity, observeOptions(chunk), in); err != nil {
			return obs, err
		}
		from = obs.State
		if len(deps) == 2 {
			c.st.StableSamples, c.st.CanarySamples = obs.Setup(deps[0].Setup.ID()).Warm, obs.Setup(deps[1].Setup.ID()).Warm
			c.report()
		}
		if obs.Enough {
			break
		}
	}
	return obs, nil
}

// observeStep observes the canary step that started at start, going on from what it
// observed before an extension (seen), and judges all the step observed.
func (c *cycle) observeStep(cur, dep activities.Deployment, start time.Time, seen *activities.Observation) (activities.Verdict, *activities.Observation, error) {
	obs, err := c.observe([]activities.Deployment{cur, dep}, c.in.Canary.MinSamples, c.in.Canary.Window, seen)
	if err != nil {
		return activities.Verdict{}, seen, err
	}
	in := activities.JudgeInput{App: c.in.App, Graph: c.in.Graph, Stable: cur, Canary: dep,
		Window: activities.Window{Start: start, End: obs.Window.End, Deployments: []activities.Deployment{cur, dep}},
		Judge:  c.in.Canary.Judge, Policy: c.in.Policy, Prices: c.in.Prices, CanaryPredicted: c.rec.Predicted, StablePredicted: c.rec.BaselinePredicted}
	if d, ok := obs.Digest(); ok {
		in.Digest = &d
	}
	v, err := exec(c, judgeActivity, planOptions, in)
	if err != nil {
		return v, &obs, err
	}
	if c.stepDigest > 0 && in.Digest != nil {
		c.digests[c.stepDigest-1] = in.Digest.Thin(activities.PlanDigestKeep, 0)
	} else {
		c.keep(in.Window, obs)
		if in.Digest != nil {
			c.stepDigest = len(c.digests)
		}
	}
	c.st.LastVerdict = &v
	c.rec.Verdict, c.rec.Accepted = v.Outcome, v.Accepted
	c.rec.CandidateObserved, c.rec.BaselineObserved = v.Canary, v.Stable
	m := metricsFor(c.root, c.in.App)
	m.Gauge(MetricPredictedLatency).Update(c.rec.Predicted.MedianMS)
	m.Gauge(MetricObservedLatency).Update(v.Canary.MedianMS)
	m.Gauge(MetricPredictedCost).Update(c.rec.Predicted.CostPerRequest)
	m.Gauge(MetricObservedCost).Update(v.Canary.CostPerRequest)
	c.report()
	return v, &obs, nil
}

// measure runs one of the planner's measurements: the setup takes the first canary weight of
// live traffic until it has served the requests asked for (or the canary window passed),
// then every request goes back to the current setup and the measured setup is retired.
func (c *cycle) measure(cur activities.Deployment, m plan.MeasurementRequest) error {
	c.rec.Measurements++
	if m.Setup.ID() == cur.Setup.ID() {
		c.setPhase(PhaseMeasuring, "observing the current setup longer: "+m.Reason)
		obs, err := c.observe([]activities.Deployment{cur}, max(m.Requests, 1), c.in.Canary.Window, nil)
		if err != nil {
			return err
		}
		c.keep(obs.Window, obs)
		c.trials = append(c.trials, plan.Trial{Setup: m.Setup, Kind: plan.Measurement, Observed: obs.Setup(cur.Setup.ID()).Metrics})
		return nil
	}
	c.setPhase(PhaseMeasuring, fmt.Sprintf("measuring %s: %s", m.Setup, m.Reason))
	dep, err := exec(c, deployActivity, deployOptions, activities.DeployInput{App: c.in.App, Graph: c.in.Graph, Arch: c.in.Arch, Setup: m.Setup})
	if err != nil {
		if c.aborted {
			return errAborted
		}
		c.retire(c.cleanupCtx(), c.planned(m.Setup))
		return nil // the planner plans again without this measurement
	}
	c.st.Candidate = m.Setup
	c.candidate = dep
	err = execAction(c, routeActivity, shortOptions, activities.RouteInput{Stable: cur, Canary: dep, Weight: c.in.Canary.Weights[0]})
	var obs activities.Observation
	if err == nil {
		obs, err = c.observe([]activities.Deployment{cur, dep}, max(m.Requests, 1), c.in.Canary.Window, nil)
	}
	if err != nil && (c.aborted || errors.Is(err, errAborted)) {
		return errAborted
	}
	ctx := c.cleanupCtx()
	if perr := promoteActivity.run(ctx, shortOptions, cur); perr != nil {
		// c.candidate stays set: the failed cycle's cleanup routes back and retires it.
		return fmt.Errorf("route every request back to %s after measuring %s: %w", cur.Setup.ID(), dep.Setup.ID(), perr)
	}
	c.retire(ctx, dep)
	c.candidate = activities.Deployment{}
	c.st.Candidate = fusion.Setup{}
	if err == nil {
		c.keep(obs.Window, obs)
		c.trials = append(c.trials, plan.Trial{Setup: m.Setup, Kind: plan.Measurement, Observed: obs.Setup(dep.Setup.ID()).Metrics})
	}
	return nil
}

// errText is what an activity's error says, without the chain of wrappers that Temporal's
// activity and application errors print around it.
func errText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	return err.Error()
}
