// Package activities is the I/O side of Fusionize's optimization cycle: the Temporal
// activities that the workflows of package workflows call. They are methods on Activities, a
// struct holding injected dependencies declared here as small interfaces — a Deployer (deploy
// setups, route canary traffic, promote, retire), a TraceSource (trace lines and REPORT lines
// of a time window), the planners of package fusion/plan and a Clock — so that platform/lambda
// satisfies them against AWS Lambda or the local platform, and tests use hand-written fakes.
//
// Traces are read once. Observe reads incrementally: each poll asks the TraceSource only for
// what was logged since its cursor (less a 2 s overlap for late ingestion), keeps the records
// of requests still in flight, and reduces each request, once complete, into a
// fusion.Digest. It heartbeats its ReadState, so a retried Observe resumes there, and
// returns it, so the next Observe of the same window goes on from it. The Judge compares the
// digest of the canary step, and Plan merges the digests of earlier windows (the workflows
// keep them thinned to PlanDigestKeep values per sample, without per-request samples);
// neither reads logs again, except windows recorded before observations carried digests.
//
// Every activity is idempotent: a retried Deploy creates no second function, a retried
// Promote or Retire is harmless. Long waits (Observe) heartbeat their progress. Invalid input
// (a setup that does not fit the app's graph, a policy whose CEL does not compile, an unknown
// planner) fails with a non-retryable temporal.ApplicationError whose type is one of the
// Err* constants, so the workflow stops retrying and reports it.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

// Types of the application errors the activities return. Those marked permanent are
// non-retryable.
const (
	ErrInvalidSetup   = "FusionizeInvalidSetup"   // permanent: setup text or setup against graph
	ErrInvalidPolicy  = "FusionizeInvalidPolicy"  // permanent: CEL policy does not compile
	ErrInvalidInput   = "FusionizeInvalidInput"   // permanent: other malformed input
	ErrUnknownPlanner = "FusionizeUnknownPlanner" // permanent: no planner of that name
	ErrPlanner        = "FusionizePlannerFailed"  // permanent: the planner rejected its input
	ErrDeploy         = "FusionizeDeployFailed"   // retryable: the platform failed a deployment
	ErrRoute          = "FusionizeRouteFailed"    // retryable: the platform failed to route
	ErrTraces         = "FusionizeTracesFailed"   // retryable: reading traces failed
	ErrPermanent      = "FusionizePlatformDenied" // permanent: the platform refused for good (access, quota)
)

// The platform's domain types, defined in package fusion so that adapters need not depend
// on Temporal.
type (
	Deployment    = fusion.Deployment
	DeployRequest = fusion.DeployRequest
	TraceQuery    = fusion.TraceQuery
	Traces        = fusion.Traces
	// PermanentError marks an error of a Deployer or TraceSource as one that retrying cannot
	// fix; the activity then fails without retries.
	PermanentError = fusion.PermanentError
)

// Deployer deploys an app's setups and routes the app's live traffic between them.
type Deployer interface {
	// Deploy makes every function of the setup exist with the right code and
	// configuration, and a version of the entry function that runs it. It is idempotent:
	// deploying a deployed setup changes nothing and returns the same Deployment.
	Deploy(ctx context.Context, req DeployRequest) (Deployment, error)
	// Route sends the share weight (0 to 1) of the app's live requests to canary and the
	// rest to stable.
	Route(ctx context.Context, stable, canary Deployment, weight float64) error
	// Promote sends every live request to d (creating the live route if there is none).
	// Rolling back is promoting the stable deployment again.
	Promote(ctx context.Context, d Deployment) error
	// Retire deletes what d deployed (its group functions and entry version); it must not
	// be live. Retiring what does not exist succeeds.
	Retire(ctx context.Context, d Deployment) error
}

// TraceSource reads what deployed functions logged.
type TraceSource interface {
	Traces(ctx context.Context, q TraceQuery) (Traces, error)
}

// Clock tells the time and waits; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Planner names accepted by Options.Planners' default.
const (
	PlannerModel       = "model"
	PlannerFusionizePP = "fusionizepp"
)

