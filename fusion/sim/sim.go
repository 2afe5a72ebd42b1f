// Package sim is a synthetic ground truth for Fusionize's optimizer: an app model (each
// task's CPU work, I/O waits and calls, the platform's remote-call overhead, cold starts and
// noise) that produces the trace records and REPORT lines the real runtime and Lambda would
// for any setup at any memory size. Planners are evaluated offline by running their loop
// against it (see plan.Run), and tests use it to make profiles of the paper's apps.
//
// It is not evidence that the model planner is right (live runs on the local platform are
// the arbiter), and it is kept independent of the predictor (plan.Simulate) on purpose: it
// has effects the predictor does not assume, so that an offline test shows what a model
// that agrees only with itself would miss.
//
// The platform model:
//   - CPU is a CFS bandwidth quota (see instance): a function with m MB may use m/1769 of a
//     vCPU's time per period of PeriodMS (20 ms by default, not the Linux default of
//     100 ms that the local platform and the predictor use), on up to two vCPUs at once
//     (more above 3,538 MB), so short bursts run at full speed and long or concurrent CPU
//     work is throttled. The goroutines of the tasks running at once in an instance share
//     it, so inlined work slows its neighbours, and an invocation lasts until its root task
//     returns and every inline async call has finished (the runtime waits for them).
//   - Noise is heavy-tailed: every task time and overhead is multiplied by a lognormal
//     factor and, with probability TailChance, by a Pareto factor (shape 2).
//   - I/O waits and remote-call overheads depend on memory (a small function's network is
//     slower): they are multiplied by 1 + IOMemoryFactor·128/m of the calling function.
//   - Cold starts are per function: an invocation finds an idle warm instance of its
//     function or starts a new one (so concurrency makes cold starts), and a warm instance
//     is recycled with probability ColdStartRate. Init lasts InitMS times 1 + 0.1 per task
//     the group holds beyond its root (a bigger bundle to initialize) times 1 + 0.5·128/m.
//   - A remote sync call costs the caller the overhead plus the callee's init, if cold, plus
//     the callee's invocation; a remote async call costs the caller a dispatch time; every
//     invocation is billed for its duration plus its init duration, rounded up to 1 ms, and
//     its trace record carries the CPU time it used (trace/v1 member cpu).
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/fusionize/fusionize/fusion"
)

// VCPUMemoryMB is the memory size at which a Lambda function gets one full vCPU.
const VCPUMemoryMB = fusion.MBPerVCPU

// Work is what one run of a task does.
type Work struct {
	// CPUMS is the CPU work in milliseconds on one full vCPU.
	CPUMS float64 `json:"cpuMS"`
	// Threads is how many threads share the CPU work (1 when 0): a two-thread task keeps
	// getting faster up to two vCPUs (3538 MB).
	Threads int `json:"threads,omitempty"`
	// IOMS is time spent waiting (key-value store, network), independent of memory.
	IOMS float64 `json:"ioMS"`
}

// TimeMS returns the task's own time at memoryMB without noise in the long run: I/O plus
// the CPU work at the quota's average rate. Under the quota a short burst is faster (it
// runs at full speed until the period's quota is used up) and I/O is slower at small sizes
// (App.IOMemoryFactor).
func (w Work) TimeMS(memoryMB int) float64 {
	threads := max(w.Threads, 1)
	return w.IOMS + w.CPUMS*VCPUMemoryMB/math.Min(float64(memoryMB), float64(VCPUMemoryMB*threads))
}

