package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/synthetic"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check app configs, a setup or a synthetic app spec, reporting every problem with its position",
		ArgsUsage: "[config.yaml ...]",
		Description: "Checks each app config (fields, memory sizes, canary policy, and the CEL constraints, objective and\n" +
			"acceptance rule, with the task names they write against a sample's tasks; for a sample also that the\n" +
			"initial setup satisfies the constraints on the setup alone and that some setup satisfies them all,\n" +
			"naming the constraint that excludes every setup), a setup text against an app\n" +
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
				said, err := validateConfig(path)
				if err != nil {
					problems = append(problems, err)
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s: ok%s\n", path, said)
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

// validateConfig loads a config and, for a sample (whose graph is known), checks its
// constraints against the setups (checkConstraints).
func validateConfig(path string) (string, error) {
	cfg, err := appconfig.LoadFile(path)
	if err != nil || cfg.Sample == "" {
		return "", err
	}
	g, err := configGraph(cfg)
	if err != nil {
		return "", err
	}
	said, err := checkConstraints(cfg, g, fusion.Setup{})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if said != "" {
		said = " (constraints: " + said + ")"
	}
	return said, nil
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

// checkConstraints decides what can be decided of the constraints before anything runs: the
// setup the optimizer deploys first (initial, or all remote at initial_memory when zero)
// satisfies those on the setup alone, and some setup satisfies them all (plan.CheckFeasible).
// It returns a line saying what was checked, or an error naming the constraints at fault.
func checkConstraints(cfg appconfig.Config, g fusion.Graph, initial fusion.Setup) (string, error) {
	if cfg.Policy == nil {
		return "", nil
	}
	if initial.IsZero() {
		initial = fusion.AllRemote(g, cfg.InitialMemory)
	}
	f, err := plan.CheckFeasible(g, cfg.MemorySizes, cfg.Policy)
	if err != nil {
		return "", fmt.Errorf("%s: %w", cfg.Name, err)
	}
	var errs []error
	v := &constraint.Vars{Candidate: constraint.Subject{Setup: constraint.SetupOf(initial)}, Tasks: g.Tasks}
	violated, err := cfg.Policy.Check(v)
	if err != nil {
		return "", fmt.Errorf("%s: constraints of the initial setup: %w", cfg.Name, err)
	}
	if bad := slices.DeleteFunc(violated, func(n string) bool { return !slices.Contains(f.SetupOnly, n) }); len(bad) > 0 {
		errs = append(errs, fmt.Errorf("the initial setup %s violates %s, and the optimizer starts by deploying it to live "+
			"traffic: change initial_memory (or --initial) or the constraint", initial, strings.Join(bad, ", ")))
	}
	switch {
	case f.Feasible():
	case len(f.Excluding) > 0:
		errs = append(errs, fmt.Errorf("no setup satisfies the constraints: %s alone excludes every one of the %d setups "+
			"searched (memory sizes %v)", strings.Join(f.Excluding, ", "), f.Searched, cfg.MemorySizes))
	default:
		errs = append(errs, fmt.Errorf("no setup satisfies the constraints %s together, though each alone can be met "+
			"(%d setups searched)", strings.Join(f.SetupOnly, ", "), f.Searched))
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("%s: %w", cfg.Name, err)
	}
	var said []string
	if len(f.SetupOnly) > 0 {
		said = append(said, fmt.Sprintf("%s hold for the initial setup and can be met, e.g. by %s", strings.Join(f.SetupOnly, ", "), f.Example))
	}
	if len(f.Deferred) > 0 {
		said = append(said, fmt.Sprintf("%s read metrics and are decided on predictions", strings.Join(f.Deferred, ", ")))
	}
	return strings.Join(said, "; "), nil
}
