package plan

import (
	"slices"
	"strconv"
	"strings"

	"github.com/fusionize/fusionize/fusion"
)

// DefaultWindowRequests is the number of requests a prediction is for when neither Input nor
// SimOptions says: the model's default measurement and canary size.
const DefaultWindowRequests = 300

// coldModel is what the profile shows of cold starts, per function.
//
// A new function (a group of a newly deployed setup) starts with no instance: its first
// invocations are cold starts, as many as the instances it needs at once, and then, under a
// steady load, none. So the model does not give every invocation one app-wide cold-start
// rate: it predicts each function's cold starts in the window a prediction is for (a
// canary's requests), and each cold start's Init Duration from that function's own:
//
//   - instances: the mean cold starts of the same function (its tasks and memory) in every
//     setup it was observed in; for a function never observed, 1 plus its busy time per
//     request (invocations per request × duration) times a factor fitted by least squares
//     over every function observed (more instances for a function busier at once);
//   - its cold starts come first in the window: a request among the window's first as many
//     as the function needs instances finds it cold (so the same requests are cold in every
//     function, as at a deployment's start);
//   - init: the function's own Init Durations when it had at least three; else those of
//     functions at its memory size (a function's init runs under its memory's CPU share);
//     else every init seen.
//
// Profiles without per-function observations (digests older than them) fall back to the
// app-wide rate for every invocation.
type coldModel struct {
	window float64
	// starts are the mean cold starts of a function observed, by coldKey.
	starts map[string]float64
	inits  map[string][]float64
	byMem  map[int][]float64
	all    []float64
	// beta is the extra instances per millisecond of a function's busy time per request.
	beta float64
	// perFunction is false when the profile has no per-function observations: then every
	// invocation is cold with probability rate.
	perFunction bool
	rate        float64
}

// coldKey names a function by its tasks (sorted) and memory.
func coldKey(tasks []string, memMB int) string {
	ts := slices.Sorted(slices.Values(tasks))
	var b strings.Builder
	b.WriteString(strings.Join(ts, "+"))
	b.WriteByte('@')
	b.WriteString(strconv.Itoa(memMB))
	return b.String()
}

// learnCold reads the cold starts of every function the profile observed.
// Its predictions are for a window of DefaultWindowRequests until the caller sets another.
func learnCold(p fusion.Profile, initFallback []float64) *coldModel {
	c := &coldModel{window: DefaultWindowRequests, starts: map[string]float64{}, inits: map[string][]float64{}, byMem: map[int][]float64{},
		all: initFallback, rate: p.ColdStartRate}
	counts := map[string]int{}
	var sxy, sxx float64
	for _, st := range p.Setups {
		for _, g := range st.Groups {
			if g.Invocations == 0 || len(g.Tasks) == 0 {
				continue
			}
			c.perFunction = true
			key := coldKey(g.Tasks, g.MemoryMB)
			k := float64(max(g.ColdStarts, 1)) // a deployed function started at least once
			c.starts[key] += k
			counts[key]++
			c.inits[key] = append(c.inits[key], g.Init.Samples...)
			c.byMem[g.MemoryMB] = append(c.byMem[g.MemoryMB], g.Init.Samples...)
			if st.Requests > 0 {
				x := float64(g.Invocations) / float64(st.Requests) * g.BilledMS.Mean
				sxy += x * (k - 1)
				sxx += x * x
			}
		}
	}
	for key, n := range counts {
		c.starts[key] /= float64(n)
	}
	if sxx > 0 {
		c.beta = max(0, sxy/sxx)
	}
	return c
}

// forGroup returns a function's instances (0 when never observed) and its init samples.
func (c *coldModel) forGroup(tasks []string, memMB int) (starts float64, inits []float64) {
	key := coldKey(tasks, memMB)
	inits = c.all
	switch {
	case len(c.inits[key]) >= 3:
		inits = c.inits[key]
	case len(c.byMem[memMB]) >= 3:
		inits = c.byMem[memMB]
	}
	return c.starts[key], inits
}