// App is the ground-truth model of an application.
type App struct {
	Name  string          `json:"name"`
	Graph fusion.Graph    `json:"graph"`
	Work  map[string]Work `json:"work"`
	// Calls is the number of calls per caller run along an edge, keyed "caller>callee"
	// (1 when absent): 0.5 calls every other run, 2.5 calls two or three times.
	Calls map[string]float64 `json:"calls,omitempty"`
	// ParallelSync names the tasks that make their sync calls in parallel.
	ParallelSync []string `json:"parallelSync,omitempty"`
	// AsyncAfterSync names the tasks that make their async calls after their sync calls
	// returned (the others start them first).
	AsyncAfterSync []string `json:"asyncAfterSync,omitempty"`
	// Noise is the sigma of the lognormal noise on task times (0.1 when 0; negative for none).
	Noise float64 `json:"noise,omitempty"`
	// TailChance is the chance a task time or overhead is also multiplied by a Pareto factor
	// of shape 2 (0.03 when 0; negative for none).
	TailChance float64 `json:"tailChance,omitempty"`
	// PeriodMS is the CPU quota's period (20 when 0).
	PeriodMS float64 `json:"periodMS,omitempty"`
	// IOMemoryFactor: I/O waits and remote overheads of a function with m MB take
	// 1 + IOMemoryFactor·128/m times their nominal time (0.3 when 0; negative for none).
	IOMemoryFactor float64 `json:"ioMemoryFactor,omitempty"`
	// RemoteSyncMS is the mean overhead of a remote sync call (25 when 0).
	RemoteSyncMS float64 `json:"remoteSyncMS,omitempty"`
	// RemoteAsyncMS is the mean dispatch time of a remote async call (15 when 0).
	RemoteAsyncMS float64 `json:"remoteAsyncMS,omitempty"`
	// LocalAsyncMS is the time to start an inline async call (0.05 when 0).
	LocalAsyncMS float64 `json:"localAsyncMS,omitempty"`
	// ColdStartRate is the chance an invocation that finds an idle warm instance gets a
	// fresh one anyway (recycled instances; 0.01 when 0; negative for none); an invocation
	// that finds none is a cold start whatever this says. A negative rate also keeps every
	// instance warm (no cold starts at all).
	ColdStartRate float64 `json:"coldStartRate,omitempty"`
	// InitMS is the init duration of a cold start of a one-task group at 128 MB, before
	// noise (150 when 0).
	InitMS float64 `json:"initMS,omitempty"`

	noCold bool
}

func (a App) withDefaults() App {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			*v = 0
		}
	}
	def(&a.Noise, 0.1)
	def(&a.TailChance, 0.03)
	def(&a.PeriodMS, 20)
	def(&a.IOMemoryFactor, 0.3)
	def(&a.RemoteSyncMS, 25)
	def(&a.RemoteAsyncMS, 15)
	def(&a.LocalAsyncMS, 0.05)
	noCold := a.ColdStartRate < 0
	def(&a.ColdStartRate, 0.01)
	def(&a.InitMS, 150)
	a.noCold = noCold
	return a
}

// Measure runs requests requests of the app deployed as setup s and returns the trace
// records and REPORT lines they leave, deterministically for a seed. It panics if s is not
// a valid setup of the app's graph.
func (a App) Measure(s fusion.Setup, requests int, seed uint64) ([]fusion.TraceRecord, []fusion.Report) {
	if err := s.Validate(a.Graph); err != nil {
		panic(fmt.Sprintf("sim: setup %s of app %s: %v", s, a.Name, err))
	}
	r := &runner{app: a.withDefaults(), setup: s.Canonical(), id: s.ID(), rng: rand.New(rand.NewPCG(seed, 0x5eed)),
		free: map[string][]float64{}}
	r.parallel = map[string]bool{}
	for _, t := range a.ParallelSync {
		r.parallel[t] = true
	}
	entry, _ := r.setup.Group(a.Graph.Entry)
	t := 1_764_000_000_000.0 // ms; requests arrive every 100 ms
	for i := range requests {
		r.trace = fmt.Sprintf("%016x", r.rng.Uint64())
		r.seq = 0
		r.invoke(entry, "", false, t+float64(i)*100)
	}
	return r.records, r.reports
}

type runner struct {
	app      App
	setup    fusion.Setup
	id       string
	rng      *rand.Rand
	parallel map[string]bool
	trace    string
	seq      int
	records  []fusion.TraceRecord
	reports  []fusion.Report
	// free holds, per group root, when each warm instance became idle (ms).
	free map[string][]float64
}

type invocation struct {
	group fusion.Group
	rec   *fusion.TraceRecord
	cpu   *instance
}

// noise is a heavy-tailed factor: lognormal, and Pareto (shape 2) with TailChance.
func (r *runner) noise() float64 {
	f := math.Exp(r.app.Noise * r.rng.NormFloat64())
	if r.rng.Float64() < r.app.TailChance {
		f /= math.Sqrt(1 - r.rng.Float64())
	}
	return f
}

// ioFactor is how much slower I/O and remote calls are from a function of memoryMB.
func (r *runner) ioFactor(memoryMB int) float64 {
	return 1 + r.app.IOMemoryFactor*128/float64(memoryMB)
}

