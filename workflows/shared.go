// Package workflows holds Fusionize's Temporal workflows: the optimization Cycle (collect
// traces of the current setup, plan candidates, deploy the best, canary it against the
// current setup on live traffic, judge, promote or roll back, record) and the per-app
// Optimizer that runs cycles as child workflows until the plan converges, then keeps
// watching (a new cycle every RecheckInterval) and continues as new before its history grows.
//
// The workflows only decide; everything that touches the platform or the traces is an
// activity of package activities. They answer the queries QueryStatus and QueryHistory, and
// the Optimizer takes the updates UpdatePause, UpdateResume, UpdateAbort and UpdateApprove
// (forwarded to the running cycle as SignalControl signals). They set the search attributes
// FusionizeApp, FusionizeSetup and FusionizePhase (when Settings.SearchAttributes is true;
// optimizer.RegisterSearchAttributes adds them to a namespace) and current details, so the Temporal
// Web UI shows where every app stands. Package optimizer is the client side: it starts an
// optimizer, queries it and sends it updates.
//
// # Upgrading workers while cycles run
//
// Workflow code is deterministic and versioned with workflow.GetVersion: a change of
// behaviour that alters the commands a running workflow makes goes behind a GetVersion
// branch, and the replay tests (TestReplay, against the histories recorded in testdata/)
// prove that the new code still replays the old histories. We chose GetVersion rather than
// Worker Versioning (deployment name + build ID) because it works unchanged on every
// Temporal cluster and with a worker the user already runs (see Plugin), needs no
// deployment bookkeeping on the server, and an optimizer is a long-lived workflow that
// continues as new, so pinning it to an old build would keep old workers alive for
// months. Continue-as-new starts the new run on the newest code anyway, so GetVersion
// branches can be retired once no run older than the change exists.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

// Names of the task queue, workflows, queries, updates and signals.
const (
	TaskQueue = "fusionize"

	OptimizerWorkflow = "FusionizeOptimizer"
	CycleWorkflow     = "FusionizeCycle"

	QueryStatus  = "status"
	QueryHistory = "history"

	UpdatePause   = "pause"
	UpdateResume  = "resume"
	UpdateAbort   = "abort"
	UpdateApprove = "approve"

	// SignalControl carries a Control to a cycle (the optimizer forwards its updates).
	SignalControl = "fusionize-control"
	// SignalProgress carries a cycle's Status to its parent optimizer.
	SignalProgress = "fusionize-progress"
)

// Search attribute keys (all Keyword).
var (
	AppKey   = temporal.NewSearchAttributeKeyKeyword("FusionizeApp")
	SetupKey = temporal.NewSearchAttributeKeyKeyword("FusionizeSetup")
	PhaseKey = temporal.NewSearchAttributeKeyKeyword("FusionizePhase")
)

// OptimizerID is the workflow ID of an app's optimizer: one per app.
func OptimizerID(app string) string { return "fusionize-optimizer-" + app }

// Phase is where a cycle or optimizer stands.
type Phase string

// The phases.
const (
	PhaseStarting         Phase = "starting"
	PhaseCollecting       Phase = "collecting"
	PhasePlanning         Phase = "planning"
	PhaseMeasuring        Phase = "measuring"
	PhaseDeploying        Phase = "deploying"
	PhaseCanary           Phase = "canary"
	PhaseAwaitingApproval Phase = "awaiting-approval"
	PhasePaused           Phase = "paused"
	PhasePromoting        Phase = "promoting"
	PhaseRollingBack      Phase = "rolling-back"
	PhaseWatching         Phase = "watching"
	PhaseDone             Phase = "done"
	PhaseAborted          Phase = "aborted"
	// PhaseInfeasible: the last cycle found no setup that satisfies the constraints; the
	// optimizer checks again every RecheckInterval (the constraints may hold on new traffic).
	PhaseInfeasible Phase = "infeasible"
)

// Outcome is how a cycle ended.
type Outcome string

