package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/cli/devserver"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/runtime/bundle"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/workflows"
)

// StackOptions configure the dev stack: a Temporal server with its Web UI, the local platform
// and a worker, in this process, all on 127.0.0.1.
type StackOptions struct {
	DataDir      string // holds temporal/, platform/ and bundles/
	TemporalPort int    // 0 picks a free port
	UIPort       int    // 0 picks a free port, devserver.NoUI for none
	PlatformAddr string // host:port; "127.0.0.1:0" picks a free port
	MetricsAddr  string // worker metrics; "" for none
	// Bundles are the apps the worker can deploy; BundleSamples adds the built-in samples,
	// bundled for this machine's architecture into DataDir/bundles.
	Bundles       map[string]plambda.Bundle
	BundleSamples bool
	Environment   map[string]string // added to every deployed function
	// ConcurrencyLimit is the local platform's (0: local.DefaultConcurrencyLimit()).
	ConcurrencyLimit int
	// MaxStarting bounds the platform's instance starts at once (0: local.DefaultMaxStarting()).
	MaxStarting int
	// LatencyProfile is added by the local platform to every invocation (zero: none).
	LatencyProfile local.LatencyProfile
	Logger         *slog.Logger
	Progress       io.Writer // progress lines; nil for none
}

// Stack is a running dev stack.
type Stack struct {
	Temporal *devserver.Server
	Platform *local.Platform
	Bundles  map[string]plambda.Bundle
	Metrics  string // worker metrics address, if served

	stopWorker context.CancelFunc
	workerDone chan error
}

// StartStack starts the dev stack; Stop stops it. On error nothing is left running.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	if o.DataDir == "" {
		return nil, errors.New("dev stack: no data directory")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	if err := CheckStackPorts(o); err != nil {
		return nil, err
	}
	s := &Stack{Bundles: map[string]plambda.Bundle{}}
	defer func() {
		if err != nil {
			s.Stop(context.WithoutCancel(ctx))
		}
	}()
	for app, b := range o.Bundles {
		s.Bundles[app] = b
	}
	if o.BundleSamples {
		progress("bundling the samples for linux/%s (the first build takes a minute) ...", goruntime.GOARCH)
		if err := bundleSamples(ctx, s.Bundles, filepath.Join(o.DataDir, "bundles")); err != nil {
			return nil, err
		}
	}
	progress("starting Temporal (SQLite in %s) ...", filepath.Join(o.DataDir, "temporal"))
	s.Temporal, err = devserver.New(devserver.Options{
		DataDir: filepath.Join(o.DataDir, "temporal"), FrontendPort: o.TemporalPort, UIPort: o.UIPort,
		SearchAttributes: workflows.SearchAttributes(), Logger: o.Logger,
		UIColumns: []string{"Status", "Workflow ID", workflows.AppKey.GetName(), workflows.PhaseKey.GetName(),
			workflows.SetupKey.GetName(), "Type", "Start", "End"},
	})
	if err != nil {
		return nil, err
	}
	if err := s.Temporal.Start(ctx); err != nil {
		var pe *devserver.PortInUseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w (use --temporal-port and --ui-port, or stop the other server)", err)
		}
		if errors.Is(err, devserver.ErrDataDirInUse) {
			return nil, fmt.Errorf("%w: %s (is `fusionize dev` or a demo already running? stop it, or give another --data-dir)", err, o.DataDir)
		}
		return nil, fmt.Errorf("start Temporal: %w", err)
	}
	progress("starting the local platform ...")
	s.Platform, err = local.New(local.Options{
		Addr: o.PlatformAddr, DataDir: filepath.Join(o.DataDir, "platform"), Logger: o.Logger,
		ConcurrencyLimit: o.ConcurrencyLimit, LatencyProfile: o.LatencyProfile, MaxStarting: o.MaxStarting,
	})
	if err != nil {
		return nil, fmt.Errorf("start the local platform: %w (use --platform-addr for another address, or --data-dir if another stack uses this one)", err)
	}
	if st := s.Platform.Status(); !st.Cgroups.Enforced {
		progress("note: memory sizes are not enforced on this machine: %s", st.Cgroups.Reason)
	}
	if st := s.Platform.Status(); !st.Isolation.Enabled {
		progress("note: %s", isolationNote(st.Isolation))
	}
	return s, s.startWorker(ctx, o)
}

