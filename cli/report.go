package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/fusionize/fusionize/cli/plot"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/optimizer"
	"github.com/fusionize/fusionize/workflows"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "show every setup an app's optimizer tried, before against after, and plot latency against cost",
		Description: "Queries the app's optimizer workflow for its cycles and prints each setup tried with its predicted and\n" +
			"observed median latency and cost per request, the verdict, and the change from the first setup to the\n" +
			"current one; writes a PNG: every setup observed as latency against cost, and each cycle's prediction\n" +
			"against what its canary observed. A worker must be running (queries replay on it).",
		Flags: append(temporalFlags(),
			&cli.StringFlag{Name: "app", Required: true, Usage: "the app's name"},
			&cli.StringFlag{Name: "plot", Usage: "PNG file to write (default: <data-dir>/reports/<app>-<time>.png, where demo writes too)"},
			&cli.StringFlag{Name: "data-dir", Value: defaultHome(), Usage: "the data directory whose reports/ holds the plots", EnvVars: []string{"FUSIONIZE_HOME"}},
		),
		Action: func(c *cli.Context) error {
			return withClient(c, func(cl client.Client) error {
				rs, err := optimizer.History(c.Context, cl, c.String("app"))
				if err != nil {
					return err
				}
				path := c.String("plot")
				if path == "" {
					path = reportPath(c.String("data-dir"), c.String("app"), time.Now())
				}
				return WriteReport(c.App.Writer, c.String("app"), rs, path)
			})
		},
	}
}

// Comparison is the before/after of an optimization, as observed on live traffic.
type Comparison struct {
	BeforeSetup, AfterSetup fusion.Setup
	Before, After           constraint.Metrics
	// Change is after/before − 1 per metric. With one promotion it is the two arms of that
	// cycle's canary, measured side by side at the same time; with several it chains each
	// promotion's side-by-side ratio, so drifting load between cycles does not count as gain.
	Change     constraint.Metrics
	Promotions int
}

// Compare reads the before/after from cycle records: the baseline arm of the first promoted
// canary against the candidate arm of the last. Without a promotion there is no change to
// show.
func Compare(rs []workflows.CycleRecord) (Comparison, bool) {
	var c Comparison
	ratio := constraint.Metrics{MedianMS: 1, P95MS: 1, CostPerRequest: 1}
	mul := func(r *float64, after, before float64) {
		if before > 0 && after > 0 && *r > 0 {
			*r *= after / before
		} else {
			*r = 0 // unknown
		}
	}
	for _, r := range rs {
		if r.Outcome != workflows.Promoted {
			continue
		}
		if c.Promotions == 0 {
			c.BeforeSetup, c.Before = r.Baseline, r.BaselineObserved
		}
		c.Promotions++
		c.AfterSetup, c.After = r.Candidate, r.CandidateObserved
		mul(&ratio.MedianMS, r.CandidateObserved.MedianMS, r.BaselineObserved.MedianMS)
		mul(&ratio.P95MS, r.CandidateObserved.P95MS, r.BaselineObserved.P95MS)
		mul(&ratio.CostPerRequest, r.CandidateObserved.CostPerRequest, r.BaselineObserved.CostPerRequest)
	}
	c.Change = ratio
	return c, c.Promotions > 0
}

// WriteComparison prints the before/after table.
func WriteComparison(w io.Writer, c Comparison) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tbefore\tafter\tchange\t")
	row := func(name string, b, a, ratio, scale float64) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, num(b*scale), num(a*scale), change(ratio))
	}
	row("median latency (ms)", c.Before.MedianMS, c.After.MedianMS, c.Change.MedianMS, 1)
	row("p95 latency (ms)", c.Before.P95MS, c.After.P95MS, c.Change.P95MS, 1)
	row("cost per million requests ($)", c.Before.CostPerRequest, c.After.CostPerRequest, c.Change.CostPerRequest, 1e6)
	tw.Flush()
	fmt.Fprintf(w, "before: %s\nafter:  %s\n", c.BeforeSetup, c.AfterSetup)
	if c.Promotions == 1 {
		fmt.Fprintln(w, "(both measured side by side, at the same time, in the promoting canary)")
	} else {
		fmt.Fprintf(w, "(%d promotions; the change multiplies each canary's side-by-side ratio)\n", c.Promotions)
	}
}

func num(v float64) string {
	if v <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

func change(ratio float64) string {
	if ratio <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f %%", 100*(ratio-1))
}

// WriteReport prints the history and the before/after table and writes the plot.
func WriteReport(w io.Writer, app string, rs []workflows.CycleRecord, plotPath string) error {
	if len(rs) == 0 {
		fmt.Fprintf(w, "%s: no cycle has finished yet\n", app)
		return nil
	}
	WriteHistory(w, rs)
	fmt.Fprintln(w)
	cmp, ok := Compare(rs)
	if ok {
		WriteComparison(w, cmp)
	} else {
		fmt.Fprintf(w, "no candidate was promoted: %s stays as it was\n", rs[len(rs)-1].Baseline)
		cmp = Comparison{BeforeSetup: rs[0].Baseline, Before: rs[0].BaselineObserved, AfterSetup: rs[0].Baseline, After: rs[0].BaselineObserved}
	}
	if plotPath == "" {
		return nil
	}
	rows := reportCharts(app, rs, cmp)
	if err := plot.SavePNG(plotPath, 1100, 420*len(rows), rows...); err != nil {
		return fmt.Errorf("report of %s: %w", app, err)
	}
	fmt.Fprintf(w, "plot:   %s\n", plotPath)
	return nil
}
