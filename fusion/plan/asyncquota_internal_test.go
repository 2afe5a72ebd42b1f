package plan

import (
	"slices"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/sim"
)

// TestInlineAsyncSharesTheQuota: Tree's C, F and G compute (async, after A's sync call to B
// returns). Fused with everything at 128 MB, their CPU work starts only when B is done and
// shares the group's small quota, so the response waits for it. Live, the model predicted
// A+B+C+D+E+F+G@128 at 302 ms and it ran 651 ms: it made every async call before the sync
// ones and let the async CPU work spread over the whole invocation, including the time the
// handler waited on B. Now the traces say when a task makes its async calls (after its
// sync calls returned, EdgeStat.AfterSync) and inlined async work starts then and shares the
// quota. Checked against the independent ground truth (fusion/sim), which runs the work on a
// CFS quota of its own. Before: 304 ms predicted against 403 true for A+B+C+D+E+F@128,G@1024
// (×1.33). After: within 25 % (fuse-all at 128 MB is still predicted 20 % fast: the model
// counts less of C, F and G's two-thread CPU work than the ground truth does).
func TestInlineAsyncSharesTheQuota(t *testing.T) {
	// The live demo's Tree: work scale 0.2 of the sample (I/O 100 ms; C 6, F and G 8 ms of
	// CPU on two threads) on the local platform's CFS period of 100 ms.
	app := apps.Tree()
	app.PeriodMS = 100
	app.AsyncAfterSync = []string{"A"} // as samples/tree.go: A calls B, then starts C
	app.IOMemoryFactor = -1            // the model does not learn memory-dependent I/O yet (issue 10)
	app.Work = map[string]sim.Work{
		"A": {CPUMS: 0.2}, "B": {CPUMS: 0.2, IOMS: 100}, "D": {CPUMS: 0.2, IOMS: 100}, "E": {CPUMS: 0.2, IOMS: 100},
		"C": {CPUMS: 6, Threads: 2}, "F": {CPUMS: 8, Threads: 2}, "G": {CPUMS: 8, Threads: 2},
	}
	b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
	for i, m := range []int{256, 1024} { // what the live demo had measured: all remote at two sizes
		r, rp := app.Measure(fusion.AllRemote(app.Graph, m), 300, uint64(i+1))
		b.AddRecords(r...)
		b.AddReports(rp...)
	}
	prof := b.Profile()
	for _, text := range []string{"A+B+C+D+E+F+G@128", "A+B+C+D+E+F@128,G@1024", "A+B+D+E@128,C+F+G@1024"} {
		s, err := fusion.ParseSetup(text)
		if err != nil {
			t.Fatal(err)
		}
		pred, err := Simulate(prof, app.Graph, s, SimOptions{Requests: 400, Replicates: 1, Prices: fusion.DefaultPrices(), Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		truth := quickTruthInternal(app, s, 400)
		t.Logf("%s: predicted median %.0f ms, true %.0f ms", text, pred.MedianMS, truth)
		if r := pred.MedianMS / truth; r < 0.8 || r > 1.25 {
			t.Errorf("%s: predicted median %.0f ms, true %.0f ms (×%.2f)", text, pred.MedianMS, truth, truth/pred.MedianMS)
		}
	}
}

// quickTruthInternal is the ground truth's median request latency of s (ms).
func quickTruthInternal(app interface {
	Measure(fusion.Setup, int, uint64) ([]fusion.TraceRecord, []fusion.Report)
}, s fusion.Setup, n int) float64 {
	recs, reps := app.Measure(s, n, 77)
	initMS := map[string]float64{}
	for _, r := range reps {
		initMS[r.RequestID] = r.InitDurationMS
	}
	var lat []float64
	for _, r := range recs {
		if r.Caller == "" && !r.Async {
			lat = append(lat, float64(r.Duration)/1000+initMS[r.RequestID])
		}
	}
	slices.Sort(lat)
	return fusion.QuantileSorted(lat, 0.5)
}
