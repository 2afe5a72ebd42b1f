package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/plan"
)

type optimizer struct {
	in      OptimizerInput
	s       Settings
	st      OptimizerState
	status  Status
	child   workflow.ChildWorkflowFuture
	running bool // a cycle is running
	aborted bool
}

// Optimizer optimizes one app: it deploys the initial setup if nothing is deployed yet,
// then runs Cycle child workflows one after the other until a cycle converges; then it
// watches, starting a new cycle every RecheckInterval, until aborted (or converged, with
// StopWhenConverged, or after MaxCycles). It continues as new every CyclesPerRun cycles or
// when Temporal suggests it, carrying OptimizerState.
func Optimizer(ctx workflow.Context, in OptimizerInput) (OptimizerResult, error) {
	s := withCollectDefault(ctx, in.Settings).WithDefaults()
	if err := s.Validate(); err != nil {
		return OptimizerResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("optimizer settings: %v", err), activities.ErrInvalidInput, nil)
	}
	if in.RecheckInterval <= 0 {
		in.RecheckInterval = time.Hour
	}
	if in.CyclesPerRun <= 0 {
		in.CyclesPerRun = 10
	}
	o := &optimizer{in: in, s: s}
	if in.State != nil {
		o.st = *in.State
	} else {
		o.st.Seed = 1
	}
	o.status = Status{App: s.App, Phase: PhaseStarting, Paused: o.st.Paused, Cycle: o.st.Cycles,
		Current: o.st.Current.Setup, Converged: o.st.Converged, Updated: workflow.Now(ctx)}
	if err := o.handlers(ctx); err != nil {
		return OptimizerResult{}, err
	}

	if o.st.Current.Version == "" {
		if err := o.start(ctx); err != nil {
			return OptimizerResult{}, err
		}
	}
	for runs := 0; ; {
		if err := workflow.Await(ctx, func() bool { return !o.st.Paused || o.aborted }); err != nil {
			return o.result(), err
		}
		if o.aborted {
			o.setPhase(ctx, PhaseAborted, "aborted")
			return o.result(), nil
		}
		if o.in.MaxCycles > 0 && o.st.Cycles >= o.in.MaxCycles {
			o.setPhase(ctx, PhaseDone, fmt.Sprintf("stopped after %d cycles", o.st.Cycles))
			return o.result(), nil
		}
		if o.st.Converged || o.st.Infeasible {
			phase, what := PhaseDone, "converged on "+o.st.Current.Setup.String()
			if o.st.Infeasible {
				phase, what = PhaseInfeasible, "no setup satisfies the constraints (relax them or change memory_sizes)"
			}
			if o.in.StopWhenConverged {
				o.setPhase(ctx, phase, what)
				return o.result(), nil
			}
			if o.st.Converged {
				phase = PhaseWatching
			}
			o.setPhase(ctx, phase, fmt.Sprintf("%s; next check in %v", what, o.in.RecheckInterval))
			if _, err := workflow.AwaitWithTimeout(ctx, o.in.RecheckInterval, func() bool { return o.aborted || o.st.Paused }); err != nil {
				return o.result(), err
			}
			if o.aborted || o.st.Paused {
				continue
			}
		}
		if runs >= o.in.CyclesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return o.result(), err
			}
			next := o.in
			st := o.st
			next.State = &st
			return OptimizerResult{}, workflow.NewContinueAsNewError(ctx, OptimizerWorkflow, next)
		}
		if err := o.runCycle(ctx); err != nil {
			return o.result(), err
		}
		runs++
	}
}

func (o *optimizer) result() OptimizerResult {
	return OptimizerResult{Current: o.st.Current, Cycles: o.st.Cycles, Converged: o.st.Converged, Infeasible: o.st.Infeasible,
		Aborted: o.aborted, Records: o.st.Records}
}

func (o *optimizer) setPhase(ctx workflow.Context, p Phase, msg string) {
	o.status.Phase, o.status.Message = p, msg
	o.status.Paused = o.st.Paused
	o.status.Cycle = o.st.Cycles
	o.status.Current = o.st.Current.Setup
	o.status.Converged, o.status.Infeasible = o.st.Converged, o.st.Infeasible
	o.status.Updated = workflow.Now(ctx)
	setDetails(ctx, o.s, &o.status)
}

