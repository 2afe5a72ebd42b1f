package sim_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
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
