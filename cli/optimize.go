package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/optimizer"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/workflows"
)

func optimizeCommand() *cli.Command {
	appFlag := &cli.StringFlag{Name: "app", Required: true, Usage: "the app's name"}
	reasonFlag := &cli.StringFlag{Name: "reason", Usage: "why (kept in the workflow's history)"}
	control := func(name, usage string) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, Flags: append(temporalFlags(), appFlag, reasonFlag),
			Action: func(c *cli.Context) error {
				return withClient(c, func(cl client.Client) error {
					return Control(c.Context, cl, c.App.Writer, c.String("app"), name, c.String("reason"))
				})
			},
		}
	}
	return &cli.Command{
		Name:  "optimize",
		Usage: "start and steer an app's optimizer (a Temporal workflow)",
		Subcommands: []*cli.Command{
			{
				Name:      "start",
				Usage:     "start optimizing an app (an optimizer that already runs is kept unless --replace)",
				ArgsUsage: "<app.yaml>",
				Description: "Reads the app's configuration (see `fusionize validate`), registers Fusionize's search\n" +
					"attributes in the namespace, and starts the optimizer workflow fusionize-optimizer-<app>.\n" +
					"A worker (`fusionize worker`) with the app's bundle must be running. The optimizer adopts the setup\n" +
					"<app>:live serves, if any, and retires the app's other setups. If the app's optimizer already runs,\n" +
					"start says so and changes nothing; --replace aborts it and starts one with the new config.",
				Flags: append(temporalFlags(),
					&cli.StringFlag{Name: "graph", Usage: "the app's call graph as JSON (fusion.Graph), for apps that are not samples"},
					&cli.StringFlag{Name: "initial", Usage: "initial setup text (default: all remote at the configured initial memory)"},
					&cli.DurationFlag{Name: "recheck", Value: time.Hour, Usage: "after convergence, how often to check again"},
					&cli.BoolFlag{Name: "once", Usage: "stop at convergence instead of watching"},
					&cli.BoolFlag{Name: "no-search-attributes", Usage: "do not register and set the search attributes"},
					&cli.BoolFlag{Name: "replace", Usage: "if an optimizer of the app runs, abort it (rolling back its canary) and start one with this config"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("optimize start needs the app's configuration file, e.g. `fusionize optimize start iot.yaml`")
					}
					cfg, err := appconfig.LoadFile(c.Args().First())
					if err != nil {
						return err
					}
					in, err := OptimizerInput(cfg, c.String("graph"))
					if err != nil {
						return err
					}
					in.RecheckInterval, in.StopWhenConverged = c.Duration("recheck"), c.Bool("once")
					if c.IsSet("initial") {
						if in.Initial, err = fusion.ParseSetupFor(c.String("initial"), in.Settings.Graph); err != nil {
							return fmt.Errorf("--initial does not fit app %s:\n%w", cfg.Name, err)
						}
					}
					if err := checkStart(cfg, in); err != nil {
						return err
					}
					return withClient(c, func(cl client.Client) error {
						return StartOptimizer(c.Context, cl, c.App.Writer, in, optimizer.StartOptions{TaskQueue: c.String("task-queue"),
							Namespace: c.String("namespace"), RegisterSearchAttributes: !c.Bool("no-search-attributes")}, c.Bool("replace"))
					})
				},
			},
			{
				Name: "status", Usage: "show where the optimizer stands", Flags: append(temporalFlags(), appFlag),
				Action: func(c *cli.Context) error {
					return withClient(c, func(cl client.Client) error { return PrintStatus(c.Context, cl, c.App.Writer, c.String("app")) })
				},
			},
			{
				Name: "history", Usage: "list the cycles: setups tried, predicted versus observed, verdicts", Flags: append(temporalFlags(), appFlag),
				Action: func(c *cli.Context) error {
					return withClient(c, func(cl client.Client) error { return PrintHistory(c.Context, cl, c.App.Writer, c.String("app")) })
				},
			},
			control(workflows.UpdatePause, "pause: no new step starts until resumed (a running canary keeps its weight)"),
			control(workflows.UpdateResume, "resume a paused optimizer"),
			control(workflows.UpdateApprove, "approve the candidate waiting for approval (or a paused inconclusive canary)"),
			control(workflows.UpdateAbort, "abort: roll back a running canary and stop the optimizer"),
		},
	}
}