func (o *optimizer) handlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return o.status, nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryHistory, func() ([]CycleRecord, error) { return o.st.Records, nil }); err != nil {
		return err
	}
	for _, action := range []string{UpdatePause, UpdateResume, UpdateAbort, UpdateApprove} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, action,
			func(ctx workflow.Context, reason string) (Status, error) {
				return o.control(ctx, Control{Action: action, Reason: reason})
			},
			workflow.UpdateHandlerOptions{Validator: func(reason string) error { return o.validate(action) }})
		if err != nil {
			return err
		}
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalProgress)
		for {
			var st Status
			ch.Receive(ctx, &st)
			if !o.running || st.Cycle != o.st.Cycles+1 || st.Seq <= o.status.Seq {
				continue // a late report of a finished cycle, or an older one arriving late
			}
			o.status = st
			o.status.Paused = o.st.Paused
			o.status.Converged = o.st.Converged
			setDetails(ctx, o.s, &o.status)
		}
	})
	return nil
}

// validate rejects updates that cannot apply now; rejected updates leave no history.
func (o *optimizer) validate(action string) error {
	if o.aborted {
		return errors.New("the optimizer is aborting")
	}
	if action == UpdateApprove {
		if !o.running || o.status.Gate == "" {
			return fmt.Errorf("nothing to approve: the optimizer is %s, with no approval gate open", o.status.Phase)
		}
	}
	return nil
}

func (o *optimizer) control(ctx workflow.Context, c Control) (Status, error) {
	switch c.Action {
	case UpdatePause:
		o.st.Paused = true
	case UpdateResume:
		o.st.Paused = false
	case UpdateApprove:
		// An approval opens the gate it is for (a paused inconclusive canary), nothing else.
		if o.status.Phase == PhasePaused {
			o.st.Paused = false
		}
	case UpdateAbort:
		o.aborted = true
	}
	o.status.Paused = o.st.Paused
	if o.running {
		if err := o.child.SignalChildWorkflow(ctx, SignalControl, c).Get(ctx, nil); err != nil {
			return o.status, fmt.Errorf("forward %s to the running cycle: %w", c.Action, err)
		}
	} else {
		o.setPhase(ctx, o.status.Phase, o.status.Message)
	}
	return o.status, nil
}

// start makes the app serve a setup the optimizer knows: the one the platform's live route
// already serves (left by an earlier optimizer, `fusionize deploy` or an abort), or else the
// initial setup, newly deployed. Then it retires every other setup of the app found on the
// platform, so that nothing an earlier optimizer left behind stays.
func (o *optimizer) start(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, "adopt-live", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return o.deployInitial(ctx)
	}
	o.setPhase(ctx, PhaseStarting, "reading what the app serves")
	live, err := adoptActivity.run(ctx, shortOptions, activities.AdoptInput{App: o.s.App, Graph: o.s.Graph})
	if err != nil {
		return fmt.Errorf("read what %s serves: %w", o.s.App, err)
	}
	if live.Found {
		o.st.Current = live.Live
		o.setPhase(ctx, PhaseStarting, live.Reason)
	} else if err := o.deployInitial(ctx); err != nil {
		return err
	}
	retired, err := retireOrphansActivity.run(ctx, retireOptions, o.st.Current)
	if err != nil {
		// Leftovers cost nothing while idle; the optimizer goes on and says so.
		workflow.GetLogger(ctx).Warn("retiring orphaned setups failed", "app", o.s.App, "error", err)
		o.setPhase(ctx, PhaseStarting, fmt.Sprintf("%s; retiring orphaned setups failed: %v (run `fusionize cleanup`)", o.status.Message, err))
	} else if len(retired) > 0 {
		o.setPhase(ctx, PhaseStarting, fmt.Sprintf("%s; retired %d orphaned setups", o.status.Message, len(retired)))
	}
	return nil
}

