package plan

import (
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

// TestLearnPeriod: the model learns the CPU quota's period from the traces' CPU times (the
// ground truth's own period, which the model is not told). Catches a model that assumes a
// period (the local platform's 100 ms) or a fluid share whatever the traces show.
func TestLearnPeriod(t *testing.T) {
	for _, period := range []float64{20, 100} {
		app := apps.IoT()
		app.PeriodMS = period
		b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
		for i, m := range []int{128, 1024} {
			r, rp := app.Measure(fusion.AllRemote(app.Graph, m), 300, uint64(i+1))
			b.AddRecords(r...)
			b.AddReports(rp...)
		}
		m := newModel(b.Profile(), app.Graph, fusion.DefaultPrices())
		if m.period != period {
			t.Errorf("ground truth with a %v ms period: learned %v ms", period, m.period)
		}
		cw := m.tasks[m.index["CW"]] // 3 ms of CPU, calls nothing
		if got, want := cw.timeAt(256), cfsTime(3, 256, period, 1); got < 0.9*want || got > 1.1*want {
			t.Errorf("period %v: CW at 256 MB predicted %.1f ms, want about %.1f", period, got, want)
		}
	}
	// Without CPU times in the traces the CPU stays a fluid share.
	app := apps.IoT()
	recs, reps := app.Measure(fusion.AllRemote(app.Graph, 128), 100, 1)
	for i := range recs {
		recs[i].CPU = 0
	}
	if m := newModel(fusion.BuildProfile(app.Graph, recs, reps), app.Graph, fusion.DefaultPrices()); m.period != 0 {
		t.Errorf("no CPU times: period %v", m.period)
	}
}

func TestCFSTime(t *testing.T) {
	for _, tt := range []struct {
		cpu     float64
		mem     int
		period  float64
		threads float64
		want    float64
	}{
		{1, 128, 20, 1, 1},                      // a burst within the quota
		{2, 128, 20, 1, 20 + 2 - 128.0/1769*20}, // past it: the next period
		{3, 3538, 100, 2, 1.5},                  // the quota never binds at two vCPUs
		{100, 1769, 100, 1, 100},
	} {
		if got := cfsTime(tt.cpu, tt.mem, tt.period, tt.threads); got < tt.want-1e-6 || got > tt.want+1e-6 {
			t.Errorf("cfsTime(%v, %d, %v, %v) = %v, want %v", tt.cpu, tt.mem, tt.period, tt.threads, got, tt.want)
		}
	}
}
