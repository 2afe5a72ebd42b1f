package plan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/fusionize/fusionize/fusion"
)

// vcpuMB is the memory size at which a Lambda function gets one full vCPU.
const vcpuMB = fusion.MBPerVCPU

// SimOptions configures Simulate.
type SimOptions struct {
	// Requests simulated (2,000 when 0).
	Requests int `json:"requests,omitempty"`
	// Replicates: the requests are split into this many replicate runs, each on a bootstrap
	// resample of the profile's samples, to give the prediction's spread (8 when 0; 1 for
	// none).
	Replicates int           `json:"replicates,omitempty"`
	Prices     fusion.Prices `json:"prices"`
	Seed       uint64        `json:"seed"`
	// WindowRequests is the number of requests the prediction is for, over which a newly
	// deployed function's cold starts spread (DefaultWindowRequests when 0).
	WindowRequests int `json:"windowRequests,omitempty"`
}

// Simulate predicts the latency and cost per request of setup s of graph g from the profile,
// by Monte Carlo over the request's call tree:
//
//   - a task's own time at a group's memory is drawn from the profile's samples of that task
//     at that memory, from runs that did not share their instance's CPU with concurrent work
//     (SizeStat.Alone) when the task was ever seen so; at a memory never observed, from the
//     observed sizes around it (a mix of both, the nearer the more; beyond them the nearest)
//     scaled by the task's fitted memory model time(m) = io + cpu·1769/min(m, cap), fitted per task
//     from the medians of at least two sizes (cap 1769 MB, or 3538 MB when the observations
//     show the task using two vCPUs); calls are made midway through the task's own time;
//   - sync calls add up in sequence, or take the longest when the task made them in
//     parallel; a remote sync call adds the remote overhead and, on a cold start, the
//     callee's init duration (cold starts and init per function, over the window of
//     WindowRequests: see coldModel); a remote async call costs the caller its dispatch time and
//     costs one more invocation; calls per run follow each edge's multiplicity;
//   - a dispatch the traces saw slowed by remote calls that other invocations of the request
//     began beside it (fusion.EdgeStat.Beside: on one machine the platform routes both at
//     once) is drawn from its busy samples only as often as those calls are still remote in
//     the setup, else from its quiet ones;
//   - an inline async call runs concurrently and must finish before the handler returns, so
//     it extends the invocation (and the response, when in the entry's group);
//   - where the traces carry CPU times (trace member cpu), a task that calls nothing has a
//     CPU demand (its CPU time per run) and the CPU is a CFS quota whose period is learned
//     from the profile (learnPeriod): its own time at m MB is its I/O time plus the wall
//     time its demand takes under m's quota (cfsTime: full speed until the period's quota
//     is used up), so short bursts are not scaled like long work;
//   - an invocation lasts at least its tasks' CPU work under its quota (or, without CPU
//     times, divided by its vCPU share; inlined tasks share the CPU); it is billed for its duration plus its init duration, rounded up,
//     plus the request fee, so a caller waiting on a remote sync call is billed for the wait
//     while the callee is billed too;
//   - a task inlined in several groups is simulated in each group that runs it, at that
//     group's memory.
//
// The request latency is the entry invocation's duration plus its init on a cold start.
func Simulate(p fusion.Profile, g fusion.Graph, s fusion.Setup, opts SimOptions) (Prediction, error) {
	if err := s.Validate(g); err != nil {
		return Prediction{}, fmt.Errorf("simulate setup %s: %w", s, err)
	}
	m := newModel(p, g, opts.Prices.WithDefaults())
	if opts.WindowRequests > 0 {
		m.cold.window = float64(opts.WindowRequests)
	}
	if opts.Requests <= 0 {
		opts.Requests = 2000
	}
	if opts.Replicates <= 0 {
		opts.Replicates = 8
	}
	return m.predict(s, opts.Requests, opts.Replicates, opts.Seed), nil
}

