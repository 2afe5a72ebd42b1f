package fusion_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

func TestPricesBilling(t *testing.T) {
	p := fusion.DefaultPrices()
	tests := []struct {
		dur  float64
		want int64
	}{{0, 1}, {0.2, 1}, {1, 1}, {1.01, 2}, {4.65, 5}, {100, 100}}
	for _, tt := range tests {
		if got := p.BilledMS(tt.dur); got != tt.want {
			t.Errorf("BilledMS(%v) = %d, want %d", tt.dur, got, tt.want)
		}
	}
	// 1 s at 1024 MB is one GB-second plus the fee.
	if got, want := p.Invocation(1000, 1024), 0.0000166667+0.2e-6; math.Abs(got-want) > 1e-15 {
		t.Errorf("Invocation(1000, 1024) = %g, want %g", got, want)
	}
	arm := p
	arm.Arch = fusion.ARM64
	if got, want := arm.Invocation(1000, 2048), 2*0.0000133334+0.2e-6; math.Abs(got-want) > 1e-15 {
		t.Errorf("arm64 Invocation(1000, 2048) = %g, want %g", got, want)
	}
	if err := (fusion.Prices{Arch: "sparc"}).Validate(); err == nil {
		t.Error("unknown architecture accepted")
	}
}

func TestBuildProfile(t *testing.T) {
	app := apps.IoT()
	app.IOMemoryFactor, app.TailChance = -1, -1 // overheads as configured, lognormal noise
	s := fusion.MustParseSetup("I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA@512,DJ@1024,AS@1024")
	recs, reps := app.Measure(s, 400, 7)
	p := fusion.BuildProfile(app.Graph, recs, reps)

	if p.Dropped != 0 || p.Incomplete != 0 {
		t.Errorf("dropped %d, incomplete %d; want none", p.Dropped, p.Incomplete)
	}
	for _, e := range p.Edges {
		if e.PerRun != 1 {
			t.Errorf("edge %s→%s: %v calls per run, want 1", e.Caller, e.Callee, e.PerRun)
		}
	}
	// Own times are what the ground truth says: SE at 256 MB is 15 ms I/O plus 1 ms of CPU,
	// a burst that fits in the CPU quota's period and runs at full speed.
	se, _ := p.Task("SE")
	st, ok := se.Size(256)
	if w := app.Work["SE"]; !ok || math.Abs(st.Self.Median-(w.IOMS+w.CPUMS))/(w.IOMS+w.CPUMS) > 0.1 { // the quota is shared with I and CW
		t.Errorf("SE at 256 MB: median %v, want ≈ %v", st.Self.Median, w.IOMS+w.CPUMS)
	}
	if got := p.RemoteSync.Median; math.Abs(got-25) > 2 {
		t.Errorf("remote sync overhead median %v, want ≈ 25", got)
	}
	if got := p.RemoteAsync.Median; math.Abs(got-15) > 1.5 {
		t.Errorf("remote async dispatch median %v, want ≈ 15", got)
	}
	// Init grows with the group's tasks and shrinks with its memory: 150 ms for one task at
	// 128 MB, about 190 ms for three.
	if p.ColdStartRate < 0.005 || p.ColdStartRate > 0.05 || p.Init.Median < 100 || p.Init.Median > 250 {
		t.Errorf("cold start rate %v, init median %v; want about 0.02 and 100–250 ms", p.ColdStartRate, p.Init.Median)
	}
	ss, ok := p.Setup(s.ID())
	if !ok || ss.Requests != 400 || ss.Cost.Count != 400 || len(ss.Groups) != 6 {
		t.Fatalf("setup stats: %+v", ss)
	}
	// Cost per request is the sum of the REPORT lines' costs.
	total := 0.0
	prices := fusion.DefaultPrices()
	for _, r := range reps {
		total += prices.Invocation(r.BilledMS, r.MemoryMB)
	}
	if got := ss.Cost.Mean * 400; math.Abs(got-total)/total > 1e-9 {
		t.Errorf("total cost %g, want %g", got, total)
	}

	// Order and duplicates do not matter.
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := append(slices.Clone(recs), recs[:50]...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	dupReps := append(slices.Clone(reps), reps[:10]...)
	rng.Shuffle(len(dupReps), func(i, j int) { dupReps[i], dupReps[j] = dupReps[j], dupReps[i] })
	q := fusion.BuildProfile(app.Graph, shuffled, dupReps)
	if q.Dropped != 50 {
		t.Errorf("dropped %d duplicates, want 50", q.Dropped)
	}
	q.Dropped = 0
	if !reflect.DeepEqual(p, q) {
		t.Error("profile of shuffled and duplicated records differs")
	}

	// A missing invocation leaves its trace out of the cost, not out of the latency.
	var missing []fusion.TraceRecord
	for _, r := range recs {
		if !(r.Root == "CT" && r.Trace == recs[0].Trace) {
			missing = append(missing, r)
		}
	}
	m := fusion.BuildProfile(app.Graph, missing, reps)
	ms, _ := m.Setup(s.ID())
	if m.Incomplete != 1 || ms.Requests != 400 || ms.Cost.Count != 399 {
		t.Errorf("with a missing record: incomplete %d, requests %d, costed %d", m.Incomplete, ms.Requests, ms.Cost.Count)
	}

	// Without REPORT lines cost falls back on trace durations (no init billed): close.
	n := fusion.BuildProfile(app.Graph, recs, nil)
	ns, _ := n.Setup(s.ID())
	if r := ns.Cost.Mean / ss.Cost.Mean; r > 1 || r < 0.95 {
		t.Errorf("cost without REPORT lines is %v of the cost with them", r)
	}

	// The profile survives JSON (it crosses Temporal activity boundaries).
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back fusion.Profile
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestProfileParallelSync(t *testing.T) {
	app := apps.IoT()
	app.ParallelSync = []string{"I"}
	recs, reps := app.Measure(fusion.AllRemote(app.Graph, 256), 100, 1)
	p := fusion.BuildProfile(app.Graph, recs, reps)
	i, _ := p.Task("I")
	cs, _ := p.Task("CS")
	if !i.ParallelSync || cs.ParallelSync {
		t.Errorf("parallel sync: I %v, CS %v; want true, false", i.ParallelSync, cs.ParallelSync)
	}
}

func TestSummarize(t *testing.T) {
	s := fusion.Summarize([]float64{5, 1, 4, 2, 3}, 3)
	if s.Count != 5 || s.Median != 3 || s.P25 != 2 || s.P75 != 4 || s.Mean != 3 || s.MAD != 1 {
		t.Errorf("Summarize = %+v", s)
	}
	if !slices.Equal(s.Samples, []float64{1, 3, 5}) {
		t.Errorf("thinned samples %v, want [1 3 5]", s.Samples)
	}
	if e := fusion.Summarize(nil, 0); e.Count != 0 {
		t.Errorf("empty summary %+v", e)
	}
}

// TestProfileAlone: runs in invocations with concurrent inline work are left out of Alone.
func TestProfileAlone(t *testing.T) {
	g := fusion.Graph{Entry: "A", Tasks: []string{"A", "B"}, Edges: []fusion.Edge{{Caller: "A", Callee: "B", Mode: fusion.Async}}}
	rec := func(trace string, local bool) fusion.TraceRecord {
		r := fusion.TraceRecord{Format: fusion.TraceFormat, Trace: trace, Setup: "s", Root: "A", MemoryMB: 128, Duration: 30_000,
			Tasks: []fusion.TaskRun{{Task: "A", Start: 0, Duration: 10_000, Self: 10_000}}}
		if local {
			r.Tasks = append(r.Tasks, fusion.TaskRun{Task: "B", Start: 1_000, Duration: 29_000, Self: 29_000})
		}
		r.Calls = []fusion.CallRecord{{Caller: "A", Callee: "B", Mode: fusion.Async, Remote: !local, Start: 1_000, Duration: 50}}
		return r
	}
	p := fusion.BuildProfile(g, []fusion.TraceRecord{rec("t1", false), rec("t2", true)}, nil)
	a, _ := p.Task("A")
	if s := a.Sizes[0]; s.Self.Count != 2 || s.Alone.Count != 1 {
		t.Errorf("A at 128 MB: self %d runs, alone %d runs; want 2 and 1", s.Self.Count, s.Alone.Count)
	}
	if b, _ := p.Task("B"); b.Sizes[0].Alone.Count != 0 {
		t.Errorf("B ran beside A only, alone %d runs", b.Sizes[0].Alone.Count)
	}
}

// Each edge keeps what its remote calls cost the caller, by the caller's memory size: a
// sync call's overhead to a warm callee, an async call's dispatch time. Callers differ (one
// busy with CPU work, or with little CPU, dispatches slowly), so the model does not draw
// every edge from one pool.
func TestProfileRemoteByEdge(t *testing.T) {
	app := apps.IoT()
	recs, reps := app.Measure(fusion.AllRemote(app.Graph, 256), 200, 3)
	// At 256 MB, I's async call to CT takes 40 ms more to dispatch in every trace.
	slow := 0
	for i := range recs {
		for j, c := range recs[i].Calls {
			if c.Caller == "I" && c.Callee == "CT" && c.Remote {
				recs[i].Calls[j].Duration += 40000
				slow++
			}
		}
	}
	fast, fastReps := app.Measure(fusion.AllRemote(app.Graph, 1024), 200, 4)
	p := fusion.BuildProfile(app.Graph, append(recs, fast...), append(reps, fastReps...))
	ct, _ := p.Edge("I", "CT")
	cs, _ := p.Edge("I", "CS")
	ct256, _ := ct.RemoteAt(256)
	ct1024, _ := ct.RemoteAt(1024)
	cs256, _ := cs.RemoteAt(256)
	if ct256.Count != slow {
		t.Errorf("I→CT remote samples at 256 MB %d, want one per call (%d)", ct256.Count, slow)
	}
	if ct256.Median < 45 || cs256.Median > 35 || ct1024.Median > 35 {
		t.Errorf("dispatch medians: I→CT %.1f ms at 256 MB, %.1f at 1024; I→CS %.1f at 256; want only I→CT at 256 MB 40 ms slower",
			ct256.Median, ct1024.Median, cs256.Median)
	}
	if at, _ := ct.RemoteAt(300); at.Median != ct256.Median {
		t.Errorf("I→CT at 300 MB: median %.1f, want the nearest size's (256 MB: %.1f)", at.Median, ct256.Median)
	}
	sync, _ := p.Edge("I", "CW")
	if s, ok := sync.RemoteAt(256); !ok || s.Median < 15 || s.Median > 45 {
		t.Errorf("I→CW sync overhead at 256 MB: %d samples, median %.1f ms; want its own overheads (the simulator's 25 ms, more at 256 MB)", s.Count, s.Median)
	}
	// Halves merge into the whole.
	half := len(recs) / 2
	for half < len(recs) && recs[half].Trace == recs[half-1].Trace {
		half++
	}
	opts := fusion.ProfileOptions{}
	a, b := fusion.NewProfileBuilder(app.Graph, opts), fusion.NewProfileBuilder(app.Graph, opts)
	a.AddRecords(recs[:half]...)
	b.AddRecords(recs[half:]...)
	a.AddReports(reps...)
	b.AddReports(reps...)
	merged := fusion.ProfileOf(app.Graph, opts, a.Digest(), b.Digest())
	if m, _ := merged.Edge("I", "CT"); len(m.Remote) != 1 || m.Remote[0].Summary.Count != ct256.Count {
		t.Errorf("merged digests: I→CT remote %+v, want %d samples at 256 MB", m.Remote, ct256.Count)
	}
}

// A dispatch during which another invocation of the request began a remote call is busy
// (IoT's I→CA while the CS it dispatched just before calls CSL): the profile splits the
// edge's dispatch times into quiet and busy, and counts which edges made them busy, of the
// requests that called those edges remotely. Calls that follow from the dispatch (made by
// the invocation it started, or one its caller started after it) do not count, nor calls of
// other requests, nor calls begun after the dispatch's first millisecond.
func TestProfileDispatchBeside(t *testing.T) {
	g := fusion.Graph{Entry: "E", Tasks: []string{"E", "A", "B", "C"}, Edges: []fusion.Edge{
		{Caller: "E", Callee: "A", Mode: fusion.Async}, {Caller: "E", Callee: "B", Mode: fusion.Async},
		{Caller: "A", Callee: "C", Mode: fusion.Sync}}}
	// One request: E dispatches A at t0 and B at t0+500 µs; A starts at t0+300 and calls C
	// at t0+300+callAt. E→B is 300 µs long when quiet, 900 when busy.
	request := func(trace string, t0, callAt int64, remoteC bool) []fusion.TraceRecord {
		dB := int64(300)
		if remoteC && callAt > 200 && callAt <= 1200 {
			dB = 900
		}
		e := fusion.TraceRecord{Format: fusion.TraceFormat, Trace: trace, Setup: "s", Root: "E", MemoryMB: 128, Start: t0, Duration: 2_000,
			Tasks: []fusion.TaskRun{{Task: "E", Start: t0, Duration: 2_000, Self: 2_000}},
			Calls: []fusion.CallRecord{{Caller: "E", Callee: "A", Mode: fusion.Async, Remote: true, Start: t0, Duration: 300},
				{Caller: "E", Callee: "B", Mode: fusion.Async, Remote: true, Start: t0 + 500, Duration: dB}}}
		a := fusion.TraceRecord{Format: fusion.TraceFormat, Trace: trace, Setup: "s", Root: "A", Async: true, Caller: "E", MemoryMB: 128, Start: t0 + 300, Duration: 3_000,
			Tasks: []fusion.TaskRun{{Task: "A", Start: t0 + 300, Duration: 3_000, Self: 1_000}},
			Calls: []fusion.CallRecord{{Caller: "A", Callee: "C", Mode: fusion.Sync, Remote: remoteC, Start: t0 + 300 + callAt, Duration: 2_000}}}
		if !remoteC {
			a.Tasks = append(a.Tasks, fusion.TaskRun{Task: "C", Start: t0 + 300 + callAt, Duration: 2_000, Self: 2_000})
		}
		out := []fusion.TraceRecord{e, a}
		if remoteC {
			out = append(out, fusion.TraceRecord{Format: fusion.TraceFormat, Trace: trace, Setup: "s", Root: "C", Caller: "A", MemoryMB: 128, Start: t0 + 350 + callAt, Duration: 1_900,
				Tasks: []fusion.TaskRun{{Task: "C", Start: t0 + 350 + callAt, Duration: 1_900, Self: 1_900}}})
		}
		return out
	}
	var recs []fusion.TraceRecord
	for i := range 40 {
		t0 := int64(i) * 1_000_000
		switch i % 4 {
		case 0, 1: // A calls C during E→B's first millisecond (busy)
			recs = append(recs, request(fmt.Sprint("busy", i), t0, 400, true)...)
		case 2: // A calls C 1.5 ms after E→B began (quiet)
			recs = append(recs, request(fmt.Sprint("late", i), t0, 1_700, true)...)
		case 3: // C is local to A (quiet, and not a request that called A→C remotely)
			recs = append(recs, request(fmt.Sprint("local", i), t0, 400, false)...)
		}
	}
	// Another request's remote call beside E→B does not make it busy.
	other := request("other", 39_000_000+600, 0, true)
	other[0].Calls = nil
	other[1].Calls[0].Start = 39_000_000 + 700
	recs = append(recs, other[1])
	p := fusion.BuildProfile(g, recs, nil)

	eb, _ := p.Edge("E", "B")
	if len(eb.Remote) != 1 {
		t.Fatalf("E→B remote: %+v, want one size", eb.Remote)
	}
	r := eb.Remote[0]
	if r.Summary.Count != 40 || r.Busy.Count != 20 || r.Quiet.Count != 20 || r.Busy.Median != 0.9 || r.Quiet.Median != 0.3 {
		t.Errorf("E→B dispatches: %d, busy %d (median %.1f ms), quiet %d (median %.1f ms); want 40, 20 at 0.9 ms, 20 at 0.3 ms",
			r.Summary.Count, r.Busy.Count, r.Busy.Median, r.Quiet.Count, r.Quiet.Median)
	}
	want := []fusion.BesideCount{{Edge: fusion.Edge{Caller: "A", Callee: "C", Mode: fusion.Sync}, Dispatches: 20, Of: 30},
		{Edge: fusion.Edge{Caller: "E", Callee: "A", Mode: fusion.Async}, Dispatches: 0, Of: 40}}
	if !reflect.DeepEqual(eb.Beside, want) {
		t.Errorf("E→B beside %s, want %s (20 busy of the 30 requests that called A→C remotely; E's own calls never)", besides(eb.Beside), besides(want))
	}
	// E→A: A's own call to C follows from the dispatch.
	ea, _ := p.Edge("E", "A")
	if ea.Remote[0].Busy.Count != 0 || len(slices.DeleteFunc(slices.Clone(ea.Beside), func(b fusion.BesideCount) bool { return b.Dispatches == 0 })) != 0 {
		t.Errorf("E→A: busy %d, beside %s; want none: the call to C is made by the invocation E→A started", ea.Remote[0].Busy.Count, besides(ea.Beside))
	}
}

func besides(bs []fusion.BesideCount) string {
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%s %d of %d", b.Edge, b.Dispatches, b.Of))
	}
	return "[" + strings.Join(out, ", ") + "]"
}
