package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/optimizer"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/workflows"
)

// Environment of the worker process that TestWorkerKilledInEachPhase starts from this test
// binary (see runWorkerProcess).
const (
	envWorker    = "FUSIONIZE_TEST_WORKER" // "1": run as a worker process
	envTemporal  = "FUSIONIZE_TEST_TEMPORAL"
	envNamespace = "FUSIONIZE_TEST_NAMESPACE"
	envPlatform  = "FUSIONIZE_TEST_PLATFORM"
	envZip       = "FUSIONIZE_TEST_ZIP"
)

// runWorkerProcess runs a Fusionize worker with the fixed planner until killed; TestMain
// calls it when envWorker is set.
func runWorkerProcess() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	zip := os.Getenv(envZip)
	lam, err := plambda.New(ctx, plambda.Options{AWSConfig: &cfg, Endpoint: os.Getenv(envPlatform),
		Bundles:     map[string]plambda.Bundle{"tree": {Zip: zip, Arch: goruntime.GOARCH, S3Bucket: local.CodeBucket, S3Key: zip}},
		Role:        "arn:aws:iam::000000000000:role/fusionize-test",
		Environment: map[string]string{"FUSIONIZE_WORK_SCALE": workScale}, WaitMinDelay: 100 * time.Millisecond})
	if err != nil {
		fail(err)
	}
	acts, err := activities.New(activities.Options{Deployer: lingeringDeployer{lam}, Traces: lam, PollInterval: 500 * time.Millisecond,
		Planners: map[string]plan.Planner{"fixed": fixedPlanner{fusion.MustParseSetup(treeFused)}}})
	if err != nil {
		fail(err)
	}
	c, err := client.Dial(client.Options{HostPort: os.Getenv(envTemporal), Namespace: os.Getenv(envNamespace),
		Logger: slogDiscard{}})
	if err != nil {
		fail(err)
	}
	plugin, err := workflows.NewPlugin(acts)
	if err != nil {
		fail(err)
	}
	w := worker.New(c, workflows.TaskQueue, worker.Options{Plugins: []worker.Plugin{plugin}})
	if err := w.Run(worker.InterruptCh()); err != nil {
		fail(err)
	}
}

// lingeringDeployer makes Deploy and Retire take at least lingerFor, so that the test, which
// finds each phase's activity by polling the server, sees it running and kills the worker
// in it: a deploy of a setup whose code is unpacked already, or a retire, can be over within
// one poll. The platform's work is real and done first; only the return waits.
type lingeringDeployer struct{ *plambda.Platform }

const lingerFor = 2 * time.Second

func linger(ctx context.Context, start time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(start.Add(lingerFor))):
	}
}

func (d lingeringDeployer) Deploy(ctx context.Context, req activities.DeployRequest) (activities.Deployment, error) {
	defer linger(ctx, time.Now())
	return d.Platform.Deploy(ctx, req)
}

func (d lingeringDeployer) Retire(ctx context.Context, dep activities.Deployment) error {
	defer linger(ctx, time.Now())
	return d.Platform.Retire(ctx, dep)
}

// slogDiscard is a Temporal logger that says nothing.
type slogDiscard struct{}

func (slogDiscard) Debug(string, ...any) {}
func (slogDiscard) Info(string, ...any)  {}
func (slogDiscard) Warn(string, ...any)  {}
func (slogDiscard) Error(string, ...any) {}

// startWorkerProcess starts a worker process against the stack.
func (s *stack) startWorkerProcess() *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"=1", envTemporal+"="+s.ts.GetFrontendHostPort(),
		envNamespace+"="+s.ts.GetDefaultNamespace(), envPlatform+"="+s.plat.Endpoint(), envZip+"="+treeZip)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// waitRunning waits until the cycle's status says phase and an activity of type activity
