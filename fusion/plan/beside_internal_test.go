package plan

import (
	"math"
	"slices"
	"testing"

	"github.com/fusionize/fusionize/fusion"
)

// A dispatch the traces saw slowed by a remote call another invocation of the request began
// beside it (fusion.EdgeStat.Beside) is predicted slow only where that call is still remote:
// E dispatches A, whose call to C made E's next dispatch, to B, take 0.9 ms instead of 0.3 in
// two thirds of the requests. All remote, the request takes E's own 1 ms, 0.3 ms for E→A and
// mostly 0.9 for E→B; with C inlined in A, E→B is quiet. A model that draws every dispatch
// from all its samples predicts 2.2 ms for both.
func TestDispatchBusyOnlyBesideRemoteCalls(t *testing.T) {
	g := fusion.Graph{Entry: "E", Tasks: []string{"E", "A", "B", "C"}, Edges: []fusion.Edge{
		{Caller: "E", Callee: "A", Mode: fusion.Async}, {Caller: "E", Callee: "B", Mode: fusion.Async},
		{Caller: "A", Callee: "C", Mode: fusion.Sync}}}
	same := func(x float64, n int) fusion.Summary { return fusion.Summarize(slices.Repeat([]float64{x}, n), 0) }
	task := func(name string, self float64) fusion.TaskStat {
		return fusion.TaskStat{Task: name, Runs: 75, Sizes: []fusion.SizeStat{{MemoryMB: 128, Self: same(self, 75), Alone: same(self, 75)}}}
	}
	edge := func(caller, callee string, mode fusion.Mode, remote fusion.Summary) fusion.EdgeStat {
		return fusion.EdgeStat{Caller: caller, Callee: callee, Mode: mode, Calls: 75, CallerRuns: 75, PerRun: 1,
			Remote: []fusion.RemoteStat{{MemoryMB: 128, Summary: remote}}}
	}
	eb := edge("E", "B", fusion.Async, fusion.Summarize(append(slices.Repeat([]float64{0.3}, 25), slices.Repeat([]float64{0.9}, 50)...), 0))
	eb.Remote[0].Quiet, eb.Remote[0].Busy = same(0.3, 25), same(0.9, 50)
	eb.Beside = []fusion.BesideCount{{Edge: fusion.Edge{Caller: "A", Callee: "C", Mode: fusion.Sync}, Dispatches: 50, Of: 75},
		{Edge: fusion.Edge{Caller: "E", Callee: "A", Mode: fusion.Async}, Dispatches: 0, Of: 75}}
	p := fusion.Profile{Graph: g,
		Tasks: []fusion.TaskStat{task("E", 1), task("A", 5), task("B", 5), task("C", 5)},
		Edges: []fusion.EdgeStat{edge("E", "A", fusion.Async, same(0.3, 75)), eb, edge("A", "C", fusion.Sync, same(1, 75))}}
	m := newModel(p, g, fusion.Prices{}.WithDefaults())
	for _, c := range []struct {
		setup        string
		busy, median float64
	}{
		{"A@128,B@128,C@128,E@128", 2.0 / 3, 2.2},
		{"A+C@128,B@128,E@128", 0, 1.6},
	} {
		s := fusion.MustParseSetup(c.setup)
		r := m.resolve(s)
		if b := r.busy[m.index["E"]][1]; math.Abs(b-c.busy) > 1e-9 {
			t.Errorf("%s: E→B busy with probability %.3f, want %.3f", c.setup, b, c.busy)
		}
		if got := m.quick(s, 400, 1).median; math.Abs(got-c.median) > 0.01 {
			t.Errorf("%s: predicted median %.2f ms, want %.2f", c.setup, got, c.median)
		}
	}
}
