package plan

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

// ModelOptions configures the model planner; zero fields take the defaults.
type ModelOptions struct {
	// SearchRequests simulated per setup during the search (96).
	SearchRequests int `json:"searchRequests,omitempty"`
	// FinalRequests and Replicates for the ranked candidates' predictions (2,000 and 8).
	FinalRequests int `json:"finalRequests,omitempty"`
	Replicates    int `json:"replicates,omitempty"`
	// MaxCandidates returned (5).
	MaxCandidates int `json:"maxCandidates,omitempty"`
	// MinGain is the relative objective improvement below which the planner converges (0.02).
	MinGain float64 `json:"minGain,omitempty"`
	// BeamWidth of the local search (4).
	BeamWidth int `json:"beamWidth,omitempty"`
	// ExhaustiveBudget: the search enumerates every fusion choice when that takes at most
	// this many predictions (20,000), else it runs a beam search.
	ExhaustiveBudget int `json:"exhaustiveBudget,omitempty"`
	// MeasurementRequests asked for per measurement (300).
	MeasurementRequests int `json:"measurementRequests,omitempty"`
	// MissTolerance is the relative error of a canary's predicted median or cost past which
	// the prediction missed (0.25), and MaxMisses the number of canaries in a row, none
	// promoted, that missed before the planner stops canarying (3).
	MissTolerance float64 `json:"missTolerance,omitempty"`
	MaxMisses     int     `json:"maxMisses,omitempty"`
	// MaxRejected is the number of canaries in a row, none promoted, after which the
	// planner stops canarying whatever their predictions (5): candidates it predicts better
	// that are not better live, by what the judge can tell, would go on burning traffic.
	MaxRejected int `json:"maxRejected,omitempty"`
}

func (o ModelOptions) withDefaults() ModelOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.SearchRequests, 96)
	def(&o.FinalRequests, 2000)
	def(&o.Replicates, 8)
	def(&o.MaxCandidates, 5)
	def(&o.BeamWidth, 4)
	def(&o.ExhaustiveBudget, 20000)
	def(&o.MeasurementRequests, 300)
	def(&o.MaxMisses, 3)
	def(&o.MaxRejected, 5)
	if o.MissTolerance <= 0 {
		o.MissTolerance = 0.25
	}
	if o.MinGain <= 0 {
		o.MinGain = 0.02
	}
	return o
}

// Model is the model-based planner: it predicts every setup it considers by simulation
// (see Simulate) and proposes only the best for a canary.
//
// Each Plan call:
//  0. stops canarying when its last canaries kept missing their predictions (keepsMissing)
//     or were none promoted (keepsLosing), and learns from every setup that ran: a group observed off its prediction is scaled
//     wherever it appears again (calibrate); a canary not promoted whose candidate ran slower
//     (or cost more) against its baseline, in the same window, than predicted makes every
//     setup that makes one of its changes predicted that much slower (or costlier) (lessonsOf);
//  1. grounds the model: a task whose own time was observed at a single memory size cannot
//     be scaled to others, so it asks for a short measurement of the current setup with
//     every group at another size (the allowed size nearest 1,024 MB, else the largest,
//     else the smallest; the largest when CPU-bound tasks might use a second vCPU), one
//     setup covering every task at once, and only one that satisfies the policy's constraints (it takes live
//     traffic); when none does, the plan says so and the model goes on extrapolating;
//  2. searches the fusion choices (each edge local or remote) and a memory size per group:
//     every fusion choice when few enough, each with per-group memory by coordinate
//     descent; else a beam search from the current setup, all-remote and
//     all-sync-inlined, flipping one edge at a time and re-tuning the memory of the groups
//     that changed. Setups violating the policy's constraints are not proposed, nor those
//     predicted slower than the current setup by more than the judge's MaxSlowdown (the judge
//     would fail them whatever they save); setups whose canary was rolled back are not
//     proposed again;
//  3. predicts the best few again with more requests and bootstrap replicates (the
//     uncertainty), ranks them by the objective and converges when the best is not better
//     than the current setup by MinGain.
//
// It is deterministic for an Input (its random draws are seeded from Input.Seed).
type Model struct {
	Options ModelOptions
}

