package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/platform/local"
)

// platformCommand runs the embedded Lambda-compatible platform on its own, and benchmarks it.
func platformCommand() *cli.Command {
	return &cli.Command{
		Name:  "platform",
		Usage: "run the local Docker-free Lambda-compatible platform until Ctrl-C",
		Description: "Serves the Lambda API, the Runtime API for its instances, CloudWatch Logs and Prometheus /metrics\n" +
			"on one address. Deployments persist in --data-dir across restarts. Point any aws-sdk-go-v2 program\n" +
			"at it with the printed AWS_ENDPOINT_URL_* variables. Zips too big to send inline deploy by path:\n" +
			"Code.S3Bucket \"" + local.CodeBucket + "\" and Code.S3Key the zip's absolute path.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:9001", Usage: "address to serve every API on", EnvVars: []string{"FUSIONIZE_PLATFORM_ADDR"}},
			&cli.StringFlag{Name: "data-dir", Value: defaultPlatformDataDir(), Usage: "directory for functions, versions, aliases and unpacked code", EnvVars: []string{"FUSIONIZE_DATA_DIR"}},
			&cli.DurationFlag{Name: "idle-timeout", Value: local.DefaultIdleTimeout, Usage: "stop instances idle for longer"},
			&cli.StringFlag{Name: "cgroups", Value: local.CgroupsAuto, Usage: "enforce memory sizes with cgroups: auto (where possible) or off"},
			concurrencyFlag,
			maxStartingFlag,
			latencyProfileFlag,
			&cli.BoolFlag{Name: "allow-remote", Usage: "serve on a non-loopback --addr (e.g. 0.0.0.0:9001): anyone who reaches it can deploy and run code as this user"},
			&cli.StringSliceFlag{Name: "allowed-host", Usage: "a further host name clients may call the platform by (besides loopback names and its address); repeatable"},
			&cli.StringFlag{Name: "isolation", Value: local.IsolationAuto, Usage: "auto: as root, run each function as an unprivileged user of its own; off: as this user"},
			&cli.IntFlag{Name: "async-queue-mb", Value: local.DefaultAsyncQueueBytes >> 20, Usage: "MiB of asynchronous event payloads held across all functions; more events are throttled"},
			&cli.IntFlag{Name: "log-mb", Value: local.DefaultLogBytes >> 20, Usage: "MiB of function logs kept in memory across all log groups; the oldest go first"},
			&cli.BoolFlag{Name: "verbose", Usage: "log at debug level"},
		},
		Action:      runPlatform,
		Subcommands: []*cli.Command{platformBenchCommand()},
	}
}

// concurrencyFlag sets the local platform's concurrency limit, shared by all functions.
var concurrencyFlag = &cli.IntFlag{
	Name:    "concurrency",
	Value:   local.DefaultConcurrencyLimit(),
	EnvVars: []string{"FUSIONIZE_CONCURRENCY"},
	Usage: "concurrency limit shared by all functions, as Lambda's account limit (default: Lambda's 1000, " +
		"or what this machine's memory at 32 MB per instance and open-file limit hold)",
}

// maxStartingFlag bounds the local platform's instance starts in progress at once.
var maxStartingFlag = &cli.IntFlag{
	Name:    "max-starting",
	Value:   local.DefaultMaxStarting(),
	EnvVars: []string{"FUSIONIZE_MAX_STARTING"},
	Usage: "instances starting (cold starts in progress) at once across the platform; more requests that need a new " +
		"instance wait for a start to end or a warm instance to come free; 4 per CPU core unless set",
}

// latencyProfileFlag chooses the local platform's latency profile.
var latencyProfileFlag = &cli.StringFlag{
	Name:    "latency-profile",
	Value:   local.LatencyNone,
	EnvVars: []string{"FUSIONIZE_LATENCY_PROFILE"},
	Usage: "none, or aws: add AWS Lambda's published invoke round trip, event queueing and sandbox " +
		"creation delays to every invocation (see go doc ./platform/local LatencyProfileAWS)",
}

// platformNote describes the platform at endpoint for results ("local platform, latency profile
// aws, ..."), or says it is not a local platform (AWS, or unreachable).
func platformNote(ctx context.Context, endpoint string) string {
	if endpoint == "" {
		return "platform: AWS Lambda (the SDK's default configuration)"
	}
	in, err := local.FetchInfo(ctx, endpoint)
	if err != nil {
		return "platform: " + endpoint + " (not a local platform, or its info is unavailable)"
	}
	note := fmt.Sprintf("platform: local at %s, latency profile %s, concurrency limit %d", endpoint, in.LatencyProfile, in.ConcurrencyLimit)
	if !in.CgroupsEnforced {
		note += ", memory sizes not enforced"
	}
	return note
}

// isolationNote says in one line whether functions are isolated from each other.
func isolationNote(st local.IsolationStatus) string {
	if st.Enabled {
		return "functions run as unprivileged users of their own: none can read another's environment, memory or files"
	}
	return "functions are NOT isolated from each other: " + st.Reason
}

func defaultPlatformDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".fusionize", "platform")
	}
	return filepath.Join(home, ".fusionize", "platform")
}

