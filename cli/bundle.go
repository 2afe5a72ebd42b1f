package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/runtime/bundle"
)

func bundleCommand() *cli.Command {
	return &cli.Command{
		Name:      "bundle",
		Usage:     "build an app's Lambda bundle (bootstrap in a zip) for amd64 and arm64",
		ArgsUsage: "<package>",
		Description: "Compiles the app's main package as a static linux `bootstrap` (CGO_ENABLED=0, -tags lambda.norpc,\n" +
			"runtime provided.al2023) and zips it, once per architecture. Every group of every setup runs this\n" +
			"same bundle. Example: fusionize bundle ./samples/cmd/iot",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "dist", Usage: "directory for the zips", EnvVars: []string{"FUSIONIZE_BUNDLE_OUT"}},
			&cli.StringSliceFlag{Name: "arch", Value: cli.NewStringSlice(bundle.Archs...), Usage: "GOARCHs to build (amd64, arm64)"},
			&cli.StringFlag{Name: "name", Usage: "zip base name (default: the package's last path element)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("bundle needs exactly one package, e.g. `fusionize bundle ./samples/cmd/iot`")
			}
			arts, err := bundle.Build(c.Context, bundle.Options{
				Package: c.Args().First(), OutDir: c.String("out"), Archs: splitList(c.StringSlice("arch")),
				Name: c.String("name"), Log: c.App.ErrWriter,
			})
			if err != nil {
				return err
			}
			for _, a := range arts {
				fmt.Fprintf(c.App.Writer, "%s\t%s\t%d bytes\tsha256 %s\n", bundle.LambdaArchitecture(a.Arch), a.Zip, a.Size, a.CodeSHA256)
			}
			return nil
		},
	}
}

// splitList accepts both repeated flags and comma-separated values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