// NewModel returns a model planner.
func NewModel(opts ModelOptions) *Model { return &Model{Options: opts.withDefaults()} }

var _ Planner = (*Model)(nil)

// evaluated is one predicted setup with its score.
type evaluated struct {
	setup     fusion.Setup
	id        string
	state     fusionState
	metrics   constraint.Metrics
	feasible  bool
	violated  []string
	objective float64
}

func better(a, b *evaluated) bool {
	if a.feasible != b.feasible {
		return a.feasible
	}
	if a.objective != b.objective && !(math.IsNaN(a.objective) && math.IsNaN(b.objective)) {
		return a.objective < b.objective || math.IsNaN(b.objective)
	}
	return a.id < b.id
}

type searcher struct {
	in       Input
	opts     ModelOptions
	m        *model
	base     constraint.Subject
	seen     map[string]*evaluated
	rejected map[string]bool
	// lessons of the canaries not promoted: setups that make the same changes are predicted
	// as much slower or costlier as those ran against their baselines (correctionOf).
	lessons []lesson
	evals   int
	err     error
}

// Plan implements Planner.
func (p *Model) Plan(in Input) (Plan, error) {
	in, err := in.normalized()
	if err != nil {
		return Plan{}, err
	}
	opts := p.Options.withDefaults()
	out := Plan{Planner: "model"}
	if reason := cmp.Or(keepsMissing(in.History, opts), keepsLosing(in.History, opts)); reason != "" {
		out.Converged, out.Reason = true, reason
		return out, nil
	}
	m := newModel(in.Profile, in.Graph, in.Prices)
	if in.WindowRequests > 0 {
		m.cold.window = float64(in.WindowRequests)
	}
	learned := m.calibrate(in, opts.SearchRequests)
	reqs, ungrounded, err := p.measurements(in, m, opts)
	if err != nil {
		return Plan{}, err
	}
	if len(reqs) > 0 {
		out.Measurements = reqs
		out.Reason = reqs[0].Reason
		return out, nil
	}
	s := &searcher{in: in, opts: opts, m: m, seen: map[string]*evaluated{}, rejected: map[string]bool{}, lessons: lessonsOf(in.Graph, in.History)}
	for _, l := range s.lessons {
		learned = append(learned, l.String())
	}
	for _, t := range in.History {
		if t.Kind == Canary && !t.Promoted {
			s.rejected[t.Setup.ID()] = true
		}
	}
	cur := m.quick(in.Current, opts.SearchRequests, in.Seed)
	s.base = constraint.Subject{Setup: constraint.SetupOf(in.Current), Predicted: cur.metrics()}
	s.base.Observed, _ = Observe(in.Profile, in.Current)
	curEval := s.eval(stateOf(in.Graph, in.Current))
	s.search()
	if s.err != nil {
		return Plan{}, s.err
	}

	curPred := m.predict(in.Current, opts.FinalRequests, opts.Replicates, in.Seed)
	out.Current = &curPred
	s.base.Predicted = curPred.Metrics
	cands, curCand, err := s.candidates(s.ranked(curEval), curEval, curPred)
	if err != nil {
		return Plan{}, err
	}
	out.Evaluated = s.evals
	out.Candidates = cands
	out.Front = s.front()
	switch {
	case len(cands) == 0:
		out.Converged, out.Infeasible = true, true
		out.Reason = "no setup satisfies the constraints"
	case cands[0].Setup.ID() == curEval.id:
		out.Converged = true
		out.Reason = "the current setup is predicted best"
	case curCand != nil && curEval.feasible && relGain(curCand.Objective, cands[0].Objective) < opts.MinGain:
		out.Converged = true
		out.Reason = fmt.Sprintf("the best candidate improves the objective by %.1f %% only (< %.0f %%)",
			100*relGain(curCand.Objective, cands[0].Objective), 100*opts.MinGain)
	default:
		out.Reason = "canary " + cands[0].Setup.String() + ": " + cands[0].Reason
	}
	if len(learned) > 0 {
		out.Reason += "; learned from earlier runs: " + strings.Join(learned, "; ")
	}
	if ungrounded != "" {
		out.Reason += "; " + ungrounded
	}
	return out, nil
}

