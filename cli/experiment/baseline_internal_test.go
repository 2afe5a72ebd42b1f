package experiment

import (
	"testing"

	"github.com/fusionize/fusionize/fusion/plan"
)

// A canary's baseline is the last run of the setup current before it: the start's latest
// run, and after a promotion the promoted canary's. Catches a baseline that stays the
// start's after a promotion, and one taken from the measurement of another setup.
func TestLastCurrentRuns(t *testing.T) {
	m := func(ms float64) Metrics { return Metrics{MedianMS: ms} }
	canary, meas, base := string(plan.Canary), string(plan.Measurement), string(plan.Baseline)
	rs := []SetupResult{
		{ID: "A", Kind: meas, Metrics: m(1)},
		{ID: "B", Kind: meas, Metrics: m(2)}, // another size, not the current setup
		{ID: "A", Kind: base, Metrics: m(3)},
		{ID: "C", Kind: canary, Promoted: true, Metrics: m(4)},
		{ID: "D", Kind: canary, Metrics: m(5)},
	}
	got := lastCurrentRuns(rs)
	for k, want := range []float64{1, 1, 1, 3, 4} {
		if got[k].MedianMS != want {
			t.Errorf("run %d (%s %s): baseline %v, want %v", k, rs[k].Kind, rs[k].ID, got[k].MedianMS, want)
		}
	}
}