// Options configure Activities.
type Options struct {
	Deployer Deployer
	Traces   TraceSource
	// Inventory reads what is on the platform; when nil and the Deployer is one, the
	// Deployer. Without it Adopt finds nothing and RetireOrphans retires nothing.
	Inventory Inventory
	// Planners by name; the workflow input names one (PlannerModel by default).
	Planners map[string]plan.Planner
	// Clock defaults to SystemClock.
	Clock Clock
	// PollInterval is how often Observe reads traces while it waits; default 5 s.
	PollInterval time.Duration
	// Prices for cost per request; zero fields default to fusion.DefaultPrices.
	Prices fusion.Prices
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Activities are the cycle's activities. Workflows call them through a nil *Activities.
type Activities struct {
	deployer  Deployer
	traces    TraceSource
	inventory Inventory
	planners  map[string]plan.Planner
	clock     Clock
	poll      time.Duration
	prices    fusion.Prices
	log       *slog.Logger
}

// New validates opts and returns the activities.
func New(opts Options) (*Activities, error) {
	var errs []error
	if opts.Deployer == nil {
		errs = append(errs, errors.New("no Deployer"))
	}
	if opts.Traces == nil {
		errs = append(errs, errors.New("no TraceSource"))
	}
	if len(opts.Planners) == 0 {
		errs = append(errs, errors.New("no Planners"))
	}
	if opts.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("PollInterval %v is negative", opts.PollInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	a := &Activities{deployer: opts.Deployer, traces: opts.Traces, planners: opts.Planners,
		clock: opts.Clock, poll: opts.PollInterval, prices: opts.Prices.WithDefaults(), log: opts.Logger}
	if a.inventory, _ = opts.Deployer.(Inventory); opts.Inventory != nil {
		a.inventory = opts.Inventory
	}
	if a.clock == nil {
		a.clock = SystemClock
	}
	if a.poll == 0 {
		a.poll = 5 * time.Second
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

func permanent(typ string, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), typ, nil)
}

// checkSetup validates a setup against the graph, as a permanent error.
func checkSetup(s fusion.Setup, g fusion.Graph) error {
	if err := s.Validate(g); err != nil {
		return permanent(ErrInvalidSetup, "setup %q does not fit the app: %v", s, err)
	}
	return nil
}

// DeployInput is the input of Deploy.
type DeployInput struct {
	App   string       `json:"app"`
	Graph fusion.Graph `json:"graph"`
	Setup fusion.Setup `json:"setup"`
	// Arch is the architecture the app is configured for; "" takes the bundle's.
	Arch fusion.Arch `json:"arch,omitempty"`
}

// Deploy deploys a setup idempotently. It heartbeats while the platform works.
func (a *Activities) Deploy(ctx context.Context, in DeployInput) (Deployment, error) {
	if in.App == "" {
		return Deployment{}, permanent(ErrInvalidInput, "deploy: no app name")
	}
	s := in.Setup
	if err := checkSetup(s, in.Graph); err != nil {
		return Deployment{}, err
	}
	var d Deployment
	err := heartbeating(ctx, func(ctx context.Context) error {
		var err error
		d, err = a.deployer.Deploy(ctx, DeployRequest{App: in.App, Setup: s, Entry: in.Graph.Entry, Arch: in.Arch})
		return err
	})
	if err != nil {
		return Deployment{}, platformError(ErrDeploy, fmt.Errorf("deploy setup %s (%s) of %s: %w", s.ID(), s, in.App, err))
	}
	a.log.Info("deployed", "app", in.App, "setup", d.Setup.ID(), "version", d.Version)
	return d, nil
}

// RouteInput is the input of Route.
type RouteInput struct {
	Stable Deployment `json:"stable"`
	Canary Deployment `json:"canary"`
	Weight float64    `json:"weight"`
}

// Route sends the share Weight of live requests to the canary.
func (a *Activities) Route(ctx context.Context, in RouteInput) error {
	if in.Weight < 0 || in.Weight > 1 {
		return permanent(ErrInvalidInput, "route: weight %v is outside [0, 1]", in.Weight)
	}
	if in.Stable.Version == "" || in.Canary.Version == "" {
		return permanent(ErrInvalidInput, "route: stable (%q) and canary (%q) need deployed versions", in.Stable.Version, in.Canary.Version)
	}
	if err := a.deployer.Route(ctx, in.Stable, in.Canary, in.Weight); err != nil {
		return platformError(ErrRoute, fmt.Errorf("route %.0f %% of %s to setup %s: %w", 100*in.Weight, in.Stable.App, in.Canary.Setup.ID(), err))
	}
	return nil
}

// Promote sends every live request to d. Promoting the stable deployment rolls a canary back.
func (a *Activities) Promote(ctx context.Context, d Deployment) error {
	if d.Version == "" {
		return permanent(ErrInvalidInput, "promote setup %s of %s: not deployed (no version)", d.Setup.ID(), d.App)
	}
	if err := a.deployer.Promote(ctx, d); err != nil {
		return platformError(ErrRoute, fmt.Errorf("promote setup %s of %s: %w", d.Setup.ID(), d.App, err))
	}
	return nil
}

// Retire deletes a deployment that is no longer live.
func (a *Activities) Retire(ctx context.Context, d Deployment) error {
	err := heartbeating(ctx, func(ctx context.Context) error { return a.deployer.Retire(ctx, d) })
	if err != nil {
		return platformError(ErrDeploy, fmt.Errorf("retire setup %s of %s: %w", d.Setup.ID(), d.App, err))
	}
	return nil
}

// Window is a time window in which some deployments ran.
type Window struct {
	Start       time.Time    `json:"start"`
	End         time.Time    `json:"end"`
	Deployments []Deployment `json:"deployments"`
}

// ObserveInput is the input of Observe.
type ObserveInput struct {
	App         string       `json:"app"`
	Deployments []Deployment `json:"deployments"`
	Start       time.Time    `json:"start"`
	// MinWarm is the number of warm requests wanted of every deployment (beyond Before's).
	MinWarm int `json:"minWarm"`
	// MaxWait bounds the wait; Observe returns what it saw when it runs out.
	MaxWait time.Duration `json:"maxWait"`
	// Prices of the app (its architecture and price overrides); nil takes Options.Prices.
	Prices *fusion.Prices `json:"prices,omitempty"`
	// From is the state an earlier Observe of the same window ended with: reading goes on
	// from its cursor, counting what it digested. Nil reads from Start.
	From *ReadState `json:"from,omitempty"`
	// Before are the counts of an earlier observation of the window whose state From is:
	// MinWarm more warm requests are wanted of each deployment than it had seen.
	Before []SetupObservation `json:"before,omitempty"`
}

// SetupObservation is what was seen of one deployment.
type SetupObservation struct {
	SetupID  string         `json:"setupID"`
	Requests int            `json:"requests"`
	Warm     int            `json:"warm"`
	Metrics  fusion.Metrics `json:"metrics"`
}

// Observation is the result of Observe.
type Observation struct {
	Window Window             `json:"window"`
	Setups []SetupObservation `json:"setups"`
	// Enough is true when every deployment reached MinWarm warm requests.
	Enough bool `json:"enough"`
	// State is where reading stands, with the digest of the traces of the window closed so
	// far, and Pending the digest of those still open (both nil in observations recorded
	// before reading was incremental): Digest merges them.
	State   *ReadState     `json:"state,omitempty"`
	Pending *fusion.Digest `json:"pending,omitempty"`
}

// Digest returns the digest of every trace the observation read, and false for an
// observation recorded before observations carried digests.
func (o Observation) Digest() (fusion.Digest, bool) {
	if o.State == nil {
		return fusion.Digest{}, false
	}
	if o.Pending == nil {
		return o.State.Digest, true
	}
	return o.State.Digest.Merge(*o.Pending), true
}

// Setup returns the observation of the setup with that ID.
func (o Observation) Setup(id string) SetupObservation {
	for _, s := range o.Setups {
		if s.SetupID == id {
			return s
		}
	}
	return SetupObservation{SetupID: id}
}

// Observe waits until every deployment has served MinWarm warm requests since Start, or
// MaxWait has passed. It reads the traces incrementally, one poll every poll interval
// reading only what was logged since the last (from In.From's cursor, or from a heartbeat's
// when Temporal retries it), digests the traces old enough to be complete, and heartbeats
// its ReadState. It returns the window's digest in Observation.State.
func (a *Activities) Observe(ctx context.Context, in ObserveInput) (Observation, error) {
	if len(in.Deployments) == 0 || in.Start.IsZero() {
		return Observation{}, permanent(ErrInvalidInput, "observe: no deployments or no start time")
	}
	defer keepAlive(ctx)() // a slow read of the traces must not look like a dead worker
	from := in.From
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		var st ReadState
		if err := activity.GetHeartbeatDetails(ctx, &st); err == nil && !st.Cursor.IsZero() {
			from = &st // a retry resumes where the last attempt stood
		}
	}
	r := newTraceReader(a.traces, in.App, in.Deployments, a.pricesOf(in.Prices), in.Start, from)
	deadline := a.clock.Now().Add(in.MaxWait)
	var settle time.Time
	for {
		now := a.clock.Now()
		if err := r.poll(ctx, now); err != nil {
			return Observation{}, platformError(ErrTraces, fmt.Errorf("observe %s from %s: %w", in.App, r.read.Format(time.RFC3339), err))
		}
		pending := r.pending()
		obs := observation(in, now, fusion.ProfileOf(fusion.Graph{}, fusion.ProfileOptions{Prices: r.prices, MaxSamples: 1}, r.state.Digest, pending))
		done := !now.Before(deadline)
		if obs.Enough && !done {
			// Cost per request needs complete requests, and async work of the latest
			// requests may still be running: give it a short while to finish.
			if settle.IsZero() {
				settle = now.Add(min(costSettle, deadline.Sub(now)))
			}
			done = costKnown(obs) || !now.Before(settle)
		}
		r.close(now)
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, r.state)
		}
		if done {
			pending = r.pending()
			obs.State, obs.Pending = &r.state, &pending
			return obs, nil
		}
		select {
		case <-ctx.Done():
			return Observation{}, ctx.Err()
		case <-a.clock.After(min(a.poll, deadline.Sub(now))):
		}
	}
}

