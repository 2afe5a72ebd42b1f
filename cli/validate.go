package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/synthetic"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check app configs, a setup or a synthetic app spec, reporting every problem with its position",
		ArgsUsage: "[config.yaml ...]",
		Description: "Checks each app config (fields, memory sizes, canary policy, and the CEL constraints, objective and\n" +
			"acceptance rule, with the task names they write against a sample's tasks), a setup text against an app\n" +
			"(--setup with --sample or --spec: every problem at the group or task it is about), and a synthetic spec\n" +
			"(--spec). Nothing is deployed or changed. Examples:\n" +
			"  fusionize validate iot.yaml\n" +
			"  fusionize validate --sample iot --setup 'I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA+DJ@512,AS@1024'",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "setup", Usage: "a setup text to check, e.g. 'A+B+D+E@128,C@1024,F@1024,G@1024'"},
			&cli.StringFlag{Name: "sample", Usage: "the sample app the setup is for (" + fmt.Sprint(samples.Names()) + ")"},
			&cli.StringFlag{Name: "spec", Usage: "a synthetic app spec file to check (and the app the setup is for)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 && c.String("setup") == "" && c.String("spec") == "" {
				return errors.New("nothing to validate: give config files, --setup with --sample or --spec, or --spec")
			}
			var problems []error
			for _, path := range c.Args().Slice() {
				if _, err := appconfig.LoadFile(path); err != nil {
					problems = append(problems, err)
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s: ok\n", path)
			}
			var graph *fusion.Graph
			if spec := c.String("spec"); spec != "" {
				text, err := os.ReadFile(spec)
				if err != nil {
					return err
				}
				s, err := synthetic.Parse(spec, text)
				if err != nil {
					problems = append(problems, err)
				} else {
					g := s.Graph()
					graph = &g
					fmt.Fprintf(c.App.Writer, "%s: ok (%d tasks, %d calls)\n", spec, len(g.Tasks), len(g.Edges))
				}
			}
			if name := c.String("sample"); name != "" {
				s, err := samples.ByName(name)
				if err != nil {
					return err
				}
				graph = &s.Graph
			}
			if text := c.String("setup"); text != "" {
				if setup, err := validateSetup(text, graph); err != nil {
					problems = append(problems, err)
				} else {
					fmt.Fprintf(c.App.Writer, "setup: ok, %s (ID %s)\n", setup, setup.ID())
				}
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(c.App.ErrWriter, p)
				}
				return fmt.Errorf("%d input(s) with problems", len(problems))
			}
			return nil
		},
	}
}

// validateSetup checks a setup text against the app, every problem at its place in the text.
func validateSetup(text string, g *fusion.Graph) (fusion.Setup, error) {
	if g == nil {
		if _, err := fusion.ParseSetup(text); err != nil {
			return fusion.Setup{}, err
		}
		return fusion.Setup{}, errors.New("setup: give --sample or --spec to check it against an app")
	}
	return fusion.ParseSetupFor(text, *g)
}
