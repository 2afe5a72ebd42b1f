package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/urfave/cli/v2"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/optimizer"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/work"
	"github.com/fusionize/fusionize/workflows"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "optimize a sample end to end on this machine and print before against after",
		Description: "Starts the dev stack (Temporal with its Web UI, the local platform, a worker) in this process,\n" +
			"bundles the sample, deploys it all remote, drives load at --rate, runs the optimizer until it converges\n" +
			"with live progress, and prints median and p95 latency and cost per request before and after, with a\n" +
			"plot and the Web UI's address. If a dev stack (`fusionize dev`) already listens on the ports, it uses that.",
		Flags: append(stackFlags(),
			&cli.StringFlag{Name: "app", Value: "iot", Usage: "the sample to optimize (" + fmt.Sprint(samples.Names()) + ")"},
			&cli.StringFlag{Name: "config", Usage: "an app config file instead of the sample's demo defaults"},
			&cli.StringFlag{Name: "planner", Usage: "model or fusionizepp (default: the config's, model)"},
			&cli.Float64Flag{Name: "rate", Value: 10, Usage: "requests per second of load"},
			&cli.DurationFlag{Name: "timeout", Value: 15 * time.Minute, Usage: "give up after this long"},
			&cli.Float64Flag{Name: "work-scale", Value: 0.2, Usage: "scale of the sample's task work (" + work.EnvScale + ")"},
			&cli.BoolFlag{Name: "keep", Usage: "keep the dev stack up after the demo, until Ctrl-C"},
		),
		Action: runDemo,
	}
}

// demoConfig is the sample's configuration for a demo: short canary steps and windows so a
// run takes minutes, not hours.
func demoConfig(app string) (appconfig.Config, error) {
	return appconfig.Parse("demo defaults", []byte(fmt.Sprintf(`
name: %[1]s
sample: %[1]s
canary:
  weights: [0.5]
  window: 60s
  min_samples: 40
  max_extensions: 2
  on_inconclusive: extend
`, app)))
}

