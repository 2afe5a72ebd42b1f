package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

// Feasibility is what an offline search of the planners' setup space (each edge local or
// remote, a memory size per group) found about a policy's constraints that read the setup
// alone; constraints on metrics are decided only once setups are predicted or observed.
type Feasibility struct {
	// SetupOnly names the constraints the search decided; Deferred those it could not.
	SetupOnly []string `json:"setupOnly,omitempty"`
	Deferred  []string `json:"deferred,omitempty"`
	// Example is a setup satisfying every setup-only constraint; zero when none was found.
	Example fusion.Setup `json:"example"`
	// Excluding names the constraints that each alone exclude every setup searched. When
	// Example is zero and Excluding empty, the constraints exclude everything together.
	Excluding []string `json:"excluding,omitempty"`
	// Searched counts the setups tried; Exhaustive says whether they were all there are.
	Searched   int  `json:"searched"`
	Exhaustive bool `json:"exhaustive"`
}

// Feasible reports whether some setup satisfies the setup-only constraints.
func (f Feasibility) Feasible() bool { return len(f.SetupOnly) == 0 || !f.Example.IsZero() }

// feasibilityBudget bounds the fusion choices CheckFeasible enumerates (2^edges); beyond it,
// it tries the all-remote and all-local choices and a seeded sample of others.
const feasibilityBudget = 1 << 12

// CheckFeasible searches the setups the planners can propose for one that satisfies the
// policy's setup-only constraints. For each fusion choice it tries every memory size for all
// groups, then improves group by group; with few edges it tries every fusion choice.
func CheckFeasible(g fusion.Graph, sizes []int, policy *constraint.Policy) (Feasibility, error) {
	if err := g.Validate(); err != nil {
		return Feasibility{}, fmt.Errorf("check feasibility: graph: %w", err)
	}
	if len(sizes) == 0 {
		sizes = DefaultMemorySizes
	}
	f := Feasibility{SetupOnly: policy.SetupOnly()}
	for _, n := range policy.Names() {
		if !slices.Contains(f.SetupOnly, n) {
			f.Deferred = append(f.Deferred, n)
		}
	}
	if len(f.SetupOnly) == 0 {
		return f, nil
	}
	fs := feasSearch{g: g, sizes: sizes, policy: policy, only: f.SetupOnly, held: map[string]bool{}}
	for _, st := range fusionChoices(g, &f.Exhaustive) {
		if ok, err := fs.memories(st); err != nil {
			return f, err
		} else if ok {
			break
		}
	}
	f.Searched, f.Example = fs.searched, fs.example
	if f.Example.IsZero() {
		for _, n := range f.SetupOnly {
			if !fs.held[n] {
				f.Excluding = append(f.Excluding, n)
			}
		}
	}
	return f, nil
}

// fusionChoices returns every fusion choice of g when there are at most feasibilityBudget,
// else all remote, all local and a seeded sample.
func fusionChoices(g fusion.Graph, exhaustive *bool) []fusionState {
	n := len(g.Edges)
	choice := func(local func(i int) bool) fusionState {
		st := fusionState{local: make([]bool, n), mem: map[string]int{}}
		for i := range n {
			st.local[i] = local(i)
		}
		return st
	}
	var out []fusionState
	if n < 31 && 1<<n <= feasibilityBudget {
		*exhaustive = true
		for mask := range 1 << n {
			out = append(out, choice(func(i int) bool { return mask&(1<<i) != 0 }))
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out = append(out, choice(func(int) bool { return false }), choice(func(int) bool { return true }))
	for range feasibilityBudget / 4 {
		out = append(out, choice(func(int) bool { return rng.IntN(2) == 0 }))
	}
	return out
}

type feasSearch struct {
	g        fusion.Graph
	sizes    []int
	policy   *constraint.Policy
	only     []string
	held     map[string]bool // setup-only constraints some setup satisfied
	searched int
	example  fusion.Setup
}

// violated returns the setup-only constraints s violates.
func (fs *feasSearch) violated(s fusion.Setup) ([]string, error) {
	fs.searched++
	v := &constraint.Vars{Candidate: constraint.Subject{Setup: constraint.SetupOf(s)}, Tasks: fs.g.Tasks}
	all, err := fs.policy.Check(v)
	if err != nil {
		return nil, fmt.Errorf("check feasibility of %s: %w", s, err)
	}
	var out []string
	for _, n := range fs.only {
		if slices.Contains(all, n) {
			out = append(out, n)
		} else {
			fs.held[n] = true
		}
	}
	return out, nil
}

// memories tries the fusion choice st at every uniform memory size, then group by group
// from the uniform size that violated least; it reports whether a setup satisfied all.
func (fs *feasSearch) memories(st fusionState) (bool, error) {
	var best fusionState
	bestN := -1
	for _, m := range fs.sizes {
		try := st.clone()
		for _, gr := range st.setup(fs.g, m).Groups {
			try.mem[gr.Root] = m
		}
		if n, err := fs.try(try, m); err != nil || n == 0 {
			return n == 0, err
		} else if bestN < 0 || n < bestN {
			best, bestN = try, n
		}
	}
	for _, gr := range best.setup(fs.g, fs.sizes[0]).Groups {
		for _, m := range fs.sizes {
			try := best.clone()
			try.mem[gr.Root] = m
			if n, err := fs.try(try, m); err != nil || n == 0 {
				return n == 0, err
			} else if n < bestN {
				best, bestN = try, n
			}
		}
	}
	return false, nil
}

// try counts the setup-only constraints the setup of st violates, keeping it as the example
// when none.
func (fs *feasSearch) try(st fusionState, def int) (int, error) {
	s := st.setup(fs.g, def)
	v, err := fs.violated(s)
	if err != nil {
		return -1, err
	}
	if len(v) == 0 {
		fs.example = s
	}
	return len(v), nil
}
