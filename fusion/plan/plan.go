// Package plan holds Fusionize's planners: given an app's call graph, its current setup, the
// profile learned from traces and the history of trials, a Planner says what to run next:
// measurements to take (short live runs of setups that ground a prediction), candidates to
// canary (ranked, with predicted latency and cost), or that the optimization has converged.
//
// Everything here is plain data in and out (JSON-serializable, so the Temporal workflow can
// call planners from activities) and deterministic: a planner keeps no state between calls;
// what it needs to know about earlier cycles comes from Input.History and Input.Profile, so
// a cycle can be retried or replayed.
//
// Two planners:
//
//   - FusionizePP, the paper's heuristic (Fusionize++, IEEE TCC 2024), as the baseline: one
//     live experiment per step, one edge or one memory step at a time.
//   - Model, the project's own: it predicts the median and p95 latency and the cost per
//     request of any setup by simulating the call graph from the profile (Simulate), searches
//     the setup space under the policy's constraints, and canaries only the best.
//
// Run drives either planner's loop offline against an Environment (the ground-truth
// simulator of package sim), which is how they are compared.
package plan

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
)

// Planner proposes the next step of an optimization.
type Planner interface {
	Plan(in Input) (Plan, error)
}

// DefaultMemorySizes are the memory sizes planners choose from unless told otherwise.
var DefaultMemorySizes = []int{128, 256, 512, 1024, 2048, 3008}

// DefaultMemoryMB is the memory of the all-remote starting setup.
const DefaultMemoryMB = 128

// Input is everything a planner knows.
type Input struct {
	Graph   fusion.Graph   `json:"graph"`
	Current fusion.Setup   `json:"current"`
	Profile fusion.Profile `json:"profile"`
	// MemorySizes allowed for groups (DefaultMemorySizes when empty).
	MemorySizes []int `json:"memorySizes,omitempty"`
	// DefaultMemoryMB is the memory of the starting setup (DefaultMemoryMB when 0).
	DefaultMemoryMB int           `json:"defaultMemoryMB,omitempty"`
	Prices          fusion.Prices `json:"prices"`
	// Policy holds the constraints and the objective (lower is better); nil means no
	// constraints and constraint.DefaultObjective.
	Policy *constraint.Policy `json:"policy,omitempty"`
	// History is every trial of earlier steps, oldest first.
	History []Trial `json:"history,omitempty"`
	// Seed makes the planner's random draws reproducible.
	Seed uint64 `json:"seed"`
	// WindowRequests is the number of requests a canary of a candidate is expected to see,
	// over which its new functions' cold starts spread (DefaultWindowRequests when 0).
	WindowRequests int `json:"windowRequests,omitempty"`
	// MaxSlowdown is the judge's (judge.Options.MaxSlowdown; judge.DefaultMaxSlowdown when
	// 0): a canary whose median is surely slower than the current setup's by more than this
	// fails whatever it saves, so the model planner does not propose a candidate it predicts
	// that much slower.
	MaxSlowdown float64 `json:"maxSlowdown,omitempty"`
}

// TrialKind says why a setup ran.
type TrialKind string

// The kinds of trials.
const (
	// Measurement: a short run to observe a setup (not a promotion decision).
	Measurement TrialKind = "measurement"
	// Canary: a candidate compared against the current setup, then promoted or rolled back.
	Canary TrialKind = "canary"
	// Baseline: the current setup run again by Run (not asked for by the planner) so that
	// the judge has its warm samples.
	Baseline TrialKind = "baseline"
)

// Trial is one setup that ran live, with what was observed.
type Trial struct {
	Setup    fusion.Setup       `json:"setup"`
	Kind     TrialKind          `json:"kind"`
	Observed constraint.Metrics `json:"observed"`
	// Predicted is what the planner predicted of a canary's candidate (zero when it made no
	// prediction), so that later plans can tell how well the model held.
	Predicted constraint.Metrics `json:"predicted,omitzero"`
	// Promoted is true for a canary that became the current setup.
	Promoted bool `json:"promoted,omitempty"`
	// Verdict is the judge's outcome of a canary ("pass", "fail", "inconclusive").
	Verdict string `json:"verdict,omitempty"`
	// Baseline is, for a canary, the setup it ran against, with what the planner predicted
	// of it (the plan's Current) and what the canary observed of it beside the candidate:
	// the judge compares the two arms, so the planner learns from their ratio (lessons).
	Baseline          fusion.Setup       `json:"baseline,omitzero"`
	BaselinePredicted constraint.Metrics `json:"baselinePredicted,omitzero"`
	BaselineObserved  constraint.Metrics `json:"baselineObserved,omitzero"`
}