// acquire returns whether an invocation of group g arriving at at (ms) is a cold start:
// it takes the idle warm instance that became idle last, if any.
func (r *runner) acquire(g fusion.Group, at float64) bool {
	if r.app.noCold {
		return false
	}
	pool := r.free[g.Root]
	bi := -1
	for i, f := range pool {
		if f <= at && (bi < 0 || f > pool[bi]) {
			bi = i
		}
	}
	if bi < 0 {
		return true
	}
	r.free[g.Root] = append(pool[:bi], pool[bi+1:]...)
	return r.rng.Float64() < r.app.ColdStartRate
}

// initMS is the init duration of a cold start of group g.
func (r *runner) initMS(g fusion.Group) float64 {
	return r.app.InitMS * (1 + 0.1*float64(len(g.Inlined))) * (1 + 0.5*128/float64(g.MemoryMB)) * r.noise()
}

func us(ms float64) int64 { return int64(math.Round(ms * 1000)) }

// invoke runs one invocation of group g whose request reaches the platform at at (ms): the
// handler starts after the init duration when cold. It returns the handler's duration and
// the init duration.
func (r *runner) invoke(g fusion.Group, caller string, async bool, at float64) (dur, init float64) {
	cold := r.acquire(g, at)
	if cold {
		init = r.initMS(g)
	}
	start := at + init
	r.seq++
	rec := fusion.TraceRecord{
		Format: fusion.TraceFormat, Trace: r.trace, Setup: r.id,
		Function: fmt.Sprintf("%s-%s-%s", r.app.Name, r.id, g.Root), Version: "$LATEST",
		RequestID: fmt.Sprintf("%s-%04d", r.trace, r.seq), Root: g.Root, MemoryMB: g.MemoryMB,
		Cold: cold, Async: async, Caller: caller, Start: us(start),
	}
	inv := &invocation{group: g, rec: &rec, cpu: newInstance(g.MemoryMB, start, r.app.PeriodMS)}
	r.runTask(inv, g.Root, func() {})
	// The handler returns when the root task has returned and every inline async call
	// has finished: when the instance has nothing left to do.
	dur = inv.cpu.run() - start
	r.free[g.Root] = append(r.free[g.Root], start+dur)
	rec.Duration = us(dur)
	rec.CPU = us(inv.cpu.cpu)
	r.records = append(r.records, rec)
	billed := int64(math.Ceil(dur + init - 1e-9))
	r.reports = append(r.reports, fusion.Report{
		RequestID: rec.RequestID, DurationMS: math.Round(dur*100) / 100, BilledMS: max(billed, 1),
		MemoryMB: g.MemoryMB, MaxMemoryMB: 30, InitDurationMS: math.Round(init*100) / 100,
	})
	return dur, init
}

// calls returns how many times this run of caller calls callee.
func (r *runner) calls(caller, callee string) int {
	m, ok := r.app.Calls[caller+">"+callee]
	if !ok {
		return 1
	}
	n := int(m)
	if r.rng.Float64() < m-float64(n) {
		n++
	}
	return n
}

// runTask starts a run of task inside inv at the instance's current time and calls done
// when it returns. The task does half its own work (CPU, then I/O), dispatches its async
// calls, makes its sync calls (in sequence or in parallel), then does the other half. Its
// CPU work competes for the instance's CPU with everything else running in it.
func (r *runner) runTask(inv *invocation, task string, done func()) {
	w := r.app.Work[task]
	n := r.noise()
	threads := max(w.Threads, 1)
	cpu, io := w.CPUMS*n/2, w.IOMS*n*r.ioFactor(inv.group.MemoryMB)/2
	in := inv.cpu
	t := &taskRun{r: r, inv: inv, task: task}
	start := in.at()
	run := len(inv.rec.Tasks)
	inv.rec.Tasks = append(inv.rec.Tasks, fusion.TaskRun{Task: task, Start: us(start)})
	for _, e := range r.app.Graph.Callees(task) {
		if e.Mode == fusion.Sync {
			t.syncs = append(t.syncs, e)
		} else {
			t.asyncs = append(t.asyncs, e)
		}
	}
	t.finish = func() {
		in.compute(cpu, threads, func() {
			in.sleep(io, func() {
				tr := &inv.rec.Tasks[run]
				tr.Duration = us(in.at() - start)
				tr.Self = max(min(tr.Duration-us(t.wait), tr.Duration), 0)
				done()
			})
		})
	}
	t.afterSyncs, t.afterAsyncs = t.finish, t.syncCalls
	first := func() { t.async(0, -1) }
	if slices.Contains(r.app.AsyncAfterSync, task) {
		t.afterSyncs, t.afterAsyncs = func() { t.async(0, -1) }, t.finish
		first = t.syncCalls
	}
	in.compute(cpu, threads, func() { in.sleep(io, first) })
}

