package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"go.temporal.io/sdk/testsuite"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
)

// logCounter counts the CloudWatch Logs calls that go through it and the bytes of their
// responses.
type logCounter struct {
	mu           sync.Mutex
	calls, bytes int
}

func (c *logCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".FilterLogEvents") {
		c.mu.Lock()
		c.calls++
		c.bytes += len(body)
		c.mu.Unlock()
	}
	return resp, nil
}

func (c *logCounter) take() (calls, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, bytes = c.calls, c.bytes
	c.calls, c.bytes = 0, 0
	return calls, bytes
}

// stepClock is a fake clock whose After advances it at once.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	c.mu.Unlock()
	return ch
}

// TestLogReadsPerCycle measures, against the real local platform through the real SDK
// clients, the FilterLogEvents calls and response bytes one cycle's reading costs for
// setups of 1, 4 and 8 functions: the collection (4 Observe chunks of 15 s polled every
// 5 s), a Plan over 8 windows, and two canary steps (4 Observe chunks and a Judge each).
func TestLogReadsPerCycle(t *testing.T) {
	zip, plat := sampleOnLocalPlatform(t, "iot")
	setups := []struct {
		groups          int
		current, canary string
	}{
		{1, "I+AS+CA+CS+CSA+CSL+CT+CW+DJ+SE@128", "I+AS+CA+CS+CSA+CSL+CT+CW+DJ+SE@256"},
		{4, "I+CW+SE@128,CT+AS@128,CS+CSL+CSA@128,CA+DJ+AS@128", "I+CW+SE@256,CT+AS@256,CS+CSL+CSA@256,CA+DJ+AS@256"},
		{8, "I@128,CW@128,SE@128,CT@128,CS+CSL+CSA@128,CA@128,DJ@128,AS@128", "I@256,CW@256,SE@256,CT@256,CS+CSL+CSA@256,CA@256,DJ@256,AS@256"},
	}
	var table []string
	for _, s := range setups {
		app := fmt.Sprintf("iot%d", s.groups)
		row := measureCycleReads(t, plat, zip, app, fusion.MustParseSetup(s.current), fusion.MustParseSetup(s.canary))
		table = append(table, fmt.Sprintf("| %d | %s |", s.groups, row))
	}
	t.Logf("\n| functions | collect calls | collect bytes | plan calls | plan bytes | canary calls | canary bytes | cycle calls | cycle bytes | 8 plan digests (JSON bytes) | largest observation (JSON bytes) |\n|---|---|---|---|---|---|---|---|---|---|---|\n%s", strings.Join(table, "\n"))
}