// Prediction is a predicted setup's metrics with their uncertainty.
type Prediction struct {
	constraint.Metrics
	// Intervals (10th to 90th percentile over replicate simulations that resample the
	// profile's samples): the spread of the prediction, not of single requests.
	MedianLowMS  float64 `json:"medianLowMS"`
	MedianHighMS float64 `json:"medianHighMS"`
	P95LowMS     float64 `json:"p95LowMS"`
	P95HighMS    float64 `json:"p95HighMS"`
	CostLow      float64 `json:"costLow"`
	CostHigh     float64 `json:"costHigh"`
	// Extrapolated lists "task@memory" for task times predicted at a memory size never
	// observed (from the fitted memory scaling). Ungrounded lists what the profile could not
	// tell at all (a task never seen, a memory scaling from a single size).
	Extrapolated []string `json:"extrapolated,omitempty"`
	Ungrounded   []string `json:"ungrounded,omitempty"`
}

// Candidate is a setup proposed to run.
type Candidate struct {
	Setup     fusion.Setup `json:"setup"`
	Predicted Prediction   `json:"predicted"`
	// Objective is the policy's objective (lower is better).
	Objective float64 `json:"objective"`
	// LatencyGain and CostGain are the predicted relative reductions of median latency and
	// cost per request against the current setup (0.25: 25 % lower).
	LatencyGain float64 `json:"latencyGain"`
	CostGain    float64 `json:"costGain"`
	Reason      string  `json:"reason"`
}

// MeasurementRequest asks for a setup to be run and observed before planning again.
type MeasurementRequest struct {
	Setup    fusion.Setup `json:"setup"`
	Reason   string       `json:"reason"`
	Requests int          `json:"requests"`
}

// Plan is a planner's answer. Exactly one of these holds: Measurements are requested (run
// them, add their traces to the profile and their trials to the history, plan again);
// Converged (stop: keep Final deployed, the current setup when Final is nil); or Candidates
// are ranked best first (canary Candidates[0]).
type Plan struct {
	Planner      string               `json:"planner"`
	Measurements []MeasurementRequest `json:"measurements,omitempty"`
	Candidates   []Candidate          `json:"candidates,omitempty"`
	Converged    bool                 `json:"converged"`
	// Infeasible: no setup the planner considered satisfies the policy's constraints, the
	// current one included. Converged is true too: the planner has nothing to try.
	Infeasible bool          `json:"infeasible,omitempty"`
	Final      *fusion.Setup `json:"final,omitempty"`
	// Current is the prediction for the current setup (model planner).
	Current *Prediction `json:"current,omitempty"`
	Reason  string      `json:"reason"`
	// Evaluated counts the setups whose metrics were predicted.
	Evaluated int `json:"evaluated,omitempty"`
	// Front is the Pareto front of the feasible setups the model planner predicted while
	// searching (median latency against cost per request: on it, none is both faster and
	// cheaper than another), fastest first, at most MaxFront points. The points are the
	// search's quick predictions; Candidates carry the precise ones.
	Front []FrontPoint `json:"front,omitempty"`
}

// FrontPoint is one predicted setup on a Pareto front.
type FrontPoint struct {
	Text           string  `json:"text"`
	MedianMS       float64 `json:"medianMS"`
	CostPerRequest float64 `json:"costPerRequest"`
}

// MaxFront bounds Plan.Front, which travels in workflow histories.
const MaxFront = 24