// The outcomes of a cycle.
const (
	// Converged: the planner has nothing better than the current setup.
	Converged Outcome = "converged"
	// Promoted: the candidate passed its canary and is now the current setup.
	Promoted Outcome = "promoted"
	// RolledBack: the candidate failed, was inconclusive, or was not accepted.
	RolledBack Outcome = "rolled-back"
	// DeployFailed: the candidate could not be deployed; what was made is cleaned up.
	DeployFailed Outcome = "deploy-failed"
	// Aborted: the cycle was aborted; a candidate was rolled back.
	Aborted Outcome = "aborted"
	// Unfinished: the planner asked for more measurements than a cycle may run
	// (Settings.MaxMeasurementRounds); it goes on in the next cycle, started at once.
	Unfinished Outcome = "unfinished"
	// Infeasible: no setup satisfies the policy's constraints (the current one neither);
	// nothing was deployed. The optimizer reports it as its own state, not as converged.
	Infeasible Outcome = "infeasible"
)

// Inconclusive says what a canary does when the judge cannot tell.
type Inconclusive string

// The choices on an inconclusive verdict.
const (
	// Extend observes the step for another window, up to MaxExtensions times, then rolls back.
	Extend Inconclusive = "extend"
	// Pause holds the canary until a human resumes (observe again), approves (promote) or
	// aborts (roll back).
	Pause Inconclusive = "pause"
	// Rollback rolls back at once.
	Rollback Inconclusive = "rollback"
)

// CanaryPolicy says how a candidate is compared with the current setup on live traffic.
type CanaryPolicy struct {
	// Weights are the successive shares of live requests sent to the candidate; each step
	// is judged on its own traffic. Default [0.1, 0.5].
	Weights []float64 `json:"weights,omitempty"`
	// Window is the longest a step observes before the judge decides; default 5 minutes.
	Window time.Duration `json:"window,omitempty"`
	// MinSamples is the number of warm requests wanted of each arm in a step; default 50.
	MinSamples int `json:"minSamples,omitempty"`
	// OnInconclusive: Extend (default), Pause or Rollback.
	OnInconclusive Inconclusive `json:"onInconclusive,omitempty"`
	// MaxExtensions bounds Extend; default 2.
	MaxExtensions int `json:"maxExtensions,omitempty"`
	// RequireApproval holds a passed canary until a human approves.
	RequireApproval bool `json:"requireApproval,omitempty"`
	// ApprovalTimeout rolls back when no approval comes in time; 0 waits for ever.
	ApprovalTimeout time.Duration `json:"approvalTimeout,omitempty"`
	// Drain is how long a setup that no longer receives requests keeps its functions
	// before it is retired, so that requests in flight finish; default 30 seconds (the
	// functions' default timeout).
	Drain time.Duration `json:"drain,omitempty"`
	// Judge tunes the canary judge; its MinSamples defaults to MinSamples.
	Judge judge.Options `json:"judge,omitzero"`
}

// WithDefaults fills zero fields.
func (p CanaryPolicy) WithDefaults() CanaryPolicy {
	if len(p.Weights) == 0 {
		p.Weights = []float64{0.1, 0.5}
	}
	if p.Window == 0 {
		p.Window = 5 * time.Minute
	}
	if p.MinSamples == 0 {
		p.MinSamples = 50
	}
	if p.OnInconclusive == "" {
		p.OnInconclusive = Extend
	}
	if p.MaxExtensions == 0 {
		p.MaxExtensions = 2
	}
	if p.Drain == 0 {
		p.Drain = 30 * time.Second
	}
	if p.Judge.MinSamples == 0 {
		p.Judge.MinSamples = p.MinSamples
	}
	return p
}

// canaryRequests is the number of requests a candidate is expected to see in its canary:
// each step waits for MinSamples warm requests of each arm. A planner spreads a new
// function's cold starts over them.
func canaryRequests(p CanaryPolicy) int {
	p = p.WithDefaults()
	return p.MinSamples * len(p.Weights)
}

