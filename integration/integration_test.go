// Package integration tests Fusionize end to end: a real Temporal server started in-process
// (go.temporal.io/server/temporaltest, SQLite in memory), the real local platform
// (platform/local) running the Tree sample's bundle, platform/lambda talking to it through
// the real aws-sdk-go-v2 clients, Fusionize's workflows and activities on a real worker, and
// a bounded load generator invoking the app's live alias the way outside clients do.
package integration

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/internal/quiet"
	"github.com/fusionize/fusionize/optimizer"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/runtime/bundle"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/temporalprom"
	"github.com/fusionize/fusionize/workflows"
)

// workScale makes the Tree's 500 ms waits 25 ms and its CPU work a twentieth.
const workScale = "0.05"

var (
	treeZip    string // built once per test binary by TestMain
	skipReason string // set when the integration tests are to be skipped
)

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) != "" {
		runWorkerProcess()
		return
	}
	if os.Getenv("FUSIONIZE_SKIP_INTEGRATION") != "" {
		// Every test says it is skipped (newStack skips), rather than the package passing
		// without running anything.
		skipReason = "FUSIONIZE_SKIP_INTEGRATION is set"
		os.Exit(m.Run())
	}
	// The tests load the machine: a test that measures latency live waits for them (package quiet).
	if err := quiet.Share(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "fusionize-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	arts, err := bundle.Build(context.Background(), bundle.Options{Package: "./samples/cmd/tree", Dir: "..", OutDir: dir, Archs: []string{goruntime.GOARCH}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: bundle the tree sample:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	treeZip = arts[0].Zip
	code := m.Run()
	printFaultTable()
	os.RemoveAll(dir)
	os.Exit(code)
}

type stack struct {
	t    *testing.T
	ts   *temporaltest.TestServer
	c    client.Client
	plat *local.Platform
	// dataDir is the platform's data directory (a restarted platform keeps it).
	dataDir string
	lam     *plambda.Platform
	client  *awslambda.Client
	graph   fusion.Graph
}

// newStack is the platform side (newPlatformStack) and a temporaltest server.
func newStack(t *testing.T) *stack {
	t.Helper()
	s := newPlatformStack(t)
	s.ts = temporaltest.NewServer(temporaltest.WithT(t))
	s.c = s.ts.GetDefaultClient()
	return s
}

// newPlatformStack starts the local platform with the Tree's adapter and Lambda client; the
// caller gives it a Temporal server and client.
func newPlatformStack(t *testing.T) *stack {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	dir := t.TempDir()
	plat, err := local.New(local.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, plat: plat, dataDir: dir, graph: samples.Tree().Graph}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.plat.Close(ctx); err != nil { // the platform a test restarted, if it did
			t.Logf("close local platform: %v", err)
		}
	})
	s.lam = s.newLambda(workScale)
	s.client = awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(plat.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	return s
}

