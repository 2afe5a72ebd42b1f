package plan

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

// A caller's invocation CPU time also holds the runtime's work for its calls. IoT's I owns
// 0.25 ms of its time live and its invocations use 1.9 ms of CPU dispatching three calls;
// taken as I's own CPU demand, I at 128 MB would be predicted to wait for the next quota
// period on every run.
func TestCallerDemandBoundedByOwnTime(t *testing.T) {
	app := apps.IoT()
	own128 := func(dispatchCPU int64) float64 {
		b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
		for i, mem := range []int{256, 1024} {
			recs, reps := app.Measure(fusion.AllRemote(app.Graph, mem), 300, uint64(i+1))
			for j := range recs {
				if recs[j].Root == "I" && len(recs[j].Tasks) == 1 {
					recs[j].CPU += dispatchCPU
				}
			}
			b.AddRecords(recs...)
			b.AddReports(reps...)
		}
		m := newModel(b.Profile(), app.Graph, fusion.Prices{}.WithDefaults())
		if m.period == 0 {
			t.Fatal("no quota period learned from the simulator's traces")
		}
		i := m.tasks[m.index["I"]]
		return fusion.Quantile(i.poolAt(128).ms, 0.5)
	}
	plain, dispatching := own128(0), own128(1600) // µs of CPU dispatching I's calls
	t.Logf("I's own time predicted at 128 MB: %.2f ms, %.2f ms with 1.6 ms of dispatch CPU in its invocations", plain, dispatching)
	if math.Abs(dispatching-plain) > plain*0.2+0.5 {
		t.Errorf("I's own time at 128 MB predicted %.2f ms when its invocations also dispatch, %.2f when not: the dispatch taken for its own CPU work", dispatching, plain)
	}
}

// A run slower than usual waited; it did not compute more. Counting a slow draw's whole
// time as CPU work would push an invocation past its quota into the next period (live: a
// 17 ms DJ at 256 MB, 8.5 ms of CPU, predicted as a 100 ms invocation).
func TestSlowRunsDoNotComputeMore(t *testing.T) {
	app := apps.IoT()
	s := fusion.AllRemote(app.Graph, 256)
	recs, reps := app.Measure(s, 300, 5)
	m := newModel(fusion.BuildProfile(app.Graph, recs, reps), app.Graph, fusion.Prices{}.WithDefaults())
	dj := m.index["DJ"]
	r := m.resolve(s)
	p := r.groups[r.rootGroup[dj]].pools[dj]
	if p.work <= 0 {
		t.Fatalf("DJ at 256 MB has no CPU work (workFrac %v)", p.workFrac)
	}
	slow := slices.Max(p.ms) * 10
	p.ms = []float64{slow}
	u := &run{m: m, r: r, rng: rand.New(rand.NewPCG(1, 1))}
	inv := invState{g: &r.groups[r.rootGroup[dj]]}
	u.task(&inv, dj, 0)
	if inv.cpu > p.work*1.0001 {
		t.Errorf("a %.0f ms run of DJ counted %.1f ms of CPU work, want at most its size's %.1f ms", slow, inv.cpu, p.work)
	}
}

// What a caller's invocations used beyond its own time still draws on its group's quota:
// the group's CPU work counts it once per run.
func TestCallerExcessDrawsOnTheQuota(t *testing.T) {
	app := apps.IoT()
	b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
	for i, mem := range []int{256, 1024} {
		recs, reps := app.Measure(fusion.AllRemote(app.Graph, mem), 300, uint64(i+1))
		for j := range recs {
			if recs[j].Root == "I" && len(recs[j].Tasks) == 1 {
				recs[j].CPU += 1600
			}
		}
		b.AddRecords(recs...)
		b.AddReports(reps...)
	}
	m := newModel(b.Profile(), app.Graph, fusion.Prices{}.WithDefaults())
	i := m.index["I"]
	if ex := m.tasks[i].excess; ex < 1.4 || ex > 1.8 {
		t.Fatalf("I's excess CPU %.2f ms per run, want about the 1.6 ms added", ex)
	}
	s := fusion.MustParseSetup("AS@256,CA@256,CS@256,CSA@256,CSL@256,CT@256,DJ@256,I+CW+SE@256")
	r := m.resolve(s)
	g := &r.groups[r.rootGroup[i]]
	cpu := func() float64 { // the same draws each time
		u := &run{m: m, r: r, rng: rand.New(rand.NewPCG(1, 1)), seen: make([]int, len(r.groups)), busy: make([]float64, len(r.groups))}
		inv := invState{g: g}
		u.task(&inv, i, 0)
		return inv.cpu
	}
	withExcess := cpu()
	m.tasks[i].excess = 0
	without := cpu()
	if d := withExcess - without; d < 1.4 || d > 1.8 {
		t.Errorf("a run of I+CW+SE counted %.2f ms more CPU with I's excess than without, want about 1.6", d)
	}
}

