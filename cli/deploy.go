package cli

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/fusion"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/samples"
)

func deployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "deploy an app's setup (all remote by default) and route its live alias to it",
		ArgsUsage: "<app.yaml>",
		Description: "Bundles the app (or uses its bundle), deploys one function per group of the setup, publishes the\n" +
			"entry function's version for it and points the alias <app>:live at it. Redeploying the same setup\n" +
			"changes nothing. Works against AWS (the SDK's configuration chain) or the local platform (--platform).\n" +
			"Example: fusionize deploy --platform http://127.0.0.1:9001 --setup 'A+B+D+E@128,C@1024,F@1024,G@1024' tree.yaml",
		Flags: []cli.Flag{
			platformFlag,
			&cli.StringFlag{Name: "setup", Usage: "the setup text (default: every task its own function at the config's initial memory)"},
			&cli.StringFlag{Name: "bundle", Usage: "a built bundle zip (default: the config's bundle, or build its sample or package)"},
			&cli.StringFlag{Name: "role", Value: "arn:aws:iam::000000000000:role/fusionize", Usage: "execution role ARN of the functions", EnvVars: []string{"FUSIONIZE_ROLE"}},
			&cli.StringSliceFlag{Name: "env", Usage: "KEY=VALUE added to every function's environment"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("deploy needs the app's config file, e.g. `fusionize deploy iot.yaml`")
			}
			cfg, err := appconfig.LoadFile(c.Args().First())
			if err != nil {
				return err
			}
			if err := checkTarget(cfg, c.String("platform")); err != nil {
				return err
			}
			g, err := configGraph(cfg)
			if err != nil {
				return err
			}
			setup := fusion.AllRemote(g, cfg.InitialMemory)
			if t := c.String("setup"); t != "" {
				if setup, err = fusion.ParseSetupFor(t, g); err != nil {
					return fmt.Errorf("--setup does not fit app %s:\n%w", cfg.Name, err)
				}
			}
			env, err := parseKeyValues(c.StringSlice("env"))
			if err != nil {
				return err
			}
			for k, v := range cfg.Environment {
				env[k] = v
			}
			b, err := configBundle(c, cfg)
			if err != nil {
				return err
			}
			awsCfg, err := loadAWSConfig(c.Context, c.String("platform"))
			if err != nil {
				return err
			}
			lam, err := plambda.New(c.Context, plambda.Options{AWSConfig: &awsCfg, Bundles: map[string]plambda.Bundle{cfg.Name: b},
				Role: c.String("role"), Environment: env, Logger: slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "deploying %s setup %s (%d functions) ...\n", cfg.Name, setup, len(setup.Groups))
			d, err := lam.Deploy(c.Context, activities.DeployRequest{App: cfg.Name, Setup: setup, Entry: cfg.Entry, Arch: fusion.Arch(cfg.Architecture)})
			if err != nil {
				return fmt.Errorf("deploy %s setup %s: %w", cfg.Name, setup.ID(), err)
			}
			if err := lam.Promote(c.Context, d); err != nil {
				return fmt.Errorf("route %s:%s to setup %s: %w", cfg.Name, plambda.DefaultAlias, setup.ID(), err)
			}
			fmt.Fprintf(c.App.Writer, "deployed setup %s [%s]\nfunctions: %s\nentry:     %s:%s → version %s\n",
				d.Setup, d.Setup.ID(), strings.Join(d.Functions, ", "), strings.ReplaceAll(plambda.DefaultEntryFunction, "{app}", cfg.Name), plambda.DefaultAlias, d.Version)
			return nil
		},
	}
}

// configGraph returns the call graph of a configured app (samples know theirs).
func configGraph(cfg appconfig.Config) (fusion.Graph, error) {
	if cfg.Sample == "" {
		return fusion.Graph{}, fmt.Errorf("app %s is not a sample: its call graph is needed (give it to `fusionize optimize start --graph`)", cfg.Name)
	}
	s, err := samples.ByName(cfg.Sample)
	if err != nil {
		return fusion.Graph{}, err
	}
	return s.Graph, nil
}

// configBundle returns the app's bundle: --bundle, the config's bundle, or one built now for
// this machine's architecture from the config's sample or package.
func configBundle(c *cli.Context, cfg appconfig.Config) (plambda.Bundle, error) {
	arch := map[string]string{"x86_64": "amd64", "arm64": "arm64"}[cfg.Architecture]
	if z := c.String("bundle"); z != "" {
		return plambda.Bundle{Zip: z, Arch: arch}, nil
	}
	if cfg.Bundle != "" {
		return plambda.Bundle{Zip: cfg.Bundle, Arch: arch}, nil
	}
	pkg := cfg.Package
	if cfg.Sample != "" {
		pkg = samplePackage(cfg.Sample)
	}
	forLocal := c.String("platform") != ""
	fmt.Fprintf(c.App.ErrWriter, "bundling %s ...\n", pkg)
	return buildBundle(c.Context, pkg, cfg.Name, filepath.Join(defaultHome(), "bundles"), arch, forLocal)
}

// checkTarget checks that the platform a command talks to is the config's target: the local
// platform (--platform) for target local, AWS (no --platform) for target aws.
func checkTarget(cfg appconfig.Config, platform string) error {
	switch {
	case cfg.Target == "local" && platform == "":
		return fmt.Errorf("app %s targets the local platform: give its URL with --platform (e.g. http://127.0.0.1:9001), or set `target: aws` in the config", cfg.Name)
	case cfg.Target == "aws" && platform != "":
		return fmt.Errorf("app %s targets AWS, but --platform %s points elsewhere: drop --platform, or set `target: local` in the config", cfg.Name, platform)
	}
	return nil
}
