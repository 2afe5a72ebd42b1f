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

// TestProcessorSharing: tasks inlined side by side share the instance's CPU quota, and the
// handler returns when the inline async work has finished.
func TestProcessorSharing(t *testing.T) {
	app := apps.Tree()
	app.Noise, app.TailChance, app.ColdStartRate = -1, -1, -1
	dur := func(setup string) (entry float64, runs map[string]fusion.TaskRun, cpu int64) {
		recs, _ := app.Measure(fusion.MustParseSetup(setup), 1, 1)
		runs = map[string]fusion.TaskRun{}
		for _, r := range recs {
			if r.Root == "A" {
				entry = float64(r.Duration) / 1000
				cpu = r.CPU
			}
			for _, tr := range r.Tasks {
				runs[tr.Task] = tr
			}
		}
		return entry, runs, cpu
	}
	_, alone, _ := dur("A@128,B@128,C@128,D@128,E@128,F@128,G@128")
	// C's self time includes dispatching F and G remotely (15 ms each, 30 % slower at
	// 128 MB); its CPU work runs at the quota's average rate but for a burst.
	if got, want := float64(alone["C"].Self)/1000-2*15*1.3, app.Work["C"].TimeMS(128); math.Abs(got-want) > 0.03*want {
		t.Errorf("C alone at 128 MB: %.2f ms, want about %.2f (two threads get no more than the quota)", got, want)
	}
	entry, fused, cpuUS := dur("A+B+C+D+E+F+G@128")
	var cpu float64
	for _, w := range app.Work {
		cpu += w.CPUMS
	}
	if want := cpu * sim.VCPUMemoryMB / 128; math.Abs(entry-want) > 0.02*want {
		t.Errorf("all fused at 128 MB: handler %.1f ms, want the CPU work at the quota's rate, %.1f", entry, want)
	}
	if got := float64(cpuUS) / 1000; math.Abs(got-cpu) > 0.01 {
		t.Errorf("all fused: the record's CPU time %.2f ms, want the CPU work %.2f", got, cpu)
	}
	if fused["C"].Self <= alone["C"].Self {
		t.Errorf("C beside F and G: %d µs, alone %d µs", fused["C"].Self, alone["C"].Self)
	}
}

// TestColdStartsPerFunction: cold starts come from concurrency, per function: Tree's entry
// (about 1.5 s per request, a request every 100 ms) needs a warm instance per request in
// flight, while a function of a fast task reuses one.
func TestColdStartsPerFunction(t *testing.T) {
	app := apps.Tree()
	app.ColdStartRate = 0.0001
	recs, _ := app.Measure(fusion.MustParseSetup("A+B+D+E@1024,C@3008,F@1024,G@1024"), 300, 1)
	cold := map[string]int{}
	for _, r := range recs {
		if r.Cold {
			cold[r.Root]++
		}
	}
	if cold["A"] < 10 || cold["A"] > 25 {
		t.Errorf("entry cold starts %d, want about one per request in flight (15)", cold["A"])
	}
	if cold["C"] > 5 {
		t.Errorf("C (fast at 3008 MB) cold %d times", cold["C"])
	}
}
