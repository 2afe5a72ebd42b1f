package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

// lesson is what a canary that was not promoted taught the model planner: against its
// baseline, observed in the same window, the candidate ran slower (or cost more) than the
// planner had predicted against its prediction of the baseline. The judge decides on that
// ratio, and a ratio mispredicted once is mispredicted again for a setup that makes the same
// change: the web shop's candidates that each inlined frontend→addcartitem were predicted
// 5-9 % slower than the current setup and ran 15-17 % slower, one after another, each at
// another memory size or with another group split off (docs/results). calibrate does not see
// that: every group of those candidates ran within 15 % of its prediction.
type lesson struct {
	setup string
	// changes are what the canary changed of its baseline (changesOf).
	changes []string
	// latency and cost are the observed candidate/baseline ratio over the predicted one, at
	// least 1.
	latency, cost float64
}

// String says what the lesson is.
func (l lesson) String() string {
	return fmt.Sprintf("the canary of %s (%s) ran ×%.2f slower and ×%.2f costlier against its baseline than predicted, so setups making any of its changes are predicted that much worse",
		l.setup, strings.Join(l.changes, ", "), l.latency, l.cost)
}

// minLesson is the ratio of observed to predicted candidate/baseline ratios below which a
// canary teaches nothing: two arms in one window still differ by a few percent from run
// to run.
const minLesson = 1.02

// lessonsOf reads the lessons of the history's canaries that were not promoted and whose
// trial holds both arms predicted and observed.
func lessonsOf(g fusion.Graph, history []Trial) []lesson {
	var ls []lesson
	for _, t := range history {
		if t.Kind != Canary || t.Promoted || len(t.Baseline.Groups) == 0 || t.Baseline.Validate(g) != nil || t.Setup.Validate(g) != nil {
			continue
		}
		l := lesson{setup: t.Setup.String(), changes: changesOf(g, t.Baseline, t.Setup),
			latency: missOf(t, func(m constraint.Metrics) float64 { return m.MedianMS }),
			cost:    missOf(t, func(m constraint.Metrics) float64 { return m.CostPerRequest })}
		if len(l.changes) > 0 && (l.latency > 1 || l.cost > 1) {
			ls = append(ls, l)
		}
	}
	return ls
}

// missOf is a canary's observed candidate/baseline ratio of a metric over its predicted
// ratio, when above minLesson; else (or when any of the four is unknown) 1.
func missOf(t Trial, metric func(constraint.Metrics) float64) float64 {
	pc, pb, oc, ob := metric(t.Predicted), metric(t.BaselinePredicted), metric(t.Observed), metric(t.BaselineObserved)
	if pc <= 0 || pb <= 0 || oc <= 0 || ob <= 0 {
		return 1
	}
	if miss := (oc / ob) / (pc / pb); miss > minLesson {
		return miss
	}
	return 1
}

// changesOf lists what setup s changes of base: the edges it inlines ("inline A→B") or splits
// ("split A→B"); when it changes no edge, the groups whose memory it changes ("A@512").
func changesOf(g fusion.Graph, base, s fusion.Setup) []string {
	out := edgeChanges(g, base, s, false)
	if len(out) > 0 {
		return out
	}
	for _, gr := range s.Groups {
		if old, ok := base.Group(gr.Root); !ok || old.MemoryMB != gr.MemoryMB {
			out = append(out, fmt.Sprintf("%s@%d", gr.Root, gr.MemoryMB))
		}
	}
	return out
}

// correction is how much slower and costlier than the model says a setup that changes what
// it changes of the current setup is predicted: the largest misses of the lessons that
// share a change with it, and those lessons.
type correction struct {
	latency, cost float64
	from          []lesson
}

func (s *searcher) correctionOf(setup fusion.Setup) correction {
	c := correction{latency: 1, cost: 1}
	if len(s.lessons) == 0 {
		return c
	}
	ch := changesOf(s.in.Graph, s.in.Current, setup)
	for _, l := range s.lessons {
		if slices.ContainsFunc(l.changes, func(x string) bool { return slices.Contains(ch, x) }) {
			c.latency, c.cost = max(c.latency, l.latency), max(c.cost, l.cost)
			c.from = append(c.from, l)
		}
	}
	return c
}

// apply scales a prediction's latency and cost by the correction.
func (c correction) apply(m constraint.Metrics) constraint.Metrics {
	m.MedianMS *= c.latency
	m.P95MS *= c.latency
	m.CostPerRequest *= c.cost
	return m
}

func (c correction) applyPrediction(p Prediction) Prediction {
	p.Metrics = c.apply(p.Metrics)
	p.MedianLowMS, p.MedianHighMS = p.MedianLowMS*c.latency, p.MedianHighMS*c.latency
	p.P95LowMS, p.P95HighMS = p.P95LowMS*c.latency, p.P95HighMS*c.latency
	p.CostLow, p.CostHigh = p.CostLow*c.cost, p.CostHigh*c.cost
	return p
}

// String says what the correction is and where it comes from.
func (c correction) String() string {
	if len(c.from) == 0 {
		return ""
	}
	var why []string
	for _, l := range c.from {
		why = append(why, fmt.Sprintf("%s (%s) ran ×%.2f slower and ×%.2f costlier against its baseline than predicted", l.setup, strings.Join(l.changes, ", "), l.latency, l.cost))
	}
	return fmt.Sprintf("predicted ×%.2f slower and ×%.2f costlier than the model says, as the canary of %s", c.latency, c.cost, strings.Join(why, "; "))
}

// slowdownViolation names the judge's rule a prediction breaks when its median is slower
// than the current setup's predicted median by more than the judge's MaxSlowdown, "" when
// it does not.
func (s *searcher) slowdownViolation(pred, cur constraint.Metrics) string {
	if cur.MedianMS <= 0 || pred.MedianMS <= cur.MedianMS*(1+s.in.MaxSlowdown) {
		return ""
	}
	return fmt.Sprintf("judge: median %+.0f %% against the current setup's, beyond the judge's max slowdown of %.0f %%",
		100*(pred.MedianMS/cur.MedianMS-1), 100*s.in.MaxSlowdown)
}