func measureCycleReads(t *testing.T, plat *local.Platform, zip, app string, current, canary fusion.Setup) string {
	ctx := context.Background()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")}
	counter := &logCounter{}
	logs := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", Credentials: cfg.Credentials,
		BaseEndpoint: aws.String(plat.Endpoint()), HTTPClient: &http.Client{Transport: counter}})
	p, err := plambda.New(ctx, plambda.Options{AWSConfig: &cfg, Endpoint: plat.Endpoint(), Logs: logs,
		Bundles:      map[string]plambda.Bundle{app: {Zip: zip, Arch: goruntime.GOARCH}},
		Role:         "arn:aws:iam::000000000000:role/test",
		Environment:  map[string]string{"FUSIONIZE_WORK_SCALE": "0.01"},
		WaitMinDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	client := awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(plat.Endpoint()), Credentials: cfg.Credentials})
	invoke := func(n int) {
		for range n {
			out, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(app), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
			if err != nil || out.FunctionError != nil {
				t.Fatalf("invoke %s: %v %s", app, err, out.Payload)
			}
		}
	}
	graph := apps.IoTGraph()
	cur, err := p.Deploy(ctx, activities.DeployRequest{App: app, Setup: current, Entry: graph.Entry})
	if err != nil {
		t.Fatal(err)
	}
	can, err := p.Deploy(ctx, activities.DeployRequest{App: app, Setup: canary, Entry: graph.Entry})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Promote(ctx, cur); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	invoke(60)
	clock := &stepClock{now: time.Now()}
	acts, err := activities.New(activities.Options{Deployer: p, Traces: p, Clock: clock,
		Planners: map[string]plan.Planner{activities.PlannerModel: plan.NewModel(plan.ModelOptions{})}})
	if err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	run := func(activity, in, out any) {
		t.Helper()
		v, err := env.ExecuteActivity(activity, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(out); err != nil {
			t.Fatal(err)
		}
	}
	largest := 0 // the largest Observe result, as the workflow history records it
	observe := func(deps []activities.Deployment, from time.Time) activities.Observation {
		var obs activities.Observation
		for range 4 { // the cycle's observeChunks, each 15 s polled every 5 s, each going on from the last
			run(acts.Observe, activities.ObserveInput{App: app, Deployments: deps, Start: from, MinWarm: 1 << 30, MaxWait: 15 * time.Second, From: obs.State}, &obs)
			if b, err := json.Marshal(obs); err == nil {
				largest = max(largest, len(b))
			}
		}
		if obs.State == nil {
			t.Fatal("Observe returned no state to go on from")
		}
		return obs
	}
	counter.take()
	obs := observe([]activities.Deployment{cur}, start)
	collectCalls, collectBytes := counter.take()

	var digests []fusion.Digest
	for range 8 { // the collection and 7 earlier windows, as the cycle keeps them
		digests = append(digests, digest(t, obs).Thin(activities.PlanDigestKeep, 0))
	}
	size, err := json.Marshal(digests)
	if err != nil {
		t.Fatal(err)
	}
	var pl plan.Plan
	run(acts.Plan, activities.PlanInput{App: app, Graph: graph, Current: current, Digests: digests, Planner: activities.PlannerModel,
		Policy: constraint.Spec{}, MemorySizes: []int{128, 256}}, &pl)
	planCalls, planBytes := counter.take()

	if err := p.Route(ctx, cur, can, 0.5); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		stepStart := time.Now()
		invoke(60)
		clock.mu.Lock()
		clock.now = time.Now()
		clock.mu.Unlock()
		obs := observe([]activities.Deployment{cur, can}, stepStart)
		var v activities.Verdict
		run(acts.Judge, activities.JudgeInput{App: app, Graph: graph, Stable: cur, Canary: can, Window: obs.Window,
			Digest: ptr(digest(t, obs)), Judge: judge.Options{}, Policy: constraint.Spec{}}, &v)
		if v.StableN+v.CanaryN == 0 {
			t.Fatalf("judge saw no requests: %+v", v)
		}
	}
	canaryCalls, canaryBytes := counter.take()
	if err := p.Promote(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if err := p.Retire(ctx, can); err != nil {
		t.Fatal(err)
	}
	// One FilterLogEvents per poll whatever the number of functions (16 polls collecting,
	// 32 in the canary), none to plan or judge.
	if collectCalls != 16 || planCalls != 0 || canaryCalls != 32 {
		t.Errorf("%s: %d calls collecting, %d planning, %d in the canary; want 16, 0, 32", app, collectCalls, planCalls, canaryCalls)
	}
	return fmt.Sprintf("%d | %d | %d | %d | %d | %d | %d | %d | %d | %d", collectCalls, collectBytes, planCalls, planBytes, canaryCalls, canaryBytes,
		collectCalls+planCalls+canaryCalls, collectBytes+planBytes+canaryBytes, len(size), largest)
}

func digest(t *testing.T, obs activities.Observation) fusion.Digest {
	t.Helper()
	d, ok := obs.Digest()
	if !ok {
		t.Fatal("the observation carries no digest")
	}
	return d
}

func ptr[T any](v T) *T { return &v }
