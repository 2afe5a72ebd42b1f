package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/fusion"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/synthetic"
	"github.com/fusionize/fusionize/samples/work"
)

// The load runs of `fusionize platform bench`: the paper's samples all remote at 10 and 50
// requests/s, a synthetic app whose tasks only wait on I/O at 100 requests/s, and a no-op
// function at 200 requests/s.
const defaultBenchRuns = "noop@200,io@100,iot@10,iot@50,tree@10,tree@50,webshop@10,webshop@50"

// ioSpec is the synthetic app of the "io" run: an entry that waits 1 s and calls, sync, a task
// that waits 0.5 s. Instances hold no CPU: the run measures what many waiting instances cost.
const ioSpec = `app: io
entry: wait
tasks:
  wait:
    io_ms: 1000
    calls: [{to: waitmore, mode: sync}]
  waitmore: {io_ms: 500}
`

// benchCPUShare is the share of the machine's cores an automatically chosen work scale aims at:
// room for the platform, the load generator and the rest of the machine.
const benchCPUShare = 0.6

// benchRun is one load run: an app ("noop", "io" or a sample) at a rate.
type benchRun struct {
	App  string
	Rate float64
}

func parseBenchRuns(s string) ([]benchRun, error) {
	var runs []benchRun
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		app, rate, ok := strings.Cut(part, "@")
		r, err := strconv.ParseFloat(rate, 64)
		if !ok || err != nil || r <= 0 || r > 10000 {
			return nil, fmt.Errorf("bench run %q: want app@rate, e.g. tree@50", part)
		}
		if _, err := samples.ByName(app); err != nil && app != "noop" && app != "io" {
			return nil, fmt.Errorf("bench run %q: app is noop, io or one of %v", part, samples.Names())
		}
		runs = append(runs, benchRun{App: app, Rate: r})
	}
	return runs, nil
}

// loadBench runs load against an embedded platform and reports what each run cost.
type loadBench struct {
	p        *local.Platform
	lam      *awslambda.Client
	cfg      aws.Config
	dir      string
	duration time.Duration
	scale    float64 // 0: choose per run
	progress io.Writer
	bundles  map[string]plambda.Bundle
	noop     []byte
}

// benchResult is what one load run measured.
type benchResult struct {
	Run           benchRun
	WorkScale     float64
	CPUPerRequest time.Duration // instances' CPU time per request, measured in the run
	Demand        float64       // cores the run's instances used on average
	Cores         int
	Load          loadgen.Result
	Throttles     int
	PeakInstances int
	PeakInstRSS   int64
	PeakPlatRSS   int64
	IdleInstances int   // instances right after the run, all idle
	IdleRSS       int64 // their memory
	Saturated     bool  // the platform saw the machine's CPU saturated during the run
	LoadAvg       string
}

// run deploys the run's app, drives its load and measures the platform meanwhile.
func (b *loadBench) run(ctx context.Context, r benchRun) (benchResult, error) {
	res := benchResult{Run: r, WorkScale: 1, Cores: b.p.Usage().Cores}
	if isSample(r.App) {
		scale, err := b.chooseScale(ctx, r)
		if err != nil {
			return res, err
		}
		res.WorkScale = scale
	}
	name := fmt.Sprintf("%s-r%g", r.App, r.Rate)
	target, payload, err := b.deploy(ctx, r.App, name, res.WorkScale)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(b.progress, "%s at %g requests/s for %v, work scale %g ...\n", r.App, r.Rate, b.duration, res.WorkScale)
	before, start := b.p.Usage(), time.Now()
	stop := b.watch(&res)
	res.Load, err = loadgen.Run(ctx, LambdaTarget(b.lam, target, payload),
		loadgen.Options{Rate: r.Rate, Duration: b.duration, MaxInFlight: 8192, Timeout: time.Minute, Classify: LambdaErrorKind})
	if err != nil {
		stop()
		return res, fmt.Errorf("bench %s: %w", name, err)
	}
	res.IdleInstances, res.IdleRSS = b.idleMemory(ctx) // asynchronous work ends too
	stop()
	cpu := b.p.Usage().InstanceCPU - before.InstanceCPU
	if res.Load.OK > 0 {
		res.CPUPerRequest = cpu / time.Duration(res.Load.OK)
	}
	res.Demand = cpu.Seconds() / time.Since(start).Seconds()
	for kind, n := range res.Load.ErrorCounts {
		if strings.Contains(kind, "TooManyRequests") {
			res.Throttles += n
		}
	}
	res.LoadAvg = loadAverage()
	return res, b.remove(ctx, name)
}

func isSample(app string) bool { _, err := samples.ByName(app); return err == nil }

