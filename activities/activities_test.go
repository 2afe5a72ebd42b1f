package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/fusion/sim"
)

// fakeDeployer is an in-memory platform: functions by name, versions and an alias.
type fakeDeployer struct {
	mu        sync.Mutex
	functions map[string]bool
	versions  map[string]string // setup ID → version
	primary   string
	weights   map[string]float64
	creates   int
	fail      error
}

var _ activities.Deployer = (*fakeDeployer)(nil)

func newFakeDeployer() *fakeDeployer {
	return &fakeDeployer{functions: map[string]bool{}, versions: map[string]string{}}
}

func (f *fakeDeployer) Deploy(_ context.Context, req activities.DeployRequest) (activities.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return activities.Deployment{}, f.fail
	}
	d := activities.Deployment{App: req.App, Setup: req.Setup.Canonical(), Entry: req.Entry}
	for _, g := range req.Setup.Canonical().Groups {
		name := req.App + "-" + d.Setup.ID() + "-" + g.Root
		if !f.functions[name] {
			f.functions[name] = true
			f.creates++
		}
		d.Functions = append(d.Functions, name)
	}
	v, ok := f.versions[d.Setup.ID()]
	if !ok {
		v = string(rune('1' + len(f.versions)))
		f.versions[d.Setup.ID()] = v
	}
	d.Version = v
	return d, nil
}

func (f *fakeDeployer) Route(_ context.Context, stable, canary activities.Deployment, w float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.primary, f.weights = stable.Version, map[string]float64{canary.Version: w}
	return nil
}

func (f *fakeDeployer) Promote(_ context.Context, d activities.Deployment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.primary, f.weights = d.Version, nil
	return nil
}

func (f *fakeDeployer) Retire(_ context.Context, d activities.Deployment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range d.Functions {
		delete(f.functions, n)
	}
	delete(f.versions, d.Setup.ID())
	return nil
}

// simTraces makes the traces of each queried setup with the ground-truth simulator: calls
// requests more per call, as if traffic kept coming.
type simTraces struct {
	mu    sync.Mutex
	app   sim.App
	per   int // requests per setup per call
	calls int
	slow  map[string]float64 // setup ID → latency factor
}

var _ activities.TraceSource = (*simTraces)(nil)

func (s *simTraces) Traces(_ context.Context, q activities.TraceQuery) (activities.Traces, error) {
	s.mu.Lock()
	s.calls++
	n := s.per * s.calls
	s.mu.Unlock()
	var out activities.Traces
	for i, d := range q.Deployments {
		setup := d.Setup
		recs, reps := s.app.Measure(setup, n, uint64(i+1))
		if f := s.slow[d.Setup.ID()]; f > 0 {
			for j := range recs {
				recs[j].Duration = int64(float64(recs[j].Duration) * f)
			}
		}
		out.Records = append(out.Records, recs...)
		out.Reports = append(out.Reports, reps...)
	}
	return out, nil
}

// fakeClock advances by the waited duration at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	t := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- t
	return ch
}

type fixedPlanner struct{ p plan.Plan }

func (f fixedPlanner) Plan(in plan.Input) (plan.Plan, error) {
	if len(in.Profile.Setups) == 0 {
		return plan.Plan{}, errors.New("empty profile")
	}
	return f.p, nil
}

