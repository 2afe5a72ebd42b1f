package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run the dev stack: Temporal with its Web UI, the local platform and a worker, until Ctrl-C",
		Description: "Starts, all on 127.0.0.1 and in this one process, a Temporal server storing in SQLite under\n" +
			"--data-dir with its Web UI, the local Lambda-compatible platform, and a Fusionize worker that can deploy\n" +
			"the built-in samples (bundled on start). A second start reuses the stored workflows and deployments.\n" +
			"Then, from another terminal: fusionize optimize start app.yaml, fusionize load, fusionize optimize status.",
		Flags: append(stackFlags(),
			&cli.StringSliceFlag{Name: "env", Usage: "KEY=VALUE added to every deployed function (e.g. FUSIONIZE_WORK_SCALE=0.25)"},
		),
		Action: func(c *cli.Context) error {
			o, err := stackOptions(c)
			if err != nil {
				return err
			}
			o.BundleSamples = true
			env, err := parseKeyValues(c.StringSlice("env"))
			if err != nil {
				return err
			}
			o.Environment = env
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := StartStack(ctx, o)
			if err != nil {
				return err
			}
			s.PrintAddresses(c.App.Writer)
			fmt.Fprintln(c.App.Writer, "dev stack up; stop with Ctrl-C")
			<-ctx.Done()
			fmt.Fprintln(c.App.ErrWriter, "stopping the dev stack ...")
			s.Stop(c.Context)
			return nil
		},
	}
}
