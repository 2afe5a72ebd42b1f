package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fusionize/fusionize/platform/local/cgroups"
)

func TestOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no data dir", Options{}, "DataDir is required"},
		{"bad cgroups mode", Options{DataDir: dir, Cgroups: "maybe"}, `Cgroups "maybe"`},
		{"negative idle timeout", Options{DataDir: dir, IdleTimeout: -time.Second}, "IdleTimeout"},
		{"negative concurrency", Options{DataDir: dir, ConcurrencyLimit: -1}, "ConcurrencyLimit"},
		{"tiny log retention", Options{DataDir: dir, LogRetentionBytes: 10}, "LogRetentionBytes"},
		{"negative retry delay", Options{DataDir: dir, AsyncRetryDelays: []time.Duration{-1}}, "AsyncRetryDelays"},
		{"bad region", Options{DataDir: dir, Region: "mars"}, "Region"},
		{"event budget below one event", Options{DataDir: dir, AsyncQueueBytes: 1000}, "AsyncQueueBytes 1000 is below one largest event"},
		{"tiny log budget", Options{DataDir: dir, LogBytes: 10}, "LogBytes 10"},
		{"bad isolation mode", Options{DataDir: dir, Isolation: "jail"}, `Isolation "jail"`},
		{"uid range of system users", Options{DataDir: dir, FirstUID: 1000}, "FirstUID 1000"},
		{"every problem at once", Options{Cgroups: "x", IdleTimeout: -1}, "DataDir is required; IdleTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.opts)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDataDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	p, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := New(Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		if p2 != nil {
			p2.Close(context.Background())
		}
		t.Fatalf("second platform on the same data dir: %v, want an in-use error", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	p3, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	p3.Close(context.Background())
}

func TestRegionFromRequest(t *testing.T) {
	e := newTestEnv(t, Options{})
	cfg := e.lc.Options()
	cfg.Region = "eu-central-1"
	lc := lambda.New(cfg)
	out, err := lc.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("regional"), Role: aws.String("arn:aws:iam::000000000000:role/x"),
		Runtime: types.RuntimeProvidedal2, Code: &types.FunctionCode{ZipFile: zipV1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.FunctionArn); got != "arn:aws:lambda:eu-central-1:000000000000:function:regional" {
		t.Errorf("FunctionArn = %q", got)
	}
	if _, resp := e.invoke(t, "regional", map[string]any{"op": "env"}); resp.Env["AWS_REGION"] != "eu-central-1" {
		t.Errorf("AWS_REGION = %q", resp.Env["AWS_REGION"])
	}
}