func newActs(t *testing.T, d activities.Deployer, tr activities.TraceSource) *activities.Activities {
	t.Helper()
	a, err := activities.New(activities.Options{Deployer: d, Traces: tr,
		Planners: map[string]plan.Planner{"fixed": fixedPlanner{plan.Plan{Converged: true, Reason: "fixed"}}},
		Clock:    &fakeClock{now: time.Unix(1_764_000_000, 0)}, PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an application error", err)
	}
	return ae
}

const (
	treeAllRemote = "A@128,B@128,C@128,D@128,E@128,F@128,G@128"
	treeFused     = "A+B+D+E@256,C+F+G@1024"
)

func TestNewValidates(t *testing.T) {
	if _, err := activities.New(activities.Options{}); err == nil {
		t.Fatal("no error for empty options")
	}
}

func TestDeployIdempotentAndInvalid(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	d := newFakeDeployer()
	acts := newActs(t, d, &simTraces{app: apps.Tree(), per: 10})
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	in := activities.DeployInput{App: "tree", Graph: apps.TreeGraph(), Setup: fusion.MustParseSetup(treeFused)}
	var first, second activities.Deployment
	for _, out := range []*activities.Deployment{&first, &second} {
		v, err := ae.ExecuteActivity(acts.Deploy, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(out); err != nil {
			t.Fatal(err)
		}
	}
	if first.Version != second.Version || d.creates != 2 {
		t.Fatalf("deploy twice: %+v %+v, %d functions created", first, second, d.creates)
	}

	// A setup text that does not parse cannot become a fusion.Setup (see fusion's
	// TestSetupJSON); one that parses but does not fit the app is the activity's to refuse.
	for _, bad := range []string{"A+B@256"} { // C..G missing
		_, err := ae.ExecuteActivity(acts.Deploy, activities.DeployInput{App: "tree", Graph: apps.TreeGraph(), Setup: fusion.MustParseSetup(bad)})
		if e := appError(t, err); e.Type() != activities.ErrInvalidSetup || !e.NonRetryable() {
			t.Errorf("setup %q: error %v", bad, err)
		}
	}

	d.fail = &activities.PermanentError{Err: errors.New("AccessDeniedException")}
	_, err := ae.ExecuteActivity(acts.Deploy, in)
	if e := appError(t, err); e.Type() != activities.ErrPermanent || !e.NonRetryable() {
		t.Errorf("permanent platform error: %v", err)
	}
	d.fail = errors.New("throttled")
	_, err = ae.ExecuteActivity(acts.Deploy, in)
	if e := appError(t, err); e.Type() != activities.ErrDeploy || e.NonRetryable() {
		t.Errorf("transient platform error: %v", err)
	}
}

func TestPlanRejectsBadInput(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	acts := newActs(t, newFakeDeployer(), &simTraces{app: apps.Tree(), per: 10})
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	cur := fusion.MustParseSetup(treeAllRemote)
	w := activities.Window{Start: time.Unix(1, 0), End: time.Unix(2, 0),
		Deployments: []activities.Deployment{{App: "tree", Setup: cur, Entry: "A"}}}
	base := activities.PlanInput{App: "tree", Graph: apps.TreeGraph(), Current: cur, Windows: []activities.Window{w}, Planner: "fixed"}

	bad := base
	bad.Policy = constraint.Spec{Constraints: []constraint.Rule{{Expr: "setup.groups.size() >"}}}
	_, err := ae.ExecuteActivity(acts.Plan, bad)
	if e := appError(t, err); e.Type() != activities.ErrInvalidPolicy || !e.NonRetryable() {
		t.Errorf("bad CEL: %v", err)
	}
	bad = base
	bad.Planner = "nope"
	_, err = ae.ExecuteActivity(acts.Plan, bad)
	if e := appError(t, err); e.Type() != activities.ErrUnknownPlanner || !e.NonRetryable() {
		t.Errorf("unknown planner: %v", err)
	}
	v, err := ae.ExecuteActivity(acts.Plan, base)
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := v.Get(&p); err != nil || !p.Converged {
		t.Fatalf("plan %+v %v", p, err)
	}
}

func deployment(text string) activities.Deployment {
	s := fusion.MustParseSetup(text)
	return activities.Deployment{App: "tree", Setup: s, Entry: "A", Version: s.ID()[:3]}
}

func TestObserveWaitsForSamples(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	tr := &simTraces{app: apps.Tree(), per: 10}
	acts := newActs(t, newFakeDeployer(), tr)
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	in := activities.ObserveInput{App: "tree", Deployments: []activities.Deployment{deployment(treeAllRemote), deployment(treeFused)},
		Start: time.Unix(1_764_000_000, 0), MinWarm: 35, MaxWait: time.Minute}
	obs := observe(t, ae, acts, in)
	if !obs.Enough || tr.calls < 4 || obs.Setups[0].Warm < 35 || obs.Setups[1].Metrics.MedianMS <= 0 {
		t.Fatalf("observation %+v after %d reads", obs, tr.calls)
	}

	// Not enough within MaxWait: returns what it saw.
	tr.calls = 0
	in.MinWarm = 1000
	in.MaxWait = 3 * time.Second
	if obs = observe(t, ae, acts, in); obs.Enough || tr.calls != 4 {
		t.Fatalf("observation %+v after %d reads", obs, tr.calls)
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name       string
		slow       float64
		acceptance string
		want       judge.Outcome
		accepted   bool
	}{
		{"faster passes", 0, "", judge.Pass, true},
		{"slower fails", 3, "", judge.Fail, false},
		{"policy rejects a pass", 0, "candidate.observed.cost_per_request < 0.0", judge.Pass, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env testsuite.WorkflowTestSuite
			stable, canary := deployment(treeAllRemote), deployment(treeFused)
			tr := &simTraces{app: apps.Tree(), per: 200, slow: map[string]float64{}}
			if tc.slow > 0 {
				tr.slow[canary.Setup.ID()] = tc.slow
			}
			acts := newActs(t, newFakeDeployer(), tr)
			ae := env.NewTestActivityEnvironment()
			ae.RegisterActivity(acts)
			in := activities.JudgeInput{App: "tree", Graph: apps.TreeGraph(), Stable: stable, Canary: canary,
				Window: activities.Window{Start: time.Unix(1, 0), End: time.Unix(2, 0), Deployments: []activities.Deployment{stable, canary}},
				Policy: constraint.Spec{Acceptance: constraint.Rule{Expr: tc.acceptance}}}
			v, err := ae.ExecuteActivity(acts.Judge, in)
			if err != nil {
				t.Fatal(err)
			}
			var out activities.Verdict
			if err := v.Get(&out); err != nil {
				t.Fatal(err)
			}
			if out.Outcome != tc.want || out.Accepted != tc.accepted || out.CanaryN < 50 || out.Canary.MedianMS <= 0 {
				t.Fatalf("verdict %+v", out)
			}
		})
	}
}

func TestRouteAndPromoteValidate(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	d := newFakeDeployer()
	acts := newActs(t, d, &simTraces{app: apps.Tree()})
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	_, err := ae.ExecuteActivity(acts.Route, activities.RouteInput{Stable: deployment(treeAllRemote), Canary: deployment(treeFused), Weight: 1.5})
	if e := appError(t, err); e.Type() != activities.ErrInvalidInput || !e.NonRetryable() {
		t.Errorf("weight 1.5: %v", err)
	}
	if _, err := ae.ExecuteActivity(acts.Route, activities.RouteInput{Stable: deployment(treeAllRemote), Canary: deployment(treeFused), Weight: 0.1}); err != nil {
		t.Fatal(err)
	}
	// A retried promote is harmless.
	for range 2 {
		if _, err := ae.ExecuteActivity(acts.Promote, deployment(treeFused)); err != nil {
			t.Fatal(err)
		}
	}
	if d.primary != deployment(treeFused).Version || d.weights != nil {
		t.Fatalf("alias %s %v", d.primary, d.weights)
	}
}

// TestObserveUsesTheAppsPrices observes the same traces with the default prices and with an
// app's arm64 prices. Catches Observe pricing with the worker's defaults whatever the app's
// configured architecture and prices (config values checked and then ignored).
func TestObserveUsesTheAppsPrices(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	cost := func(prices *fusion.Prices) float64 {
		acts := newActs(t, newFakeDeployer(), &simTraces{app: apps.Tree(), per: 50})
		ae := env.NewTestActivityEnvironment()
		ae.RegisterActivity(acts)
		in := activities.ObserveInput{App: "tree", Deployments: []activities.Deployment{deployment(treeAllRemote)},
			Start: time.Unix(1_764_000_000, 0), MinWarm: 20, MaxWait: time.Minute, Prices: prices}
		return observe(t, ae, acts, in).Setups[0].Metrics.CostPerRequest
	}
	x86 := cost(nil)
	arm := cost(&fusion.Prices{Arch: fusion.ARM64})
	dear := cost(&fusion.Prices{Arch: fusion.ARM64, ARM64GBSecond: 1e-3})
	if x86 <= 0 || arm >= x86 || dear <= 10*x86 {
		t.Errorf("cost per request: default %.4g $, arm64 %.4g $, arm64 at 1e-3 $/GB-s %.4g $: want arm64 cheaper, its own price used", x86, arm, dear)
	}
}

func observe(t *testing.T, ae *testsuite.TestActivityEnvironment, acts *activities.Activities, in activities.ObserveInput) activities.Observation {
	t.Helper()
	v, err := ae.ExecuteActivity(acts.Observe, in)
	if err != nil {
		t.Fatal(err)
	}
	var obs activities.Observation
	if err := v.Get(&obs); err != nil {
		t.Fatal(err)
	}
	return obs
}
