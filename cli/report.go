package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/fusionize/fusionize/cli/plot"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/workflows"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "show every setup an app's optimizer tried, before against after, and plot latency against cost",
		Description: "Queries the app's optimizer workflow for its cycles and prints each setup tried with its predicted and\n" +
			"observed median latency and cost per request, the verdict, and the change from the first setup to the\n" +
			"current one; writes a PNG plot of latency against cost. A worker must be running (queries replay on it).",
		Flags: append(temporalFlags(),
			&cli.StringFlag{Name: "app", Required: true, Usage: "the app's name"},
			&cli.StringFlag{Name: "plot", Usage: "PNG file to write (default: <app>-report.png)"},
		),
		Action: func(c *cli.Context) error {
			return withClient(c, func(cl client.Client) error {
				rs, err := History(c.Context, cl, c.String("app"))
				if err != nil {
					return err
				}
				path := c.String("plot")
				if path == "" {
					path = c.String("app") + "-report.png"
				}
				return WriteReport(c.App.Writer, c.String("app"), rs, path)
			})
		},
	}
}

// Comparison is the before/after of an optimization: the first setup against the current one,
// as observed on live traffic.
type Comparison struct {
	BeforeSetup, AfterSetup string
	Before, After           constraint.Metrics
}

// Compare reads the before/after from cycle records: before is what the first cycle observed
// of its baseline; after is the last observation of the setup that ended up current (the last
// cycle's baseline when it converged, else the candidate the last promotion observed).
func Compare(rs []workflows.CycleRecord) (Comparison, bool) {
	if len(rs) == 0 {
		return Comparison{}, false
	}
	c := Comparison{BeforeSetup: rs[0].Baseline, Before: rs[0].BaselineObserved}
	last := rs[len(rs)-1]
	switch {
	case last.Outcome == workflows.Promoted:
		c.AfterSetup, c.After = last.Candidate, last.CandidateObserved
	default:
		c.AfterSetup, c.After = last.Baseline, last.BaselineObserved
	}
	return c, c.Before.MedianMS > 0 && c.After.MedianMS > 0
}

// WriteComparison prints the before/after table.
func WriteComparison(w io.Writer, c Comparison) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tbefore\tafter\tchange\t")
	row := func(name string, b, a float64, format string) {
		fmt.Fprintf(tw, "%s\t"+format+"\t"+format+"\t%+.1f %%\t\n", name, b, a, pct(b, a))
	}
	row("median latency (ms)", c.Before.MedianMS, c.After.MedianMS, "%.1f")
	row("p95 latency (ms)", c.Before.P95MS, c.After.P95MS, "%.1f")
	row("cost per million requests ($)", c.Before.CostPerRequest*1e6, c.After.CostPerRequest*1e6, "%.2f")
	tw.Flush()
	fmt.Fprintf(w, "before: %s\nafter:  %s\n", c.BeforeSetup, c.AfterSetup)
}

func pct(before, after float64) float64 {
	if before == 0 {
		return 0
	}
	return 100 * (after - before) / before
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
	}
	if plotPath == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(plotPath), 0o755); err != nil {
		return err
	}
	f, err := os.Create(plotPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := plot.WritePNG(f, plotPoints(rs, cmp), plot.Options{Title: app + ": every setup observed, median latency against cost"}); err != nil {
		return err
	}
	fmt.Fprintf(w, "plot:   %s\n", plotPath)
	return f.Close()
}

func plotPoints(rs []workflows.CycleRecord, cmp Comparison) []plot.Point {
	var pts []plot.Point
	seen := map[string]bool{}
	add := func(setup string, m constraint.Metrics, kind plot.Kind) {
		if m.MedianMS <= 0 || seen[setup] && kind == plot.Tried {
			return
		}
		seen[setup] = true
		pts = append(pts, plot.Point{Label: shorten(setup), LatencyMS: m.MedianMS, Cost: m.CostPerRequest, Kind: kind})
	}
	add(cmp.BeforeSetup, cmp.Before, plot.Baseline)
	for _, r := range rs {
		if r.Candidate != "" {
			add(r.Candidate, r.CandidateObserved, plot.Tried)
		}
	}
	add(cmp.AfterSetup, cmp.After, plot.Final)
	return pts
}

func shorten(s string) string {
	if len(s) > 48 {
		return s[:45] + "..."
	}
	return s
}
