// Package sim is a synthetic ground truth for Fusionize's optimizer: an app model (each
// task's CPU work, I/O waits and calls, the platform's remote-call overhead, cold starts and
// noise) that produces the trace records and REPORT lines the real runtime and Lambda would
// for any setup at any memory size. Planners are evaluated offline by running their loop
// against it (see plan.Run), and tests use it to make profiles of the paper's apps.
//
// The platform model is Lambda's: a function with m MB gets m/1769 of a vCPU; a task's own
// time at m MB is io + cpu·1769/min(m, 1769·threads), times lognormal noise; an invocation
// lasts until its root task returns and every inline async call has finished (the runtime
// waits for them before the handler returns); the goroutines of the tasks running at once in
// an instance share its CPU (processor sharing: k computing goroutines each progress at
// min(1, share/k) of a vCPU, simulated event by event), so inlined work slows its neighbours
// and a two-thread task gets no more than the share; a remote
// sync call costs the caller the platform overhead plus the callee's cold start, if any,
// plus the callee's invocation; a remote async call costs the caller a dispatch time; every
// invocation is billed for its duration plus its init duration, rounded up to 1 ms.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fusionize/fusionize/fusion"
)

// VCPUMemoryMB is the memory size at which a Lambda function gets one full vCPU.
const VCPUMemoryMB = 1769

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

// TimeMS returns the task's own time at memoryMB without noise.
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
	// Noise is the sigma of the lognormal noise on task times (0.1 when 0; negative for none).
	Noise float64 `json:"noise,omitempty"`
	// RemoteSyncMS is the mean overhead of a remote sync call (25 when 0).
	RemoteSyncMS float64 `json:"remoteSyncMS,omitempty"`
	// RemoteAsyncMS is the mean dispatch time of a remote async call (15 when 0).
	RemoteAsyncMS float64 `json:"remoteAsyncMS,omitempty"`
	// LocalAsyncMS is the time to start an inline async call (0.05 when 0).
	LocalAsyncMS float64 `json:"localAsyncMS,omitempty"`
	// ColdStartRate is the chance an invocation is a cold start (0.02 when 0; negative for none).
	ColdStartRate float64 `json:"coldStartRate,omitempty"`
	// InitMS is the mean init duration of a cold start (150 when 0).
	InitMS float64 `json:"initMS,omitempty"`
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
	def(&a.RemoteSyncMS, 25)
	def(&a.RemoteAsyncMS, 15)
	def(&a.LocalAsyncMS, 0.05)
	def(&a.ColdStartRate, 0.02)
	def(&a.InitMS, 150)
	return a
}

// Measure runs requests requests of the app deployed as setup s and returns the trace
// records and REPORT lines they leave, deterministically for a seed. It panics if s is not
// a valid setup of the app's graph.
func (a App) Measure(s fusion.Setup, requests int, seed uint64) ([]fusion.TraceRecord, []fusion.Report) {
	if err := s.Validate(a.Graph); err != nil {
		panic(fmt.Sprintf("sim: setup %s of app %s: %v", s, a.Name, err))
	}
	r := &runner{app: a.withDefaults(), setup: s.Canonical(), id: s.ID(), rng: rand.New(rand.NewPCG(seed, 0x5eed))}
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
}

type invocation struct {
	group fusion.Group
	rec   *fusion.TraceRecord
	cpu   *instance
}

func (r *runner) noise() float64 {
	return math.Exp(r.app.Noise * r.rng.NormFloat64())
}

func us(ms float64) int64 { return int64(math.Round(ms * 1000)) }

