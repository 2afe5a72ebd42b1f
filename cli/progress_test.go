package cli

import (
	"testing"

	"github.com/fusionize/fusionize/workflows"
)

// Catches progress that hides the arms' sample counts or the number they are judged at.
func TestCanaryLineCountsBothArms(t *testing.T) {
	got := canaryLine(workflows.Status{Phase: workflows.PhaseCanary, Step: 1, Weight: 0.5, StableSamples: 12, CanarySamples: 9}, 40)
	if want := "canary step 1, 50 % of traffic to the candidate: warm samples so far: current 12, candidate 9 (judged at 40 each)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
