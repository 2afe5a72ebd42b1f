package local

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func countContaining(msgs []string, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func TestResponseLimitsAndClientContext(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "resp")
	out, _ := e.invoke(t, "resp", map[string]any{"op": "big", "mb": 7})
	if fe := decodeError(t, out); fe.Type != "Function.ResponseSizeTooLarge" {
		t.Errorf("7 MB response: %+v, want Function.ResponseSizeTooLarge", fe)
	}
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"who":"tester"}}`))
	if _, resp := e.invoke(t, "resp", map[string]any{"op": "ctx"}, func(in *lambda.InvokeInput) { in.ClientContext = aws.String(cc) }); resp.Body != "tester" {
		t.Errorf("client context custom value = %q, want tester", resp.Body)
	}
}

func TestWarmReuseAndColdStarts(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "warm")
	for i := 0; i < 3; i++ {
		e.invoke(t, "warm", map[string]any{})
	}
	if st := e.p.Status(); st.Instances != 1 {
		t.Fatalf("instances after 3 sequential invokes = %d, want 1 (warm reuse)", st.Instances)
	}
	reports := e.waitReports(t, "warm", 3)
	if !strings.Contains(reports[0], "Init Duration: ") {
		t.Errorf("first REPORT has no Init Duration: %q", reports[0])
	}
	for _, r := range reports[1:] {
		if strings.Contains(r, "Init Duration") {
			t.Errorf("warm REPORT has an Init Duration: %q", r)
		}
	}
	if got := testutil.ToFloat64(e.p.metrics.coldStarts.WithLabelValues("warm")); got != 1 {
		t.Errorf("cold starts = %v, want 1", got)
	}
}

// waitReports polls the function's logs until n REPORT lines are there and returns them.
func (e *testEnv) waitReports(t *testing.T, name string, n int) []string {
	t.Helper()
	var reports []string
	eventually(t, 5*time.Second, "REPORT lines", func() bool {
		reports = e.logMessages(t, name, "REPORT")
		return len(reports) >= n
	})
	return reports
}

func TestConcurrentInvocationsUseSeparateInstances(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "conc")
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.invoke(t, "conc", map[string]any{"op": "sleep", "ms": 300})
		}()
	}
	eventually(t, 5*time.Second, "three busy instances", func() bool {
		st := e.p.Status()
		return len(st.Functions) == 1 && st.Functions[0].Busy == 3
	})
	wg.Wait()
	if st := e.p.Status(); st.Instances != 3 {
		t.Errorf("instances = %d, want 3", st.Instances)
	}
}

func TestIdleInstancesExpire(t *testing.T) {
	e := newTestEnv(t, Options{IdleTimeout: 100 * time.Millisecond})
	e.create(t, "idle")
	e.invoke(t, "idle", map[string]any{})
	eventually(t, 5*time.Second, "the idle instance to stop", func() bool { return e.p.Status().Instances == 0 })
	e.invoke(t, "idle", map[string]any{})
	eventually(t, 5*time.Second, "a second cold start after expiry", func() bool {
		return testutil.ToFloat64(e.p.metrics.coldStarts.WithLabelValues("idle")) == 2
	})
}

func TestTimeout(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "slow", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(1) })
	start := time.Now()
	out, _ := e.invoke(t, "slow", map[string]any{"op": "sleep", "ms": 5000}, func(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail })
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timed out invocation took %v, want about the 1 s timeout", d)
	}
	fe := decodeError(t, out)
	if !strings.Contains(fe.Message, "Task timed out after 1.00 seconds") || fe.Type != "Sandbox.Timedout" {
		t.Errorf("timeout error = %+v", fe)
	}
	tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if !strings.Contains(string(tail), "Task timed out after 1.00 seconds") || !strings.Contains(string(tail), "Status: timeout") {
		t.Errorf("timeout log tail = %q", tail)
	}
	// The killed instance is replaced: the next request runs on a new one.
	if _, resp := e.invoke(t, "slow", map[string]any{}); resp.Variant != "v1" {
		t.Errorf("invoke after timeout: %+v", resp)
	}
	eventually(t, 5*time.Second, "the timeout in the metrics", func() bool {
		return testutil.ToFloat64(e.p.metrics.invocations.WithLabelValues("slow", outcomeTimeout)) == 1
	})
}

func TestCrashes(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "crash")
	e.invoke(t, "crash", map[string]any{}) // warm up one instance

	out, _ := e.invoke(t, "crash", map[string]any{"op": "exit", "code": 3})
	if fe := decodeError(t, out); fe.Type != "Runtime.ExitError" || !strings.Contains(fe.Message, "Runtime exited with error: exit status 3") {
		t.Errorf("crash error = %+v", fe)
	}
	if _, resp := e.invoke(t, "crash", map[string]any{}); resp.Variant != "v1" {
		t.Errorf("invoke after crash: %+v", resp)
	}

	// A panic is a function error answered by the runtime, which then exits; the next request
	// must still succeed on a new instance.
	out, _ = e.invoke(t, "crash", map[string]any{"op": "panic", "msg": "boom"})
	if fe := decodeError(t, out); !strings.Contains(fe.Message, "boom") {
		t.Errorf("panic error = %+v", fe)
	}
	for i := 0; i < 3; i++ {
		if out, resp := e.invoke(t, "crash", map[string]any{}); out.FunctionError != nil || resp.Variant != "v1" {
			t.Fatalf("invoke %d after panic: error %v payload %s", i, aws.ToString(out.FunctionError), out.Payload)
		}
	}

	// A handled error keeps the instance.
	before := e.p.Status().Instances
	out, _ = e.invoke(t, "crash", map[string]any{"op": "error", "msg": "bad input"})
	if fe := decodeError(t, out); fe.Message != "bad input" {
		t.Errorf("function error = %+v", fe)
	}
	if after := e.p.Status().Instances; after != before {
		t.Errorf("instances %d -> %d after a handled error, want unchanged", before, after)
	}
	msgs := e.logMessages(t, "crash", "")
	if countContaining(msgs, "Runtime.ExitError") == 0 || countContaining(msgs, "Error Type: Runtime.ExitError") == 0 {
		t.Errorf("crash is not in the logs: %q", msgs)
	}
}

func TestInitFailures(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "initfail", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"INIT_EXIT": "4"}}
	})
	out, _ := e.invoke(t, "initfail", map[string]any{})
	if fe := decodeError(t, out); fe.Type != "Runtime.ExitError" || !strings.Contains(fe.Message, "exit status 4") {
		t.Errorf("init failure error = %+v", fe)
	}

	// A zip without bootstrap deploys (as on Lambda) but cannot run.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("README")
	_, _ = w.Write([]byte("no bootstrap here"))
	_ = zw.Close()
	e.create(t, "noboot", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = buf.Bytes() })
	out, _ = e.invoke(t, "noboot", map[string]any{})
	if fe := decodeError(t, out); fe.Type != "Runtime.InvalidEntrypoint" {
		t.Errorf("missing bootstrap error = %+v", fe)
	}
	if e.p.Status().Instances != 0 {
		t.Errorf("failed instances are still counted: %+v", e.p.Status())
	}
}

func TestAsyncInvocationAndRetries(t *testing.T) {
	e := newTestEnv(t, Options{AsyncRetryDelays: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}})
	ctx := context.Background()
	e.create(t, "async")
	out, err := e.lc.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("async"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"op":"log","lines":["async-marker-1"]}`),
	})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Event invoke = %v, %v; want 202", out, err)
	}
	eventually(t, 5*time.Second, "the event's log line", func() bool {
		return len(e.logMessages(t, "async", `"async-marker-1"`)) == 1
	})

	// A failing event is retried twice, with the same request ID.
	out, err = e.lc.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("async"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"op":"error","msg":"async-failure"}`),
	})
	if err != nil {
		t.Fatalf("Event invoke: %v", err)
	}
	reqID, _ := awsRequestID(out)
	eventually(t, 5*time.Second, "three attempts", func() bool {
		return len(e.logMessages(t, "async", `"START RequestId: `+reqID+`"`)) == 3
	})
	eventually(t, 5*time.Second, "three function errors in the metrics", func() bool {
		return testutil.ToFloat64(e.p.metrics.invocations.WithLabelValues("async", outcomeFunctionError)) == 3
	})

	// DryRun checks the function and runs nothing.
	out, err = e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("async"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Errorf("DryRun = %v, %v; want 204", out, err)
	}
}

func TestThrottling(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	e.create(t, "thr")
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("thr"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatalf("PutFunctionConcurrency: %v", err)
	}
	got, err := e.lc.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("thr")})
	if err != nil || aws.ToInt32(got.ReservedConcurrentExecutions) != 1 {
		t.Fatalf("GetFunctionConcurrency = %v, %v", got, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.invoke(t, "thr", map[string]any{"op": "sleep", "ms": 400})
	}()
	eventually(t, 5*time.Second, "one invocation in flight", func() bool {
		st := e.p.Status()
		return len(st.Functions) == 1 && st.Functions[0].InFlight == 1
	})
	_, err = e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("thr"), Payload: []byte(`{}`)})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Fatalf("second sync invoke: %v, want TooManyRequestsException with reason ReservedFunctionConcurrentInvocationLimitExceeded", err)
	}
	// An event waits for the slot instead.
	if _, err := e.lc.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("thr"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"op":"log","lines":["queued-event"]}`),
	}); err != nil {
		t.Fatalf("Event invoke while throttled: %v", err)
	}
	<-done
	eventually(t, 5*time.Second, "the queued event to run", func() bool {
		return len(e.logMessages(t, "thr", "queued-event")) == 1
	})
	if got := testutil.ToFloat64(e.p.metrics.throttles.WithLabelValues("thr")); got != 1 {
		t.Errorf("throttles = %v, want 1", got)
	}
	// Reserved concurrency 0 stops the function.
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("thr"), ReservedConcurrentExecutions: aws.Int32(0),
	}); err != nil {
		t.Fatalf("PutFunctionConcurrency 0: %v", err)
	}
	if _, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("thr")}); !errors.As(err, &tm) {
		t.Errorf("invoke with reserved concurrency 0: %v, want TooManyRequestsException", err)
	}
	if _, err := e.lc.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("thr")}); err != nil {
		t.Fatalf("DeleteFunctionConcurrency: %v", err)
	}
	e.invoke(t, "thr", map[string]any{})
}

func awsRequestID(out *lambda.InvokeOutput) (string, bool) {
	return awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
}