// model is a profile compiled for fast simulation: tasks by index.
type model struct {
	g        fusion.Graph
	prices   fusion.Prices
	index    map[string]int
	tasks    []*taskModel
	edges    [][]edgeModel // by caller
	parallel []bool
	// samples of overheads (ms), with fallbacks when never observed
	remoteSync, remoteAsync, localAsync, init []float64
	cold                                      *coldModel
	// period is the CPU quota period (ms) learned from the profile (learnPeriod), 0 when
	// the traces carry no CPU times: the CPU is then a fluid share.
	period float64
	// gap is the billed time around the handler of every invocation (the median of the
	// profile's ReportGap: its REPORT Duration minus its trace's), 0 when never seen.
	gap float64
	// corr, by groupKey, scales the invocations of a group that ran and was observed off
	// the model's prediction (calibrate).
	corr    map[string]float64
	anchors map[string][]anchor // by the group's tasks, for sizes not observed (corrAt)
}

type edgeModel struct {
	callee int
	mode   fusion.Mode
	perRun float64
	// late: an async call the traces show made after the caller's sync calls returned.
	late bool
	// remote is what a remote call along the edge costs the caller: an async call's
	// dispatch time, a sync call's overhead: the edge's own samples at each caller memory
	// size where it has minRemote (remoteAt), and pool, the app's, where it has none.
	remote []remoteSizes
	pool   []float64
	// beside: for an async edge, the other edges whose remote calls began beside its
	// dispatches (fusion.EdgeStat.Beside), with the share of its dispatches they did it to.
	beside []besideModel
}

type remoteSizes struct {
	memMB   int
	samples []float64
	// quiet and busy split an async edge's samples (fusion.RemoteStat), both at least
	// minRemote or both nil.
	quiet, busy []float64
}

type besideModel struct {
	caller, callee int
	share          float64
}

// remoteAt returns the samples of what a remote call along e costs a caller at memMB: the
// edge's at that size; between two sizes observed, those of one of them, the nearer (in log
// memory) the likelier, so that the draws mix the two; beyond them, the nearest's; the
// app's when the edge has none. e.remote is in ascending memory.
func (e *edgeModel) remoteAt(memMB int, rng *rand.Rand) []float64 {
	return e.dispatchAt(memMB, -1, rng)
}

// dispatchAt is remoteAt for a dispatch that is busy with probability busy (resolved.busy):
// the chosen size's busy or quiet samples where it has both, its samples where it has not or
// busy is negative.
func (e *edgeModel) dispatchAt(memMB int, busy float64, rng *rand.Rand) []float64 {
	if len(e.remote) == 0 {
		return e.pool
	}
	lo, hi, f := bracket(len(e.remote), func(i int) int { return e.remote[i].memMB }, memMB)
	r := &e.remote[lo]
	if hi != lo && rng.Float64() < f {
		r = &e.remote[hi]
	}
	switch {
	case busy < 0 || r.quiet == nil:
		return r.samples
	case rng.Float64() < busy:
		return r.busy
	}
	return r.quiet
}

// bracket finds memMB among n sizes in ascending order (size(i)): the sizes at or around it,
// lo and hi, and how far it lies from lo toward hi in log memory, f in [0, 1]. Beyond the
// sizes, and at one of them, lo == hi and f is 0. n must be at least 1.
func bracket(n int, size func(int) int, memMB int) (lo, hi int, f float64) {
	hi = sort.Search(n, func(i int) bool { return size(i) >= memMB })
	switch {
	case hi == n:
		return n - 1, n - 1, 0
	case hi == 0 || size(hi) == memMB:
		return hi, hi, 0
	}
	lo = hi - 1
	return lo, hi, math.Log(float64(memMB)/float64(size(lo))) / math.Log(float64(size(hi))/float64(size(lo)))
}

// minRemote is the number of an edge's own remote-call samples the model draws from
// instead of the app's.
const minRemote = 10

type taskModel struct {
	name     string
	sizes    []int
	samples  [][]float64 // per size, sorted
	medians  []float64
	io, cpu  float64
	capMB    float64
	fitted   bool // from at least two sizes
	observed bool
	// demand is the task's CPU time per run (ms) from the traces' cpu member, 0 where
	// unknown; with a learned quota period the own time at m MB is then ioq plus the time
	// to get demand ms of CPU under m's quota (cfsTime), instead of the fitted io + cpu·x(m).
	demand, ioq, period float64
	// excess is the CPU time per run beyond demand that the task's own invocations used for
	// its calls (capDemand): not its own time, but it draws on the group's quota.
	excess     float64
	demandMems []int     // sizes the demand was measured at
	demandMeds []float64 // median own time at those sizes
	pools      map[int]*pool
}

