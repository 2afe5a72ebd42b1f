package plan

import (
	"fmt"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

// FusionizePP is the paper's heuristic (Fusionize++, Schirmer et al., IEEE TCC 2024), kept
// faithful as the baseline to beat. It trusts only live measurements: every step proposes
// exactly one setup to measure, and decisions compare observed medians without a
// statistical test, as the paper did.
//
// Its state is recomputed on every call by replaying the rules over the measured setups
// (Input.History, else Input.Profile), so it keeps nothing between calls:
//
//  1. Start: every task its own function at the default memory (all remote), measured.
//  2. Fusion, one edge per iteration, in the graph's edge order: the candidate is the best
//     setup so far with that one edge changed, a sync edge made local (the callee is
//     inlined: no double billing, no remote overhead) or an async edge made remote; edges
//     already so are skipped. It is measured; it becomes the best when its observed median
//     latency is lower (and it satisfies the policy's constraints on observed metrics).
//  3. Memory: the fused setup with every function at each allowed size in turn (all
//     functions step together), measured; then per function the size with the cheapest mean
//     cost per invocation; that combination is measured too.
//  4. Result: of the setups measured in step 3, the one with the lowest median latency.
//     Converged.
type FusionizePP struct {
	// Requests per measurement (1,000: the paper's 100 s at 10 requests/s).
	Requests int `json:"requests,omitempty"`
}

var _ Planner = FusionizePP{}

// Plan implements Planner.
func (f FusionizePP) Plan(in Input) (Plan, error) {
	in, err := in.normalized()
	if err != nil {
		return Plan{}, err
	}
	requests := f.Requests
	if requests <= 0 {
		requests = 1000
	}
	out := Plan{Planner: "fusionize++"}
	measure := func(s fusion.Setup, why string) (Plan, error) {
		out.Measurements = []MeasurementRequest{{Setup: s, Text: s.String(), Reason: why, Requests: requests}}
		out.Reason = why
		return out, nil
	}
	observed := func(s fusion.Setup) (constraint.Metrics, bool) {
		id := s.ID()
		for i := len(in.History) - 1; i >= 0; i-- {
			if in.History[i].Setup.ID() == id && in.History[i].Observed.Requests > 0 {
				return in.History[i].Observed, true
			}
		}
		return Observe(in.Profile, s)
	}
	feasible := func(s fusion.Setup, o constraint.Metrics) bool {
		v := &constraint.Vars{Candidate: constraint.Subject{Setup: constraint.SetupOf(s), Predicted: o, Observed: o}, Tasks: in.Graph.Tasks}
		violated, err := in.Policy.Check(v)
		return err == nil && len(violated) == 0
	}

	// 1. Start all remote at the default memory.
	best := fusion.AllRemote(in.Graph, in.DefaultMemoryMB)
	bestObs, ok := observed(best)
	if !ok {
		return measure(best, "start: every task its own function")
	}
	// 2. One edge per iteration.
	for i, e := range in.Graph.Edges {
		st := stateOf(in.Graph, best)
		want := e.Mode == fusion.Sync
		if st.local[i] == want {
			continue
		}
		st.local[i] = want
		cand := st.setup(in.Graph, in.DefaultMemoryMB)
		o, ok := observed(cand)
		if !ok {
			verb := "inline"
			if !want {
				verb = "split"
			}
			return measure(cand, fmt.Sprintf("fusion: %s %s", verb, e))
		}
		if o.MedianMS < bestObs.MedianMS && feasible(cand, o) {
			best, bestObs = cand, o
		}
	}
	// 3. Memory: all functions at each size, then each function's cheapest.
	cheapest := map[string]float64{}
	choice := map[string]int{}
	var stepped []fusion.Setup
	for _, size := range in.MemorySizes {
		s := withMemory(best, size)
		if _, ok := observed(s); !ok {
			return measure(s, fmt.Sprintf("memory: every function at %d MB", size))
		}
		stepped = append(stepped, s)
		if st, ok := in.Profile.Setup(s.ID()); ok {
			for _, g := range st.Groups {
				if c, seen := cheapest[g.Root]; !seen || g.MeanCost < c {
					cheapest[g.Root], choice[g.Root] = g.MeanCost, size
				}
			}
		}
	}
	combo := fusion.Setup{}
	for _, g := range best.Groups {
		if m, ok := choice[g.Root]; ok {
			g.MemoryMB = m
		}
		combo.Groups = append(combo.Groups, g)
	}
	combo = combo.Canonical()
	if _, ok := observed(combo); !ok {
		return measure(combo, "memory: every function at its cheapest size per invocation")
	}
	// 4. The lowest median latency of the memory step.
	final, finalMed := combo, 0.0
	if o, _ := observed(combo); true {
		finalMed = o.MedianMS
	}
	for _, s := range stepped {
		if o, _ := observed(s); o.MedianMS < finalMed && feasible(s, o) {
			final, finalMed = s, o.MedianMS
		}
	}
	fo, _ := observed(final)
	out.Converged = true
	out.Final = &final
	out.Candidates = []Candidate{{Setup: final, Text: final.String(), ID: final.ID(),
		Predicted: Prediction{Metrics: fo}, Reason: "lowest observed median latency of the memory step"}}
	out.Reason = fmt.Sprintf("converged on %s (observed median %.0f ms)", final, finalMed)
	return out, nil
}
