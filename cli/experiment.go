package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/cli/experiment"
	plambda "github.com/fusionize/fusionize/platform/lambda"
)

func experimentCommand() *cli.Command {
	return &cli.Command{
		Name:  "experiment",
		Usage: "run the paper's experiments live: all remote, all local, fusionize++ and the model, side by side",
		Description: "Starts the local platform (one per app and latency profile) in this process and, for each app, measures\n" +
			"all remote, all local (every task in one function), the paper's heuristic (fusionizepp) to its end and\n" +
			"Fusionize's model planner to its end, each setup at a constant arrival rate, and for Tree every fusion\n" +
			"choice at one memory size. Writes results.json, Markdown tables (README.md) and PNG plots to --out.\n" +
			"Interrupted runs resume: run the same command again (measurements are kept under --out/.state).\n" +
			"--reduced runs fewer requests per setup (labelled so in the results).",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "app", Value: cli.NewStringSlice("iot", "tree", "webshop"), Usage: "samples to run"},
			&cli.StringSliceFlag{Name: "arm", Usage: "arms to run (default all: " + strings.Join(experiment.Arms, ", ") + "; exhaustive for tree only)"},
			&cli.StringSliceFlag{Name: "profile", Value: cli.NewStringSlice(experiment.ProfileNone, experiment.ProfileAWS), Usage: "latency profiles of the local platform (none, aws)"},
			&cli.IntFlag{Name: "requests", Usage: "requests per setup of all remote, all local and fusionizepp (default 1000, the paper's; --reduced 200)"},
			&cli.IntFlag{Name: "model-requests", Usage: "requests per measurement and canary of the model (default 300; --reduced 60)"},
			&cli.IntFlag{Name: "exhaustive-requests", Usage: "requests per setup of Tree's exhaustive check (default 200; --reduced 60)"},
			&cli.BoolFlag{Name: "reduced", Usage: "fewer requests per setup, for a run well under an hour"},
			&cli.Float64Flag{Name: "rate", Usage: "arrival rate in requests/s for every app (default 10, the web shop 3: the paper's)"},
			&cli.Float64Flag{Name: "work-scale", Value: 0.2, Usage: "scale of the samples' task work, so that their CPU demand fits the machine"},
			&cli.DurationFlag{Name: "warm-up", Value: 20 * time.Second, Usage: "load, at the app's rate and recorded nowhere, on each platform just started before its first arm (0s: none)"},
			&cli.StringFlag{Name: "out", Value: "docs/results", Usage: "results directory"},
			&cli.StringFlag{Name: "platform-addr", Value: "127.0.0.1:0", Usage: "local platform address"},
			&cli.BoolFlag{Name: "verbose", Usage: "log the platform to stderr"},
			&cli.StringFlag{Name: "note", Usage: "a note printed at the top of the tables (kept in results.json)"},
			&cli.BoolFlag{Name: "render", Usage: "only rewrite the tables and plots from --out/results.json"},
		},
		Action: runExperiment,
	}
}

// experimentOptions reads the flags.
func experimentOptions(c *cli.Context) experiment.Options {
	o := experiment.Options{
		Apps: c.StringSlice("app"), Arms: c.StringSlice("arm"), Profiles: c.StringSlice("profile"),
		Requests: c.Int("requests"), ModelRequests: c.Int("model-requests"), ExhaustiveRequests: c.Int("exhaustive-requests"),
		WorkScale: c.Float64("work-scale"), Out: c.String("out"), Command: "fusionize " + strings.Join(os.Args[1:], " "),
		Progress: c.App.Writer, RenderOnly: c.Bool("render"), Note: c.String("note"), WarmUp: c.Duration("warm-up"),
	}
	if o.WarmUp == 0 {
		o.WarmUp = -1 // none; the package's zero means its default
	}
	if c.Bool("reduced") {
		o.Requests = cmp.Or(o.Requests, 200)
		o.ModelRequests = cmp.Or(o.ModelRequests, 60) // the full protocol's 1,000 : 300, scaled alike
		o.ExhaustiveRequests = cmp.Or(o.ExhaustiveRequests, 60)
	}
	o.Reduced = (o.Requests > 0 && o.Requests < 1000) || (o.ExhaustiveRequests > 0 && o.ExhaustiveRequests < 200)
	if r := c.Float64("rate"); r > 0 {
		o.Rate = map[string]float64{}
		for _, app := range o.Apps {
			o.Rate[app] = r
		}
	}
	return o
}

func runExperiment(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := experimentOptions(c)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.Bool("verbose") {
		logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	}
	bundles := filepath.Join(o.Out, ".state", "bundles")
	o.Lab = experiment.LocalLab{Addr: c.String("platform-addr"), WorkScale: o.WorkScale, Logger: logger,
		Bundle: func(ctx context.Context, app string) (plambda.Bundle, error) { return bundleSample(ctx, app, bundles) }}
	res, err := experiment.Run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(c.App.ErrWriter, "interrupted: the measurements so far are kept in %s; run the same command again to resume\n", filepath.Join(o.Out, ".state"))
		}
		return err
	}
	fmt.Fprintf(c.App.Writer, "\n%d records; tables in %s, results in %s\n", len(res.Records),
		filepath.Join(o.Out, "README.md"), filepath.Join(o.Out, "results.json"))
	return nil
}