// pool is a task's own-time sample at one memory size, with the CPU work share of each.
type pool struct {
	ms       []float64
	workFrac float64 // vCPU-ms of CPU work per ms of own time at this size
	// work is the CPU work of a run at this size (vCPU-ms): a run's work is its own time's
	// share, at most this. A run slower than usual waited on something, it did not compute
	// more, and the samples of its own size already hold what the quota did to it.
	work   float64
	extrap bool
}

func fallback(s fusion.Summary, def float64) []float64 {
	if len(s.Samples) > 0 {
		return s.Samples
	}
	return []float64{def}
}

func newModel(p fusion.Profile, g fusion.Graph, prices fusion.Prices) *model {
	m := &model{g: g, prices: prices, index: map[string]int{}, gap: max(p.ReportGap.Median, 0)}
	for i, t := range g.Tasks {
		m.index[t] = i
		tm := &taskModel{name: t, pools: map[int]*pool{}, capMB: vcpuMB}
		if ts, ok := p.Task(t); ok {
			// Own time measured alone where there is some: a run that shared its
			// instance's CPU with concurrent work was slowed down by it, and the
			// simulation adds that slowdown itself. Only a task never seen alone is
			// taken from its shared runs.
			alone := slices.ContainsFunc(ts.Sizes, func(sz fusion.SizeStat) bool { return len(sz.Alone.Samples) > 0 })
			for _, sz := range ts.Sizes {
				self := sz.Self
				if alone {
					self = sz.Alone
				}
				if len(self.Samples) == 0 {
					continue
				}
				tm.sizes = append(tm.sizes, sz.MemoryMB)
				tm.samples = append(tm.samples, self.Samples)
				tm.medians = append(tm.medians, self.Median)
				if sz.CPU.Count > 0 {
					tm.demandMems = append(tm.demandMems, sz.MemoryMB)
					tm.demandMeds = append(tm.demandMeds, self.Median)
					tm.demand = math.Max(tm.demand, sz.CPU.Median) // a quota delays CPU time, it does not cut it
				}
			}
			if ts.ParallelSync {
				m.parallel = append(m.parallel, true)
			} else {
				m.parallel = append(m.parallel, false)
			}
		} else {
			m.parallel = append(m.parallel, false)
		}
		tm.observed = len(tm.sizes) > 0
		tm.fit()
		m.tasks = append(m.tasks, tm)
	}
	m.remoteSync = fallback(p.RemoteSync, 25)
	m.remoteAsync = fallback(p.RemoteAsync, 15)
	m.localAsync = fallback(p.LocalAsync, 0.05)
	m.init = fallback(p.Init, 150)
	m.edges = make([][]edgeModel, len(g.Tasks))
	for _, e := range g.Edges {
		m.edges[m.index[e.Caller]] = append(m.edges[m.index[e.Caller]], m.edgeOf(p, e))
	}
	leaf := func(t *taskModel) bool { return len(m.edges[m.index[t.name]]) == 0 }
	m.period = learnPeriod(m.tasks, leaf)
	for _, tm := range m.tasks {
		if !leaf(tm) {
			tm.capDemand()
		}
		tm.useQuota(m.period)
	}
	m.cold = learnCold(p, m.init)
	return m
}

// edgeOf compiles edge e of the profile p: its calls per run, whether its async calls come
// after the caller's sync calls, and what a remote call along it costs (its own samples by
// caller memory, split quiet and busy where the profile has both; the app's pool without).
func (m *model) edgeOf(p fusion.Profile, e fusion.Edge) edgeModel {
	em := edgeModel{callee: m.index[e.Callee], mode: e.Mode, perRun: 1, pool: m.remoteSync}
	if e.Mode == fusion.Async {
		em.pool = m.remoteAsync
	}
	es, ok := p.Edge(e.Caller, e.Callee)
	if !ok {
		return em
	}
	if es.CallerRuns > 0 {
		em.perRun = es.PerRun
	}
	em.late = e.Mode == fusion.Async && es.AfterSync >= 0.5
	for _, r := range es.Remote {
		if r.Summary.Count >= minRemote && len(r.Summary.Samples) > 0 {
			rs := remoteSizes{memMB: r.MemoryMB, samples: r.Summary.Samples}
			if r.Quiet.Count >= minRemote && r.Busy.Count >= minRemote {
				rs.quiet, rs.busy = r.Quiet.Samples, r.Busy.Samples
			}
			em.remote = append(em.remote, rs)
		}
	}
	for _, b := range es.Beside {
		ci, ok1 := m.index[b.Caller]
		ce, ok2 := m.index[b.Callee]
		if ok1 && ok2 && b.Dispatches > 0 {
			em.beside = append(em.beside, besideModel{ci, ce, b.Share()})
		}
	}
	return em
}