// syncCalls makes the task's sync calls, in sequence or in parallel, then goes on.
func (t *taskRun) syncCalls() {
	for _, e := range t.syncs {
		t.counts = append(t.counts, t.r.calls(e.Caller, e.Callee))
	}
	if t.r.parallel[t.task] {
		t.parallel()
	} else {
		t.sequence(0)
	}
}

// taskRun is the calls of one run of a task in progress.
type taskRun struct {
	r             *runner
	inv           *invocation
	task          string
	syncs, asyncs []fusion.Edge
	counts        []int   // sync calls left per sync edge
	wait          float64 // time waited on sync calls
	finish        func()  // the second half of the task's own work, then done
	// afterSyncs and afterAsyncs go on when the sync calls returned and when the async calls
	// are dispatched: to the other kind of calls, or to finish.
	afterSyncs, afterAsyncs func()
}

// syncCall makes one sync call starting now and calls then(d) when it returns after d.
func (t *taskRun) syncCall(callee string, then func(d float64)) {
	r, inv, in := t.r, t.inv, t.inv.cpu
	cs := in.at()
	c := len(inv.rec.Calls)
	inv.rec.Calls = append(inv.rec.Calls, fusion.CallRecord{Caller: t.task, Callee: callee, Mode: fusion.Sync, Start: us(cs)})
	ret := func() {
		d := in.at() - cs
		inv.rec.Calls[c].Duration = us(d)
		then(d)
	}
	if inv.group.Has(callee) {
		r.runTask(inv, callee, ret)
		return
	}
	inv.rec.Calls[c].Remote = true
	ov := r.app.RemoteSyncMS * r.noise() * r.ioFactor(inv.group.MemoryMB)
	g, _ := r.setup.Group(callee)
	// The callee's record starts within the call: half the overhead, then its init, then
	// its handler.
	cd, ci := r.invoke(g, t.task, false, cs+ov/2)
	in.sleep(ov+ci+cd, ret)
}

// sequence makes the sync calls of edge i onwards one after the other, then goes on.
func (t *taskRun) sequence(i int) {
	if i == len(t.syncs) {
		t.afterSyncs()
		return
	}
	if t.counts[i] == 0 {
		t.sequence(i + 1)
		return
	}
	t.counts[i]--
	t.syncCall(t.syncs[i].Callee, func(d float64) { t.wait += d; t.sequence(i) })
}

// parallel makes every sync call at once and finishes when the last returns.
func (t *taskRun) parallel() {
	total := 0
	for _, k := range t.counts {
		total += k
	}
	if total == 0 {
		t.afterSyncs()
		return
	}
	in := t.inv.cpu
	ps, left := in.at(), total
	for i, e := range t.syncs {
		for range t.counts[i] {
			t.syncCall(e.Callee, func(float64) {
				if left--; left == 0 {
					t.wait += in.at() - ps
					t.afterSyncs()
				}
			})
		}
	}
}

// async dispatches the async calls of edge i onwards (k left of edge i, -1 for not drawn
// yet), then goes on.
func (t *taskRun) async(i, k int) {
	r, inv, in := t.r, t.inv, t.inv.cpu
	if i == len(t.asyncs) {
		t.afterAsyncs()
		return
	}
	if k < 0 {
		k = r.calls(t.asyncs[i].Caller, t.asyncs[i].Callee)
	}
	if k == 0 {
		t.async(i+1, -1)
		return
	}
	callee := t.asyncs[i].Callee
	c := fusion.CallRecord{Caller: t.task, Callee: callee, Mode: fusion.Async, Start: us(in.at())}
	var d float64
	if inv.group.Has(callee) {
		d = r.app.LocalAsyncMS
		// The inline call runs beside its caller, from when it is started.
		in.sleep(d, func() { r.runTask(inv, callee, func() {}) })
	} else {
		c.Remote = true
		d = r.app.RemoteAsyncMS * r.noise() * r.ioFactor(inv.group.MemoryMB)
		g, _ := r.setup.Group(callee)
		r.invoke(g, t.task, true, in.at()+d+5*r.noise())
	}
	c.Duration = us(d)
	inv.rec.Calls = append(inv.rec.Calls, c)
	in.sleep(d, func() { t.async(i, k-1) })
}
