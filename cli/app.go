// Package cli is the fusionize command line: it builds the urfave/cli application whose commands
// start the dev stack, the worker and the local platform, bundle and deploy apps, drive load and
// steer the optimizer. cmd/fusionize only calls New and runs it, so every command is testable
// without a process.
package cli

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// Version is the fusionize version printed by --version; release builds set it with -ldflags.
var Version = "dev"

// New returns the fusionize command line application writing to stdout and stderr.
func New(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "fusionize",
		Usage:                "fuse, size and continuously optimize serverless task graphs with Temporal",
		Version:              Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Commands:             commands(),
	}
}

// Main runs the application on the process arguments and returns the exit code.
func Main(args []string) int {
	app := New(os.Stdout, os.Stderr)
	if err := app.Run(args); err != nil {
		_, _ = io.WriteString(os.Stderr, "fusionize: "+err.Error()+"\n")
		return 1
	}
	return 0
}

// commands lists every command; each lives in its own file as a function returning *cli.Command.
func commands() []*cli.Command {
	return []*cli.Command{
		demoCommand(),
		devCommand(),
		bundleCommand(),
		deployCommand(),
		cleanupCommand(),
		loadCommand(),
		validateCommand(),
		reportCommand(),
		experimentCommand(),
		workerCommand(),
		optimizeCommand(),
		platformCommand(),
	}
}