// observation is what the profile p of the traces read tells of the deployments.
func observation(in ObserveInput, now time.Time, p fusion.Profile) Observation {
	obs := Observation{Window: Window{Start: in.Start, End: now, Deployments: in.Deployments}, Enough: true}
	for _, d := range in.Deployments {
		so := SetupObservation{SetupID: d.Setup.ID()}
		if st, ok := p.Setup(so.SetupID); ok {
			so.Requests = st.Requests
			so.Warm = st.Requests - st.ColdRequests
			so.Metrics, _ = plan.Observe(p, d.Setup)
		}
		before := 0
		for _, b := range in.Before {
			if b.SetupID == so.SetupID {
				before = b.Warm
			}
		}
		obs.Enough = obs.Enough && so.Warm-before >= in.MinWarm
		obs.Setups = append(obs.Setups, so)
	}
	return obs
}

// costSettle is how long Observe waits, once it has enough requests, for them to complete
// (their async invocations to finish and report) so that cost per request is known.
const costSettle = 15 * time.Second

func costKnown(obs Observation) bool {
	for _, so := range obs.Setups {
		if so.Requests > 0 && so.Metrics.CostPerRequest == 0 {
			return false
		}
	}
	return true
}

// pricesOf returns the app's prices when given, else the activities' own.
func (a *Activities) pricesOf(app *fusion.Prices) fusion.Prices {
	if app != nil {
		return app.WithDefaults()
	}
	return a.prices
}