func x(memMB, capMB float64) float64 { return vcpuMB / math.Min(memMB, capMB) }

// fit estimates io and cpu of time(m) = io + cpu·x(m) from the per-size medians by least
// squares weighted by sample counts (non-negative), trying a one-vCPU and a two-vCPU cap and
// keeping the better fit (the one-vCPU cap unless the other is clearly better).
func (t *taskModel) fit() {
	if len(t.sizes) == 0 {
		return
	}
	if len(t.sizes) == 1 {
		// Nothing to separate: assume CPU-bound (the cautious choice: memory matters).
		t.cpu = t.medians[0] / x(float64(t.sizes[0]), vcpuMB)
		return
	}
	t.fitted = true
	best := math.Inf(1)
	for _, capMB := range []float64{vcpuMB, 2 * vcpuMB} {
		var sw, sx, sy, sxx, sxy float64
		for i, m := range t.sizes {
			w := float64(len(t.samples[i]))
			xi, yi := x(float64(m), capMB), t.medians[i]
			sw += w
			sx += w * xi
			sy += w * yi
			sxx += w * xi * xi
			sxy += w * xi * yi
		}
		var io, cpu float64
		if d := sw*sxx - sx*sx; d > 1e-12 {
			cpu = (sw*sxy - sx*sy) / d
			io = (sy - cpu*sx) / sw
		} else {
			io = sy / sw
		}
		if cpu < 0 {
			cpu, io = 0, sy/sw
		}
		if io < 0 {
			io, cpu = 0, sxy/sxx
		}
		sse := 0.0
		for i, m := range t.sizes {
			r := io + cpu*x(float64(m), capMB) - t.medians[i]
			sse += float64(len(t.samples[i])) * r * r
		}
		if capMB == vcpuMB || sse < 0.5*best {
			best, t.io, t.cpu, t.capMB = sse, io, cpu, capMB
		}
	}
}

// timeAt is the fitted own time at memory mem.
func (t *taskModel) timeAt(mem int) float64 {
	if t.period > 0 {
		return t.ioq + cfsTime(t.demand, mem, t.period, t.threads())
	}
	return t.io + t.cpu*x(float64(mem), t.capMB)
}

// threads is how many vCPUs the task's CPU work can use at once, from its fit.
func (t *taskModel) threads() float64 { return t.capMB / vcpuMB }

// periods a CPU quota is tried at by learnPeriod (ms), Linux's default of 100 first, then
// by distance from it: a tie keeps the one tried first.
var periods = []float64{100, 50, 200, 20, 10}

// learnPeriod returns the quota period that best explains what the profile shows of the
// tasks that call nothing (whose CPU work is not split by waits on calls): for each period
// tried, each such task's I/O time is fitted (useQuota) and the squared relative errors of
// its predicted own time at the sizes it was seen at are summed; the period with the least
// error wins (the nearest Linux's default on a tie). 0 when no such task has a CPU demand: the CPU is then
// a fluid share.
func learnPeriod(tasks []*taskModel, leaf func(*taskModel) bool) float64 {
	best, bestErr := 0.0, math.Inf(1)
	for _, period := range periods {
		sse, n := 0.0, 0
		for _, t := range tasks {
			if !leaf(t) || t.demand <= 0 {
				continue
			}
			io := t.quotaIO(period)
			for i, m := range t.demandMems {
				if med := t.demandMeds[i]; med > 0 {
					r := (io+cfsTime(t.demand, m, period, t.threads()))/med - 1
					sse += r * r
					n++
				}
			}
		}
		if n > 0 && sse < bestErr-1e-12 {
			best, bestErr = period, sse
		}
	}
	return best
}

// quotaIO is the task's I/O time under a quota of the period: its own time at each size it
// was seen at minus the CPU's wall time there (the mean, at least 0).
func (t *taskModel) quotaIO(period float64) float64 {
	sum := 0.0
	for i, m := range t.demandMems {
		sum += math.Max(t.demandMeds[i]-cfsTime(t.demand, m, period, t.threads()), 0)
	}
	return sum / float64(len(t.demandMems))
}

