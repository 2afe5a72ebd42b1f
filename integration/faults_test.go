package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.temporal.io/sdk/client"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/devserver"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/optimizer"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/samples/work"
	"github.com/fusionize/fusionize/workflows"
)

// The fault tests inject one fault each into a live optimization of the Tree sample (real
// Temporal server, real local platform, real aws-sdk-go-v2 clients, load on the live alias)
// and check that live traffic is served as the user agreed. Each adds a row to the table
// that TestMain prints after the tests (go test ./integration -run Fault -v):
// scenario, expected, observed.

var faultTable struct {
	sync.Mutex
	rows [][4]string
}

// faultRow records one scenario's row, passed or FAILED as the test ends.
func faultRow(t *testing.T, scenario, expected string, observed *string) {
	t.Cleanup(func() {
		verdict := "passed"
		if t.Failed() {
			verdict = "FAILED"
		}
		faultTable.Lock()
		defer faultTable.Unlock()
		faultTable.rows = append(faultTable.rows, [4]string{scenario, expected, *observed, verdict})
	})
}

// printFaultTable prints the rows of the fault tests that ran.
func printFaultTable() {
	faultTable.Lock()
	defer faultTable.Unlock()
	if len(faultTable.rows) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nscenario\texpected\tobserved\ttest")
	for _, r := range faultTable.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[3])
	}
	w.Flush()
}

// loadRate is the requests per second the load made so far.
func (l *load) rate(since time.Time) float64 {
	return float64(l.ok.Load()+l.failed.Load()) / time.Since(since).Seconds()
}

// faultLoad is about 50 requests/s on tree:live (five clients, each a request of about
// 80 ms at the tests' work scale and a 20 ms pause).
func (s *stack) faultLoad() (*load, time.Time) {
	return s.startLoad(5, 20*time.Millisecond), time.Now()
}

// faultSettings are the stack's settings with the fixed planner proposing treeFused.
func (s *stack) faultSettings() workflows.Settings {
	set := s.settings()
	set.Planner = "fixed"
	return set
}

// failingPublish fails, with a 500 from the platform, every PublishVersion of the entry
// function for one setup: the setup's other functions are created first, so its deploy
// fails half-way.
type failingPublish struct {
	next    http.RoundTripper
	setupID string
	created atomic.Int64 // functions created before the failure
	failed  atomic.Int64
}

func (f *failingPublish) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case strings.HasSuffix(r.URL.Path, "/versions") && bytes.Contains(body, []byte(f.setupID)):
			f.failed.Add(1)
			return &http.Response{StatusCode: http.StatusInternalServerError, Request: r,
				Header: http.Header{"X-Amzn-Errortype": {"ServiceException"}, "Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(`{"Type":"Service","message":"injected: publish failed"}`))}, nil
		case strings.HasSuffix(r.URL.Path, "/functions") && f.failed.Load() == 0:
			f.created.Add(1)
		}
	}
	return f.next.RoundTrip(r)
}