func (s *stack) newLambda(scale string) *plambda.Platform {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	p, err := plambda.New(context.Background(), plambda.Options{
		AWSConfig: &cfg, Endpoint: s.plat.Endpoint(),
		Bundles:      map[string]plambda.Bundle{"tree": {Zip: treeZip, Arch: goruntime.GOARCH, S3Bucket: local.CodeBucket, S3Key: treeZip}},
		Role:         "arn:aws:iam::000000000000:role/fusionize-test",
		Environment:  map[string]string{"FUSIONIZE_WORK_SCALE": scale},
		WaitMinDelay: 100 * time.Millisecond,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *stack) activities(d activities.Deployer, planners map[string]plan.Planner) *activities.Activities {
	if d == nil {
		d = s.lam
	}
	acts, err := activities.New(activities.Options{Deployer: d, Traces: s.lam, Planners: planners, PollInterval: 500 * time.Millisecond})
	if err != nil {
		s.t.Fatal(err)
	}
	return acts
}

// startWorker starts a worker with Fusionize registered through its plugin.
func (s *stack) startWorker(acts *activities.Activities, c client.Client) worker.Worker {
	s.t.Helper()
	if c == nil {
		c = s.c
	}
	plugin, err := workflows.NewPlugin(acts)
	if err != nil {
		s.t.Fatal(err)
	}
	w := worker.New(c, workflows.TaskQueue, worker.Options{Plugins: []worker.Plugin{plugin}})
	if err := w.Start(); err != nil {
		s.t.Fatal(err)
	}
	return w
}

// load invokes tree:live from a few goroutines until stopped; it counts requests and errors.
type load struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	stop       context.CancelFunc
	done       sync.WaitGroup
}

func (s *stack) startLoad(workers int, pause time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	payload := samples.Tree().Request
	for range workers {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for ctx.Err() == nil {
				out, err := s.client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("tree"), Qualifier: aws.String(plambda.DefaultAlias), Payload: payload})
				switch {
				case ctx.Err() != nil:
					return
				case err != nil && l.ok.Load() == 0:
					time.Sleep(200 * time.Millisecond) // the first setup is not live yet
					continue
				case err != nil:
					l.failed.Add(1)
					l.lastErr.Store(err.Error())
					time.Sleep(200 * time.Millisecond) // alias not there yet
				case out.FunctionError != nil:
					l.failed.Add(1)
					l.lastErr.Store(string(out.Payload))
				default:
					l.ok.Add(1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	return l
}

func (l *load) Stop() { l.stop(); l.done.Wait() }

func (s *stack) status(id string) workflows.Status {
	v, err := s.c.QueryWorkflow(context.Background(), id, "", workflows.QueryStatus)
	var st workflows.Status
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		s.t.Logf("status query: %v", err)
	}
	return st
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *stack) settings() workflows.Settings {
	return workflows.Settings{
		App: "tree", Graph: s.graph, MemorySizes: []int{128, 512, 1024},
		Canary: workflows.CanaryPolicy{Weights: []float64{0.3, 0.5}, Window: 20 * time.Second, MinSamples: 30,
			OnInconclusive: workflows.Extend, MaxExtensions: 1, Drain: 2 * time.Second},
		Collect: workflows.CollectPolicy{MinRequests: 40, Window: 20 * time.Second},
	}
}

func (s *stack) update(id, name string) (workflows.Status, error) {
	h, err := s.c.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name,
		Args: []any{"integration test"}, WaitForStage: client.WorkflowUpdateStageCompleted})
	var st workflows.Status
	if err == nil {
		err = h.Get(context.Background(), &st)
	}
	return st, err
}

// checkClean checks that the alias routes to the current setup alone and that only the
// current setup's functions and entry version remain.
func (s *stack) checkClean(cur activities.Deployment) {
	t := s.t
	t.Helper()
	primary, weights, ok, err := s.lam.Live(context.Background(), "tree")
	if err != nil || !ok || primary != cur.Version || len(weights) != 0 {
		t.Errorf("alias tree:live → %s %v (ok %t, %v), want version %s alone", primary, weights, ok, err, cur.Version)
	}
	var fns []string
	for _, f := range s.plat.Status().Functions {
		fns = append(fns, f.Name)
		if f.Name == "tree" {
			var setups []string
			for _, v := range f.Versions {
				out, err := s.client.GetFunctionConfiguration(context.Background(), &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String("tree"), Qualifier: aws.String(v)})
				if err != nil {
					t.Errorf("version %s: %v", v, err)
					continue
				}
				setups = append(setups, aws.ToString(out.Description))
			}
			if !slices.Equal(setups, []string{"fusionize setup " + cur.Setup.ID()}) {
				t.Errorf("entry versions %v describe %v, want only the current setup %s", f.Versions, setups, cur.Setup.ID())
			}
		}
	}
	want := append([]string{"tree"}, cur.Functions...)
	sort.Strings(want)
	sort.Strings(fns)
	if !slices.Equal(fns, want) {
		t.Errorf("functions %v, want %v", fns, want)
	}
}