// capDemand bounds the CPU demand of a task that makes calls by its own time where it ran
// fastest: the CPU time of its invocations also holds the runtime's work for its calls
// (IoT's I: 0.25 ms of own time, 1.9 ms of CPU, most of it dispatching three async calls),
// which the calls' dispatch and overhead samples already count.
func (t *taskModel) capDemand() {
	if t.demand <= 0 || len(t.demandMeds) == 0 {
		return
	}
	capped := math.Min(t.demand, slices.Min(t.demandMeds)*t.threads())
	t.excess, t.demand = t.demand-capped, capped
}

// useQuota makes the task's own time at any size its I/O time plus its CPU demand's wall
// time under the quota (for a task with a CPU demand; the period is learned from the tasks
// that call nothing, whose CPU work is theirs alone).
func (t *taskModel) useQuota(period float64) {
	if period <= 0 || t.demand <= 0 || len(t.demandMems) == 0 {
		return
	}
	t.period = period
	t.ioq = t.quotaIO(period)
}

// cfsTime is the wall time to get cpu ms of CPU time on up to threads vCPUs under a CFS
// bandwidth quota of memMB/1769 of a vCPU per period (ms): full speed until the period's
// quota is used, then nothing until the next period.
func cfsTime(cpu float64, memMB int, period, threads float64) float64 {
	share := float64(memMB) / vcpuMB
	threads = math.Max(1, threads)
	q := share * period
	if cpu <= 0 {
		return 0
	}
	if share >= threads || cpu <= q {
		return cpu / threads
	}
	k := math.Floor(cpu / q)
	r := cpu - k*q
	if r < 1e-9 {
		return (k-1)*period + q/threads
	}
	return k*period + r/threads
}

// poolAt returns the own-time sample of the task at memory mem: its samples there, else
// those of the observed sizes around it scaled to mem by the task's model (timeAt). Between
// two observed sizes the pool mixes both, the nearer (in log memory) the more: a size's
// samples hold what its quota did to the task at the load it ran at (IoT's CT at 256 MB was
// throttled in a third of its runs, at 1,024 MB never), which scaling by the model's time for
// one run does not undo; beyond them it takes the nearest's.
func (t *taskModel) poolAt(mem int) *pool {
	if p, ok := t.pools[mem]; ok {
		return p
	}
	p := &pool{}
	if !t.observed {
		p.ms, p.extrap = []float64{0}, true
		t.pools[mem] = p
		return p
	}
	lo, hi := -1, -1 // the largest observed size below mem and the smallest above, by index
	for i, m := range t.sizes {
		if m == mem {
			lo, hi = i, i
			break
		}
		if m < mem && (lo < 0 || m > t.sizes[lo]) {
			lo = i
		}
		if m > mem && (hi < 0 || m < t.sizes[hi]) {
			hi = i
		}
	}
	switch {
	case lo == hi:
		p.ms = slices.Clone(t.samples[lo])
	case lo < 0:
		p.ms = t.scaledFrom(hi, mem, 1)
	case hi < 0:
		p.ms = t.scaledFrom(lo, mem, 1)
	default:
		w := math.Log(float64(t.sizes[hi])/float64(mem)) / math.Log(float64(t.sizes[hi])/float64(t.sizes[lo]))
		p.ms = append(t.scaledFrom(lo, mem, w), t.scaledFrom(hi, mem, 1-w)...)
	}
	p.extrap = lo != hi
	if ta := t.timeAt(mem); ta > 0 {
		p.workFrac, p.work = t.cpu/ta, t.cpu
		if t.period > 0 {
			// CPU per ms of the pool's own time: a median run does the demand's work, however
			// long the samples say it took (a two-threaded task seen at 7.8 ms did its 13 ms of
			// CPU, where the fit to every size may say 13).
			if med := fusion.Quantile(p.ms, 0.5); med > 0 {
				ta = med
			}
			p.workFrac, p.work = t.demand/ta, t.demand
		}
	}
	t.pools[mem] = p
	return p
}

// mixSize is how many draws a pool mixed from two sizes holds per size's share (poolAt).
const mixSize = 400