// ranked returns the best few feasible setups the search saw that were not rolled back,
// best first, and the current setup.
func (s *searcher) ranked(curEval *evaluated) []*evaluated {
	var ranked []*evaluated
	for _, e := range s.seen {
		if e.feasible && !s.rejected[e.id] {
			ranked = append(ranked, e)
		}
	}
	slices.SortFunc(ranked, func(a, b *evaluated) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	if len(ranked) > s.opts.MaxCandidates {
		ranked = ranked[:s.opts.MaxCandidates]
	}
	if !slices.ContainsFunc(ranked, func(e *evaluated) bool { return e.id == curEval.id }) {
		ranked = append(ranked, curEval)
	}
	return ranked
}

// candidates predicts the ranked setups again more precisely and returns those that satisfy
// the constraints by objective, and the current setup's candidate (nil when not ranked).
func (s *searcher) candidates(ranked []*evaluated, curEval *evaluated, curPred Prediction) ([]Candidate, *Candidate, error) {
	in, opts := s.in, s.opts
	var cands []Candidate
	var curCand *Candidate
	for _, e := range ranked {
		corr := s.correctionOf(e.setup)
		pr := corr.applyPrediction(s.m.predict(e.setup, opts.FinalRequests, opts.Replicates, in.Seed))
		v := s.vars(e.setup, pr.Metrics)
		obj, err := in.Policy.Objective(v)
		if err != nil {
			return nil, nil, fmt.Errorf("model planner: objective of %s: %w", e.setup, err)
		}
		violated, err := in.Policy.Check(v)
		if err != nil {
			return nil, nil, fmt.Errorf("model planner: constraints of %s: %w", e.setup, err)
		}
		if j := s.slowdownViolation(pr.Metrics, curPred.Metrics); j != "" && e.id != curEval.id {
			violated = append(violated, j)
		}
		c := Candidate{Setup: e.setup, Predicted: pr, Objective: obj,
			LatencyGain: gain(curPred.MedianMS, pr.MedianMS), CostGain: gain(curPred.CostPerRequest, pr.CostPerRequest)}
		c.Reason = fmt.Sprintf("%s: predicted median %.0f ms (%+.0f %%), p95 %.0f ms, %.3g $/request (%+.0f %%)",
			describe(in.Graph, in.Current, e.setup), pr.MedianMS, -100*c.LatencyGain, pr.P95MS, pr.CostPerRequest, -100*c.CostGain)
		if why := corr.String(); why != "" {
			c.Reason += "; " + why
		}
		if e.id == curEval.id {
			cc := c
			cc.Reason = "the current setup"
			curCand = &cc
		}
		if len(violated) == 0 {
			cands = append(cands, c)
		}
	}
	sortCandidates(cands)
	return cands, curCand, nil
}

// front is the Pareto front of the feasible setups the search predicted.
func (s *searcher) front() []FrontPoint {
	var pts []FrontPoint
	for _, e := range s.seen {
		if e.feasible {
			pts = append(pts, FrontPoint{Text: e.setup.String(), MedianMS: e.metrics.MedianMS, CostPerRequest: e.metrics.CostPerRequest})
		}
	}
	// s.seen is a map: order the points first, so equal points resolve the same way each run.
	slices.SortFunc(pts, func(a, b FrontPoint) int { return strings.Compare(a.Text, b.Text) })
	return ParetoFront(pts, MaxFront)
}

func gain(cur, new float64) float64 {
	if cur == 0 {
		return 0
	}
	return (cur - new) / cur
}

func relGain(cur, best float64) float64 {
	if cur == 0 {
		return best - cur
	}
	return (cur - best) / math.Abs(cur)
}

func (o outcome) metrics() constraint.Metrics {
	return constraint.Metrics{MedianMS: o.median, P95MS: o.p95, CostPerRequest: o.cost, ColdStartRate: o.coldRate, Requests: int64(len(o.lat))}
}

func (s *searcher) vars(setup fusion.Setup, pred constraint.Metrics) *constraint.Vars {
	obs, _ := Observe(s.in.Profile, setup)
	return &constraint.Vars{
		Candidate: constraint.Subject{Setup: constraint.SetupOf(setup), Predicted: pred, Observed: obs},
		Baseline:  s.base,
		Tasks:     s.in.Graph.Tasks,
	}
}

// eval predicts the setup of a fusion state (memoized by setup ID).
func (s *searcher) eval(st fusionState) *evaluated {
	setup := st.setup(s.in.Graph, s.in.DefaultMemoryMB)
	id := setup.ID()
	if e, ok := s.seen[id]; ok {
		return e
	}
	s.evals++
	st = stateOf(s.in.Graph, setup) // normalize: memories of the groups that exist
	o := s.m.quick(setup, s.opts.SearchRequests, s.in.Seed)
	e := &evaluated{setup: setup, id: id, state: st, metrics: s.correctionOf(setup).apply(o.metrics())}
	v := s.vars(setup, e.metrics)
	var err error
	if e.violated, err = s.in.Policy.Check(v); err != nil && s.err == nil {
		s.err = fmt.Errorf("model planner: constraints of %s: %w", setup, err)
	}
	if id != s.in.Current.ID() {
		if j := s.slowdownViolation(e.metrics, s.base.Predicted); j != "" {
			e.violated = append(e.violated, j)
		}
	}
	e.feasible = len(e.violated) == 0
	if e.objective, err = s.in.Policy.Objective(v); err != nil && s.err == nil {
		s.err = fmt.Errorf("model planner: objective of %s: %w", setup, err)
	}
	s.seen[id] = e
	return e
}

// tuneMemory improves the memory of the given group roots (all when nil) by coordinate
// descent: each group in turn takes the size that gives the best setup.
func (s *searcher) tuneMemory(e *evaluated, roots []string, passes int) *evaluated {
	if roots == nil {
		for _, g := range e.setup.Groups {
			roots = append(roots, g.Root)
		}
	}
	best := e
	for range passes {
		improved := false
		for _, r := range roots {
			if _, ok := best.setup.Group(r); !ok {
				continue
			}
			for _, m := range s.in.MemorySizes {
				st := best.state.clone()
				st.mem[r] = m
				if c := s.eval(st); better(c, best) {
					best, improved = c, true
				}
			}
		}
		if !improved {
			break
		}
	}
	return best
}

// changedRoots returns the roots of b's groups that are not exactly in a.
func changedRoots(a, b fusion.Setup) []string {
	var out []string
	for _, g := range b.Groups {
		if old, ok := a.Group(g.Root); !ok || !slices.Equal(old.Inlined, g.Inlined) {
			out = append(out, g.Root)
		}
	}
	return out
}

func (s *searcher) search() {
	g := s.in.Graph
	n := len(g.Edges)
	perFusion := 2 * len(g.Tasks) * len(s.in.MemorySizes)
	if n < 20 && (1<<n)*perFusion <= s.opts.ExhaustiveBudget {
		cur := stateOf(g, s.in.Current)
		for mask := range 1 << n {
			st := fusionState{local: make([]bool, n), mem: cur.mem}
			for i := range n {
				st.local[i] = mask&(1<<i) != 0
			}
			st = st.clone()
			s.tuneMemory(s.eval(st), nil, 2)
		}
		return
	}
	// Beam search.
	starts := []fusionState{stateOf(g, s.in.Current)}
	allRemote, syncLocal := fusionState{local: make([]bool, n), mem: map[string]int{}}, fusionState{local: make([]bool, n), mem: map[string]int{}}
	for i, e := range g.Edges {
		syncLocal.local[i] = e.Mode == fusion.Sync
	}
	starts = append(starts, allRemote, syncLocal)
	var beam []*evaluated
	for _, st := range starts {
		beam = append(beam, s.tuneMemory(s.eval(st), nil, 1))
	}
	sortBeam := func(b []*evaluated) []*evaluated {
		slices.SortFunc(b, func(x, y *evaluated) int {
			if better(x, y) {
				return -1
			}
			if better(y, x) {
				return 1
			}
			return 0
		})
		b = slices.CompactFunc(b, func(x, y *evaluated) bool { return x.id == y.id })
		if len(b) > s.opts.BeamWidth {
			b = b[:s.opts.BeamWidth]
		}
		return b
	}
	beam = sortBeam(beam)
	for iter := 0; iter < n+2; iter++ {
		var next []*evaluated
		for _, b := range beam {
			for i := range n {
				st := b.state.clone()
				st.local[i] = !st.local[i]
				next = append(next, s.eval(st))
			}
		}
		next = sortBeam(next)
		if len(next) > 2*s.opts.BeamWidth {
			next = next[:2*s.opts.BeamWidth]
		}
		var tuned []*evaluated
		for _, c := range next {
			tuned = append(tuned, s.tuneMemory(c, changedRoots(beam[0].setup, c.setup), 1))
		}
		prev := beam[0]
		beam = sortBeam(append(append([]*evaluated{}, beam...), tuned...))
		if beam[0] == prev {
			break
		}
	}
	for _, b := range beam {
		s.tuneMemory(b, nil, 2)
	}
}

// measurements returns the measurements needed to ground the model, nil when none, and why
// none could be asked for when some were needed but every one would break a constraint (a
// measurement takes live traffic, so it must satisfy the policy as a candidate must).
func (p *Model) measurements(in Input, m *model, opts ModelOptions) ([]MeasurementRequest, string, error) {
	want, reason := groundingSizes(in, m)
	if len(want) == 0 {
		return nil, "", nil
	}
	done := map[string]bool{}
	for _, t := range in.History {
		done[t.Setup.ID()] = true
	}
	cur := m.quick(in.Current, opts.SearchRequests, in.Seed).metrics()
	base := constraint.Subject{Setup: constraint.SetupOf(in.Current), Predicted: cur}
	base.Observed, _ = Observe(in.Profile, in.Current)
	var refused []string
	for _, size := range want {
		s := withMemory(in.Current, size)
		if done[s.ID()] || !measuresSomethingNew(in, m, s, size) {
			continue
		}
		pred := m.quick(s, opts.SearchRequests, in.Seed).metrics()
		violated, err := liveViolations(in, s, &pred, base)
		if err != nil {
			return nil, "", fmt.Errorf("model planner: %w", err)
		}
		if len(violated) > 0 {
			refused = append(refused, fmt.Sprintf("at %d MB it would break %s", size, strings.Join(violated, ", ")))
			continue
		}
		return []MeasurementRequest{{Setup: s, Requests: opts.MeasurementRequests,
			Reason: fmt.Sprintf("%s: measure the current setup at %d MB", reason, size)}}, "", nil
	}
	if len(refused) == 0 {
		return nil, "", nil
	}
	return nil, fmt.Sprintf("no measurement within the constraints can ground the model (%s: %s); "+
		"predictions at other sizes are extrapolated", reason, strings.Join(refused, "; ")), nil
}

// groundingSizes returns the memory sizes at which the current setup should be measured to
// ground the model, in order of preference, and why.
func groundingSizes(in Input, m *model) ([]int, string) {
	observed := func(tm *taskModel, pred func(int) bool) bool { return slices.ContainsFunc(tm.sizes, pred) }
	var single, cpuBound []string
	maxSize := in.MemorySizes[len(in.MemorySizes)-1]
	for _, tm := range m.tasks {
		if !tm.observed {
			continue // never ran: no measurement of this setup can show it
		}
		if len(tm.sizes) == 1 {
			single = append(single, tm.name)
		} else if maxSize > vcpuMB && !observed(tm, func(s int) bool { return s > vcpuMB }) &&
			tm.cpu*x(float64(maxSize), vcpuMB) > tm.io {
			cpuBound = append(cpuBound, tm.name)
		}
	}
	switch {
	case len(single) > 0:
		near := in.MemorySizes[0]
		for _, s := range in.MemorySizes {
			if math.Abs(math.Log(float64(s)/1024)) < math.Abs(math.Log(float64(near)/1024)) {
				near = s
			}
		}
		return []int{near, maxSize, in.MemorySizes[0]}, fmt.Sprintf("own time of %s observed at one memory size only", strings.Join(single, ", "))
	case len(cpuBound) > 0:
		return []int{maxSize}, fmt.Sprintf("CPU-bound %s never observed above %d MB (one vCPU)", strings.Join(cpuBound, ", "), vcpuMB)
	}
	return nil, ""
}

// measuresSomethingNew reports whether running s (the current setup at size) would observe
// a task at a size not observed yet.
func measuresSomethingNew(in Input, m *model, s fusion.Setup, size int) bool {
	if _, ok := in.Profile.Setup(s.ID()); ok {
		return false
	}
	for _, tm := range m.tasks {
		if tm.observed && !slices.Contains(tm.sizes, size) {
			return true
		}
	}
	return false
}

// keepsMissing says why the planner should stop canarying when its last MaxMisses canaries
// (none promoted) were each predicted off by more than MissTolerance in median or cost,
// and "" otherwise: a model that keeps missing would burn live traffic on candidates
// chosen by a wrong prediction.
func keepsMissing(history []Trial, opts ModelOptions) string {
	var misses []string
	for _, t := range slices.Backward(history) {
		if t.Kind != Canary {
			continue
		}
		if t.Promoted || len(misses) == opts.MaxMisses {
			break
		}
		p, o := t.Predicted, t.Observed
		if p.MedianMS <= 0 || o.MedianMS <= 0 {
			break // no prediction, or nothing observed: no evidence either way
		}
		dm, dc := o.MedianMS/p.MedianMS-1, 0.0
		if p.CostPerRequest > 0 && o.CostPerRequest > 0 {
			dc = o.CostPerRequest/p.CostPerRequest - 1
		}
		if math.Abs(dm) <= opts.MissTolerance && math.Abs(dc) <= opts.MissTolerance {
			break
		}
		misses = append(misses, fmt.Sprintf("%s median %+.0f %%, cost %+.0f %%", t.Setup, 100*dm, 100*dc))
	}
	if len(misses) < opts.MaxMisses {
		return ""
	}
	return fmt.Sprintf("the model keeps missing: its last %d canaries were observed off their predictions by more than %.0f %% (%s); "+
		"stopped canarying rather than burning traffic: check the platform's load and measure again",
		len(misses), 100*opts.MissTolerance, strings.Join(misses, "; "))
}

// keepsLosing says why the planner should stop when its last MaxRejected canaries were none
// promoted, and "" otherwise.
func keepsLosing(history []Trial, opts ModelOptions) string {
	var lost []string
	for _, t := range slices.Backward(history) {
		if t.Kind != Canary {
			continue
		}
		if t.Promoted || len(lost) == opts.MaxRejected {
			break
		}
		lost = append(lost, fmt.Sprintf("%s (%s)", t.Setup, cmp.Or(t.Verdict, "not accepted")))
	}
	if len(lost) < opts.MaxRejected {
		return ""
	}
	return fmt.Sprintf("stopped canarying: the last %d candidates, each predicted better, were not promoted on live traffic (%s); "+
		"the gains the model predicts are not ones the canary can confirm", len(lost), strings.Join(lost, "; "))
}

// calibrate learns from every setup that ran (both arms of canaries, measurements): each
// group's observed median handler duration (billed, in profiles without durations) is
// compared with the model's prediction of the same setup, and a group observed off by more
// than 15 % gets its invocations scaled by the ratio (at most 5×, at least 0.5×) wherever the
// same group (tasks and memory) appears again, and the same tasks at a memory size not
// observed by the ratios at the nearest sizes observed (corrAt). So a candidate whose
// prediction failed is not followed by one predicted from the same wrong assumption about a
// group it shares. It returns what it learned, in words.
func (m *model) calibrate(in Input, n int) []string {
	// Every setup is predicted as the model stands before calibration; what it learns
	// applies from the next prediction on.
	m.corr, m.anchors = nil, nil
	corr, anchors := map[string]float64{}, map[string][]anchor{}
	defer func() {
		for _, as := range anchors {
			slices.SortFunc(as, func(a, b anchor) int { return cmp.Compare(a.memMB, b.memMB) })
		}
		m.corr, m.anchors = corr, anchors
	}()
	var notes []string
	seen := map[string]bool{}
	for _, t := range in.History {
		id := t.Setup.ID()
		st, ok := in.Profile.Setup(id)
		if seen[id] || !ok || st.Requests < 30 || t.Setup.Validate(in.Graph) != nil {
			continue
		}
		seen[id] = true
		s := t.Setup.Canonical()
		u := &run{m: m, r: m.resolve(s), rng: rand.New(rand.NewPCG(in.Seed, 7)),
			billed: make([][]float64, len(s.Groups)), durs: make([][]float64, len(s.Groups))}
		u.requests(n)
		for gi, g := range s.Groups {
			obs, ok := groupStat(st, g.Root)
			if !ok || len(u.billed[gi]) == 0 {
				continue
			}
			// The handler's durations where the profile has them: the correction scales
			// them, and a billed duration also holds the time around the handler (the
			// model's gap), which is no error of the group's. Profiles of older digests have
			// billed durations only.
			what, observed, pred := "ran", obs.DurationMS, fusion.Quantile(u.durs[gi], 0.5)
			if observed.Count < 30 {
				what, observed, pred = "billed", obs.BilledMS, fusion.Quantile(u.billed[gi], 0.5)
			}
			if observed.Count < 30 || pred <= 0 {
				continue
			}
			ratio := observed.Median / pred
			key := groupKey(g)
			if _, done := corr[key]; done {
				continue
			}
			if ratio > 0.85 && ratio < 1.15 {
				ratio = 1 // right enough: an anchor for the same tasks at other sizes
			}
			ratio = math.Min(5, math.Max(0.5, ratio))
			tasks := strings.Join(g.Tasks(), "+")
			anchors[tasks] = append(anchors[tasks], anchor{g.MemoryMB, ratio})
			if ratio == 1 {
				corr[key] = 1
				continue
			}
			corr[key] = ratio
			notes = append(notes, fmt.Sprintf("%s %s %.1f ms against %.1f ms predicted (×%.2f)", key, what, observed.Median, pred, ratio))
		}
	}
	slices.Sort(notes)
	return notes
}

// anchor is what calibrate learned of a group's tasks at one memory size (a group's anchors
// are in ascending memory).
type anchor struct {
	memMB int
	ratio float64
}

// corrAt is the scale calibrate learned for group gr: its own when it ran, else that of the
// same tasks at the memory sizes that ran nearest to its own (interpolated in log memory
// between the two around it): an error a group's tasks showed does not vanish at a size
// not yet tried.
func (m *model) corrAt(gr fusion.Group) float64 {
	if c, ok := m.corr[groupKey(gr)]; ok {
		return c
	}
	as := m.anchors[strings.Join(gr.Tasks(), "+")]
	if len(as) == 0 {
		return 1
	}
	lo, hi, f := bracket(len(as), func(i int) int { return as[i].memMB }, gr.MemoryMB)
	return as[lo].ratio + f*(as[hi].ratio-as[lo].ratio)
}

func groupStat(st fusion.SetupStat, root string) (fusion.GroupStat, bool) {
	for _, g := range st.Groups {
		if g.Root == root {
			return g, true
		}
	}
	return fusion.GroupStat{}, false
}

// groupKey names a group by its tasks and memory, as the setup text does.
func groupKey(g fusion.Group) string {
	return fmt.Sprintf("%s@%d", strings.Join(g.Tasks(), "+"), g.MemoryMB)
}

// sortCandidates orders candidates by objective, ties by setup ID (computed once each).
func sortCandidates(cands []Candidate) {
	type keyed struct {
		c  Candidate
		id string
	}
	ks := make([]keyed, len(cands))
	for i, c := range cands {
		ks[i] = keyed{c, c.Setup.ID()}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.c.Objective, b.c.Objective), strings.Compare(a.id, b.id))
	})
	for i, k := range ks {
		cands[i] = k.c
	}
}