// invoke runs one invocation of group g whose request reaches the platform at at (ms): the
// handler starts after the init duration when cold. It returns the handler's duration and
// the init duration.
func (r *runner) invoke(g fusion.Group, caller string, async bool, at float64) (dur, init float64) {
	cold := r.rng.Float64() < r.app.ColdStartRate
	if cold {
		init = r.app.InitMS * r.noise()
	}
	start := at + init
	r.seq++
	rec := fusion.TraceRecord{
		Format: fusion.TraceFormat, Trace: r.trace, Setup: r.id,
		Function: fmt.Sprintf("%s-%s-%s", r.app.Name, r.id, g.Root), Version: "$LATEST",
		RequestID: fmt.Sprintf("%s-%04d", r.trace, r.seq), Root: g.Root, MemoryMB: g.MemoryMB,
		Cold: cold, Async: async, Caller: caller, Start: us(start),
	}
	inv := &invocation{group: g, rec: &rec, cpu: newInstance(g.MemoryMB, start)}
	r.runTask(inv, g.Root, func() {})
	// The handler returns when the root task has returned and every inline async call
	// has finished: when the instance has nothing left to do.
	dur = inv.cpu.run() - start
	rec.Duration = us(dur)
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
	cpu, io := w.CPUMS*n/2, w.IOMS*n/2
	in := inv.cpu
	start := in.at()
	run := len(inv.rec.Tasks)
	inv.rec.Tasks = append(inv.rec.Tasks, fusion.TaskRun{Task: task, Start: us(start)})
	var syncs, asyncs []fusion.Edge
	for _, e := range r.app.Graph.Callees(task) {
		if e.Mode == fusion.Sync {
			syncs = append(syncs, e)
		} else {
			asyncs = append(asyncs, e)
		}
	}
	wait := 0.0
	finish := func() {
		in.compute(cpu, threads, func() {
			in.sleep(io, func() {
				tr := &inv.rec.Tasks[run]
				tr.Duration = us(in.at() - start)
				tr.Self = max(min(tr.Duration-us(wait), tr.Duration), 0)
				done()
			})
		})
	}
	// syncCall makes one sync call starting now and calls then(d) when it returns after d.
	syncCall := func(callee string, then func(d float64)) {
		cs := in.at()
		c := len(inv.rec.Calls)
		inv.rec.Calls = append(inv.rec.Calls, fusion.CallRecord{Caller: task, Callee: callee, Mode: fusion.Sync, Start: us(cs)})
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
		ov := r.app.RemoteSyncMS * r.noise()
		g, _ := r.setup.Group(callee)
		// The callee's record starts within the call: half the overhead, then its init,
		// then its handler.
		cd, ci := r.invoke(g, task, false, cs+ov/2)
		in.sleep(ov+ci+cd, ret)
	}
	var sync func(i int)
	var counts []int // calls per sync edge
	sync = func(i int) {
		if i == len(syncs) {
			finish()
			return
		}
		if counts[i] == 0 {
			sync(i + 1)
			return
		}
		counts[i]--
		syncCall(syncs[i].Callee, func(d float64) { wait += d; sync(i) })
	}
	parallel := func() {
		total := 0
		for _, k := range counts {
			total += k
		}
		if total == 0 {
			finish()
			return
		}
		ps, left := in.at(), total
		for i, e := range syncs {
			for range counts[i] {
				syncCall(e.Callee, func(float64) {
					if left--; left == 0 {
						wait += in.at() - ps
						finish()
					}
				})
			}
		}
	}
	var async func(i, k int)
	async = func(i, k int) {
		if i == len(asyncs) {
			for _, e := range syncs {
				counts = append(counts, r.calls(e.Caller, e.Callee))
			}
			if r.parallel[task] {
				parallel()
			} else {
				sync(0)
			}
			return
		}
		if k < 0 {
			k = r.calls(asyncs[i].Caller, asyncs[i].Callee)
		}
		if k == 0 {
			async(i+1, -1)
			return
		}
		callee := asyncs[i].Callee
		c := fusion.CallRecord{Caller: task, Callee: callee, Mode: fusion.Async, Start: us(in.at())}
		var d float64
		if inv.group.Has(callee) {
			d = r.app.LocalAsyncMS
			// The inline call runs beside its caller, from when it is started.
			in.sleep(d, func() { r.runTask(inv, callee, func() {}) })
		} else {
			c.Remote = true
			d = r.app.RemoteAsyncMS * r.noise()
			g, _ := r.setup.Group(callee)
			r.invoke(g, task, true, in.at()+d+5*r.noise())
		}
		c.Duration = us(d)
		inv.rec.Calls = append(inv.rec.Calls, c)
		in.sleep(d, func() { async(i, k-1) })
	}
	in.compute(cpu, threads, func() { in.sleep(io, func() { async(0, -1) }) })
}