func (s *stack) result(run client.WorkflowRun, timeout time.Duration) workflows.OptimizerResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var res workflows.OptimizerResult
	if err := run.Get(ctx, &res); err != nil {
		s.t.Fatalf("optimizer: %v", err)
	}
	return res
}

func logRecords(t *testing.T, rs []workflows.CycleRecord) {
	for _, r := range rs {
		t.Logf("cycle %d %s: baseline %s observed median %.1f ms cost %.3g $; candidate %s predicted %.1f ms %.3g $, observed %.1f ms %.3g $; verdict %s; %s",
			r.Cycle, r.Outcome, r.Baseline, r.BaselineObserved.MedianMS, r.BaselineObserved.CostPerRequest,
			r.Candidate, r.Predicted.MedianMS, r.Predicted.CostPerRequest, r.CandidateObserved.MedianMS, r.CandidateObserved.CostPerRequest,
			r.Verdict, r.Reason)
	}
}

// TestTreeConverges optimizes the Tree sample from all-remote to convergence with the model
// planner on live load.
func TestTreeConverges(t *testing.T) {
	s := newStack(t)
	reg := prometheus.NewRegistry()
	acts := s.activities(nil, map[string]plan.Planner{activities.PlannerModel: plan.NewModel(plan.ModelOptions{
		MeasurementRequests: 30, FinalRequests: 400, Replicates: 4})})
	handler, err := temporalprom.NewHandler(reg)
	if err != nil {
		t.Fatal(err)
	}
	w := s.startWorker(acts, s.ts.NewClientWithOptions(client.Options{MetricsHandler: handler}))
	defer w.Stop()
	l := s.startLoad(4, 20*time.Millisecond)
	defer l.Stop()

	in := workflows.OptimizerInput{Settings: s.settings(), StopWhenConverged: true, MaxCycles: 12}
	start := time.Now()
	run, err := optimizer.Start(context.Background(), s.c, in, optimizer.StartOptions{RegisterSearchAttributes: true, Namespace: s.ts.GetDefaultNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	res := s.result(run, 5*time.Minute)
	l.Stop()
	t.Logf("optimizer: %d cycles in %v, converged %t, final setup %s; load %d requests ok, %d failed (%v)",
		res.Cycles, time.Since(start).Round(time.Second), res.Converged, res.Current.Setup, l.ok.Load(), l.failed.Load(), l.lastErr.Load())
	logRecords(t, res.Records)
	if !res.Converged {
		t.Errorf("not converged after %d cycles", res.Cycles)
	}
	if n := l.failed.Load(); n > l.ok.Load()/100 {
		t.Errorf("%d of %d requests failed during the optimization: %v", n, n+l.ok.Load(), l.lastErr.Load())
	}
	s.checkClean(res.Current)
	first := res.Records[0].BaselineObserved
	last := res.Records[len(res.Records)-1].BaselineObserved
	t.Logf("Tree median latency %.1f ms → %.1f ms, cost per request %.3g $ → %.3g $", first.MedianMS, last.MedianMS, first.CostPerRequest, last.CostPerRequest)
	// Fusing Tree's sync chain A→B→D→E removes three remote waits: the optimizer must have
	// promoted something and ended faster than all remote.
	promoted := slices.ContainsFunc(res.Records, func(r workflows.CycleRecord) bool { return r.Outcome == workflows.Promoted })
	if !promoted || !(last.MedianMS < first.MedianMS) {
		t.Errorf("promoted %t, median %.1f ms → %.1f ms: want a promotion that lowered the median", promoted, first.MedianMS, last.MedianMS)
	}

	// The search attributes are registered and set.
	waitFor(t, 30*time.Second, "the optimizer in visibility by FusionizeApp", func() bool {
		out, err := s.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "FusionizeApp = 'tree'"})
		return err == nil && len(out.Executions) > 0
	})
	// The worker's metrics: the workflows' own and the SDK's.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"fusionize_cycles_total", "fusionize_phase", "temporal_workflow_completed_total", "temporal_activity_execution_latency_seconds"} {
		if !have[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	recordHistories(t, s.c, run.GetID(), "", res.Cycles)
}

// fixedPlanner proposes one candidate until it has been tried, then converges.
type fixedPlanner struct{ candidate fusion.Setup }

func (f fixedPlanner) Plan(in plan.Input) (plan.Plan, error) {
	for _, tr := range in.History {
		if tr.Setup.ID() == f.candidate.ID() {
			return plan.Plan{Planner: "fixed", Converged: true, Reason: "candidate tried"}, nil
		}
	}
	if in.Current.ID() == f.candidate.ID() {
		return plan.Plan{Planner: "fixed", Converged: true, Reason: "candidate live"}, nil
	}
	return plan.Plan{Planner: "fixed", Reason: "fixed candidate", Candidates: []plan.Candidate{{Setup: f.candidate,
		Predicted: plan.Prediction{Metrics: constraint.Metrics{MedianMS: 1}}}}}, nil
}

const treeFused = "A+B+D+E@512,C+F+G@512"

// slowDeployer deploys one setup with a larger work scale: the candidate is made slower on
// purpose, for real.
type slowDeployer struct {
	*plambda.Platform
	slow   *plambda.Platform
	slowID string
}

func (d slowDeployer) Deploy(ctx context.Context, req activities.DeployRequest) (activities.Deployment, error) {
	if req.Setup.ID() == d.slowID {
		return d.slow.Deploy(ctx, req)
	}
	return d.Platform.Deploy(ctx, req)
}

// TestSlowCandidateRolledBack canaries a candidate made four times slower and expects the
// judge to fail it and the cycle to roll back and clean up.
func TestSlowCandidateRolledBack(t *testing.T) {
	s := newStack(t)
	cand := fusion.MustParseSetup(treeFused)
	dep := slowDeployer{Platform: s.lam, slow: s.newLambda("0.2"), slowID: cand.ID()}
	acts := s.activities(dep, map[string]plan.Planner{"fixed": fixedPlanner{cand}})
	w := s.startWorker(acts, nil)
	defer w.Stop()
	l := s.startLoad(4, 20*time.Millisecond)
	defer l.Stop()
	set := s.settings()
	set.Planner = "fixed"
	run, err := optimizer.Start(context.Background(), s.c, workflows.OptimizerInput{Settings: set, StopWhenConverged: true}, optimizer.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := s.result(run, 3*time.Minute)
	logRecords(t, res.Records)
	if len(res.Records) != 2 || res.Records[0].Outcome != workflows.RolledBack || res.Records[0].Verdict != "fail" {
		t.Fatalf("records %+v", res.Records)
	}
	if res.Current.Setup.ID() == cand.ID() {
		t.Fatal("the slow candidate is live")
	}
	if r := res.Records[0]; r.CandidateObserved.MedianMS < 2*r.BaselineObserved.MedianMS {
		t.Errorf("candidate observed %.1f ms, baseline %.1f ms: not slower", r.CandidateObserved.MedianMS, r.BaselineObserved.MedianMS)
	}
	s.checkClean(res.Current)
}

// TestPauseResume pauses the optimizer during a canary and resumes it.
func TestPauseResume(t *testing.T) {
	s := newStack(t)
	cand := fusion.MustParseSetup(treeFused)
	acts := s.activities(nil, map[string]plan.Planner{"fixed": fixedPlanner{cand}})
	w := s.startWorker(acts, nil)
	defer w.Stop()
	l := s.startLoad(4, 20*time.Millisecond)
	defer l.Stop()
	set := s.settings()
	set.Planner = "fixed"
	// The acceptance rule promotes whatever the judge says, so the outcome is known: this
	// test is about pausing, not about judging.
	set.Policy.Acceptance = constraint.Rule{Name: "always", Expr: "true"}
	run, err := optimizer.Start(context.Background(), s.c, workflows.OptimizerInput{Settings: set, StopWhenConverged: true}, optimizer.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := run.GetID()
	waitFor(t, 2*time.Minute, "the canary", func() bool { return s.status(id).Phase == workflows.PhaseCanary })
	st, err := s.update(id, workflows.UpdatePause)
	if err != nil || !st.Paused {
		t.Fatalf("pause: %+v %v", st, err)
	}
	// The cycle stops at its next checkpoint (the end of the canary step) and stays there.
	deadline := time.Now().Add(time.Minute)
	for s.status(id).Phase != workflows.PhasePaused {
		if time.Now().After(deadline) {
			t.Fatalf("not paused: optimizer %+v, cycle %+v", s.status(id), s.status(id+"-cycle-1"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if st := s.status(id); st.Phase != workflows.PhasePaused || st.Step != 2 || st.Weight != 0.5 {
		t.Fatalf("status while paused: %+v", st)
	}
	if _, err := s.update(id, workflows.UpdateResume); err != nil {
		t.Fatal(err)
	}
	res := s.result(run, 2*time.Minute)
	logRecords(t, res.Records)
	if len(res.Records) != 2 || res.Records[0].Outcome != workflows.Promoted || res.Current.Setup.ID() != cand.ID() {
		t.Fatalf("records %+v, current %s: want the candidate promoted after the resume", res.Records, res.Current.Setup)
	}
	s.checkClean(res.Current)
}

// TestWorkerRestartMidCanary stops the worker during a canary and starts a new one: the
// cycle resumes where it was and deploys nothing twice.
func TestWorkerRestartMidCanary(t *testing.T) {
	s := newStack(t)
	cand := fusion.MustParseSetup(treeFused)
	planners := map[string]plan.Planner{"fixed": fixedPlanner{cand}}
	w := s.startWorker(s.activities(nil, planners), nil)
	l := s.startLoad(4, 20*time.Millisecond)
	defer l.Stop()
	set := s.settings()
	set.Planner = "fixed"
	run, err := optimizer.Start(context.Background(), s.c, workflows.OptimizerInput{Settings: set, StopWhenConverged: true}, optimizer.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := run.GetID()
	waitFor(t, 2*time.Minute, "the canary", func() bool { return s.status(id).Phase == workflows.PhaseCanary })
	w.Stop()
	time.Sleep(2 * time.Second)
	w = s.startWorker(s.activities(nil, planners), nil) // a new process would build all of this anew
	defer w.Stop()
	res := s.result(run, 3*time.Minute)
	logRecords(t, res.Records)
	if len(res.Records) != 2 {
		t.Fatalf("records %+v", res.Records)
	}
	// One Deploy per setup: the initial one and the candidate, whatever the restart did.
	deploys := s.deploys(id, id+"-cycle-1")
	for setup, n := range deploys {
		if n != 1 {
			t.Errorf("setup %s scheduled for deployment %d times", setup, n)
		}
	}
	if len(deploys) != 2 {
		t.Errorf("deployments %v, want the initial setup and the candidate", deploys)
	}
	s.checkClean(res.Current)
}

// recordHistories writes the optimizer's (its run runID; "" for the latest) and its first
// cycles' histories to workflows/testdata when FUSIONIZE_RECORD_HISTORY is set, for the
// workflows' replay tests.
func recordHistories(t *testing.T, c client.Client, id, runID string, cycles int) {
	if os.Getenv("FUSIONIZE_RECORD_HISTORY") == "" {
		return
	}
	ids := []string{id}
	for i := 1; i <= cycles; i++ {
		ids = append(ids, fmt.Sprintf("%s-cycle-%d", id, i))
	}
	for _, wid := range ids {
		var h historypb.History
		run := ""
		if wid == id {
			run = runID
		}
		it := c.GetWorkflowHistory(context.Background(), wid, run, false, 0)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, e)
		}
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(wid, "fusionize-optimizer-")
		path := filepath.Join("..", "workflows", "testdata", "history-"+name+".json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s (%d events)", path, len(h.Events))
	}
}