// lambdaWith is a platform/lambda adapter on the stack's platform with its own extra
// environment for the functions and its own HTTP transport (nil: the default).
func (s *stack) lambdaWith(env map[string]string, rt http.RoundTripper) *plambda.Platform {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	e := map[string]string{work.EnvScale: workScale}
	for k, v := range env {
		e[k] = v
	}
	p, err := plambda.New(context.Background(), plambda.Options{
		AWSConfig: &cfg, Endpoint: s.plat.Endpoint(),
		Bundles:      map[string]plambda.Bundle{"tree": {Zip: treeZip, Arch: goruntime.GOARCH, S3Bucket: local.CodeBucket, S3Key: treeZip}},
		Role:         "arn:aws:iam::000000000000:role/fusionize-test",
		Environment:  e,
		WaitMinDelay: 100 * time.Millisecond,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// TestFaultDeployFailsHalfway: the candidate's non-entry function is created, then publishing
// its entry version fails for good. The cycle must end deploy-failed with the serving setup
// untouched (not one failed request) and the half-made candidate deleted. It catches a cycle
// that leaves the created function behind, and one that touches the alias before its
// candidate is deployed.
func TestFaultDeployFailsHalfway(t *testing.T) {
	observed := "did not finish"
	faultRow(t, "deploy fails half-way (entry version publish fails, 500)", "deploy-failed; 0 failed requests; partial candidate deleted", &observed)
	s := newStack(t)
	cand := fusion.MustParseSetup(treeFused)
	fault := &failingPublish{next: http.DefaultTransport, setupID: cand.ID()}
	res, _, l, since := s.faultRun(s.lambdaWith(nil, fault), map[string]plan.Planner{"fixed": fixedPlanner{cand}}, s.faultSettings())
	observed = fmt.Sprintf("%s; %d failed of %d requests (%.0f/s); %d CreateFunction calls (initial setup and candidate) before the first of %d failed publishes",
		res.Records[0].Outcome, l.failed.Load(), l.ok.Load()+l.failed.Load(), l.rate(since), fault.created.Load(), fault.failed.Load())
	if len(res.Records) != 2 || res.Records[0].Outcome != workflows.DeployFailed || res.Current.Setup.ID() == cand.ID() {
		t.Fatalf("records %+v: want the first cycle deploy-failed, the next converged (the candidate not tried again) and the initial setup serving", res.Records)
	}
	if r := res.Records[0].Reason; len(r) > 400 {
		t.Errorf("the reason a user reads is %d bytes long: %s", len(r), r)
	}
	if fault.created.Load() == 0 || fault.failed.Load() == 0 {
		t.Fatalf("the fault did not happen half-way: %d functions created, %d publishes failed", fault.created.Load(), fault.failed.Load())
	}
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d requests failed (last: %v)", n, l.lastErr.Load())
	}
	s.checkClean(res.Current)
}

// TestFaultErroringCandidate: the candidate fails every request (its functions run with
// FUSIONIZE_WORK_FAIL=1). The judge must fail it on its errors at the first canary step and
// the cycle roll it back: failed requests are the candidate's share of one step, no more.
// It catches a judge that counts failed requests as fast ones, or that waits for warm
// samples the candidate never gives (extending the step while it fails requests).
func TestFaultErroringCandidate(t *testing.T) {
	observed := "did not finish"
	faultRow(t, "candidate fails every request", "rolled back at the first step, decided by errors", &observed)
	s := newStack(t)
	cand := fusion.MustParseSetup(treeFused)
	dep := slowDeployer{Platform: s.lam, slow: s.lambdaWith(map[string]string{work.EnvFail: "1"}, nil), slowID: cand.ID()}
	res, run, l, since := s.faultRun(dep, map[string]plan.Planner{"fixed": fixedPlanner{cand}}, s.faultSettings())
	r := res.Records[0]
	judged := s.activityCount(run.GetID()+"-cycle-1", workflows.ActivityPrefix+"Judge")
	observed = fmt.Sprintf("%s after %d judged step(s): %s; %d failed of %d requests (%.0f/s)",
		r.Outcome, judged, r.Reason, l.failed.Load(), l.ok.Load()+l.failed.Load(), l.rate(since))
	if r.Outcome != workflows.RolledBack || r.Verdict != judge.Fail || !strings.Contains(r.Reason, "decided by errors") {
		t.Fatalf("record %+v: want rolled back, failed on errors", r)
	}
	if judged != 1 {
		t.Errorf("judged %d times: want the first step to decide", judged)
	}
	if l.failed.Load() == 0 {
		t.Error("no request failed: the candidate never served")
	}
	s.checkClean(res.Current)
}

// TestFaultPromoteAndRollBackUnderLoad: a promotion (the acceptance rule promotes whatever
// the judge says) and then a rollback (the next candidate does twice the work, so about
// twice as slow) at about 50 requests/s: the slow candidate must be rolled back at its first
// canary step, and not one request may fail while the alias moves, versions drain and the
// losers' functions are deleted.
func TestFaultPromoteAndRollBackUnderLoad(t *testing.T) {
	observed := "did not finish"
	faultRow(t, "promotion, then a 2× slower candidate, under ~50 requests/s", "promoted, then rolled back at the first step; 0 failed requests", &observed)
	s := newStack(t)
	first := fusion.MustParseSetup(treeFused)
	second := fusion.MustParseSetup("A+B+C+D+E+F+G@512")
	dep := slowDeployer{Platform: s.lam, slow: s.lambdaWith(map[string]string{work.EnvScale: "0.1"}, nil), slowID: second.ID()}
	set := s.settings()
	set.Planner = "two"
	// Promote the first candidate whatever the judge says; the second is judged.
	set.Policy.Acceptance = constraint.Rule{Name: "first always", Expr: `verdict.outcome == "pass" || candidate.setup.groups.size() == 2`}
	res, run, l, since := s.faultRun(dep, map[string]plan.Planner{"two": &sequencePlanner{setups: []fusion.Setup{first, second}}}, set)
	var got []string
	for _, r := range res.Records {
		got = append(got, string(r.Outcome))
	}
	judged := s.activityCount(run.GetID()+"-cycle-2", workflows.ActivityPrefix+"Judge")
	observed = fmt.Sprintf("%s (the slow one judged at %d step(s), %.1f× the median); %d failed of %d requests (%.0f/s)", strings.Join(got, ", "), judged,
		slowdown(res.Records), l.failed.Load(), l.ok.Load()+l.failed.Load(), l.rate(since))
	if len(res.Records) != 3 || res.Records[0].Outcome != workflows.Promoted || res.Records[1].Outcome != workflows.RolledBack {
		t.Fatalf("records %+v: want promoted, rolled back, converged", res.Records)
	}
	if judged != 1 {
		t.Errorf("the slow candidate was judged at %d steps: want it rolled back at its first", judged)
	}
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d requests failed (last: %v)", n, l.lastErr.Load())
	}
	if r := l.rate(since); r < 35 {
		t.Errorf("load ran at %.0f requests/s, want about 50", r)
	}
	s.checkClean(res.Current)
}

// slowdown is the second cycle's candidate median over its baseline's.
func slowdown(rs []workflows.CycleRecord) float64 {
	if len(rs) < 2 || rs[1].BaselineObserved.MedianMS <= 0 {
		return 0
	}
	return rs[1].CandidateObserved.MedianMS / rs[1].BaselineObserved.MedianMS
}

// sequencePlanner proposes its setups one per cycle, then converges.
type sequencePlanner struct {
	mu     sync.Mutex
	setups []fusion.Setup
}

func (p *sequencePlanner) Plan(in plan.Input) (plan.Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.setups {
		tried := in.Current.Equal(s)
		for _, tr := range in.History {
			tried = tried || tr.Setup.Equal(s)
		}
		if !tried {
			return plan.Plan{Planner: "two", Reason: "next in sequence", Candidates: []plan.Candidate{{Setup: s,
				Predicted: plan.Prediction{Metrics: constraint.Metrics{MedianMS: 1}}}}}, nil
		}
	}
	return plan.Plan{Planner: "two", Converged: true, Reason: "sequence done"}, nil
}

// TestFaultPlatformRestartMidCanary: the local platform is closed during a canary and started
// again on its address and data directory 3 s later. The cycle must go on (its activities
// retry) and end with the candidate promoted (the acceptance rule promotes whatever the
// judge says), the alias serving and nothing orphaned. It catches activities that give up
// on a platform that is briefly away, and state lost across the platform's restart.
func TestFaultPlatformRestartMidCanary(t *testing.T) {
	observed := "did not finish"
	faultRow(t, "local platform restarted mid-canary", "cycle goes on and ends; alias serves after; nothing orphaned", &observed)
	s := newStack(t)
	cand := fusion.MustParseSetup(treeFused)
	acts := s.activities(nil, map[string]plan.Planner{"fixed": fixedPlanner{cand}})
	w := s.startWorker(acts, nil)
	defer w.Stop()
	l, since := s.faultLoad()
	defer l.Stop()
	set := s.faultSettings()
	set.Policy.Acceptance = constraint.Rule{Name: "always", Expr: "true"}
	run := s.startOptimizer(set)
	id := run.GetID()
	waitFor(t, 2*time.Minute, "the canary", func() bool { return s.status(id).Phase == workflows.PhaseCanary })
	downtime := s.restartPlatform(3 * time.Second)
	okAtRestart := l.ok.Load()
	res := s.result(run, 4*time.Minute)
	time.Sleep(2 * time.Second)
	served := l.ok.Load() - okAtRestart
	l.Stop()
	logRecords(t, res.Records)
	observed = fmt.Sprintf("%s; platform away %v; %d requests served after the restart, %d failed of %d (%.0f/s)",
		res.Records[0].Outcome, downtime.Round(100*time.Millisecond), served, l.failed.Load(), l.ok.Load()+l.failed.Load(), l.rate(since))
	if res.Records[0].Outcome != workflows.Promoted || res.Current.Setup.ID() != cand.ID() {
		t.Fatalf("records %+v: want the candidate promoted after the restart", res.Records)
	}
	if served == 0 {
		t.Error("no request served after the restart")
	}
	s.checkClean(res.Current)
}

// faultRun runs an optimization with set to its end on a worker deploying through d with the
// planners, under faultLoad, and returns its result, its run and the stopped load.
func (s *stack) faultRun(d activities.Deployer, planners map[string]plan.Planner, set workflows.Settings) (workflows.OptimizerResult, client.WorkflowRun, *load, time.Time) {
	s.t.Helper()
	w := s.startWorker(s.activities(d, planners), nil)
	defer w.Stop()
	l, since := s.faultLoad()
	run := s.startOptimizer(set)
	res := s.result(run, 4*time.Minute)
	l.Stop()
	logRecords(s.t, res.Records)
	return res, run, l, since
}

// startOptimizer starts an optimizer that stops when it converges.
func (s *stack) startOptimizer(set workflows.Settings) client.WorkflowRun {
	s.t.Helper()
	run, err := optimizer.Start(context.Background(), s.c, workflows.OptimizerInput{Settings: set, StopWhenConverged: true}, optimizer.StartOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return run
}

// restartPlatform closes the local platform and starts it again on the same address and
// data directory after pause; it returns how long the platform was away.
func (s *stack) restartPlatform(pause time.Duration) time.Duration {
	s.t.Helper()
	addr := strings.TrimPrefix(s.plat.Endpoint(), "http://")
	dir := s.dataDir
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.plat.Close(ctx); err != nil {
		s.t.Fatalf("close the platform: %v", err)
	}
	time.Sleep(pause)
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment
		if s.plat, err = local.New(local.Options{Addr: addr, DataDir: dir, Logger: slog.New(slog.DiscardHandler)}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("start the platform again: %v", err)
	}
	return time.Since(start)
}

// activityCount counts the activities of that type a workflow scheduled.
func (s *stack) activityCount(id, activityType string) int {
	s.t.Helper()
	n := 0
	it := s.c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			s.t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activityType {
			n++
		}
	}
	return n
}

// TestFaultTemporalRestartMidCycle: the Temporal dev server (cli/devserver, SQLite on disk,
// as `fusionize dev` runs it) is stopped during a canary and started again on its data
// directory 3 s later. Live traffic must not notice (not one failed request: the platform
// serves the alias without Temporal), and the cycle must go on from its history and end
// with the candidate promoted (the acceptance rule promotes whatever the judge says), with
// nothing orphaned. It catches a cycle or worker that does not survive its server's restart.
func TestFaultTemporalRestartMidCycle(t *testing.T) {
	observed := "did not finish"
	faultRow(t, "Temporal dev server restarted mid-canary", "cycle goes on and ends; 0 failed requests; nothing orphaned", &observed)
	s := newPlatformStack(t)
	port := freePort(t)
	srv, err := devserver.New(devserver.Options{DataDir: t.TempDir(), FrontendPort: port, UIPort: devserver.NoUI,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	s.c, err = client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: slogDiscard{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	cand := fusion.MustParseSetup(treeFused)
	w := s.startWorker(s.activities(nil, map[string]plan.Planner{"fixed": fixedPlanner{cand}}), nil)
	defer w.Stop()
	l, since := s.faultLoad()
	defer l.Stop()
	set := s.faultSettings()
	set.Policy.Acceptance = constraint.Rule{Name: "always", Expr: "true"}
	run := s.startOptimizer(set)
	id := run.GetID()
	waitFor(t, 2*time.Minute, "the canary", func() bool { return s.status(id).Phase == workflows.PhaseCanary })
	stopped := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop the dev server: %v", err)
	}
	time.Sleep(3 * time.Second)
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start the dev server again: %v", err)
	}
	away := time.Since(stopped)
	res := s.result(run, 4*time.Minute)
	l.Stop()
	logRecords(t, res.Records)
	observed = fmt.Sprintf("%s; Temporal away %v; %d failed of %d requests (%.0f/s)",
		res.Records[0].Outcome, away.Round(100*time.Millisecond), l.failed.Load(), l.ok.Load()+l.failed.Load(), l.rate(since))
	if res.Records[0].Outcome != workflows.Promoted || res.Current.Setup.ID() != cand.ID() {
		t.Fatalf("records %+v: want the candidate promoted after the restart", res.Records)
	}
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d requests failed while Temporal restarted (last: %v)", n, l.lastErr.Load())
	}
	s.checkClean(res.Current)
}

// freePort returns a port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