func withClient(c *cli.Context, f func(client.Client) error) error {
	cl, err := client.DialContext(c.Context, client.Options{HostPort: c.String("address"), Namespace: c.String("namespace")})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w (is `fusionize dev` or your cluster running? set --address or TEMPORAL_ADDRESS)", c.String("address"), err)
	}
	defer cl.Close()
	return f(cl)
}

// OptimizerInput builds the optimizer's input from an app configuration; graphFile (JSON)
// gives the call graph of apps that are not built-in samples.
func OptimizerInput(cfg appconfig.Config, graphFile string) (workflows.OptimizerInput, error) {
	var g fusion.Graph
	switch {
	case graphFile != "":
		b, err := os.ReadFile(graphFile)
		if err != nil {
			return workflows.OptimizerInput{}, err
		}
		if err := json.Unmarshal(b, &g); err != nil {
			return workflows.OptimizerInput{}, fmt.Errorf("graph %s: %w", graphFile, err)
		}
	case cfg.Sample != "":
		s, err := samples.ByName(cfg.Sample)
		if err != nil {
			return workflows.OptimizerInput{}, err
		}
		g = s.Graph
	default:
		return workflows.OptimizerInput{}, errors.New("the app is not a sample: give its call graph with --graph graph.json")
	}
	var policy constraint.Spec
	if cfg.Policy != nil {
		policy = cfg.Policy.Spec()
	} else {
		policy = constraint.Spec{Constraints: cfg.Constraints, Objective: constraint.Rule{Expr: cfg.Objective},
			Acceptance: constraint.Rule{Expr: cfg.Canary.Acceptance}}
	}
	in := workflows.OptimizerInput{
		Settings: workflows.Settings{
			App: cfg.Name, Graph: g, Policy: policy, Planner: cfg.Planner, MemorySizes: cfg.MemorySizes,
			Canary: workflows.CanaryPolicy{Weights: cfg.Canary.Weights, Window: cfg.Canary.Window, MinSamples: cfg.Canary.MinSamples,
				OnInconclusive: workflows.Inconclusive(cfg.Canary.OnInconclusive), MaxExtensions: cfg.Canary.MaxExtensions,
				RequireApproval: cfg.Canary.Approval},
			Collect: workflows.CollectPolicy{MinRequests: cfg.Collect.Requests, Window: cfg.Collect.Window},
		},
	}
	prices := cfg.FusionPrices()
	in.Settings.Prices, in.Settings.Arch = &prices, fusion.Arch(cfg.Architecture)
	if cfg.InitialMemory > 0 {
		in.Initial = fusion.AllRemote(g, cfg.InitialMemory)
	}
	s := in.Settings.WithDefaults()
	if err := s.Validate(); err != nil {
		return workflows.OptimizerInput{}, err
	}
	return in, nil
}

// StartOptimizer starts the app's optimizer. If one runs, it returns an error saying so,
// unless replace, which aborts it first.
func StartOptimizer(ctx context.Context, c client.Client, w io.Writer, in workflows.OptimizerInput, opts optimizer.StartOptions, replace bool) error {
	app := in.Settings.App
	status, started, ok, err := optimizerRun(ctx, c, app)
	if err != nil {
		return err
	}
	if ok && status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		if !replace {
			return fmt.Errorf("the optimizer of %s already runs (since %s) with its own config, which is kept; "+
				"to change it, `fusionize optimize start --replace` (aborts it, rolling back a running canary, and starts "+
				"a new one that adopts what is live); see `fusionize optimize status --app %s`", app, started.Format(time.RFC3339), app)
		}
		if err := replaceOptimizer(ctx, c, w, app); err != nil {
			return err
		}
	}
	run, err := optimizer.Start(ctx, c, in, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "optimizer of %s: workflow %s run %s\n", app, run.GetID(), run.GetRunID())
	return nil
}