// scaledFrom returns the samples of observed size i scaled to mem by the task's model: all of
// them for a share of 1, else share·mixSize draws spread evenly over the sorted samples, so
// that they keep their distribution.
func (t *taskModel) scaledFrom(i, mem int, share float64) []float64 {
	src := t.samples[i]
	scale := 1.0
	if base := t.timeAt(t.sizes[i]); base > 0 {
		scale = t.timeAt(mem) / base
	}
	n := len(src)
	if share < 1 {
		n = int(math.Round(share * mixSize))
	}
	out := make([]float64, n)
	for k := range out {
		out[k] = src[k*len(src)/n] * scale
	}
	return out
}

// resolved is a setup compiled for simulation.
type resolved struct {
	groups    []rgroup
	rootGroup []int // task → index of the group rooted at it, or -1
	entry     int
	// busy is, by caller task and edge (as model.edges), the probability that a remote
	// dispatch along the edge has a call begin beside it: 1 − Π(1 − share) over the edges
	// that began beside its dispatches and are remote in the setup; −1 for the edge's samples
	// unsplit.
	busy [][]float64
}

// remoteIn reports whether a call from caller to callee is remote in some group of r.
func (r *resolved) remoteIn(caller, callee int) bool {
	for _, g := range r.groups {
		if g.has[caller] && !g.has[callee] {
			return true
		}
	}
	return false
}

type rgroup struct {
	root  int
	mem   int
	has   []bool
	pools []*pool // by task, for the tasks it has
	// corr scales the group's invocations: what canaries taught the model (model.corr).
	corr float64
	// starts are the function's instances in a window (0: never observed, estimated from
	// its busy time), inits its init durations (coldModel).
	starts float64
	inits  []float64
}

func (m *model) resolve(s fusion.Setup) *resolved {
	r := &resolved{rootGroup: make([]int, len(m.tasks))}
	for i := range r.rootGroup {
		r.rootGroup[i] = -1
	}
	for gi, gr := range s.Groups {
		rg := rgroup{root: m.index[gr.Root], mem: gr.MemoryMB, has: make([]bool, len(m.tasks)), pools: make([]*pool, len(m.tasks)), corr: 1}
		rg.corr = m.corrAt(gr)
		for _, t := range gr.Tasks() {
			ti := m.index[t]
			rg.has[ti] = true
			rg.pools[ti] = m.tasks[ti].poolAt(gr.MemoryMB)
		}
		rg.starts, rg.inits = m.cold.forGroup(gr.Tasks(), gr.MemoryMB)
		r.groups = append(r.groups, rg)
		r.rootGroup[rg.root] = gi
	}
	r.entry = r.rootGroup[m.index[m.g.Entry]]
	r.busy = make([][]float64, len(m.edges))
	for ti, es := range m.edges {
		r.busy[ti] = make([]float64, len(es))
		for k, e := range es {
			quiet := 1.0
			for _, b := range e.beside {
				if r.remoteIn(b.caller, b.callee) {
					quiet *= 1 - b.share
				}
			}
			r.busy[ti][k] = 1 - quiet
			if e.mode != fusion.Async {
				r.busy[ti][k] = -1
			}
		}
	}
	return r
}

// run is one simulation run: a random source and, for replicates, bootstrap resamples.
type run struct {
	m    *model
	r    *resolved
	rng  *rand.Rand
	boot map[*pool][]float64 // nil: draw from the samples themselves
	// per request
	cost  float64
	cold  bool
	depth int
	// billed and durs collect each group's billed and handler durations when not nil
	// (calibration).
	billed, durs [][]float64
	// reqs counts the requests begun; pos is the request's place in the window (0 to the
	// window's requests); seen[g] is the last request that invoked group g, and busy[g] its
	// invocations' time so far (coldStart).
	reqs int
	pos  float64
	seen []int
	busy []float64
}

func (u *run) draw(xs []float64) float64 { return xs[u.rng.IntN(len(xs))] }

func (u *run) drawPool(p *pool) float64 {
	if u.boot == nil {
		return u.draw(p.ms)
	}
	b, ok := u.boot[p]
	if !ok {
		b = make([]float64, len(p.ms))
		for i := range b {
			b[i] = u.draw(p.ms)
		}
		u.boot[p] = b
	}
	return u.draw(b)
}

func (u *run) count(per float64) int {
	n := int(per)
	if f := per - float64(n); f > 0 && u.rng.Float64() < f {
		n++
	}
	return n
}