// watch samples the platform every second for peaks until the returned stop is called (Usage
// reads /proc for every instance, so not more often).
func (b *loadBench) watch(res *benchResult) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			u := b.p.Usage()
			res.PeakInstances = max(res.PeakInstances, u.Instances)
			res.PeakInstRSS = max(res.PeakInstRSS, u.InstanceRSS)
			res.PeakPlatRSS = max(res.PeakPlatRSS, u.PlatformRSS)
			res.Saturated = res.Saturated || u.Saturated
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// idleMemory waits until every instance is idle and returns their count and memory.
func (b *loadBench) idleMemory(ctx context.Context) (int, int64) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b.p.Status().InFlight == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	u := b.p.Usage()
	return u.Instances, u.InstanceRSS
}

// chooseScale is the flag's work scale, else the largest (at most 1, two significant digits)
// whose CPU demand at the run's rate is benchCPUShare of the machine's cores, from the CPU
// time per request measured at scale 0.1.
func (b *loadBench) chooseScale(ctx context.Context, r benchRun) (float64, error) {
	if b.scale > 0 {
		return b.scale, nil
	}
	const calScale, calRequests = 0.1, 10
	name := r.App + "-cal"
	target, payload, err := b.deploy(ctx, r.App, name, calScale)
	if err != nil {
		return 0, err
	}
	defer b.remove(context.WithoutCancel(ctx), name)
	inv := LambdaTarget(b.lam, target, payload)
	for i := 0; i < 3; i++ { // start the instances
		if err := inv.Do(ctx); err != nil {
			return 0, fmt.Errorf("calibrate %s: %w", r.App, err)
		}
	}
	b.waitIdle(ctx)
	before := b.p.Usage().InstanceCPU
	for i := 0; i < calRequests; i++ {
		if err := inv.Do(ctx); err != nil {
			return 0, fmt.Errorf("calibrate %s: %w", r.App, err)
		}
	}
	b.waitIdle(ctx) // asynchronous work finishes too
	perRequest := (b.p.Usage().InstanceCPU - before).Seconds() / calRequests / calScale
	scale := 1.0
	if perRequest > 0 {
		scale = min(1, benchCPUShare*float64(b.p.Usage().Cores)/(r.Rate*perRequest))
	}
	scale = roundDown2(scale)
	fmt.Fprintf(b.progress, "%s: %.3f core-seconds per request at work scale 1 (measured at %g): work scale %g for %g requests/s\n",
		r.App, perRequest, calScale, scale, r.Rate)
	return scale, nil
}

func (b *loadBench) waitIdle(ctx context.Context) {
	_, _ = b.idleMemory(ctx)
}

// roundDown2 keeps two significant digits, rounding down.
func roundDown2(x float64) float64 {
	if x <= 0 {
		return 0
	}
	e := math.Pow(10, math.Floor(math.Log10(x))-1)
	return math.Floor(x/e) * e
}

// loadAverage is the machine's 1-minute load average, as /proc/loadavg says.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// deploy deploys app as name (all remote, at the given work scale) and returns the function to
// invoke and the request payload.
func (b *loadBench) deploy(ctx context.Context, app, name string, scale float64) (string, []byte, error) {
	if app == "noop" {
		return name, []byte(`{}`), b.deployNoop(ctx, name)
	}
	var g fusion.Graph
	var payload []byte
	env := map[string]string{work.EnvScale: strconv.FormatFloat(scale, 'g', -1, 64)}
	bundle := app
	if app == "io" {
		spec, err := synthetic.Parse("io spec", []byte(ioSpec))
		if err != nil {
			return "", nil, err
		}
		g, payload, bundle = spec.Graph(), []byte(`{}`), "synthetic"
		env[synthetic.EnvSpec] = ioSpec
	} else {
		s, _ := samples.ByName(app)
		g, payload = s.Graph, s.Request
	}
	bdl, err := b.bundle(ctx, bundle)
	if err != nil {
		return "", nil, err
	}
	lam, err := plambda.New(ctx, plambda.Options{AWSConfig: &b.cfg, Bundles: map[string]plambda.Bundle{name: bdl},
		Role: "arn:aws:iam::000000000000:role/bench", Environment: env})
	if err != nil {
		return "", nil, err
	}
	setup := fusion.AllRemote(g, 256)
	d, err := lam.Deploy(ctx, activities.DeployRequest{App: name, Setup: setup, Entry: g.Entry})
	if err != nil {
		return "", nil, fmt.Errorf("bench: deploy %s: %w", name, err)
	}
	if err := lam.Promote(ctx, d); err != nil {
		return "", nil, fmt.Errorf("bench: route %s: %w", name, err)
	}
	return strings.ReplaceAll(plambda.DefaultEntryFunction, "{app}", name) + ":" + plambda.DefaultAlias, payload, nil
}