func TestParseFunctionName(t *testing.T) {
	tests := []struct {
		in, name, qualifier string
		bad                 bool
	}{
		{in: "fn", name: "fn"},
		{in: "fn:live", name: "fn", qualifier: "live"},
		{in: "fn:$LATEST", name: "fn", qualifier: "$LATEST"},
		{in: "arn:aws:lambda:eu-west-1:000000000000:function:fn", name: "fn"},
		{in: "arn:aws:lambda:eu-west-1:000000000000:function:fn:3", name: "fn", qualifier: "3"},
		{in: "000000000000:function:fn:live", name: "fn", qualifier: "live"},
		{in: "fn:", bad: true},
		{in: "a b", bad: true},
		{in: "arn:aws:s3:::bucket", bad: true},
		{in: strings.Repeat("x", 65), bad: true},
	}
	for _, tc := range tests {
		name, q, err := parseFunctionName(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseFunctionName(%q) = %q, %q; want an error", tc.in, name, q)
			}
			continue
		}
		if err != nil || name != tc.name || q != tc.qualifier {
			t.Errorf("parseFunctionName(%q) = %q, %q, %v; want %q, %q", tc.in, name, q, err, tc.name, tc.qualifier)
		}
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e := newTestEnv(t, Options{DataDir: dir})
	ctx := context.Background()
	e.create(t, "keep", func(in *lambda.CreateFunctionInput) {
		in.Publish = true
		in.Environment = &types.Environment{Variables: map[string]string{"K": "v"}}
	})
	if _, err := e.lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("keep"), ZipFile: zipV2, Publish: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("keep"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.25}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("keep"), ReservedConcurrentExecutions: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	e.invoke(t, "keep:live", map[string]any{})
	before, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("keep")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	p2, err := New(Options{DataDir: dir, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("New after restart: %v", err)
	}
	e.p = p2
	e.connect(t)
	after, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("keep")})
	if err != nil {
		t.Fatalf("GetFunction after restart: %v", err)
	}
	if aws.ToString(after.Configuration.CodeSha256) != aws.ToString(before.Configuration.CodeSha256) ||
		aws.ToString(after.Configuration.RevisionId) != aws.ToString(before.Configuration.RevisionId) ||
		aws.ToInt32(after.Concurrency.ReservedConcurrentExecutions) != 3 {
		t.Errorf("function changed across restart:\nbefore %+v\nafter  %+v", before.Configuration, after.Configuration)
	}
	alias, err := e.lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("keep"), Name: aws.String("live")})
	if err != nil || alias.RoutingConfig.AdditionalVersionWeights["2"] != 0.25 {
		t.Errorf("alias after restart = %+v, %v", alias, err)
	}
	for q, variant := range map[string]string{"1": "v1", "2": "v2", "$LATEST": "v2"} {
		if _, resp := e.invoke(t, "keep", map[string]any{"op": "env"}, func(in *lambda.InvokeInput) { in.Qualifier = aws.String(q) }); resp.Variant != variant || resp.Env["K"] != "v" {
			t.Errorf("invoke %s after restart: variant %q K %q", q, resp.Variant, resp.Env["K"])
		}
	}
	v, err := e.lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("keep")})
	if err != nil || aws.ToString(v.Version) != "2" {
		t.Errorf("publishing unchanged code after restart = %v, %v; want version 2", v, err)
	}
	// Deleting the function removes its unpacked code.
	if _, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("keep")}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "code"))
	if len(entries) != 0 {
		t.Errorf("code left after delete: %v", entries)
	}
}

func TestMetrics(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "met")
	for i := 0; i < 3; i++ {
		e.invoke(t, "met", map[string]any{})
	}
	e.invoke(t, "met", map[string]any{"op": "error", "msg": "x"})
	eventually(t, 5*time.Second, "four invocations in the metrics", func() bool {
		return testutil.ToFloat64(e.p.metrics.invocations.WithLabelValues("met", outcomeSuccess)) == 3 &&
			testutil.ToFloat64(e.p.metrics.invocations.WithLabelValues("met", outcomeFunctionError)) == 1
	})
	if got := testutil.ToFloat64(e.p.metrics.errors.WithLabelValues("met")); got != 1 {
		t.Errorf("errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.p.metrics.coldStarts.WithLabelValues("met")); got != 1 {
		t.Errorf("cold starts = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.p.metrics.instances.WithLabelValues("met")); got != 1 {
		t.Errorf("instances = %v, want 1", got)
	}
	// Billed at least 1 ms each at 256 MB: 4 × 0.001 s × 0.25 GB at least.
	if got := testutil.ToFloat64(e.p.metrics.gbSeconds.WithLabelValues("met")); got < 0.001 {
		t.Errorf("GB-seconds = %v, want at least 0.001", got)
	}
	// The passed Registerer has every collector, with bounded labels.
	n, err := testutil.GatherAndCount(e.reg,
		"fusionize_platform_invocations_total", "fusionize_platform_errors_total", "fusionize_platform_cold_starts_total",
		"fusionize_platform_duration_seconds", "fusionize_platform_billed_duration_seconds", "fusionize_platform_instances",
		"fusionize_platform_gb_seconds_total")
	if err != nil || n != 8 {
		t.Errorf("GatherAndCount = %d, %v; want 8 series", n, err)
	}
	// And /metrics serves them.
	resp, err := http.Get(e.p.Endpoint() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp.Body)
	resp.Body.Close()
	if !strings.Contains(body, `fusionize_platform_invocations_total{function="met",outcome="success"} 3`) {
		t.Errorf("/metrics does not show the invocations:\n%s", body)
	}

	// Throttles count, and a deleted function's series go away.
	ctx := context.Background()
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("met"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	_, _ = e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("met")})
	if got := testutil.ToFloat64(e.p.metrics.throttles.WithLabelValues("met")); got != 1 {
		t.Errorf("throttles = %v, want 1", got)
	}
	if _, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("met")}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.p.metrics.invocations); n != 0 {
		t.Errorf("invocation series after delete = %d, want 0", n)
	}
}