// PrintStatus writes the status as a table. An optimizer that failed is reported with its
// error and what to do, as an error wrapping ErrOptimizerFailed.
func PrintStatus(ctx context.Context, c client.Client, w io.Writer, app string) error {
	status, _, ok, err := optimizerRun(ctx, c, app)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no optimizer of %s: start one with `fusionize optimize start <app.yaml>`", app)
	}
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
		enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return writeFailure(ctx, c, w, app, status)
	}
	st, err := optimizer.Status(ctx, c, app)
	if err != nil {
		return err
	}
	WriteStatus(w, st)
	return nil
}

// WriteStatus renders a status as a two-column table.
func WriteStatus(w io.Writer, st workflows.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	row("app", "%s", st.App)
	phase := string(st.Phase)
	if st.Paused {
		phase += " (paused)"
	}
	row("phase", "%s", phase)
	row("cycle", "%d", st.Cycle)
	row("current", "%s  [%s]", st.Current, st.Current.ID())
	if !st.Candidate.IsZero() {
		row("candidate", "%s  [%s]", st.Candidate, st.Candidate.ID())
	}
	if st.Step > 0 {
		row("canary", "step %d at %.0f %%: warm samples %d current / %d candidate", st.Step, 100*st.Weight, st.StableSamples, st.CanarySamples)
	}
	if v := st.LastVerdict; v != nil {
		row("last verdict", "%s", v.Reason)
	}
	row("converged", "%t", st.Converged)
	if st.Infeasible {
		row("infeasible", "no setup satisfies the constraints: relax them (or allow more memory sizes) and restart with --replace")
	}
	if st.Message != "" {
		row("message", "%s", st.Message)
	}
	row("updated", "%s", st.Updated.Format(time.RFC3339))
	tw.Flush()
}

// PrintHistory writes the cycles as a table.
func PrintHistory(ctx context.Context, c client.Client, w io.Writer, app string) error {
	rs, err := optimizer.History(ctx, c, app)
	if err != nil {
		return err
	}
	WriteHistory(w, rs)
	return nil
}

// WriteHistory renders cycle records as a table.
func WriteHistory(w io.Writer, rs []workflows.CycleRecord) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CYCLE\tOUTCOME\tBASELINE\tCANDIDATE\tPREDICTED ms / $\tOBSERVED ms / $\tBASELINE ms / $\tVERDICT")
	for _, r := range rs {
		cand := r.Candidate.String()
		if cand == "" {
			cand = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Cycle, r.Outcome, r.Baseline, cand,
			metrics(r.Predicted), metrics(r.CandidateObserved), metrics(r.BaselineObserved), dash(string(r.Verdict)))
	}
	tw.Flush()
	for _, r := range rs {
		if r.Reason != "" {
			fmt.Fprintf(w, "cycle %d: %s\n", r.Cycle, strings.TrimSpace(r.Reason))
		}
		// The planner's own words, when they say more: what it could not measure within the
		// constraints, what it learned.
		if pr := strings.TrimSpace(r.PlanReason); pr != "" && !strings.Contains(r.Reason, pr) {
			fmt.Fprintf(w, "cycle %d plan: %s\n", r.Cycle, pr)
		}
	}
}

func metrics(m constraint.Metrics) string {
	if m.MedianMS == 0 && m.CostPerRequest == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f / %.3g", m.MedianMS, m.CostPerRequest)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Control sends pause, resume, approve or abort to an app's optimizer and prints its status.
func Control(ctx context.Context, c client.Client, w io.Writer, app, action, reason string) error {
	st, err := optimizer.Control(ctx, c, app, action, reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: done\n", action)
	WriteStatus(w, st)
	return nil
}