// has started.
func (s *stack) waitRunning(id string, phase workflows.Phase, activity string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		d, err := s.c.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			for _, a := range d.GetPendingActivities() {
				if a.GetActivityType().GetName() == activity && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED &&
					(phase != workflows.PhaseCanary || s.status(id).Phase == phase) {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := s.status(workflows.OptimizerID("tree"))
	s.t.Fatalf("no %s activity in phase %s of %s within %v; the optimizer says phase %s: %s", activity, phase, id, timeout, st.Phase, st.Message)
}

// resumedAfter waits until the cycle's pending activity is started again after killed, and
// returns how long that took.
func (s *stack) resumedAfter(id string, killed time.Time, timeout time.Duration) (time.Duration, string) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		d, err := s.c.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return time.Since(killed), "the cycle ended"
			}
			for _, a := range d.GetPendingActivities() {
				if a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && a.GetLastStartedTime().AsTime().After(killed) {
					return a.GetLastStartedTime().AsTime().Sub(killed), a.GetActivityType().GetName()
				}
			}
			if len(d.GetPendingActivities()) == 0 && s.status(workflows.OptimizerID("tree")).Updated.After(killed) {
				return time.Since(killed), "progress without an activity in flight"
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.t.Fatalf("the cycle did not resume within %v of the kill", timeout)
	return 0, ""
}

// TestWorkerKilledInEachPhase runs one optimization cycle of Tree under load with the worker in
// a process of its own, SIGKILLs it in each phase (collecting, deploying, canary, promoting)
// and starts a new one. The cycle must resume within about the heartbeat timeout each time
// (catches minute-long heartbeat timeouts), end promoted with every setup deployed once, the
// alias serving throughout and nothing orphaned.
func TestWorkerKilledInEachPhase(t *testing.T) {
	s := newStack(t)
	l := s.startLoad(4, 20*time.Millisecond)
	defer l.Stop()
	set := s.settings()
	set.Planner = "fixed"
	set.Policy.Acceptance = constraint.Rule{Name: "always", Expr: "true"} // the outcome is known
	set.Canary.Drain = 5 * time.Second                                    // time to catch the promoting phase
	w := s.startWorkerProcess()
	run, err := optimizer.Start(context.Background(), s.c, workflows.OptimizerInput{Settings: set, StopWhenConverged: true}, optimizer.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := run.GetID()
	// Each kill comes while the phase's activity runs, found from the server's view of the
	// cycle (the worker may be dead), polled often: a deploy takes a second or so.
	for _, k := range []struct {
		phase    workflows.Phase
		activity string
	}{
		{workflows.PhaseCollecting, "Observe"}, {workflows.PhaseDeploying, "Deploy"},
		{workflows.PhaseCanary, "Observe"}, {workflows.PhasePromoting, "Retire"},
	} {
		phase := k.phase
		s.waitRunning(id+"-cycle-1", phase, workflows.ActivityPrefix+k.activity, 3*time.Minute)
		if err := w.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = w.Wait()
		killed := time.Now()
		w = s.startWorkerProcess()
		took, what := s.resumedAfter(id+"-cycle-1", killed, time.Minute)
		t.Logf("killed in %s: resumed after %v (%s)", phase, took.Round(100*time.Millisecond), what)
		if took > 25*time.Second {
			t.Errorf("killed in %s: the cycle resumed only after %v (%s), want within about the 15 s heartbeat timeout", phase, took, what)
		}
	}
	res := s.result(run, 4*time.Minute)
	logRecords(t, res.Records)
	if len(res.Records) < 1 || res.Records[0].Outcome != workflows.Promoted || res.Current.Setup.ID() != fusion.MustParseSetup(treeFused).ID() {
		t.Fatalf("records %+v, current %s: want the candidate promoted", res.Records, res.Current.Setup)
	}
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests to tree:live failed: %v", n, n+l.ok.Load(), l.lastErr.Load())
	}
	for setup, n := range s.deploys(id, id+"-cycle-1") {
		if n != 1 {
			t.Errorf("setup %s scheduled for deployment %d times", setup, n)
		}
	}
	s.checkClean(res.Current)
}

// deploys counts the Deploy activities scheduled per setup in the workflows' histories.
func (s *stack) deploys(ids ...string) map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for _, h := range ids {
		it := s.c.GetWorkflowHistory(context.Background(), h, "", false, 0)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				s.t.Fatal(err)
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == workflows.ActivityPrefix+"Deploy" {
				var in activities.DeployInput
				if err := json.Unmarshal(a.GetInput().GetPayloads()[0].GetData(), &in); err != nil {
					s.t.Fatal(err)
				}
				out[in.Setup.String()]++
			}
		}
	}
	return out
}
