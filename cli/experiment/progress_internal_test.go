package experiment

import (
	"testing"
	"time"

	"github.com/fusionize/fusionize/samples"
)

// TestTimeLeft: the estimate is every expected setup's load time at its arm's requests and
// the app's rate, plus the overhead measured so far. It catches the old estimate (setups
// times the mean wall time of the measurements so far), which counted the model's and the
// exhaustive check's short measurements as long as the heuristic's and said 1h36m for a run
// of under an hour.
func TestTimeLeft(t *testing.T) {
	o := Options{Requests: 100, ModelRequests: 50, Rate: map[string]float64{"iot": 10}}
	p := newProgress(o)
	p.expect("iot", ProfileNone, []string{AllRemote, Model}, samples.IoT().Graph, o)
	// Before any measurement: 10 s of load + 10 s assumed overhead, and 8 × (5 s + 10 s).
	if got, want := p.timeLeft(), 140*time.Second; got != want {
		t.Errorf("before: %v, want %v", got, want)
	}
	start := time.Unix(0, 0)
	p.measured("iot", ProfileNone, AllRemote, Measurement{Requests: 100, Start: start, End: start.Add(14 * time.Second)}, false)
	p.armDone("iot", ProfileNone, AllRemote)
	// The measurement's overhead was 4 s: 8 × (5 s + 4 s).
	if got, want := p.timeLeft(), 72*time.Second; got != want {
		t.Errorf("after one: %v, want %v", got, want)
	}
	p.measured("iot", ProfileNone, Model, Measurement{Requests: 50, Start: start, End: start.Add(5 * time.Second)}, true)
	// A replayed measurement counts one setup fewer and no overhead: 7 × (5 s + 4 s).
	if got, want := p.timeLeft(), 63*time.Second; got != want {
		t.Errorf("after a replay: %v, want %v", got, want)
	}
}