type invState struct {
	g       *rgroup
	pending float64
	cpu     float64
	// Inline async work: it starts at asyncFrom at the earliest and shares the group's CPU
	// quota, so its asyncCPU (the CPU of every inline async subtree, counted once) cannot end
	// before asyncFrom plus the quota's time for it, however much of the invocation the
	// handler spent waiting before that.
	asyncFrom  float64
	asyncCPU   float64
	asyncDepth int
}

// invoke simulates an invocation of group gi; sync says whether it is on the response path.
func (u *run) invoke(gi int, sync bool) (dur, init float64) {
	g := &u.r.groups[gi]
	if u.coldStart(gi) {
		init = u.draw(g.inits)
		if sync {
			u.cold = true
		}
	}
	inv := invState{g: g, asyncFrom: math.Inf(1)}
	end := u.task(&inv, g.root, 0)
	floor := u.m.quotaTime(inv.cpu, g.mem)
	if inv.asyncCPU > 0 {
		floor = max(floor, inv.asyncFrom+u.m.quotaTime(inv.asyncCPU, g.mem))
	}
	dur = max(end, inv.pending, floor) * g.corr
	if u.busy != nil {
		u.busy[gi] += dur
	}
	b := u.m.prices.BilledMS(dur + init + u.m.gap)
	u.cost += u.m.prices.Invocation(b, g.mem)
	if u.billed != nil {
		u.billed[gi] = append(u.billed[gi], float64(b))
	}
	if u.durs != nil {
		u.durs[gi] = append(u.durs[gi], dur)
	}
	return dur, init
}

// coldStart says whether this invocation of group gi is a cold start (coldModel): the
// request's first invocation of a function is when the request is among the window's first
// as many requests as the function needs instances. A window's cold starts come at its
// start, where every function starts its instances: the same requests are cold in
// several functions, not each in other requests.
func (u *run) coldStart(gi int) bool {
	c := u.m.cold
	if !c.perFunction {
		return u.rng.Float64() < c.rate
	}
	if u.seen[gi] == u.reqs {
		return false
	}
	u.seen[gi] = u.reqs
	k := u.r.groups[gi].starts
	if k == 0 {
		k = 1 + c.beta*u.busy[gi]/float64(max(u.reqs-1, 1))
	}
	return u.pos < k
}

// quotaTime is the wall time cpu ms of CPU work take under the CPU share of memMB: the CFS
// quota's when the period is known, else the vCPU fraction's.
func (m *model) quotaTime(cpu float64, memMB int) float64 {
	if m.period > 0 {
		return cfsTime(cpu, memMB, m.period, 2)
	}
	return cpu * vcpuMB / float64(memMB)
}

// task simulates a run of task ti inside inv from start; it returns when the task ends.
func (u *run) task(inv *invState, ti int, start float64) float64 {
	u.depth++
	defer func() { u.depth-- }()
	p := inv.g.pools[ti]
	own := u.drawPool(p)
	inv.cpu += min(own*p.workFrac, p.work) + u.m.tasks[ti].excess
	if u.depth > 64 { // a call cycle: stop expanding
		return start + own
	}
	t := u.asyncCalls(inv, ti, start+own/2, false)
	par := u.m.parallel[ti]
	parEnd := t
	for _, e := range u.m.edges[ti] {
		if e.mode != fusion.Sync {
			continue
		}
		for range u.count(e.perRun) {
			var d float64
			if inv.g.has[e.callee] {
				d = u.task(inv, e.callee, t) - t
			} else {
				ov := u.draw(e.remoteAt(inv.g.mem, u.rng))
				cd, ci := u.invoke(u.r.rootGroup[e.callee], true)
				d = ov + ci + cd
			}
			if par {
				parEnd = max(parEnd, t+d)
			} else {
				t += d
			}
		}
	}
	if par {
		t = parEnd
	}
	return u.asyncCalls(inv, ti, t, true) + own/2
}

