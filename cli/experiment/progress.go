package experiment

import (
	"fmt"
	"io"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

// progress prints one line per measurement with an estimate of the time left: for every arm
// still to run, the setups it is still expected to measure (one each for all remote and all
// local, the heuristic's steps from the graph and its memory list, a guess of eight for the
// model, every fusion choice for the exhaustive check) times the load time of one of its
// setups (its requests at the app's arrival rate) plus the mean overhead of a measurement so
// far (deploying, settling, reading traces; ten seconds before the first).
type progress struct {
	w     io.Writer
	start time.Time
	// left holds, by "app/profile/arm", the setups still expected and the load time of one.
	left  map[string]armLeft
	over  time.Duration // overhead of the live measurements so far, in all
	rate  map[string]float64
	nLive int
	nSeen int
}

type armLeft struct {
	n    int
	load time.Duration
}

func newProgress(o Options) *progress {
	return &progress{w: o.Progress, start: time.Now(), left: map[string]armLeft{}, rate: map[string]float64{}}
}

// expect records the arms still to run of app with profile.
func (p *progress) expect(app, profile string, arms []string, g fusion.Graph, o Options) {
	p.rate[app] = o.rate(app)
	for _, arm := range arms {
		n, requests := 1, o.Requests
		switch arm {
		case FusionizePP:
			n = 2 + len(memorySizes(app)) - 1
			for _, e := range g.Edges {
				if e.Mode == fusion.Sync {
					n++
				}
			}
		case Model:
			n, requests = 8, o.ModelRequests
		case Exhaustive:
			n, requests = len(fusionChoices(g, o.ExhaustiveMemoryMB)), o.ExhaustiveRequests
		}
		p.left[app+"/"+profile+"/"+arm] = armLeft{n: n, load: p.loadTime(app, requests)}
	}
}

// loadTime is how long requests take at app's arrival rate.
func (p *progress) loadTime(app string, requests int) time.Duration {
	return time.Duration(float64(requests) / p.rate[app] * float64(time.Second))
}

// timeLeft estimates the time the expected setups take.
func (p *progress) timeLeft() time.Duration {
	over := 10 * time.Second
	if p.nLive > 0 {
		over = p.over / time.Duration(p.nLive)
	}
	var d time.Duration
	for _, a := range p.left {
		d += time.Duration(a.n) * (a.load + over)
	}
	return d
}

// armDone drops what was left of an arm.
func (p *progress) armDone(app, profile, arm string) { delete(p.left, app+"/"+profile+"/"+arm) }

// measured reports one measurement.
func (p *progress) measured(app, profile, arm string, m Measurement, replayed bool) {
	p.nSeen++
	if k := app + "/" + profile + "/" + arm; p.left[k].n > 1 {
		a := p.left[k]
		a.n--
		p.left[k] = a
	}
	if !replayed {
		p.over += max(0, m.End.Sub(m.Start)-p.loadTime(app, m.Requests))
		p.nLive++
	}
	if p.w == nil {
		return
	}
	how := "measured"
	if replayed {
		how = "replayed from the state"
	}
	st := setupResult(fusion.Graph{}, m, m.Start)
	fmt.Fprintf(p.w, "[%s] %s/%s/%s #%d %s %s: median %.1f ms, p95 %.1f ms, %.2f $ per 1M, %d/%d ok; about %s left\n",
		time.Since(p.start).Round(time.Second), app, profile, arm, p.nSeen, how, m.Setup, st.MedianMS, st.P95MS,
		1e6*st.CostPerRequest, m.Client.OK, m.Requests, p.timeLeft().Round(time.Second))
}