func (a *Activities) profile(g fusion.Graph, tr Traces, keep int, prices *fusion.Prices) fusion.Profile {
	b := fusion.NewProfileBuilder(g, fusion.ProfileOptions{Prices: a.pricesOf(prices), MaxSamples: keep})
	b.AddRecords(tr.Records...)
	b.AddReports(tr.Reports...)
	return b.Profile()
}

// read reads the traces of every window.
func (a *Activities) read(ctx context.Context, app string, ws []Window) (Traces, error) {
	var all Traces
	for _, w := range ws {
		tr, err := a.traces.Traces(ctx, TraceQuery{App: app, Deployments: w.Deployments, Start: w.Start, End: w.End})
		if err != nil {
			return Traces{}, platformError(ErrTraces, fmt.Errorf("read traces of %s from %s to %s: %w", app, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), err))
		}
		all.Records = append(all.Records, tr.Records...)
		all.Reports = append(all.Reports, tr.Reports...)
		activity.RecordHeartbeat(ctx, len(all.Records))
	}
	return all, nil
}

// PlanInput is the input of Plan.
type PlanInput struct {
	App     string       `json:"app"`
	Graph   fusion.Graph `json:"graph"`
	Current fusion.Setup `json:"current"`
	// Digests and Windows make the profile (the current setup's collection and earlier
	// trials): the digests as they are, the windows (recorded before observations carried
	// digests) read from the logs.
	Digests     []fusion.Digest `json:"digests,omitempty"`
	Windows     []Window        `json:"windows"`
	Policy      constraint.Spec `json:"policy"`
	Planner     string          `json:"planner"`
	History     []plan.Trial    `json:"history,omitempty"`
	MemorySizes []int           `json:"memorySizes,omitempty"`
	Seed        uint64          `json:"seed"`
	Prices      *fusion.Prices  `json:"prices,omitempty"`
	// MaxCandidates bounds the candidates returned (default 3) to keep histories small.
	MaxCandidates int `json:"maxCandidates,omitempty"`
	// WindowRequests is the number of requests a canary's candidate is expected to see
	// (plan.Input.WindowRequests).
	WindowRequests int `json:"windowRequests,omitempty"`
	// MaxSlowdown is the canary judge's (plan.Input.MaxSlowdown).
	MaxSlowdown float64 `json:"maxSlowdown,omitempty"`
}