func TestMetricsWithoutRegisterer(t *testing.T) {
	p, err := New(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	resp, err := http.Get(p.Endpoint() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), "fusionize_platform_functions 0") {
		t.Errorf("/metrics without a Registerer: %d %s", resp.StatusCode, b)
	}
	// Two platforms may share a process when neither registers globally.
	p2, err := New(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("second platform: %v", err)
	}
	p2.Close(context.Background())
}

// TestCgroupLimits checks the CPU quota and memory limit of instances where cgroups work.
func TestCgroupLimits(t *testing.T) {
	e := newTestEnv(t, Options{})
	st := e.p.Status().Cgroups
	if !st.Enforced {
		t.Skipf("cgroup limits are not enforced on this machine: %s", st.Reason)
	}
	e.create(t, "small", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(128) })
	e.create(t, "big", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(1769) })

	// The platform's process is in a cgroup of its own next to its instances' (JoinPlatform),
	// where an instance in the background yields to it at once.
	platformDir := e.p.cgroups.Platform
	if platformDir == "" {
		t.Fatal("the platform's process did not join a cgroup of its own")
	}
	if procs := strings.Fields(readFile(t, filepath.Join(platformDir, "cgroup.procs"))); !slices.Contains(procs, strconv.Itoa(os.Getpid())) {
		t.Errorf("the platform's cgroup %s holds %v, not the platform's process %d", platformDir, procs, os.Getpid())
	}

	// The files of the running instance.
	e.invoke(t, "small", map[string]any{})
	inst := e.instanceOf(t, "small")
	if dir := e.p.cgroups.CPUParent + e.p.cgroups.Parent; filepath.Dir(platformDir) != dir {
		t.Errorf("the platform's cgroup %s is not a sibling of its instances' (below %s)", platformDir, dir)
	}
	if st.Version == "v1" {
		quota := readFile(t, filepath.Join(e.p.cgroups.CPUParent, inst.token, "cpu.cfs_quota_us"))
		limit := readFile(t, filepath.Join(e.p.cgroups.MemParent, inst.token, "memory.limit_in_bytes"))
		if quota != strconv.Itoa(100000*128/1769) || limit != strconv.Itoa(128<<20) {
			t.Errorf("128 MB instance: cfs_quota_us %s, memory limit %s", quota, limit)
		}
		inst.mu.Lock()
		pid := inst.cmd.Process.Pid
		inst.mu.Unlock()
		if procs := readFile(t, filepath.Join(e.p.cgroups.CPUParent, inst.token, "cgroup.procs")); procs != strconv.Itoa(pid) {
			t.Errorf("cgroup.procs = %q, want the instance's pid %d", procs, pid)
		}
	} else {
		if got := readFile(t, filepath.Join(e.p.cgroups.Parent, inst.token, "cpu.max")); got != strconv.Itoa(100000*128/1769)+" 100000" {
			t.Errorf("cpu.max = %q", got)
		}
	}

	// A CPU-bound request at 128 MB gets 7 % of a core: its wall time is many times its CPU
	// time however busy the machine is, and the kernel reports throttling. At 1769 MB (a full
	// core) it is not held back by the quota.
	work := map[string]any{"op": "spin", "rounds": 1000}
	_, small := e.invoke(t, "small", work)
	_, big := e.invoke(t, "big", work)
	t.Logf("spin: %.1f ms wall / %.1f ms CPU at 128 MB, %.1f ms wall / %.1f ms CPU at 1769 MB",
		small.ElapsedMs, small.CPUMs, big.ElapsedMs, big.CPUMs)
	if small.CPUMs <= 0 || small.ElapsedMs < 5*small.CPUMs {
		t.Errorf("at 128 MB: %.1f ms wall for %.1f ms CPU, want at least 5× (quota of 7 %% of a core)", small.ElapsedMs, small.CPUMs)
	}
	if st.Version == "v1" {
		stat := readFile(t, filepath.Join(e.p.cgroups.CPUParent, inst.token, "cpu.stat"))
		if !strings.Contains(stat, "nr_throttled") || strings.Contains(stat, "nr_throttled 0\n") {
			t.Errorf("128 MB instance was never throttled: %s", stat)
		}
	}

	// Going over the memory limit kills the instance, reported as Lambda reports it (error type
	// Runtime.OutOfMemory, before Runtime.ExitError), and its cgroup goes with it.
	out, _ := e.invoke(t, "small", map[string]any{"op": "alloc", "mb": 200})
	fe := decodeError(t, out)
	if fe.Type != "Runtime.OutOfMemory" || !strings.Contains(fe.Message, "Runtime exited with error: signal: killed") {
		t.Errorf("allocating 200 MB at 128 MB: %+v, want Runtime.OutOfMemory", fe)
	}
	reqID, _ := awsRequestID(out)
	eventually(t, 5*time.Second, "a REPORT line with Error Type: Runtime.OutOfMemory", func() bool {
		return len(e.logMessages(t, "small", `"`+reqID+`" "Error Type: Runtime.OutOfMemory"`)) == 1
	})
	// A crash that is no OOM stays Runtime.ExitError.
	if out, _ := e.invoke(t, "small", map[string]any{"op": "exit", "code": 9}); decodeError(t, out).Type != "Runtime.ExitError" {
		t.Errorf("exit 9 after an OOM: %s, want Runtime.ExitError", out.Payload)
	}
	dir := filepath.Join(e.p.cgroups.Parent, inst.token)
	if st.Version == "v1" {
		dir = filepath.Join(e.p.cgroups.MemParent, inst.token)
	}
	eventually(t, 5*time.Second, "the killed instance's cgroup to be removed", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})

	// Close moves the process back and removes every cgroup it made.
	dirs := []string{platformDir, e.p.cgroups.CPUParent, e.p.cgroups.MemParent, e.p.cgroups.Parent}
	if err := e.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left after Close (%v)", d, err)
		}
	}
}