// ParetoFront returns the points no other point beats on both median latency and cost
// (lower is better; of equal points the first stays), fastest first. With more than limit
// points it keeps limit spread evenly along the front, the fastest and the cheapest included.
func ParetoFront(pts []FrontPoint, limit int) []FrontPoint {
	sorted := slices.Clone(pts)
	slices.SortStableFunc(sorted, func(a, b FrontPoint) int {
		return cmp.Or(cmp.Compare(a.MedianMS, b.MedianMS), cmp.Compare(a.CostPerRequest, b.CostPerRequest))
	})
	var front []FrontPoint
	for _, p := range sorted {
		if math.IsNaN(p.MedianMS) || math.IsNaN(p.CostPerRequest) {
			continue
		}
		// Sorted by latency: p is on the front when it is cheaper than every faster point.
		if len(front) == 0 || p.CostPerRequest < front[len(front)-1].CostPerRequest {
			front = append(front, p)
		}
	}
	if limit <= 0 || len(front) <= limit {
		return front
	}
	if limit == 1 {
		return front[:1]
	}
	thin := make([]FrontPoint, 0, limit)
	for i := range limit {
		thin = append(thin, front[i*(len(front)-1)/(limit-1)])
	}
	return thin
}

// normalized checks the input and fills defaults.
func (in Input) normalized() (Input, error) {
	var errs []error
	if err := in.Graph.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("graph: %w", err))
	}
	if len(in.MemorySizes) == 0 {
		in.MemorySizes = DefaultMemorySizes
	}
	in.MemorySizes = slices.Clone(in.MemorySizes)
	slices.Sort(in.MemorySizes)
	in.MemorySizes = slices.Compact(in.MemorySizes)
	for _, m := range in.MemorySizes {
		if m < fusion.MinMemoryMB || m > fusion.MaxMemoryMB {
			errs = append(errs, fmt.Errorf("memory size %d MB is outside Lambda's %d–%d MB", m, fusion.MinMemoryMB, fusion.MaxMemoryMB))
		}
	}
	if in.DefaultMemoryMB == 0 {
		in.DefaultMemoryMB = DefaultMemoryMB
	}
	if in.MaxSlowdown == 0 {
		in.MaxSlowdown = judge.DefaultMaxSlowdown
	}
	if in.MaxSlowdown < 0 {
		errs = append(errs, fmt.Errorf("max slowdown %v is negative", in.MaxSlowdown))
	}
	in.Prices = in.Prices.WithDefaults()
	if err := in.Prices.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(in.Current.Groups) == 0 {
		in.Current = fusion.AllRemote(in.Graph, in.DefaultMemoryMB)
	} else if len(errs) == 0 {
		if err := in.Current.Validate(in.Graph); err != nil {
			errs = append(errs, fmt.Errorf("current setup %s: %w", in.Current, err))
		}
	}
	in.Current = in.Current.Canonical()
	if in.Policy == nil {
		p, err := constraint.Compile(constraint.Spec{})
		if err != nil {
			errs = append(errs, err)
		}
		in.Policy = p
	}
	if err := errors.Join(errs...); err != nil {
		return in, fmt.Errorf("planner input: %w", err)
	}
	return in, nil
}

// Observe returns the observed metrics of setup s from the profile.
func Observe(p fusion.Profile, s fusion.Setup) (constraint.Metrics, bool) {
	st, ok := p.Setup(s.ID())
	if !ok || st.Requests == 0 {
		return constraint.Metrics{}, false
	}
	return constraint.Metrics{
		MedianMS: st.Latency.Median, P95MS: st.Latency.P95, CostPerRequest: st.Cost.Mean,
		ColdStartRate: float64(st.ColdRequests) / float64(st.Requests), Requests: int64(st.Requests),
	}, true
}

// fusionState is a setup as fusion choices: for each edge of the graph whether it is local
// (the callee runs inlined in every group that runs the caller), and a memory size per
// group root.
type fusionState struct {
	local []bool
	mem   map[string]int
}

func (st fusionState) clone() fusionState {
	m := make(map[string]int, len(st.mem))
	for k, v := range st.mem {
		m[k] = v
	}
	return fusionState{local: slices.Clone(st.local), mem: m}
}

// stateOf reads the fusion choices of a setup: an edge is local when some group that runs
// the caller also runs the callee.
func stateOf(g fusion.Graph, s fusion.Setup) fusionState {
	st := fusionState{local: make([]bool, len(g.Edges)), mem: map[string]int{}}
	for _, gr := range s.Groups {
		st.mem[gr.Root] = gr.MemoryMB
		for i, e := range g.Edges {
			if gr.Has(e.Caller) && gr.Has(e.Callee) {
				st.local[i] = true
			}
		}
	}
	return st
}