// Plan builds the profile from the digests (and the windows' traces) and asks the named
// planner what to do.
func (a *Activities) Plan(ctx context.Context, in PlanInput) (plan.Plan, error) {
	defer keepAlive(ctx)()
	if err := in.Graph.Validate(); err != nil {
		return plan.Plan{}, permanent(ErrInvalidInput, "plan %s: graph: %v", in.App, err)
	}
	cur := in.Current
	if err := checkSetup(cur, in.Graph); err != nil {
		return plan.Plan{}, err
	}
	pol, err := constraint.Compile(in.Policy)
	if err != nil {
		return plan.Plan{}, permanent(ErrInvalidPolicy, "policy of %s: %v", in.App, err)
	}
	name := in.Planner
	if name == "" {
		name = PlannerModel
	}
	pl, ok := a.planners[name]
	if !ok {
		names := make([]string, 0, len(a.planners))
		for n := range a.planners {
			names = append(names, n)
		}
		slices.Sort(names)
		return plan.Plan{}, permanent(ErrUnknownPlanner, "no planner %q (planners: %s)", name, strings.Join(names, ", "))
	}
	prices := a.pricesOf(in.Prices)
	digests := in.Digests
	if len(in.Windows) > 0 {
		tr, err := a.read(ctx, in.App, in.Windows)
		if err != nil {
			return plan.Plan{}, err
		}
		b := fusion.NewProfileBuilder(in.Graph, fusion.ProfileOptions{Prices: prices})
		b.AddRecords(tr.Records...)
		b.AddReports(tr.Reports...)
		digests = append(slices.Clip(digests), b.Digest())
	}
	prof := fusion.ProfileOf(in.Graph, fusion.ProfileOptions{Prices: prices, MaxSamples: 500}, digests...)
	p, err := pl.Plan(plan.Input{Graph: in.Graph, Current: cur, Profile: prof, MemorySizes: in.MemorySizes,
		Prices: prices, Policy: pol, History: in.History, Seed: in.Seed, WindowRequests: in.WindowRequests, MaxSlowdown: in.MaxSlowdown})
	if err != nil {
		return plan.Plan{}, permanent(ErrPlanner, "plan %s with %s: %v", in.App, name, err)
	}
	maxC := in.MaxCandidates
	if maxC <= 0 {
		maxC = 3
	}
	if len(p.Candidates) > maxC {
		p.Candidates = p.Candidates[:maxC]
	}
	if len(p.Measurements) > maxC {
		p.Measurements = p.Measurements[:maxC]
	}
	a.log.Info("planned", "app", in.App, "planner", name, "converged", p.Converged,
		"candidates", len(p.Candidates), "measurements", len(p.Measurements), "reason", p.Reason)
	return p, nil
}

// JudgeInput is the input of Judge.
type JudgeInput struct {
	App    string       `json:"app"`
	Graph  fusion.Graph `json:"graph"`
	Stable Deployment   `json:"stable"`
	Canary Deployment   `json:"canary"`
	Window Window       `json:"window"`
	// Digest of the window's traces (Observation.State's); nil reads the window's logs.
	Digest *fusion.Digest  `json:"digest,omitempty"`
	Judge  judge.Options   `json:"judge"`
	Policy constraint.Spec `json:"policy"`
	// Predicted metrics of the canary and the stable setup, for the acceptance rule.
	CanaryPredicted fusion.Metrics `json:"canaryPredicted"`
	StablePredicted fusion.Metrics `json:"stablePredicted"`
	// Prices of the app; nil takes Options.Prices.
	Prices *fusion.Prices `json:"prices,omitempty"`
}