// asyncCalls makes task ti's async calls from t, those made after its sync calls (late) or
// the others, and returns when the caller goes on. An inlined call's work starts at once and
// shares the invocation's CPU quota (invState.asyncCPU).
func (u *run) asyncCalls(inv *invState, ti int, t float64, late bool) float64 {
	for k, e := range u.m.edges[ti] {
		if e.mode != fusion.Async || e.late != late {
			continue
		}
		for range u.count(e.perRun) {
			if !inv.g.has[e.callee] {
				t += u.draw(e.dispatchAt(inv.g.mem, u.r.busy[ti][k], u.rng))
				u.invoke(u.r.rootGroup[e.callee], false)
				continue
			}
			d := u.draw(u.m.localAsync)
			inv.asyncFrom = min(inv.asyncFrom, t+d)
			cpu := inv.cpu
			inv.asyncDepth++
			inv.pending = max(inv.pending, u.task(inv, e.callee, t+d))
			inv.asyncDepth--
			if inv.asyncDepth == 0 {
				inv.asyncCPU += inv.cpu - cpu
			}
			t += d
		}
	}
	return t
}

// outcome of a batch of simulated requests.
type outcome struct {
	median, p95, cost, coldRate float64
	lat                         []float64
}

func (u *run) requests(n int) outcome {
	lat := make([]float64, n)
	cost, cold := 0.0, 0
	u.seen, u.busy = make([]int, len(u.r.groups)), make([]float64, len(u.r.groups))
	for i := range n {
		u.reqs++
		u.pos = u.rng.Float64() * u.m.cold.window
		u.cost, u.cold = 0, false
		d, init := u.invoke(u.r.entry, true)
		if init > 0 {
			u.cold = true
		}
		lat[i] = d + init
		cost += u.cost
		if u.cold {
			cold++
		}
	}
	slices.Sort(lat)
	return outcome{median: fusion.QuantileSorted(lat, 0.5), p95: fusion.QuantileSorted(lat, 0.95),
		cost: cost / float64(n), coldRate: float64(cold) / float64(n), lat: lat}
}

// quick predicts with n requests and no replicates, seeded identically for every setup
// (common random numbers), for the search.
func (m *model) quick(s fusion.Setup, n int, seed uint64) outcome {
	u := &run{m: m, r: m.resolve(s), rng: rand.New(rand.NewPCG(seed, 1))}
	return u.requests(n)
}

// predict runs reps replicates of n/reps requests each on bootstrap resamples, and reports
// the pooled metrics with the replicates' spread.
func (m *model) predict(s fusion.Setup, n, reps int, seed uint64) Prediction {
	r := m.resolve(s)
	per := max(n/reps, 1)
	var all []float64
	var meds, p95s, costs []float64
	cost, cold := 0.0, 0.0
	for k := range reps {
		u := &run{m: m, r: r, rng: rand.New(rand.NewPCG(seed, uint64(k)+100))}
		if reps > 1 {
			u.boot = map[*pool][]float64{}
		}
		o := u.requests(per)
		all = append(all, o.lat...)
		meds = append(meds, o.median)
		p95s = append(p95s, o.p95)
		costs = append(costs, o.cost)
		cost += o.cost / float64(reps)
		cold += o.coldRate / float64(reps)
	}
	slices.Sort(all)
	pr := Prediction{}
	pr.MedianMS = fusion.QuantileSorted(all, 0.5)
	pr.P95MS = fusion.QuantileSorted(all, 0.95)
	pr.CostPerRequest = cost
	pr.ColdStartRate = cold
	pr.Requests = int64(len(all))
	pr.MedianLowMS, pr.MedianHighMS = fusion.Quantile(meds, 0.1), fusion.Quantile(meds, 0.9)
	pr.P95LowMS, pr.P95HighMS = fusion.Quantile(p95s, 0.1), fusion.Quantile(p95s, 0.9)
	pr.CostLow, pr.CostHigh = fusion.Quantile(costs, 0.1), fusion.Quantile(costs, 0.9)
	for _, gr := range s.Canonical().Groups {
		for _, t := range gr.Tasks() {
			tm := m.tasks[m.index[t]]
			switch {
			case !tm.observed:
				pr.Ungrounded = append(pr.Ungrounded, t+" never observed")
			case !tm.fitted && tm.poolAt(gr.MemoryMB).extrap:
				pr.Ungrounded = append(pr.Ungrounded, fmt.Sprintf("%s@%d from one memory size", t, gr.MemoryMB))
			case tm.poolAt(gr.MemoryMB).extrap:
				pr.Extrapolated = append(pr.Extrapolated, fmt.Sprintf("%s@%d", t, gr.MemoryMB))
			}
		}
	}
	return pr
}