func runDemo(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, errOut := c.App.Writer, c.App.ErrWriter
	start := time.Now()
	logf := func(format string, args ...any) {
		el := time.Since(start).Round(time.Second)
		fmt.Fprintf(out, "[%02d:%02d] %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
	}
	cfg, in, err := demoInput(c)
	if err != nil {
		return err
	}
	o, err := stackOptions(c)
	if err != nil {
		return err
	}
	ends, stack, err := demoStack(ctx, c, o, cfg, logf)
	if err != nil {
		return err
	}
	if stack != nil {
		defer func() {
			logf("stopping the dev stack ...")
			stack.Stop(context.WithoutCancel(ctx))
		}()
	}
	temporalAddr, platform, uiURL := ends.temporal, ends.platform, ends.ui

	tc, err := client.DialContext(ctx, client.Options{HostPort: temporalAddr, Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", temporalAddr, err)
	}
	defer tc.Close()
	run, err := optimizer.Start(ctx, tc, in, optimizer.StartOptions{RegisterSearchAttributes: true})
	if err != nil {
		return err
	}
	logf("%s", platformNote(ctx, platform))
	logf("optimizer started: workflow %s (planner %s); Web UI %s/namespaces/default/workflows/%s", run.GetID(), cfg.Planner, uiURL, run.GetID())

	awsCfg, err := loadAWSConfig(ctx, platform)
	if err != nil {
		return err
	}
	lam := awslambda.NewFromConfig(awsCfg)
	demoCtx, cancelDemo := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancelDemo()
	loadDone := make(chan loadgen.Result, 1)
	go func() { loadDone <- driveLoad(demoCtx, lam, cfg, c.Float64("rate"), c.Duration("timeout"), logf) }()

	var result workflows.OptimizerResult
	wfDone := make(chan error, 1)
	go func() { wfDone <- waitResult(demoCtx, run, &result) }()
	err = followProgress(demoCtx, tc, cfg.Name, cfg.Canary.MinSamples, wfDone, logf)
	// Time ran out whichever error came first: the deadline's, or the result wait's.
	timedOut := errors.Is(demoCtx.Err(), context.DeadlineExceeded)
	cancelDemo()
	lr := <-loadDone
	if err != nil {
		switch {
		case ctx.Err() != nil:
			fmt.Fprintln(errOut, "interrupted: the optimizer keeps its state in Temporal; `fusionize demo` again (or `fusionize dev` and `fusionize optimize status`) picks it up")
		case timedOut:
			explainTimeout(ctx, tc, out, cfg.Name, c.Duration("timeout"), lr)
			return fmt.Errorf("demo of %s: not converged within --timeout %s", cfg.Name, c.Duration("timeout"))
		}
		return err
	}
	if err := writeDemoEnd(ctx, out, cfg.Name, lr, result.Records, ends, o.DataDir); err != nil {
		return err
	}
	if c.Bool("keep") && stack != nil {
		fmt.Fprintln(out, "\ndev stack kept up; stop with Ctrl-C")
		stack.PrintAddresses(out)
		<-ctx.Done()
	}
	return nil
}

// writeDemoEnd prints what the client saw, the history, before against after with the
// picture, and where to look in the Web UI.
func writeDemoEnd(ctx context.Context, out io.Writer, app string, lr loadgen.Result, rs []workflows.CycleRecord, ends endpoints, dataDir string) error {
	fmt.Fprintf(out, "\nclient side: %d requests, %d errors, p50 %s, p99 %s over the whole run\n", lr.Started, lr.Errors, fmtMS(lr.Percentile(50)), fmtMS(lr.Percentile(99)))
	for _, k := range lr.ErrorKinds() {
		fmt.Fprintf(out, "  %d× %s\n", lr.ErrorCounts[k], k)
	}
	fmt.Fprintf(out, "%s\n\n", platformNote(ctx, ends.platform))
	if err := WriteReport(out, app, rs, reportPath(dataDir, app, time.Now())); err != nil {
		return err
	}
	fmt.Fprintf(out, "Web UI: %s/namespaces/default/workflows?query=FusionizeApp%%3D%%22%s%%22\n", ends.ui, app)
	return nil
}

// demoInput is the optimizer's input for the demo: the sample's demo defaults or --config,
// stopping when converged, collecting as many requests of the current setup as the model
// planner measures of a setup it asks for (plan.ModelOptions.MeasurementRequests, 300: 30 s at
// the demo's rate). With 60, IoT's predictions from windows of one run varied by ±6 % (3.36
// to 3.77 ms for a setup that ran at 3.42), more than the model's own error.
func demoInput(c *cli.Context) (appconfig.Config, workflows.OptimizerInput, error) {
	cfg, err := demoConfig(c.String("app"))
	if c.String("config") != "" {
		cfg, err = appconfig.LoadFile(c.String("config"))
	}
	if err != nil {
		return cfg, workflows.OptimizerInput{}, err
	}
	if p := c.String("planner"); p != "" {
		cfg.Planner = p
	}
	in, err := OptimizerInput(cfg, "")
	if err != nil {
		return cfg, in, err
	}
	in.StopWhenConverged = true
	// The config's collection size (default: as many requests as the model measures of any
	// setup), waiting at most 2 minutes for them: a demo's load comes at --rate.
	in.Settings.Collect.Window = min(in.Settings.Collect.Window, 2*time.Minute)
	return cfg, in, nil
}

// endpoints are where the demo finds Temporal, the platform and the Web UI.
type endpoints struct{ temporal, platform, ui string }

// demoStack finds a dev stack running on the ports, or checks every port, bundles the sample
// and starts one (returned, for the caller to stop).
func demoStack(ctx context.Context, c *cli.Context, o StackOptions, cfg appconfig.Config, logf func(string, ...any)) (endpoints, *Stack, error) {
	e := endpoints{temporal: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.TemporalPort)),
		platform: "http://" + o.PlatformAddr, ui: fmt.Sprintf("http://127.0.0.1:%d", o.UIPort)}
	if listening(e.temporal) {
		if !listening(o.PlatformAddr) {
			return e, nil, fmt.Errorf("a Temporal server listens on %s but no platform on %s: start `fusionize dev`, or use other --temporal-port/--platform-addr", e.temporal, o.PlatformAddr)
		}
		logf("using the dev stack already running (Temporal %s, platform %s); its worker's settings apply (e.g. --env %s)", e.temporal, e.platform, work.EnvScale)
		return e, nil, nil
	}
	if err := CheckStackPorts(o); err != nil {
		return e, nil, err
	}
	logf("bundling the %s sample for this machine ...", cfg.Sample)
	b, err := bundleSample(ctx, cfg.Sample, filepath.Join(o.DataDir, "bundles"))
	if err != nil {
		return e, nil, err
	}
	o.Bundles = map[string]plambda.Bundle{cfg.Name: b}
	o.Environment = map[string]string{work.EnvScale: strconv.FormatFloat(c.Float64("work-scale"), 'g', -1, 64)}
	for k, v := range cfg.Environment {
		o.Environment[k] = v
	}
	o.Progress = io.Discard
	logf("starting the dev stack: Temporal with its Web UI, the local platform, a worker ...")
	stack, err := StartStack(ctx, o)
	if err != nil {
		return e, nil, err
	}
	return endpoints{stack.Temporal.FrontendAddress(), stack.Platform.Endpoint(), stack.Temporal.UIURL()}, stack, nil
}

// waitResult waits for the optimizer's result, riding out the wait's own transport errors (on
// a busy machine the history long poll can time out: gRPC DeadlineExceeded or Unavailable)
// until ctx ends. Any other error, the workflow's failure included, ends it.
func waitResult(ctx context.Context, run client.WorkflowRun, result any) error {
	for {
		err := run.Get(ctx, result)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// transient reports whether err is a gRPC timeout or unavailability, worth a retry.
func transient(err error) bool {
	var de *serviceerror.DeadlineExceeded
	var ue *serviceerror.Unavailable
	if errors.As(err, &de) || errors.As(err, &ue) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Unavailable:
		return true
	}
	return false
}

// listening reports whether something accepts TCP connections at addr.
func listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// driveLoad waits until the app's live alias exists, then sends load until ctx ends.
func driveLoad(ctx context.Context, lam *awslambda.Client, cfg appconfig.Config, rate float64, max time.Duration, logf func(string, ...any)) loadgen.Result {
	entry := strings.ReplaceAll(plambda.DefaultEntryFunction, "{app}", cfg.Name)
	for {
		_, err := lam.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: aws.String(entry), Name: aws.String(plambda.DefaultAlias)})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return loadgen.Result{}
		case <-time.After(500 * time.Millisecond):
		}
	}
	payload := []byte(cfg.Load.Payload)
	if len(payload) == 0 {
		s, _ := samples.ByName(cfg.Sample)
		payload = s.Request
	}
	target := entry + ":" + plambda.DefaultAlias
	logf("load: %.0f requests/s to %s", rate, target)
	res, err := loadgen.Run(ctx, LambdaTarget(lam, target, payload), loadgen.Options{Rate: rate, Duration: max, MaxInFlight: 64, Drain: 5 * time.Second, Classify: LambdaErrorKind})
	if err != nil {
		logf("load: %v", err)
	}
	return res
}