// TestAsyncEventsRunInTheBackground: an instance serving an asynchronous event, or a request
// that such an instance made, has the background CPU weight, so that the host's cores go first
// to work on a response path; an instance gets the default weight back when it serves a
// synchronous request on a response path.
func TestAsyncEventsRunInTheBackground(t *testing.T) {
	e := newTestEnv(t, Options{})
	if st := e.p.Status().Cgroups; !st.Enforced {
		t.Skipf("cgroup limits are not enforced on this machine: %s", st.Reason)
	}
	e.create(t, "fn")
	e.invoke(t, "fn", map[string]any{})
	inst := e.instanceOf(t, "fn")
	def, bg := e.cpuWeights()
	if w := e.cpuWeight(t, inst); w != def {
		t.Fatalf("after a synchronous request: CPU weight %d, want the default %d", w, def)
	}
	e.invokeEvent(t, "fn", map[string]any{"op": "sleep", "ms": 300})
	eventually(t, 5*time.Second, fmt.Sprintf("the instance serving the event to have the background CPU weight %d", bg),
		func() bool { return e.cpuWeight(t, inst) == bg })
	e.waitIdle(t, inst)
	e.invoke(t, "fn", map[string]any{})
	if got := e.instanceOf(t, "fn"); got != inst {
		t.Fatal("the synchronous request went to another instance")
	}
	if w := e.cpuWeight(t, inst); w != def {
		t.Errorf("serving a synchronous request after the event: CPU weight %d, want the default %d", w, def)
	}

	// What an event's instance invokes synchronously is off the response path too; what a
	// synchronous request's instance invokes is not.
	e.create(t, "inner")
	e.invoke(t, "inner", map[string]any{})
	inner := e.instanceOf(t, "inner")
	call := map[string]any{"op": "invoke", "target": "inner", "body": `{"op":"sleep","ms":300}`}
	e.invokeEvent(t, "fn", call)
	eventually(t, 5*time.Second, fmt.Sprintf("the instance serving a request of the event's instance to have the background CPU weight %d", bg),
		func() bool { return e.cpuWeight(t, inner) == bg })
	e.waitIdle(t, inst)
	e.invoke(t, "fn", call)
	if w := e.cpuWeight(t, inner); w != def {
		t.Errorf("serving a request of a synchronous request's instance: CPU weight %d, want the default %d", w, def)
	}
}