func (o *optimizer) deployInitial(ctx workflow.Context) error {
	initial := o.in.Initial
	if initial.IsZero() {
		initial = fusion.AllRemote(o.s.Graph, plan.DefaultMemoryMB)
	}
	o.setPhase(ctx, PhaseDeploying, "deploying the initial setup "+initial.String())
	dep, err := deployActivity.run(ctx, deployOptions, activities.DeployInput{App: o.s.App, Graph: o.s.Graph, Setup: initial, Arch: o.s.Arch})
	if err != nil {
		return fmt.Errorf("deploy the initial setup %s: %w", initial, err)
	}
	if err := promoteActivity.run(ctx, shortOptions, dep); err != nil {
		return fmt.Errorf("route to the initial setup: %w", err)
	}
	o.st.Current = dep
	o.setPhase(ctx, PhaseStarting, "initial setup live")
	return nil
}

func (o *optimizer) runCycle(ctx workflow.Context) error {
	n := o.st.Cycles + 1
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:          fmt.Sprintf("%s-cycle-%d", workflow.GetInfo(ctx).WorkflowExecution.ID, n),
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("Fusionize cycle %d of %s", n, o.s.App),
		StaticDetails:       "Current setup: `" + o.st.Current.Setup.String() + "`",
	}
	if o.s.SearchAttributes {
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(AppKey.ValueSet(o.s.App))
	}
	cctx := workflow.WithChildOptions(ctx, opts)
	o.child = workflow.ExecuteChildWorkflow(cctx, CycleWorkflow, CycleInput{
		Settings: o.s, Cycle: n, Current: o.st.Current, History: o.st.History, Digests: o.st.Digests, Windows: o.st.Windows, Seed: o.st.Seed,
	})
	o.running = true
	o.status.Cycle = n
	o.status.Seq = 0
	o.setPhase(ctx, PhaseCollecting, fmt.Sprintf("cycle %d started", n))
	// A pause or abort that came before the cycle started is forwarded now.
	if o.st.Paused {
		o.child.SignalChildWorkflow(ctx, SignalControl, Control{Action: UpdatePause})
	}
	var res CycleResult
	err := o.child.Get(ctx, &res)
	o.running = false
	o.status.Seq = 0
	o.st.Cycles = n
	o.st.Seed += 1000
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			return fmt.Errorf("cycle %d: %w", n, err)
		}
		if temporal.IsCanceledError(err) || ctx.Err() != nil {
			return err
		}
		// A transient failure: record it, wait, and try again with a new cycle.
		o.st.Records = last(append(o.st.Records, CycleRecord{Cycle: n, Baseline: o.st.Current.Setup, Outcome: RolledBack,
			Reason: "cycle failed: " + err.Error(), Ended: workflow.Now(ctx)}), MaxRecords)
		o.setPhase(ctx, PhaseWatching, fmt.Sprintf("cycle %d failed; retrying in a minute", n))
		_, werr := workflow.AwaitWithTimeout(ctx, time.Minute, func() bool { return o.aborted })
		return werr
	}
	o.st.Current = res.Current
	o.st.Converged = res.Outcome == Converged
	o.st.Infeasible = res.Outcome == Infeasible
	o.st.History = last(append(o.st.History, res.Trials...), MaxTrials)
	o.st.Digests = last(append(o.st.Digests, res.Digests...), MaxWindows)
	o.st.Windows = last(append(o.st.Windows, res.Windows...), MaxWindows-len(o.st.Digests))
	o.st.Records = last(append(o.st.Records, res.Record), MaxRecords)
	o.status.LastVerdict = nil
	if res.Record.Verdict != "" {
		o.status.LastVerdict = &activities.Verdict{Outcome: res.Record.Verdict, Accepted: res.Record.Accepted,
			Reason: res.Record.Reason, Stable: res.Record.BaselineObserved, Canary: res.Record.CandidateObserved}
	}
	o.status.Candidate, o.status.Step, o.status.Weight = fusion.Setup{}, 0, 0
	o.status.StableSamples, o.status.CanarySamples = 0, 0
	o.status.Gate = ""
	o.setPhase(ctx, PhaseDone, fmt.Sprintf("cycle %d %s", n, res.Outcome))
	return nil
}