func runPlatform(c *cli.Context) error {
	level := slog.LevelInfo
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	profile, err := local.ParseLatencyProfile(c.String("latency-profile"))
	if err != nil {
		return err
	}
	p, err := local.New(local.Options{
		LatencyProfile:   profile,
		Addr:             c.String("addr"),
		DataDir:          c.String("data-dir"),
		IdleTimeout:      c.Duration("idle-timeout"),
		Cgroups:          c.String("cgroups"),
		ConcurrencyLimit: c.Int("concurrency"),
		MaxStarting:      c.Int("max-starting"),
		AllowRemote:      c.Bool("allow-remote"),
		AllowedHosts:     c.StringSlice("allowed-host"),
		Isolation:        c.String("isolation"),
		AsyncQueueBytes:  int64(c.Int("async-queue-mb")) << 20,
		LogBytes:         int64(c.Int("log-mb")) << 20,
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	st := p.Status()
	w := c.App.Writer
	fmt.Fprintf(w, "local platform serving at %s (data in %s, %d functions)\n", p.Endpoint(), c.String("data-dir"), len(st.Functions))
	if c.Bool("allow-remote") {
		fmt.Fprintln(w, "WARNING: --allow-remote: whoever reaches this address can deploy and run code as this user; the platform checks no signature")
	}
	if st.Cgroups.Enforced {
		fmt.Fprintf(w, "memory sizes are enforced with cgroup %s limits\n", st.Cgroups.Version)
	} else {
		fmt.Fprintf(w, "memory sizes are NOT enforced: %s\n", st.Cgroups.Reason)
	}
	fmt.Fprintln(w, isolationNote(st.Isolation))
	fmt.Fprintf(w, "concurrency limit %d, shared by all functions (--concurrency)\n", st.ConcurrencyLimit)
	fmt.Fprintln(w, profile.Describe())
	fmt.Fprintf(w, "export AWS_ENDPOINT_URL_LAMBDA=%s AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=%s\n", p.Endpoint(), p.Endpoint())
	fmt.Fprintln(w, "stop with Ctrl-C")

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop()
	fmt.Fprintln(w, "stopping ...")
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Close(closeCtx)
}

func platformBenchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the local platform: cold starts and warm invocations, then the paper's load on the samples",
		Description: "First (--micro) a no-op aws-lambda-go function through the aws-sdk-go-v2 Lambda client: a few cold\n" +
			"starts, then warm invocations from one client and from --clients concurrent clients. Then the load runs\n" +
			"(--runs app@rate,...): each deploys its app all remote on one embedded platform and sends open-loop load\n" +
			"for --load-duration, reporting requests, errors, 429s, p50/p99, peak instances and memory, memory per\n" +
			"idle instance, the run's CPU demand against the machine's cores, and whether the machine's CPU was\n" +
			"saturated. Apps: noop, io (waits only: 1 s, then a sync call that waits 0.5 s) and the samples; a\n" +
			"sample's work scale is --work-scale, else chosen per run so its CPU demand is 60 % of the cores.\n" +
			"The default runs take about 17 minutes; e.g. --runs tree@50 --load-duration 30s for one.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "micro", Value: true, Usage: "run the no-op cold start and warm invocation phases"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:0", Usage: "address of the embedded platforms (port 0: a free one)"},
			&cli.IntFlag{Name: "cold-starts", Value: 5, Usage: "cold starts to measure"},
			&cli.IntFlag{Name: "invocations", Value: 5000, Usage: "most warm invocations per phase"},
			&cli.DurationFlag{Name: "duration", Value: 3 * time.Second, Usage: "longest time per warm phase"},
			&cli.IntFlag{Name: "clients", Value: 8, Usage: "concurrent clients in the concurrent phase"},
			&cli.IntFlag{Name: "memory", Value: fusion.MBPerVCPU, Usage: "memory size of the function in MB"},
			&cli.StringFlag{Name: "cgroups", Value: local.CgroupsAuto, Usage: "auto or off"},
			&cli.StringFlag{Name: "runs", Value: defaultBenchRuns, Usage: "load runs, app@requests-per-second, comma-separated (empty: none)"},
			&cli.DurationFlag{Name: "load-duration", Value: 2 * time.Minute, Usage: "how long each load run sends requests"},
			&cli.Float64Flag{Name: "work-scale", Usage: "work scale of the samples (0: chosen per run to fit the machine)"},
			concurrencyFlag,
			maxStartingFlag,
			latencyProfileFlag,
		},
		Action: runPlatformBench,
	}
}

func runPlatformBench(c *cli.Context) error {
	runs, err := parseBenchRuns(c.String("runs"))
	if err != nil {
		return err
	}
	profile, err := local.ParseLatencyProfile(c.String("latency-profile"))
	if err != nil {
		return err
	}
	if c.Bool("micro") {
		res, err := local.Bench(c.Context, local.BenchOptions{
			ColdStarts:  c.Int("cold-starts"),
			Invocations: c.Int("invocations"),
			Duration:    c.Duration("duration"),
			Clients:     c.Int("clients"),
			MemorySize:  c.Int("memory"),
			Cgroups:     c.String("cgroups"),
			Addr:        c.String("addr"),
			Progress:    c.App.ErrWriter,
		})
		if err != nil {
			return err
		}
		if err := res.WriteTable(c.App.Writer); err != nil {
			return err
		}
	}
	if len(runs) == 0 {
		return nil
	}
	results, err := runLoadBench(c.Context, runs, local.Options{
		Addr: c.String("addr"), Cgroups: c.String("cgroups"), ConcurrencyLimit: c.Int("concurrency"), LatencyProfile: profile,
		MaxStarting: c.Int("max-starting"),
	}, c.Duration("load-duration"), c.Float64("work-scale"), c.App.ErrWriter)
	if len(results) > 0 {
		fmt.Fprintln(c.App.Writer)
		if werr := writeBenchTable(c.App.Writer, profile.String(), results); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
