package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// setDetails writes the status as the workflow's current details (shown by the Temporal Web
// UI) and, when enabled, upserts the phase and setup search attributes when they changed.
// It also moves the phase gauge.
func setDetails(ctx workflow.Context, s Settings, st *Status) {
	workflow.SetCurrentDetails(ctx, st.details())
	if st.upserted[0] != string(st.Phase) {
		m := metricsFor(ctx, s.App)
		if st.upserted[0] != "" {
			m.WithTags(map[string]string{"phase": st.upserted[0]}).Gauge(MetricPhase).Update(0)
		}
		m.WithTags(map[string]string{"phase": string(st.Phase)}).Gauge(MetricPhase).Update(1)
	}
	if s.SearchAttributes && (st.upserted[0] != string(st.Phase) || st.upserted[1] != st.CurrentID) {
		err := workflow.UpsertTypedSearchAttributes(ctx, PhaseKey.ValueSet(string(st.Phase)), SetupKey.ValueSet(st.CurrentID))
		if err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		}
	}
	st.upserted = [2]string{string(st.Phase), st.CurrentID}
}

// details renders the status as Markdown for the Web UI.
func (st Status) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** — %s", st.App, st.Phase)
	if st.Paused {
		b.WriteString(" (paused)")
	}
	if st.Cycle > 0 {
		fmt.Fprintf(&b, ", cycle %d", st.Cycle)
	}
	if st.Message != "" {
		fmt.Fprintf(&b, "\n\n%s", st.Message)
	}
	fmt.Fprintf(&b, "\n\nCurrent setup `%s` (%s)", st.Current, st.CurrentID)
	if st.Candidate != "" {
		fmt.Fprintf(&b, "\n\nCandidate `%s` (%s)", st.Candidate, st.CandidateID)
		if st.Step > 0 {
			fmt.Fprintf(&b, ": canary step %d at %.0f %%, warm samples %d current / %d candidate",
				st.Step, 100*st.Weight, st.StableSamples, st.CanarySamples)
		}
	}
	if v := st.LastVerdict; v != nil {
		fmt.Fprintf(&b, "\n\nLast verdict: %s", v.Reason)
	}
	return b.String()
}