// cpuWeights are the default and background values of the file that puts an instance in the
// background: cpu.idle where the kernel has it, else the CPU weight.
func (e *testEnv) cpuWeights() (def, bg int) {
	switch {
	case e.p.cgroups.Idle:
		return 0, 1
	case e.p.Status().Cgroups.Version == "v1":
		return cgroups.SharesDefault, cgroups.SharesBackground
	}
	return cgroups.WeightDefault, cgroups.WeightBackground
}

// cpuWeight reads inst's background file (cpuWeights) from its cgroup.
func (e *testEnv) cpuWeight(t *testing.T, inst *instance) int {
	t.Helper()
	dir, file := e.p.cgroups.Parent, "cpu.weight"
	if e.p.Status().Cgroups.Version == "v1" {
		dir, file = e.p.cgroups.CPUParent, "cpu.shares"
	}
	if e.p.cgroups.Idle {
		file = "cpu.idle"
	}
	file = filepath.Join(dir, inst.token, file)
	n, err := strconv.Atoi(readFile(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *testEnv) invokeEvent(t *testing.T, name string, req any) {
	t.Helper()
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name),
		InvocationType: types.InvocationTypeEvent, Payload: payload}); err != nil {
		t.Fatalf("Invoke %s (Event): %v", name, err)
	}
}

// waitIdle waits for inst to end what it serves.
func (e *testEnv) waitIdle(t *testing.T, inst *instance) {
	t.Helper()
	eventually(t, 5*time.Second, "the instance to be idle", func() bool {
		e.p.mu.Lock()
		defer e.p.mu.Unlock()
		return !inst.busy
	})
}

func (e *testEnv) instanceOf(t *testing.T, fn string) *instance {
	t.Helper()
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	for _, inst := range e.p.instances {
		if inst.fn == fn {
			return inst
		}
	}
	t.Fatalf("no instance of %s", fn)
	return nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestCloseStopsInFlightWork(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "long", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(60) })
	errc := make(chan error, 1)
	go func() {
		out, err := e.lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("long"), Payload: []byte(`{"op":"sleep","ms":30000}`)})
		if err == nil && out.FunctionError == nil {
			errc <- errors.New("a request cut by Close succeeded")
			return
		}
		errc <- nil
	}()
	eventually(t, 5*time.Second, "the request to run", func() bool {
		st := e.p.Status()
		return len(st.Functions) == 1 && st.Functions[0].Busy == 1
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with a 30 s request in flight", d)
	}
	if err := <-errc; err != nil {
		t.Error(err)
	}
	if st := e.p.Status(); st.Instances != 0 {
		t.Errorf("instances after Close = %d", st.Instances)
	}
}

func TestCgroupsOff(t *testing.T) {
	e := newTestEnv(t, Options{Cgroups: CgroupsOff})
	if st := e.p.Status().Cgroups; st.Enforced || !strings.Contains(st.Reason, "off") {
		t.Errorf("Status().Cgroups = %+v, want not enforced because of the option", st)
	}
	e.create(t, "free")
	if out, _ := e.invoke(t, "free", map[string]any{}); out.FunctionError != nil {
		t.Errorf("invoke without cgroups: %s", out.Payload)
	}
}
