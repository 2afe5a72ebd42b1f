package sim_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/sim"
)

func TestMeasure(t *testing.T) {
	for _, app := range append(apps.All(), apps.Synthetic(40, 1)) {
		if err := app.Graph.Validate(); err != nil {
			t.Fatalf("%s: %v", app.Name, err)
		}
		s := fusion.AllRemote(app.Graph, 256)
		recs, reps := app.Measure(s, 20, 1)
		again, _ := app.Measure(s, 20, 1)
		if !reflect.DeepEqual(recs, again) {
			t.Errorf("%s: not deterministic", app.Name)
		}
		if len(recs) != len(reps) || len(recs) < 20 {
			t.Errorf("%s: %d records, %d reports", app.Name, len(recs), len(reps))
		}
		// Every record is a valid trace line.
		for _, r := range recs {
			line, _ := json.Marshal(r)
			if _, err := fusion.ParseTraceLine(line); err != nil {
				t.Fatalf("%s: %v\n%s", app.Name, err, line)
			}
		}
	}
}

func TestWorkTime(t *testing.T) {
	w := apps.Tree().Work["C"] // two-thread CPU work
	if a, b := w.TimeMS(1769), w.TimeMS(3538); a != 2*b || w.TimeMS(10240) != b {
		t.Errorf("two-thread scaling: %v at 1769 MB, %v at 3538 MB", a, b)
	}
	if got := (apps.Tree().Work["B"]).TimeMS(128); got < 500 {
		t.Errorf("B at 128 MB: %v", got)
	}
}

// TestProcessorSharing: tasks inlined side by side share the instance's CPU, and the handler
// returns when the inline async work has finished.
func TestProcessorSharing(t *testing.T) {
	app := apps.Tree()
	app.Noise, app.ColdStartRate = -1, -1
	dur := func(setup string) (entry float64, runs map[string]fusion.TaskRun) {
		recs, _ := app.Measure(fusion.MustParseSetup(setup), 1, 1)
		runs = map[string]fusion.TaskRun{}
		for _, r := range recs {
			if r.Root == "A" {
				entry = float64(r.Duration) / 1000
			}
			for _, tr := range r.Tasks {
				runs[tr.Task] = tr
			}
		}
		return entry, runs
	}
	_, alone := dur("A@128,B@128,C@128,D@128,E@128,F@128,G@128")
	// C's self time includes dispatching F and G remotely (15 ms each).
	if got, want := float64(alone["C"].Self)/1000-30, app.Work["C"].TimeMS(128); math.Abs(got-want) > 0.01 {
		t.Errorf("C alone at 128 MB: %.2f ms, want %.2f (two threads get no more than the share)", got, want)
	}
	entry, fused := dur("A+B+C+D+E+F+G@128")
	var cpu float64
	for _, w := range app.Work {
		cpu += w.CPUMS
	}
	if want := cpu * sim.VCPUMemoryMB / 128; math.Abs(entry-want) > 0.01*want {
		t.Errorf("all fused at 128 MB: handler %.1f ms, want the CPU work on the share, %.1f", entry, want)
	}
	if fused["C"].Self <= alone["C"].Self {
		t.Errorf("C beside F and G: %d µs, alone %d µs", fused["C"].Self, alone["C"].Self)
	}
}
