package plan

import (
	"math"
	"math/rand/v2"
	"slices"
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
		// Work that starts as a period starts is cfsTime's case.
		if got := cfsTimeFrom(tt.cpu, tt.mem, tt.period, tt.threads, tt.period); got < tt.want-1e-6 || got > tt.want+1e-6 {
			t.Errorf("cfsTimeFrom(%v, %d, %v, %v, %v) = %v, want cfsTime's %v", tt.cpu, tt.mem, tt.period, tt.threads, tt.period, got, tt.want)
		}
	}
	// 15 ms of CPU on two threads at 256 MB (14.47 ms of quota per 100 ms period): started 30
	// ms before its period ends, it is throttled after 7.24 ms with 0.53 ms of CPU to go, and
	// ends 0.27 ms into the next period; started 5 ms before, the period's end gives it a new
	// quota in time and it runs through.
	q := 256.0 / 1769 * 100
	for _, tt := range []struct{ first, want float64 }{{30, 30 + (15-q)/2}, {5, 7.5}} {
		if got := cfsTimeFrom(15, 256, 100, 2, tt.first); math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("cfsTimeFrom(15, 256, 100, 2, %v) = %v, want %v", tt.first, got, tt.want)
		}
	}
}

// TestQuotaPeriodStartsAtRandom: an invocation whose CPU work outlasts its quota waits for
// the end of its instance's period, which comes at a random point of the invocation, not a
// whole period after its start. CA+AS+DJ@256 of IoT ran at a p75 of 56 ms on the local
// platform where a wait of a whole period made the model say 100.
func TestQuotaPeriodStartsAtRandom(t *testing.T) {
	u := &run{m: &model{period: 100}, rng: rand.New(rand.NewPCG(1, 2))}
	var floors []float64
	for range 4000 {
		first := 0.0
		floors = append(floors, u.quotaFloor(15, 256, 0, &first))
	}
	slices.Sort(floors)
	q := 256.0 / 1769 * 100
	if lo, hi := floors[0], floors[len(floors)-1]; lo < 7.5-1e-9 || hi > 100+(15-q)/2+1e-9 {
		t.Errorf("15 ms of CPU at 256 MB: floors from %.2f to %.2f ms, want from 7.5 (no wait) to %.2f (a whole period)", lo, hi, 100+(15-q)/2)
	}
	if med := fusion.QuantileSorted(floors, 0.5); med < 45 || med > 56 {
		t.Errorf("15 ms of CPU at 256 MB: median floor %.1f ms, want about 50 (the period's end uniform over the invocation)", med)
	}
	if first := 0.0; u.quotaFloor(10, 256, 0, &first) != 5 || first != 0 {
		t.Errorf("10 ms of CPU within 256 MB's quota: want 5 ms on two threads, no period drawn (first %v)", first)
	}
}