// A median run does its task's CPU work however long its samples say it took. Live, Tree's
// F (13 ms of CPU on two threads) was seen at 7.8 ms at 1,024 MB where the fit to every size
// said 13: counting 7.8 ms of CPU, the model had the fused C+F+G at 768 MB under its quota
// in 13.5 ms where it ran 20.5 (cost -11 %). Catches CPU per ms taken from the fit instead of
// the samples.
func TestMedianRunDoesItsDemand(t *testing.T) {
	tm := &taskModel{name: "F", pools: map[int]*pool{}, capMB: vcpuMB, observed: true, fitted: true,
		sizes: []int{1024}, samples: [][]float64{{7.2, 7.8, 8.4}}, demand: 13, period: 100}
	p := tm.poolAt(1024)
	if got := fusion.Quantile(p.ms, 0.5) * p.workFrac; math.Abs(got-13) > 0.01 {
		t.Errorf("a median run of F at 1024 MB counts %.2f ms of CPU, want its demand, 13 (workFrac %.3f, fit's time %.2f ms)", got, p.workFrac, tm.timeAt(1024))
	}
}

// TestPoolBetweenSizesMixesBoth: IoT's CT, seen at 256 MB with a third of its runs throttled
// (a wait for the next quota period) and at 1,024 MB never, is at 512 MB a mix of the two
// sizes' samples, not 256's alone: the throttled share of its pool lies between theirs. At
// the sizes observed the pools are their samples, and beyond them the nearest's.
func TestPoolBetweenSizesMixesBoth(t *testing.T) {
	at256 := []float64{18, 18.5, 19, 19, 19.5, 20, 50, 60, 90}
	at1024 := []float64{16, 16.2, 16.4, 16.6, 17, 17.2, 17.5, 18, 18.5}
	tm := &taskModel{name: "CT", pools: map[int]*pool{}, capMB: vcpuMB, observed: true, fitted: true,
		sizes: []int{256, 1024}, samples: [][]float64{at256, at1024}, demand: 13.7, ioq: 3.8, period: 100}
	throttled := func(mem int) float64 {
		p := tm.poolAt(mem)
		n := 0
		for _, v := range p.ms {
			if v > 40 {
				n++
			}
		}
		return float64(n) / float64(len(p.ms))
	}
	if got := throttled(256); math.Abs(got-1.0/3) > 1e-9 {
		t.Errorf("at 256 MB (observed): %.2f of the pool throttled, want its samples' 0.33", got)
	}
	if got := throttled(1024); got != 0 {
		t.Errorf("at 1024 MB (observed): %.2f of the pool throttled, want 0", got)
	}
	if got := throttled(512); got < 0.12 || got > 0.21 {
		t.Errorf("at 512 MB (half-way in log memory): %.2f of the pool throttled, want about half of 256 MB's 0.33", got)
	}
	if got := throttled(384); got < 0.17 || got > 0.27 {
		t.Errorf("at 384 MB (nearer 256): %.2f of the pool throttled, want about 0.21 (0.33 × log(1024/384)/log(4))", got)
	}
	if got := throttled(2048); got != 0 {
		t.Errorf("at 2048 MB (beyond what was seen): %.2f of the pool throttled, want 1024 MB's 0", got)
	}
}
