package plan

import (
	"math"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

// What the current setup observed against its own prediction scales every prediction: a
// platform 30 % slower than the tasks' own times add up to (contention the samples do not
// show) makes the current setup and the candidates 30 % slower alike.
func TestAnchorOnTheCurrentSetup(t *testing.T) {
	app := apps.IoT()
	cur := fusion.AllRemote(app.Graph, 256)
	b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
	var history []Trial
	for i, mem := range []int{256, 1024, 3008} {
		s := fusion.AllRemote(app.Graph, mem)
		recs, reps := app.Measure(s, 300, uint64(i+1))
		for j := range recs {
			if mem == 256 && recs[j].Caller == "" && !recs[j].Async {
				recs[j].Duration = recs[j].Duration * 13 / 10 // the response, 30 % slower
			}
		}
		b.AddRecords(recs...)
		b.AddReports(reps...)
		history = append(history, Trial{Setup: s, Kind: Measurement})
	}
	p := b.Profile()
	pl, err := NewModel(ModelOptions{}).Plan(Input{Graph: app.Graph, Current: cur, Profile: p, History: history, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pl.Current == nil {
		t.Fatalf("no prediction of the current setup: %s", pl.Reason)
	}
	st, _ := p.Setup(cur.ID())
	if r := pl.Current.MedianMS / st.Latency.Median; math.Abs(r-1) > 0.05 {
		t.Errorf("current setup: predicted median %.1f ms, observed %.1f (×%.2f): %s", pl.Current.MedianMS, st.Latency.Median, r, pl.Reason)
	}
}
