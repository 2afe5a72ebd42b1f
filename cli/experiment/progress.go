package experiment

import (
	"fmt"
	"io"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

// progress prints one line per measurement with an estimate of the time left: the setups
// still expected (per arm: one each for all remote and all local, the heuristic's steps from
// the graph and its memory list, a guess of eight for the model, every fusion choice for the
// exhaustive check) times the mean wall time of the live measurements so far (before the
// first, requests/rate plus ten seconds for deploying and reading traces).
type progress struct {
	w     io.Writer
	start time.Time
	// left is the number of setups still expected, by "app/profile/arm".
	left  map[string]int
	guess time.Duration
	live  time.Duration // wall time of live measurements
	nLive int
	nSeen int
}

func newProgress(o Options) *progress {
	return &progress{w: o.Progress, start: time.Now(), left: map[string]int{},
		guess: time.Duration(float64(o.Requests)/10*float64(time.Second)) + 10*time.Second}
}

// expect records the arms still to run of app with profile.
func (p *progress) expect(app, profile string, arms []string, g fusion.Graph, o Options) {
	for _, arm := range arms {
		n := 1
		switch arm {
		case FusionizePP:
			n = 2 + len(memorySizes(app)) - 1
			for _, e := range g.Edges {
				if e.Mode == fusion.Sync {
					n++
				}
			}
		case Model:
			n = 8
		case Exhaustive:
			n = len(fusionChoices(g, o.ExhaustiveMemoryMB))
		}
		p.left[app+"/"+profile+"/"+arm] = n
	}
}

// armDone drops what was left of an arm.
func (p *progress) armDone(app, profile, arm string) { delete(p.left, app+"/"+profile+"/"+arm) }

// measured reports one measurement.
func (p *progress) measured(app, profile, arm string, m Measurement, replayed bool) {
	p.nSeen++
	if k := app + "/" + profile + "/" + arm; p.left[k] > 1 {
		p.left[k]--
	}
	if !replayed {
		p.live += m.End.Sub(m.Start)
		p.nLive++
	}
	if p.w == nil {
		return
	}
	per := p.guess
	if p.nLive > 0 {
		per = p.live / time.Duration(p.nLive)
	}
	n := 0
	for _, v := range p.left {
		n += v
	}
	how := "measured"
	if replayed {
		how = "replayed from the state"
	}
	st := setupResult(fusion.Graph{}, m, m.Start)
	fmt.Fprintf(p.w, "[%s] %s/%s/%s #%d %s %s: median %.1f ms, p95 %.1f ms, %.2f $ per 1M, %d/%d ok; about %s left\n",
		time.Since(p.start).Round(time.Second), app, profile, arm, p.nSeen, how, m.Setup, st.MedianMS, st.P95MS,
		1e6*st.CostPerRequest, m.Client.OK, m.Requests, (time.Duration(n) * per).Round(time.Second))
}
