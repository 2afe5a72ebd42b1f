package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/optimizer"
	"github.com/fusionize/fusionize/workflows"
)

// followProgress prints the optimizer's progress until the workflow ends: each change of
// phase, cycle or setup, the canary's warm samples per arm as they come, and each verdict in
// words (faster or slower by how much, with its interval).
func followProgress(ctx context.Context, tc client.Client, app string, minSamples int, done <-chan error, logf func(string, ...any)) error {
	var last workflows.Status
	var lastSamples time.Time
	lastVerdict := ""
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("optimizer: %w", err)
			}
			logf("optimizer finished")
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		st, err := optimizer.Status(ctx, tc, app)
		if err != nil {
			continue // the workflow may be between runs (continue-as-new) or just finishing
		}
		changed := st.Phase != last.Phase || st.Cycle != last.Cycle || !st.Candidate.Equal(last.Candidate) || st.Step != last.Step || !st.Current.Equal(last.Current)
		moreSamples := st.StableSamples != last.StableSamples || st.CanarySamples != last.CanarySamples
		switch {
		case changed:
			logf("%s", phaseLine(st))
		case st.Phase == workflows.PhaseCanary && st.Step > 0 && moreSamples && time.Since(lastSamples) > 6*time.Second:
			logf("  %s", canaryLine(st, minSamples))
			lastSamples = time.Now()
		}
		if v := st.LastVerdict; v != nil && VerdictWords(*v) != lastVerdict { // once, not again in the next cycle's status
			lastVerdict = VerdictWords(*v)
			logf("  %s", lastVerdict)
		}
		last = st
	}
}

func phaseLine(st workflows.Status) string {
	line := fmt.Sprintf("cycle %d · %s · current %s", st.Cycle, st.Phase, st.Current)
	if !st.Candidate.IsZero() {
		line += " · candidate " + st.Candidate.String()
	}
	if st.Message != "" {
		line += " — " + st.Message
	}
	return line
}

func canaryLine(st workflows.Status, minSamples int) string {
	line := fmt.Sprintf("canary step %d, %.0f %% of traffic to the candidate: warm samples so far: current %d, candidate %d",
		st.Step, 100*st.Weight, st.StableSamples, st.CanarySamples)
	if minSamples > 0 {
		line += fmt.Sprintf(" (judged at %d each)", minSamples)
	}
	return line
}

// VerdictWords is a canary's verdict as the demo prints it: the judge's outcome and its
// reason, which says the decision, the part that decided, and how much faster or slower the
// candidate was with its interval and the warm samples of each arm.
func VerdictWords(v activities.Verdict) string {
	return fmt.Sprintf("verdict %s — %s", v.Outcome, v.Reason)
}

// explainTimeout prints, when the demo's time ran out, what the optimizer tried and where it
// stood, so that a timeout says why it stopped.
func explainTimeout(ctx context.Context, tc client.Client, w io.Writer, app string, timeout time.Duration, lr loadgen.Result) {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	fmt.Fprintf(w, "\nthe optimizer of %s did not converge within --timeout %s.\n", app, timeout)
	fmt.Fprintf(w, "client side: %d requests, %d ok, %d errors\n", lr.Started, lr.OK, lr.Errors)
	for _, k := range lr.ErrorKinds() {
		fmt.Fprintf(w, "  %d× %s\n", lr.ErrorCounts[k], k)
	}
	if st, err := optimizer.Status(qctx, tc, app); err == nil {
		fmt.Fprintf(w, "where it stood: %s\n", phaseLine(st))
		if st.LastVerdict != nil {
			fmt.Fprintf(w, "last %s\n", VerdictWords(*st.LastVerdict))
		}
	}
	rs, err := optimizer.History(qctx, tc, app)
	switch {
	case err != nil:
		fmt.Fprintf(w, "its history could not be read: %v\n", err)
	case len(rs) == 0:
		fmt.Fprintln(w, "no cycle finished: the first cycle was still collecting, measuring or canarying")
	default:
		fmt.Fprintf(w, "%d cycle(s) finished; what was tried and why each ended:\n", len(rs))
		WriteHistory(w, rs)
	}
	fmt.Fprintln(w, strings.TrimSpace(`
A longer --timeout, a higher --rate (more samples per canary window) or a lower --work-scale
(faster requests) help a canary reach a verdict; `+"`fusionize dev`"+` and `+"`fusionize optimize status`"+`
follow an optimizer without a deadline.`))
}