// setup derives the setup of the fusion choices: the entry's group holds every task reached
// from it over local edges; the callee of every remote edge from a deployed task is the root
// of a group built the same way; tasks reached by nothing get a group of their own. Roots
// without a memory in st.mem get def.
func (st fusionState) setup(g fusion.Graph, def int) fusion.Setup {
	var s fusion.Setup
	placed := map[string]bool{}
	isRoot := map[string]bool{g.Entry: true}
	queue := []string{g.Entry}
	for len(queue) > 0 {
		root := queue[0]
		queue = queue[1:]
		gr := fusion.Group{Root: root, MemoryMB: st.mem[root]}
		if gr.MemoryMB == 0 {
			gr.MemoryMB = def
		}
		in := map[string]bool{root: true}
		stack := []string{root}
		for len(stack) > 0 {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			placed[t] = true
			for i, e := range g.Edges {
				if e.Caller != t {
					continue
				}
				if st.local[i] {
					if !in[e.Callee] {
						in[e.Callee] = true
						gr.Inlined = append(gr.Inlined, e.Callee)
						stack = append(stack, e.Callee)
					}
				} else if !isRoot[e.Callee] {
					isRoot[e.Callee] = true
					queue = append(queue, e.Callee)
				}
			}
		}
		s.Groups = append(s.Groups, gr)
	}
	for _, t := range g.Tasks {
		if !placed[t] && !isRoot[t] {
			m := st.mem[t]
			if m == 0 {
				m = def
			}
			s.Groups = append(s.Groups, fusion.Group{Root: t, MemoryMB: m})
		}
	}
	return s.Canonical()
}

// withMemory returns s with every group at memoryMB.
func withMemory(s fusion.Setup, memoryMB int) fusion.Setup {
	out := fusion.Setup{Groups: slices.Clone(s.Groups)}
	for i := range out.Groups {
		out.Groups[i].MemoryMB = memoryMB
	}
	return out.Canonical()
}

// describe says how setup s differs from the current one: edges made local or remote and
// memory changes.
func describe(g fusion.Graph, cur, s fusion.Setup) string {
	parts := edgeChanges(g, cur, s, true)
	for _, gr := range s.Groups {
		if old, ok := cur.Group(gr.Root); !ok || old.MemoryMB != gr.MemoryMB {
			parts = append(parts, fmt.Sprintf("%s@%d", gr.Root, gr.MemoryMB))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// edgeChanges lists the edges setup s inlines ("inline A→B") or splits ("split A→B") of
// base, with their modes ("inline A→B (sync)") when withMode.
func edgeChanges(g fusion.Graph, base, s fusion.Setup, withMode bool) []string {
	a, b := stateOf(g, base), stateOf(g, s)
	var out []string
	for i, e := range g.Edges {
		if a.local[i] == b.local[i] {
			continue
		}
		verb := "inline"
		if !b.local[i] {
			verb = "split"
		}
		c := fmt.Sprintf("%s %s→%s", verb, e.Caller, e.Callee)
		if withMode {
			c += fmt.Sprintf(" (%s)", e.Mode)
		}
		out = append(out, c)
	}
	return out
}

// liveViolations returns the constraints setup s would break if it took live traffic as a
// measurement: with a prediction (pred not nil), every constraint evaluated on it (as
// candidates are); without one, those on the setup alone (constraint.SetupOnly), the only
// ones that can be decided before s runs.
func liveViolations(in Input, s fusion.Setup, pred *constraint.Metrics, base constraint.Subject) ([]string, error) {
	v := &constraint.Vars{Candidate: constraint.Subject{Setup: constraint.SetupOf(s)}, Baseline: base, Tasks: in.Graph.Tasks}
	if pred != nil {
		v.Candidate.Predicted = *pred
	}
	violated, err := in.Policy.Check(v)
	if err != nil {
		return nil, fmt.Errorf("constraints of measurement %s: %w", s, err)
	}
	if pred == nil {
		only := in.Policy.SetupOnly()
		violated = slices.DeleteFunc(violated, func(n string) bool { return !slices.Contains(only, n) })
	}
	return violated, nil
}