// startWorker runs the stack's worker against its Temporal server and platform until Stop,
// and waits until it serves.
func (s *Stack) startWorker(ctx context.Context, o StackOptions) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopWorker, s.workerDone = cancel, make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		s.workerDone <- RunWorker(wctx, WorkerOptions{
			Address: s.Temporal.FrontendAddress(), Namespace: s.Temporal.Namespace(), TaskQueue: workflows.TaskQueue,
			MetricsAddr: o.MetricsAddr, Platform: s.Platform.Endpoint(), Bundles: s.Bundles,
			Role: "arn:aws:iam::000000000000:role/fusionize", Environment: o.Environment, Logger: o.Logger,
			Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case s.Metrics = <-ready:
		return nil
	case err := <-s.workerDone:
		s.workerDone <- err
		return fmt.Errorf("start the worker: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CheckStackPorts tries every fixed address the stack will listen on and reports each one in
// use, with the flag that moves it, all at once: before minutes of bundling, not after. Ports
// 0 (pick a free one) are not checked. The addresses are released at once, so another process
// may still take one before the stack binds it; the stack then fails with the same advice.
func CheckStackPorts(o StackOptions) error {
	checks := []struct{ addr, what, flag string }{
		{net.JoinHostPort("127.0.0.1", strconv.Itoa(o.TemporalPort)), "Temporal frontend", "--temporal-port"},
		{net.JoinHostPort("127.0.0.1", strconv.Itoa(o.UIPort)), "Temporal Web UI", "--ui-port (-1: no UI)"},
		{o.PlatformAddr, "local platform", "--platform-addr"},
		{o.MetricsAddr, "worker metrics", "--metrics-addr (empty: none)"},
	}
	var errs []error
	for _, c := range checks {
		_, port, err := net.SplitHostPort(c.addr)
		if c.addr == "" || err != nil || port == "0" || strings.HasPrefix(port, "-") {
			continue // none, picked freely, or malformed (the component says so)
		}
		l, err := net.Listen("tcp", c.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot listen on %s (%w); stop what uses it or choose another with %s", c.what, c.addr, err, c.flag))
			continue
		}
		l.Close()
	}
	if len(errs) > 0 {
		return fmt.Errorf("dev stack: %w", errors.Join(errs...))
	}
	return nil
}

// bundleSamples adds the built-in samples that bundles lacks, bundled into dir.
func bundleSamples(ctx context.Context, bundles map[string]plambda.Bundle, dir string) error {
	for _, name := range samples.Names() {
		if _, ok := bundles[name]; ok {
			continue
		}
		b, err := bundleSample(ctx, name, dir)
		if err != nil {
			return err
		}
		bundles[name] = b
	}
	return nil
}

// samplePackage is the bundle main of a built-in sample.
func samplePackage(name string) string { return "github.com/fusionize/fusionize/samples/cmd/" + name }

// bundleSample builds a sample's bundle for the local platform.
func bundleSample(ctx context.Context, name, dir string) (plambda.Bundle, error) {
	return buildBundle(ctx, samplePackage(name), name, dir, "", true)
}

// buildBundle builds a package's bundle for one architecture ("" is this machine's). For the
// local platform, which runs bundles as processes here, it is always this machine's
// architecture, and the platform reads the zip by path instead of receiving it.
func buildBundle(ctx context.Context, pkg, name, dir, arch string, forLocal bool) (plambda.Bundle, error) {
	if arch == "" || forLocal {
		arch = goruntime.GOARCH
	}
	arts, err := bundle.Build(ctx, bundle.Options{Package: pkg, OutDir: dir, Archs: []string{arch}, Name: name})
	if err != nil {
		return plambda.Bundle{}, fmt.Errorf("bundle %s (run fusionize from the Fusionize source tree, or the app's module, with Go installed): %w", pkg, err)
	}
	b := plambda.Bundle{Zip: arts[0].Zip, Arch: arch}
	if forLocal {
		b.S3Bucket, b.S3Key = local.CodeBucket, arts[0].Zip
	}
	return b, nil
}

// Stop stops the worker, the platform (its function instances) and Temporal, in that order.
func (s *Stack) Stop(ctx context.Context) {
	if s.stopWorker != nil {
		s.stopWorker()
		select {
		case <-s.workerDone:
		case <-time.After(30 * time.Second):
		}
	}
	if s.Platform != nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_ = s.Platform.Close(cctx)
		cancel()
	}
	if s.Temporal != nil {
		_ = s.Temporal.Stop()
	}
}

// PrintAddresses writes where everything listens.
func (s *Stack) PrintAddresses(w io.Writer) {
	fmt.Fprintf(w, "Temporal      %s (namespace %s)\n", s.Temporal.FrontendAddress(), s.Temporal.Namespace())
	if u := s.Temporal.UIURL(); u != "" {
		fmt.Fprintf(w, "Web UI        %s\n", u)
	}
	fmt.Fprintf(w, "platform      %s  (export AWS_ENDPOINT_URL_LAMBDA=%s AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=%s)\n", s.Platform.Endpoint(), s.Platform.Endpoint(), s.Platform.Endpoint())
	fmt.Fprintf(w, "concurrency   %d, shared by all functions\n", s.Platform.Status().ConcurrencyLimit)
	fmt.Fprintf(w, "latency       %s\n", s.Platform.LatencyProfile().Describe())
	if s.Metrics != "" {
		fmt.Fprintf(w, "metrics       http://%s/metrics (worker), %s/metrics (platform)\n", s.Metrics, s.Platform.Endpoint())
	}
	for app, b := range s.Bundles {
		fmt.Fprintf(w, "bundle        %s: %s\n", app, b.Zip)
	}
}

// defaultHome is where the dev stack keeps its state: $FUSIONIZE_HOME, else ~/.fusionize.
func defaultHome() string {
	if h := os.Getenv("FUSIONIZE_HOME"); h != "" {
		return h
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".fusionize")
	}
	return ".fusionize"
}

// stackFlags are the flags of commands that start the dev stack.
func stackFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data-dir", Value: defaultHome(), Usage: "where the stack keeps Temporal's database, the platform's deployments and bundles", EnvVars: []string{"FUSIONIZE_HOME"}},
		&cli.IntFlag{Name: "temporal-port", Value: devserver.DefaultFrontendPort, Usage: "Temporal frontend port"},
		&cli.IntFlag{Name: "ui-port", Value: devserver.DefaultUIPort, Usage: "Temporal Web UI port (-1: no UI)"},
		&cli.StringFlag{Name: "platform-addr", Value: "127.0.0.1:9001", Usage: "local platform address"},
		&cli.StringFlag{Name: "metrics-addr", Value: "127.0.0.1:9464", Usage: "worker Prometheus /metrics address (empty: none)"},
		concurrencyFlag,
		maxStartingFlag,
		latencyProfileFlag,
		&cli.BoolFlag{Name: "verbose", Usage: "log the stack's components to stderr"},
	}
}

func stackOptions(c *cli.Context) (StackOptions, error) {
	profile, err := local.ParseLatencyProfile(c.String("latency-profile"))
	if err != nil {
		return StackOptions{}, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.Bool("verbose") {
		logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	}
	return StackOptions{
		DataDir: c.String("data-dir"), TemporalPort: c.Int("temporal-port"), UIPort: c.Int("ui-port"),
		PlatformAddr: c.String("platform-addr"), MetricsAddr: c.String("metrics-addr"), Logger: logger,
		ConcurrencyLimit: c.Int("concurrency"), LatencyProfile: profile, MaxStarting: c.Int("max-starting"),
		Progress: c.App.ErrWriter,
	}, nil
}