// Validate reports every problem of the (defaulted) policy.
func (p CanaryPolicy) Validate() error {
	var errs []error
	for i, w := range p.Weights {
		if w <= 0 || w >= 1 {
			errs = append(errs, fmt.Errorf("canary weight %d is %v, want between 0 and 1 (exclusive)", i+1, w))
		}
		if i > 0 && w <= p.Weights[i-1] {
			errs = append(errs, fmt.Errorf("canary weights must increase: %v", p.Weights))
		}
	}
	if p.Window < time.Second {
		errs = append(errs, fmt.Errorf("canary window %v is shorter than a second", p.Window))
	}
	if p.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("canary min samples %d is below 1", p.MinSamples))
	}
	if !slices.Contains([]Inconclusive{Extend, Pause, Rollback}, p.OnInconclusive) {
		errs = append(errs, fmt.Errorf("on-inconclusive %q is not %q, %q or %q", p.OnInconclusive, Extend, Pause, Rollback))
	}
	if p.MaxExtensions < 0 || p.ApprovalTimeout < 0 {
		errs = append(errs, errors.New("canary max extensions and approval timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// CollectPolicy says how much of the current setup's traffic a cycle observes before it
// plans.
type CollectPolicy struct {
	// MinRequests of the current setup (warm); default DefaultCollectRequests.
	MinRequests int `json:"minRequests,omitempty"`
	// Window is the longest a cycle collects; default 5 minutes.
	Window time.Duration `json:"window,omitempty"`
}

// DefaultCollectRequests is how many requests of the current setup a cycle observes unless
// told: as many as the model planner measures of any setup it asks for
// (plan.ModelOptions.MeasurementRequests). Predictions of the candidates rest on these
// requests; from 60 of them, one fused IoT setup came out anywhere from 3.36 to 3.77 ms
// (docs/results). Optimizers started before this default held 100 (legacyCollectRequests).
const DefaultCollectRequests = 300

// legacyCollectRequests is the default a workflow started before changeCollect300 keeps on
// replay.
const legacyCollectRequests = 100

// changeCollect300 is the GetVersion change that raised the collection's default from
// legacyCollectRequests to DefaultCollectRequests.
const changeCollect300 = "collect-300"

// withCollectDefault fills a zero MinRequests of s: DefaultCollectRequests for a workflow
// started on this code, legacyCollectRequests when replaying one started before it (the
// workflow would otherwise wait for more requests than it did when it ran).
func withCollectDefault(ctx workflow.Context, s Settings) Settings {
	if s.Collect.MinRequests != 0 {
		return s
	}
	s.Collect.MinRequests = DefaultCollectRequests
	if workflow.GetVersion(ctx, changeCollect300, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		s.Collect.MinRequests = legacyCollectRequests
	}
	return s
}

// WithDefaults fills zero fields.
func (p CollectPolicy) WithDefaults() CollectPolicy {
	if p.MinRequests == 0 {
		p.MinRequests = DefaultCollectRequests
	}
	if p.Window == 0 {
		p.Window = 5 * time.Minute
	}
	return p
}

// Settings are what the user chooses for an app's optimization; the optimizer passes them to
// every cycle.
type Settings struct {
	App   string       `json:"app"`
	Graph fusion.Graph `json:"graph"`
	// Policy is the CEL policy (constraints, objective, acceptance).
	Policy constraint.Spec `json:"policy,omitzero"`
	// Planner names the planner (activities.PlannerModel by default).
	Planner     string        `json:"planner,omitempty"`
	MemorySizes []int         `json:"memorySizes,omitempty"`
	Canary      CanaryPolicy  `json:"canary,omitzero"`
	Collect     CollectPolicy `json:"collect,omitzero"`
	// SearchAttributes makes the workflows upsert FusionizeSetup and FusionizePhase; set it
	// only when optimizer.RegisterSearchAttributes has added them to the namespace (a workflow that
	// upserts an unknown attribute fails its workflow task).
	SearchAttributes bool `json:"searchAttributes,omitempty"`
	// MaxMeasurementRounds bounds how often a cycle runs the planner's measurements and
	// plans again; default 2.
	MaxMeasurementRounds int `json:"maxMeasurementRounds,omitempty"`
	// Prices are the app's cost model (architecture and prices) for the planner and the
	// observed cost; nil takes the worker's (fusion.DefaultPrices).
	Prices *fusion.Prices `json:"prices,omitempty"`
	// Arch is the architecture the app is configured for: a worker whose bundle of the app
	// is built for another refuses to deploy. "" takes the bundle's.
	Arch fusion.Arch `json:"arch,omitempty"`
}

// WithDefaults fills zero fields.
func (s Settings) WithDefaults() Settings {
	s.Canary = s.Canary.WithDefaults()
	s.Collect = s.Collect.WithDefaults()
	if s.Planner == "" {
		s.Planner = activities.PlannerModel
	}
	if s.MaxMeasurementRounds == 0 {
		s.MaxMeasurementRounds = 2
	}
	return s
}

// Validate reports every problem of the (defaulted) settings.
func (s Settings) Validate() error {
	var errs []error
	if s.App == "" {
		errs = append(errs, errors.New("no app name"))
	}
	if err := s.Graph.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("graph: %w", err))
	}
	if err := s.Canary.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.Prices != nil {
		if err := s.Prices.WithDefaults().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Arch != "" && s.Arch != fusion.X86_64 && s.Arch != fusion.ARM64 {
		errs = append(errs, fmt.Errorf("architecture %q is not %q or %q", s.Arch, fusion.X86_64, fusion.ARM64))
	}
	if s.Collect.MinRequests < 1 || s.Collect.Window < time.Second {
		errs = append(errs, fmt.Errorf("collect policy %+v: want at least 1 request and a window of a second", s.Collect))
	}
	return errors.Join(errs...)
}

// Control is a pause, resume, abort or approve sent to a cycle.
type Control struct {
	Action string `json:"action"` // UpdatePause, UpdateResume, UpdateAbort or UpdateApprove
	Reason string `json:"reason,omitempty"`
}

// Status is what the status query returns.
type Status struct {
	App    string `json:"app"`
	Phase  Phase  `json:"phase"`
	Paused bool   `json:"paused"`
	Cycle  int    `json:"cycle"`
	// Current is the live setup, Candidate the one deployed beside it (canary or measurement).
	Current   fusion.Setup `json:"current"`
	Candidate fusion.Setup `json:"candidate,omitzero"`
	// Step (1-based) and Weight of the canary; samples of this step so far.
	Step          int     `json:"step,omitempty"`
	Weight        float64 `json:"weight,omitempty"`
	StableSamples int     `json:"stableSamples,omitempty"`
	CanarySamples int     `json:"canarySamples,omitempty"`
	// LastVerdict is the latest judged canary step.
	LastVerdict *activities.Verdict `json:"lastVerdict,omitempty"`
	Converged   bool                `json:"converged,omitempty"`
	// Infeasible is true when the last cycle found no setup satisfying the constraints.
	Infeasible bool `json:"infeasible,omitempty"`
	// Gate is the approval gate that is open, if any: `approve` applies to it alone.
	Gate    string    `json:"gate,omitempty"`
	Message string    `json:"message,omitempty"`
	Updated time.Time `json:"updated"`
	// Seq orders a cycle's progress reports, which may reach the optimizer out of order.
	Seq int `json:"seq,omitempty"`

	upserted [2]string // phase and setup last written to the search attributes
}

// CycleRecord is one cycle in the history: what was tried, predicted and observed, and how
// it ended.
type CycleRecord struct {
	Cycle     int          `json:"cycle"`
	Started   time.Time    `json:"started"`
	Ended     time.Time    `json:"ended"`
	Baseline  fusion.Setup `json:"baseline"`
	Candidate fusion.Setup `json:"candidate,omitzero"`
	Planner   string       `json:"planner,omitempty"`
	// PlanReason is the planner's reason; Measurements counts the setups measured.
	PlanReason   string `json:"planReason,omitempty"`
	Measurements int    `json:"measurements,omitempty"`
	// Predicted metrics of the candidate and the baseline (model planner).
	Predicted         fusion.Metrics `json:"predicted"`
	BaselinePredicted fusion.Metrics `json:"baselinePredicted"`
	// Front is the planner's predicted Pareto front of latency against cost (model planner).
	Front []plan.FrontPoint `json:"front,omitempty"`
	// Observed metrics of the baseline (collection or canary) and the candidate (canary).
	BaselineObserved  fusion.Metrics `json:"baselineObserved"`
	CandidateObserved fusion.Metrics `json:"candidateObserved"`
	Verdict           judge.Outcome  `json:"verdict,omitempty"`
	Accepted          bool           `json:"accepted,omitempty"`
	Outcome           Outcome        `json:"outcome"`
	Reason            string         `json:"reason,omitempty"`
}

// CycleInput is the input of the Cycle workflow.
type CycleInput struct {
	Settings Settings `json:"settings"`
	Cycle    int      `json:"cycle"`
	// Current is the live deployment.
	Current activities.Deployment `json:"current"`
	// History of trials, and Digests of traces (Windows, recorded before observations
	// carried digests, to read) from earlier cycles, for the planner.
	History []plan.Trial        `json:"history,omitempty"`
	Digests []fusion.Digest     `json:"digests,omitempty"`
	Windows []activities.Window `json:"windows,omitempty"`
	Seed    uint64              `json:"seed"`
}

// CycleResult is the result of the Cycle workflow.
type CycleResult struct {
	Outcome Outcome `json:"outcome"`
	// Current is the live deployment after the cycle.
	Current activities.Deployment `json:"current"`
	Record  CycleRecord           `json:"record"`
	// Trials, Digests (and Windows without digests) this cycle added.
	Trials  []plan.Trial        `json:"trials,omitempty"`
	Digests []fusion.Digest     `json:"digests,omitempty"`
	Windows []activities.Window `json:"windows,omitempty"`
}

// OptimizerInput is the input of the Optimizer workflow.
type OptimizerInput struct {
	Settings Settings `json:"settings"`
	// Initial is the setup deployed first; all-remote at plan.DefaultMemoryMB when zero.
	Initial fusion.Setup `json:"initial,omitzero"`
	// RecheckInterval is how long a converged optimizer waits before the next cycle;
	// default 1 hour.
	RecheckInterval time.Duration `json:"recheckInterval,omitempty"`
	// StopWhenConverged ends the workflow at convergence instead of watching.
	StopWhenConverged bool `json:"stopWhenConverged,omitempty"`
	// MaxCycles ends the workflow after that many cycles (0: no limit).
	MaxCycles int `json:"maxCycles,omitempty"`
	// CyclesPerRun is how many cycles a run makes before it continues as new; default 10.
	CyclesPerRun int `json:"cyclesPerRun,omitempty"`
	// State is carried over continue-as-new; nil on the first run.
	State *OptimizerState `json:"state,omitempty"`
}

// OptimizerState is what an optimizer carries across continue-as-new.
type OptimizerState struct {
	Current   activities.Deployment `json:"current"`
	Cycles    int                   `json:"cycles"`
	Converged bool                  `json:"converged,omitempty"`
	// Infeasible: the last cycle found no setup satisfying the constraints.
	Infeasible bool `json:"infeasible,omitempty"`
	Paused     bool `json:"paused,omitempty"`
	// History of trials for the planner (the latest MaxTrials), cycle Records for the
	// history query (the latest MaxRecords) and trace Digests and Windows (the latest
	// MaxWindows of both together, digests first).
	History []plan.Trial        `json:"history,omitempty"`
	Records []CycleRecord       `json:"records,omitempty"`
	Digests []fusion.Digest     `json:"digests,omitempty"`
	Windows []activities.Window `json:"windows,omitempty"`
	Seed    uint64              `json:"seed"`
}

// Bounds of the optimizer's carried state.
const (
	MaxTrials  = 50
	MaxRecords = 100
	MaxWindows = 8
)

// OptimizerResult is the result of the Optimizer workflow (when it stops).
type OptimizerResult struct {
	Current   activities.Deployment `json:"current"`
	Cycles    int                   `json:"cycles"`
	Converged bool                  `json:"converged"`
	// Infeasible: the optimizer stopped because no setup satisfies the constraints.
	Infeasible bool          `json:"infeasible,omitempty"`
	Aborted    bool          `json:"aborted"`
	Records    []CycleRecord `json:"records,omitempty"`
}

func last[T any](s []T, n int) []T {
	if len(s) > n {
		return slices.Clone(s[len(s)-n:])
	}
	return s
}
