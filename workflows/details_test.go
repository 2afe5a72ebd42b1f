package workflows

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

// Catches FusionizeSetup holding the setup's hash instead of the setup a person reads (the
// Web UI's list showed "168d100248d2").
func TestCycleSetsReadableSetupAttribute(t *testing.T) {
	s := &script{plans: []plan.Plan{candidatePlan(fused)}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
	e := newEnv(t, s)
	var setups, phases []string
	e.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(SetupKey); ok && (len(setups) == 0 || setups[len(setups)-1] != v) {
			setups = append(setups, v)
		}
		if v, ok := sa.GetKeyword(PhaseKey); ok {
			phases = append(phases, v)
		}
	}).Return(nil)
	in := cycleInput(settings())
	in.Settings.SearchAttributes = true
	if _, err := runCycle(t, e, in); err != nil {
		t.Fatal(err)
	}
	if want := []string{allRemoteText, fusedText}; !slices.Equal(setups, want) {
		t.Errorf("FusionizeSetup went %q, want %q", setups, want)
	}
	if !slices.Contains(phases, string(PhaseCanary)) || !slices.Contains(phases, string(PhasePromoting)) {
		t.Errorf("FusionizePhase went %q", phases)
	}
}

// Catches a setup attribute over Temporal's value limit, or cut inside a group.
func TestSetupAttributeFitsTemporal(t *testing.T) {
	var groups []string
	for i := range 300 {
		groups = append(groups, fmt.Sprintf("task%03d+helper%03d@1024", i, i))
	}
	long := strings.Join(groups, ",")
	got := setupAttribute(long, "3f2a9c0d11aa")
	if len(got) > maxSetupAttribute || !strings.HasSuffix(got, "groups (setup 3f2a9c0d11aa)") {
		t.Fatalf("%d bytes ending %q", len(got), got[max(0, len(got)-60):])
	}
	kept, _, _ := strings.Cut(got, " … +")
	for _, g := range strings.Split(kept, ",") {
		if !slices.Contains(groups, g) {
			t.Fatalf("group %q was cut", g)
		}
	}
	if n := len(strings.Split(kept, ",")); !strings.Contains(got, fmt.Sprintf("+%d groups", 300-n)) {
		t.Errorf("%q does not count the %d groups left out", got[len(kept):], 300-n)
	}
	if got := setupAttribute(fusedText, "x"); got != fusedText {
		t.Errorf("a short setup became %q", got)
	}
}

// Catches current details that grow past what the Web UI's box shows: the verdict's whole
// reason, a long message, the setup IDs.
func TestDetailsAreShort(t *testing.T) {
	v := verdict(judge.Pass, true)
	v.Reason = strings.Repeat("a long reason with confidence intervals ", 20)
	st := Status{App: "iot", Phase: PhaseCanary, Cycle: 2, Current: fusion.MustParseSetup(allRemote), Candidate: fusion.MustParseSetup(fused),
		Step: 1, Weight: 0.5, StableSamples: 12, CanarySamples: 9, LastVerdict: &v, Message: strings.Repeat("step 1: 50 % of requests on the candidate ", 5)}
	d := st.details()
	lines := strings.Split(d, "\n")
	if len(lines) > 4 {
		t.Errorf("%d lines:\n%s", len(lines), d)
	}
	for _, want := range []string{"**iot** · canary · cycle 2", "current `" + allRemoteText + "`", "candidate `" + fusedText + "`",
		"warm samples: current 12, candidate 9", "last verdict: pass, promoted"} {
		if !strings.Contains(d, want) {
			t.Errorf("details lack %q:\n%s", want, d)
		}
	}
	for _, not := range []string{"a long reason", st.Current.ID(), st.Candidate.ID()} {
		if strings.Contains(d, not) {
			t.Errorf("details contain %q:\n%s", not, d)
		}
	}
	if len(lines[0]) > 200 {
		t.Errorf("first line of %d bytes: %q", len(lines[0]), lines[0])
	}
}
