package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion/plan"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/temporalprom"
	"github.com/fusionize/fusionize/workflows"
)

// temporalFlags are the flags every command talking to Temporal takes.
func temporalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "address", Value: "127.0.0.1:7233", Usage: "Temporal frontend host:port",
			EnvVars: []string{"FUSIONIZE_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"}},
		&cli.StringFlag{Name: "namespace", Value: "default", Usage: "Temporal namespace", EnvVars: []string{"FUSIONIZE_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE"}},
		&cli.StringFlag{Name: "task-queue", Value: workflows.TaskQueue, Usage: "task queue of Fusionize's workflows and activities", EnvVars: []string{"FUSIONIZE_TASK_QUEUE"}},
	}
}

// WorkerOptions are what `fusionize worker` runs with.
type WorkerOptions struct {
	Address, Namespace, TaskQueue string
	// MetricsAddr serves Prometheus /metrics when not empty.
	MetricsAddr string
	// Platform is a Lambda endpoint (the local platform); empty is AWS.
	Platform string
	// Bundles maps app names to bundle zips.
	Bundles map[string]plambda.Bundle
	Role    string
	// Environment is added to every deployed function.
	Environment map[string]string
	Logger      *slog.Logger
	// Ready, if set, is called once the worker polls, with the metrics listener's address.
	Ready func(metricsAddr string)
}

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run a Temporal worker with Fusionize's workflows and activities",
		Description: "Connects to a Temporal cluster and polls the task queue for Fusionize's optimizer and cycle\n" +
			"workflows and their activities, which deploy setups on AWS Lambda (through the SDK's default\n" +
			"configuration chain) or on the local platform (--platform). Serves Prometheus metrics with\n" +
			"--metrics-addr. Stops on interrupt, letting running activities finish; cycles resume on the next worker.",
		Flags: append(temporalFlags(),
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics at this host:port (e.g. 127.0.0.1:9464)", EnvVars: []string{"FUSIONIZE_METRICS_ADDR"}},
			platformFlag,
			&cli.StringSliceFlag{Name: "bundle", Usage: "app=zip: the bundle of an app (repeat for several apps); s3://bucket/key after the zip uses code already in S3", EnvVars: []string{"FUSIONIZE_BUNDLES"}},
			&cli.StringFlag{Name: "arch", Value: "x86_64", Usage: "architecture of the bundles (x86_64 or arm64)"},
			&cli.StringFlag{Name: "role", Usage: "execution role ARN of deployed functions (any ARN for the local platform)", EnvVars: []string{"FUSIONIZE_ROLE"},
				Value: "arn:aws:iam::000000000000:role/fusionize"},
			&cli.StringSliceFlag{Name: "env", Usage: "KEY=VALUE added to every deployed function's environment (repeatable)"},
		),
		Action: func(c *cli.Context) error {
			opts := WorkerOptions{
				Address: c.String("address"), Namespace: c.String("namespace"), TaskQueue: c.String("task-queue"),
				MetricsAddr: c.String("metrics-addr"), Platform: c.String("platform"), Role: c.String("role"),
				Logger: slog.New(slog.NewTextHandler(c.App.ErrWriter, nil)),
			}
			var err error
			if opts.Bundles, err = parseBundles(splitList(c.StringSlice("bundle")), c.String("arch")); err != nil {
				return err
			}
			if opts.Environment, err = parseKeyValues(c.StringSlice("env")); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return RunWorker(ctx, opts)
		},
	}
}

// parseBundles reads "app=zip" or "app=zip=s3://bucket/key".
func parseBundles(specs []string, arch string) (map[string]plambda.Bundle, error) {
	out := map[string]plambda.Bundle{}
	var errs []error
	for _, s := range specs {
		parts := strings.SplitN(s, "=", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			errs = append(errs, fmt.Errorf("--bundle %q: want app=path/to/bundle.zip", s))
			continue
		}
		b := plambda.Bundle{Zip: parts[1], Arch: arch}
		if len(parts) == 3 {
			rest, ok := strings.CutPrefix(parts[2], "s3://")
			bucket, key, ok2 := strings.Cut(rest, "/")
			if !ok || !ok2 || bucket == "" || key == "" {
				errs = append(errs, fmt.Errorf("--bundle %q: the code location must be s3://bucket/key", s))
				continue
			}
			b.S3Bucket, b.S3Key = bucket, key
		}
		out[parts[0]] = b
	}
	return out, errors.Join(errs...)
}

func parseKeyValues(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", s)
		}
		out[k] = v
	}
	return out, nil
}

// NewPlanners returns the planners a worker offers, by the names configurations use.
func NewPlanners() map[string]plan.Planner {
	return map[string]plan.Planner{
		activities.PlannerModel:       plan.NewModel(plan.ModelOptions{}),
		activities.PlannerFusionizePP: plan.FusionizePP{},
	}
}

// RunWorker runs a worker until ctx is done.
func RunWorker(ctx context.Context, o WorkerOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(o.Bundles) == 0 {
		return errors.New("worker: no bundles: give --bundle app=path/to/bundle.zip for every app to optimize")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	handler, err := temporalprom.NewHandler(reg)
	if err != nil {
		return err
	}
	cfg, err := loadAWSConfig(ctx, o.Platform)
	if err != nil {
		return err
	}
	lam, err := plambda.New(ctx, plambda.Options{AWSConfig: &cfg, Bundles: o.Bundles, Role: o.Role, Environment: o.Environment, Logger: o.Logger})
	if err != nil {
		return err
	}
	acts, err := activities.New(activities.Options{Deployer: lam, Traces: lam, Planners: NewPlanners(), Logger: o.Logger})
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: o.Address, Namespace: o.Namespace,
		MetricsHandler: handler, Logger: tlog.NewStructuredLogger(o.Logger)})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", o.Address, err)
	}
	defer c.Close()
	plugin, err := workflows.NewPlugin(acts)
	if err != nil {
		return err
	}
	w := worker.New(c, o.TaskQueue, worker.Options{Plugins: []worker.Plugin{plugin}})
	metricsAddr := ""
	if o.MetricsAddr != "" {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		metricsAddr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	o.Logger.Info("fusionize worker polling", "address", o.Address, "namespace", o.Namespace, "taskQueue", o.TaskQueue, "metrics", metricsAddr)
	if o.Ready != nil {
		o.Ready(metricsAddr)
	}
	<-ctx.Done()
	return nil
}