// Verdict is the judged canary: the judge's numbers, the policy's acceptance and what was
// observed of both arms.
type Verdict struct {
	Outcome judge.Outcome `json:"outcome"`
	// Decided names the part of the judge's decision that decided (judge.DecidedObjective…).
	Decided string `json:"decided,omitempty"`
	// Accepted is the policy's acceptance rule evaluated on the verdict (false unless the
	// rule says promote): it decides promotion.
	Accepted bool `json:"accepted"`
	// Reason says in plain words what was decided and why ("promote: the judge says pass,
	// decided by objective: …").
	Reason         string  `json:"reason"`
	PValue         float64 `json:"pValue"`
	ShiftMS        float64 `json:"shiftMS"`
	RelativeEffect float64 `json:"relativeEffect"`
	// CostRelative and P95Relative: the candidate's cost per request and warm p95 relative
	// to the stable setup's, minus one.
	CostRelative float64        `json:"costRelative,omitempty"`
	P95Relative  float64        `json:"p95Relative,omitempty"`
	StableN      int            `json:"stableN"`
	CanaryN      int            `json:"canaryN"`
	Stable       fusion.Metrics `json:"stable"`
	Canary       fusion.Metrics `json:"canary"`
}

// Judge takes the canary window's digest (or reads its traces), compares the arms with the canary judge on the
// policy's objective (judge.Decide: latency, cost, tail) and evaluates the policy's
// acceptance rule, which decides.
func (a *Activities) Judge(ctx context.Context, in JudgeInput) (Verdict, error) {
	defer keepAlive(ctx)()
	pol, err := constraint.Compile(in.Policy)
	if err != nil {
		return Verdict{}, permanent(ErrInvalidPolicy, "policy of %s: %v", in.App, err)
	}
	stable, canary := in.Stable.Setup, in.Canary.Setup
	for _, s := range []fusion.Setup{stable, canary} {
		if err := checkSetup(s, in.Graph); err != nil {
			return Verdict{}, err
		}
	}
	var p fusion.Profile
	if in.Digest != nil {
		p = fusion.ProfileOf(in.Graph, fusion.ProfileOptions{Prices: a.pricesOf(in.Prices), MaxSamples: 5000}, *in.Digest)
	} else {
		tr, err := a.read(ctx, in.App, []Window{in.Window})
		if err != nil {
			return Verdict{}, err
		}
		p = a.profile(in.Graph, tr, 5000, in.Prices)
	}
	ss, _ := p.Setup(stable.ID())
	cs, _ := p.Setup(canary.ID())
	obj := judge.PolicyObjective(pol, constraint.SetupOf(canary), constraint.SetupOf(stable), in.Graph.Tasks)
	jv, err := judge.Decide(judge.Samples(ss.Samples), judge.Samples(cs.Samples), obj, in.Judge)
	if err != nil {
		return Verdict{}, permanent(ErrInvalidPolicy, "judge canary %s of %s: %v", canary.ID(), in.App, err)
	}
	v := Verdict{Outcome: jv.Outcome, Decided: jv.Decided, PValue: jv.PValue, ShiftMS: jv.ShiftMS,
		RelativeEffect: jv.RelativeEffect, CostRelative: jv.CostRelative, P95Relative: jv.P95Relative,
		StableN: jv.BaselineN, CanaryN: jv.CandidateN}
	v.Stable, _ = plan.Observe(p, stable)
	v.Canary, _ = plan.Observe(p, canary)
	vars := &constraint.Vars{
		Candidate: constraint.Subject{Setup: constraint.SetupOf(canary), Predicted: in.CanaryPredicted, Observed: v.Canary},
		Baseline:  constraint.Subject{Setup: constraint.SetupOf(stable), Predicted: in.StablePredicted, Observed: v.Stable},
		Tasks:     in.Graph.Tasks,
		Verdict:   jv.Vars(),
	}
	if v.Accepted, err = pol.Accept(vars); err != nil {
		return Verdict{}, permanent(ErrInvalidPolicy, "acceptance rule of %s: %v", in.App, err)
	}
	v.Reason = jv.Decision(v.Accepted)
	a.log.Info("judged", "app", in.App, "canary", canary.ID(), "outcome", v.Outcome, "accepted", v.Accepted, "reason", v.Reason)
	return v, nil
}

// HeartbeatInterval is how often long activities heartbeat; the workflows' heartbeat
// timeouts are a few times longer.
const HeartbeatInterval = 3 * time.Second

// heartbeating runs f, heartbeating every HeartbeatInterval until it returns.
func heartbeating(ctx context.Context, f func(context.Context) error) error {
	defer keepAlive(ctx)()
	return f(ctx)
}

// keepAlive heartbeats every HeartbeatInterval until the returned stop is called, so that a
// long computation (planning, judging) is not taken for a dead worker.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// platformError turns a dependency's error into an application error of type typ,
// non-retryable when the dependency marked it permanent.
func platformError(typ string, err error) error {
	var pe *PermanentError
	if errors.As(err, &pe) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrPermanent, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return temporal.NewApplicationErrorWithCause(err.Error(), typ, err)
}
