package fusion

import (
	"slices"
	"testing"
)

// The passes of ProfileBuilder.Profile, each alone. Each test names the broken pass it
// catches.

func TestDedupe(t *testing.T) {
	recs := []TraceRecord{
		{Trace: "t2", Root: "A", Start: 5, RequestID: "r2"},
		{Trace: "t1", Root: "A", Start: 1, RequestID: "r1"},
		{Trace: "t1", Root: "A", Start: 1, RequestID: "r1"}, // same request twice
		{Trace: "t3", Root: "B", Start: 7},
		{Trace: "t3", Root: "B", Start: 7}, // no request ID: same trace, root and start
		{Trace: "t3", Root: "B", Start: 8},
	}
	got, dropped := dedupe(recs)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.Trace+r.RequestID)
	}
	// Catches: duplicates kept (a retried log read counting a request twice), or records
	// left in input order (the profile would depend on it).
	if dropped != 2 || !slices.Equal(ids, []string{"t1r1", "t2r2", "t3", "t3"}) {
		t.Errorf("kept %v, dropped %d; want [t1r1 t2r2 t3 t3] and 2", ids, dropped)
	}
}

func TestJoinReports(t *testing.T) {
	a := Report{RequestID: "r1", BilledMS: 5}
	b := Report{RequestID: "r1", BilledMS: 9}
	// Catches: the first or last duplicate read winning, which depends on the order the logs
	// were read in (the join before this test kept the first read).
	for _, in := range [][]Report{{a, b}, {b, a}} {
		if got := joinReports(in)["r1"]; got.BilledMS != 5 && got.BilledMS != 9 {
			t.Fatalf("joined %+v", got)
		}
	}
	if x, y := joinReports([]Report{a, b})["r1"], joinReports([]Report{b, a})["r1"]; x != y {
		t.Errorf("the join depends on the input order: %+v, %+v", x, y)
	}
}

func TestCompleteGraph(t *testing.T) {
	g := Graph{Tasks: []string{"A", "B"}, Edges: []Edge{{Caller: "A", Callee: "B", Mode: Sync}}}
	recs := []TraceRecord{{Root: "A", Tasks: []TaskRun{{Task: "A"}}, Calls: []CallRecord{
		{Caller: "A", Callee: "B", Mode: Sync}, {Caller: "A", Callee: "C", Mode: Async}}}}
	got := completeGraph(g, recs)
	// Catches: observed edges and tasks ignored, or the entry not taken from the traces.
	if got.Entry != "A" || !slices.Equal(got.Tasks, []string{"A", "B", "C"}) || len(got.Edges) != 2 || got.Edges[1].Callee != "C" {
		t.Errorf("completed graph %+v", got)
	}
	if len(g.Edges) != 1 {
		t.Error("the declared graph was changed")
	}
}

func TestGatherRuns(t *testing.T) {
	// A dispatches C inline (async, 0.5 ms) and calls B and D inline in parallel.
	r := TraceRecord{Root: "A", MemoryMB: 256, RequestID: "r", Tasks: []TaskRun{
		{Task: "A", Start: 0, Duration: 10000, Self: 4000}, {Task: "C", Start: 500, Duration: 3000, Self: 3000},
		{Task: "B", Start: 1000, Duration: 5000, Self: 5000}, {Task: "D", Start: 1000, Duration: 6000, Self: 6000}},
		Calls: []CallRecord{{Caller: "A", Callee: "C", Mode: Async, Start: 400, Duration: 500},
			{Caller: "A", Callee: "B", Mode: Sync, Start: 1000, Duration: 5000}, {Caller: "A", Callee: "D", Mode: Sync, Start: 1000, Duration: 6000}}}
	alone := TraceRecord{Root: "A", MemoryMB: 128, RequestID: "s", Tasks: []TaskRun{{Task: "A", Start: 0, Duration: 2000, Self: 2000}}}
	a := gatherRuns([]TraceRecord{r, alone}, map[string]Report{"r": {RequestID: "r", MemoryMB: 512}}, Graph{})
	// Catches: own time including the async dispatch (3.5 ms), the record's memory taking
	// precedence over the REPORT line's, runs beside concurrent work counted as alone, and
	// parallel sync calls not seen.
	if got := a.self["A"][512]; !slices.Equal(got, []float64{3.5}) {
		t.Errorf("A's own time at 512 MB: %v, want [3.5] (self minus the async dispatch, memory from the REPORT line)", got)
	}
	if len(a.alone["A"][512]) != 0 || !slices.Equal(a.alone["A"][128], []float64{2}) {
		t.Errorf("alone: %v", a.alone["A"])
	}
	if a.multiSync["A"] != 1 || a.overlapSync["A"] != 1 || a.runs["A"] != 2 || !slices.Equal(a.localAsync, []float64{0.5}) {
		t.Errorf("runs %v, multi %v, overlap %v, local async %v", a.runs, a.multiSync, a.overlapSync, a.localAsync)
	}
}

func TestGatherTraces(t *testing.T) {
	prices := DefaultPrices()
	root := TraceRecord{Trace: "t", Setup: "s", Root: "A", RequestID: "a", MemoryMB: 128, Cold: true, Start: 0, Duration: 20000,
		Calls: []CallRecord{{Caller: "A", Callee: "B", Mode: Sync, Remote: true, Start: 1000, Duration: 15000},
			{Caller: "A", Callee: "C", Mode: Async, Remote: true, Start: 17000, Duration: 1000}}}
	callee := TraceRecord{Trace: "t", Setup: "s", Root: "B", Caller: "A", RequestID: "b", MemoryMB: 128, Start: 3000, Duration: 10000}
	reports := map[string]Report{"a": {RequestID: "a", BilledMS: 20, MemoryMB: 128, InitDurationMS: 100}}
	a := gatherTraces([]TraceRecord{root, callee}, reports, prices)
	st := a.stats(10)
	// Catches: a trace missing the async callee's invocation priced as complete, the init
	// left out of a cold request's latency, and the overhead not being the wait minus the
	// callee's duration.
	if a.incomplete != 1 || len(st) != 1 || st[0].Cost.Count != 0 || st[0].Samples[0].CostUSD != 0 {
		t.Errorf("incomplete %d, stats %+v", a.incomplete, st)
	}
	if st[0].Latency.Median != 120 || st[0].ColdRequests != 1 {
		t.Errorf("latency %v (want 20 ms + 100 ms init), cold %d", st[0].Latency.Median, st[0].ColdRequests)
	}
	if !slices.Equal(a.overhead, []float64{5}) || a.invocations != 2 || a.coldStarts != 1 || !slices.Equal(a.inits, []float64{100}) {
		t.Errorf("overhead %v, invocations %d, cold %d, inits %v", a.overhead, a.invocations, a.coldStarts, a.inits)
	}
	complete := callee
	complete.Trace, complete.Root, complete.RequestID, complete.Caller = "t", "C", "c", "A"
	complete.Async = true
	a = gatherTraces([]TraceRecord{root, callee, complete}, reports, prices)
	want := prices.Invocation(20, 128) + 2*prices.Invocation(10, 128)
	if st := a.stats(10); a.incomplete != 0 || st[0].Cost.Count != 1 || st[0].Cost.Mean != want {
		t.Errorf("complete trace: cost %+v, want %g", st[0].Cost, want)
	}
}
