package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/appconfig"
	plambda "github.com/fusionize/fusionize/platform/lambda"
)

func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:      "cleanup",
		Usage:     "retire every setup of an app that its live alias does not serve",
		ArgsUsage: "<app.yaml>",
		Description: "Reads what <app>:live serves from the platform and retires every other setup of the app found\n" +
			"there: group functions (found by their FUSIONIZE_APP) and versions of the entry function, such as\n" +
			"those a killed or aborted optimizer left behind. A starting optimizer does the same on its own.\n" +
			"A setup that takes a canary share is kept. Pause the app's optimizer first (`fusionize optimize\n" +
			"pause`): a candidate it is deploying is not routed yet and would be retired.\n" +
			"Example: fusionize cleanup --platform http://127.0.0.1:9001 --dry-run tree.yaml",
		Flags: []cli.Flag{
			platformFlag,
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be retired, change nothing"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("cleanup needs the app's config file, e.g. `fusionize cleanup tree.yaml`")
			}
			cfg, err := appconfig.LoadFile(c.Args().First())
			if err != nil {
				return err
			}
			if err := checkTarget(cfg, c.String("platform")); err != nil {
				return err
			}
			awsCfg, err := loadAWSConfig(c.Context, c.String("platform"))
			if err != nil {
				return err
			}
			lam, err := plambda.New(c.Context, plambda.Options{AWSConfig: &awsCfg, Role: "-",
				Logger: slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return err
			}
			return Cleanup(c.Context, lam, c.App.Writer, cfg.Name, c.Bool("dry-run"))
		},
	}
}

// Cleanup retires (or, with dryRun, lists) every setup of app on the platform that the live
// alias does not serve.
func Cleanup(ctx context.Context, p *plambda.Platform, w io.Writer, app string, dryRun bool) error {
	live, canary, ok, err := p.Serving(ctx, app)
	if err != nil {
		return fmt.Errorf("cleanup %s: %w", app, err)
	}
	if !ok {
		return fmt.Errorf("cleanup %s: nothing is live (no alias %s:%s), so nothing tells what to keep; nothing retired", app, p.EntryFunction(app), p.Alias())
	}
	fmt.Fprintf(w, "live: %s [%s] version %s\n", live.Setup, live.Setup.ID(), live.Version)
	if dryRun {
		all, err := p.Deployments(ctx, app)
		if err != nil {
			return fmt.Errorf("cleanup %s: %w", app, err)
		}
		n := 0
		for _, d := range all {
			if d.Setup.ID() == live.Setup.ID() || (d.Version != "" && slices.Contains(canary, d.Version)) {
				continue
			}
			n++
			fmt.Fprintf(w, "would retire %s [%s] version %q functions %s\n", d.Setup, d.Setup.ID(), d.Version, strings.Join(d.Functions, ", "))
		}
		fmt.Fprintf(w, "%d setups to retire\n", n)
		return nil
	}
	acts, err := activities.New(activities.Options{Deployer: p, Traces: p, Planners: NewPlanners()})
	if err != nil {
		return err
	}
	retired, err := acts.RetireOrphans(ctx, live)
	for _, id := range retired {
		fmt.Fprintf(w, "retired %s\n", id)
	}
	if err != nil {
		return fmt.Errorf("cleanup %s: %w", app, err)
	}
	fmt.Fprintf(w, "%d setups retired\n", len(retired))
	return nil
}