func (b *loadBench) bundle(ctx context.Context, name string) (plambda.Bundle, error) {
	if bdl, ok := b.bundles[name]; ok {
		return bdl, nil
	}
	fmt.Fprintf(b.progress, "bundling %s ...\n", name)
	bdl, err := buildBundle(ctx, samplePackage(name), name, filepath.Join(b.dir, "bundles"), "", true)
	if err != nil {
		return plambda.Bundle{}, err
	}
	b.bundles[name] = bdl
	return bdl, nil
}

func (b *loadBench) deployNoop(ctx context.Context, name string) error {
	if b.noop == nil {
		zip, err := local.BuildNoopFunction(ctx, filepath.Join(b.dir, "noop"))
		if err != nil {
			return err
		}
		b.noop = zip
	}
	_, err := b.lam.CreateFunction(ctx, &awslambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/bench"),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: b.noop}, MemorySize: aws.Int32(128), Timeout: aws.Int32(10),
	})
	if err != nil {
		return fmt.Errorf("bench: create %s: %w", name, err)
	}
	return nil
}

// remove deletes every function of a run (name and name-…), which stops their instances.
func (b *loadBench) remove(ctx context.Context, name string) error {
	p := awslambda.NewListFunctionsPaginator(b.lam, &awslambda.ListFunctionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("bench: list functions: %w", err)
		}
		for _, f := range page.Functions {
			fn := aws.ToString(f.FunctionName)
			if fn == name || strings.HasPrefix(fn, name+"-") {
				if _, err := b.lam.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: f.FunctionName}); err != nil {
					return fmt.Errorf("bench: delete %s: %w", fn, err)
				}
			}
		}
	}
	return nil
}

// writeBenchTable prints the load runs.
func writeBenchTable(w io.Writer, profile string, results []benchResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	mb := func(b int64) string { return strconv.FormatInt(b>>20, 10) }
	fmt.Fprintf(w, "load runs on the local platform (latency profile %s); CPU demand is the instances' CPU time per second of the run\n", profile)
	fmt.Fprintln(tw, "run\twork scale\tCPU/request\tCPU demand\trequests\tok\terrors\t429s\tskipped\tp50\tp99\tpeak inst.\tpeak inst. MB\tplatform MB\tMB/idle inst.\tsaturated\tload avg\t")
	for _, r := range results {
		perIdle := "-"
		if r.IdleInstances > 0 {
			perIdle = fmt.Sprintf("%.1f", float64(r.IdleRSS)/float64(r.IdleInstances)/(1<<20))
		}
		fmt.Fprintf(tw, "%s@%g\t%g\t%.1f ms\t%.2f of %d cores\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%t\t%s\t\n",
			r.Run.App, r.Run.Rate, r.WorkScale, float64(r.CPUPerRequest)/float64(time.Millisecond), r.Demand, r.Cores,
			r.Load.Started, r.Load.OK, r.Load.Errors, r.Throttles, r.Load.Skipped,
			fmtMS(r.Load.Percentile(50)), fmtMS(r.Load.Percentile(99)), r.PeakInstances, mb(r.PeakInstRSS), mb(r.PeakPlatRSS),
			perIdle, r.Saturated, r.LoadAvg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for msg, n := range r.Load.ErrorCounts {
			fmt.Fprintf(w, "%s@%g error %d× %s\n", r.Run.App, r.Run.Rate, n, msg)
		}
	}
	return nil
}

// runLoadBench starts an embedded platform with opts in a temporary directory and runs the
// load runs on it one after the other. It returns the runs done, also on error.
func runLoadBench(ctx context.Context, runs []benchRun, opts local.Options, d time.Duration, scale float64, progress io.Writer) ([]benchResult, error) {
	dir, err := os.MkdirTemp("", "fusionize-loadbench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	opts.DataDir = filepath.Join(dir, "data")
	p, err := local.New(opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = p.Close(cctx)
	}()
	cfg, err := loadAWSConfig(ctx, p.Endpoint())
	if err != nil {
		return nil, err
	}
	// No retries: a throttle or an error counts as what it is.
	lam := awslambda.NewFromConfig(cfg, func(o *awslambda.Options) { o.RetryMaxAttempts = 1 })
	st := p.Status()
	fmt.Fprintf(progress, "platform at %s: concurrency limit %d, %s\n", p.Endpoint(), st.ConcurrencyLimit, p.LatencyProfile().Describe())
	b := &loadBench{p: p, lam: lam, cfg: cfg, dir: dir, duration: d, scale: scale, progress: progress,
		bundles: map[string]plambda.Bundle{}}
	var results []benchResult
	for _, r := range runs {
		res, err := b.run(ctx, r)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}
