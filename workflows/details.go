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
	id := st.Current.ID()
	if s.SearchAttributes && (st.upserted[0] != string(st.Phase) || st.upserted[1] != id) {
		setup := id
		if workflow.GetVersion(ctx, changeReadableSetup, workflow.DefaultVersion, 1) >= 1 {
			setup = setupAttribute(st.Current.String(), id)
		}
		err := workflow.UpsertTypedSearchAttributes(ctx, PhaseKey.ValueSet(string(st.Phase)), SetupKey.ValueSet(setup))
		if err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		}
	}
	st.upserted = [2]string{string(st.Phase), id}
}

// changeReadableSetup versions FusionizeSetup holding the setup's text instead of its ID.
const changeReadableSetup = "readable-setup-attribute"

// maxSetupAttribute bounds FusionizeSetup well inside Temporal's limit on a search attribute
// value (frontend.searchAttributesSizeOfValueLimit, 2 KB by default in server v1.32).
const maxSetupAttribute = 1000

// setupAttribute is the setup as FusionizeSetup shows it: its text, which a person reads and
// a list filter can match; a setup too long for that is cut after whole groups and ends with
// how many groups are left out and its ID.
func setupAttribute(text, id string) string {
	if len(text) <= maxSetupAttribute {
		return text
	}
	groups := strings.Split(text, ",")
	var b strings.Builder
	for i, g := range groups {
		rest := fmt.Sprintf(" … +%d groups (setup %s)", len(groups)-i, id)
		if b.Len()+len(g)+1+len(rest) > maxSetupAttribute {
			b.WriteString(rest)
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(g)
	}
	return b.String()
}

// details renders the status as Markdown for the Web UI's current details: a few short
// lines, so that the box shows all of them — the phase and cycle, the current setup, the
// candidate with its canary's samples, and the last verdict's outcome (the reason is in the
// history and in `fusionize optimize status`).
func (st Status) details() string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%s** · %s", st.App, st.Phase))
	if st.Paused {
		b.WriteString(" (paused)")
	}
	if st.Cycle > 0 {
		b.WriteString(fmt.Sprintf(" · cycle %d", st.Cycle))
	}
	if st.Message != "" {
		b.WriteString(fmt.Sprintf(" — %s", clip(st.Message, 120)))
	}
	b.WriteString(fmt.Sprintf("  \ncurrent `%s`", st.Current))
	if !st.Candidate.IsZero() {
		b.WriteString(fmt.Sprintf("  \ncandidate `%s`", st.Candidate))
		if st.Step > 0 {
			b.WriteString(fmt.Sprintf(" — canary step %d, %.0f %% of traffic, warm samples: current %d, candidate %d",
				st.Step, 100*st.Weight, st.StableSamples, st.CanarySamples))
		}
	}
	if v := st.LastVerdict; v != nil {
		decision := "not promoted"
		if v.Accepted {
			decision = "promoted"
		}
		b.WriteString(fmt.Sprintf("  \nlast verdict: %s, %s", v.Outcome, decision))
	}
	return b.String()
}

// clip shortens s to at most n bytes, at a word, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n-1], ' ')
	if cut < n/2 {
		cut = n - 1
	}
	return s[:cut] + "…"
}
