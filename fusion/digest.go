package fusion

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// Digest is what traces taught, reduced once so that nobody reads them again: the counts,
// sums and samples that a Profile is computed from, per task and memory size, per call
// edge, and per setup (with the per-request samples the canary judge compares). Digests of
// disjoint sets of traces merge (Merge) into the digest of their union, so an incremental
// reader digests what it read poll by poll, and a planner merges the digests of earlier
// windows instead of reading their logs again. It is plain data that crosses Temporal
// payloads; Thin bounds its size.
type Digest struct {
	// Graph holds the tasks, edges and entry the traces showed, in the order first seen.
	Graph Graph `json:"graph"`
	// Tasks are sorted by name, Calls by edge, Setups by ID.
	Tasks  []TaskDigest  `json:"tasks,omitempty"`
	Calls  []EdgeCount   `json:"calls,omitempty"`
	Setups []SetupDigest `json:"setups,omitempty"`
	// LocalAsync, RemoteAsync, RemoteSync and Init are Profile's fields of the same names.
	LocalAsync  Values `json:"localAsync,omitzero"`
	RemoteAsync Values `json:"remoteAsync,omitzero"`
	RemoteSync  Values `json:"remoteSync,omitzero"`
	Init        Values `json:"init,omitzero"`
	ReportGap   Values `json:"reportGap,omitzero"`
	Invocations int    `json:"invocations,omitempty"`
	ColdStarts  int    `json:"coldStarts,omitempty"`
	Dropped     int    `json:"dropped,omitempty"`
	Incomplete  int    `json:"incomplete,omitempty"`
}

// TaskDigest is what the runs of one task showed.
type TaskDigest struct {
	Task string `json:"task"`
	Runs int    `json:"runs"`
	// MultiSync counts runs that made two or more sync calls, OverlapSync those whose sync
	// calls overlapped in time.
	MultiSync   int          `json:"multiSync,omitempty"`
	OverlapSync int          `json:"overlapSync,omitempty"`
	Sizes       []SizeDigest `json:"sizes,omitempty"` // ascending memory
}

// SizeDigest is a task's own time at one memory size (SizeStat's samples).
type SizeDigest struct {
	MemoryMB int    `json:"memoryMB"`
	Self     Values `json:"self,omitzero"`
	Alone    Values `json:"alone,omitzero"`
	CPU      Values `json:"cpu,omitzero"`
}

// EdgeCount is the number of calls seen along an edge.
type EdgeCount struct {
	Edge
	Calls int `json:"calls"`
	// AfterSync of the Calls were async calls made after the caller's sync calls returned.
	AfterSync int `json:"afterSync,omitempty"`
	// Remote holds, of the remote calls along the edge, an async call's dispatch time or a
	// sync call's overhead to a warm callee, by the caller's memory size (EdgeStat.Remote).
	Remote []RemoteDigest `json:"remote,omitempty"`
	// Beside counts, by other edge, of an async edge's remote dispatches in requests that
	// called that edge remotely, those during which a remote call along it began
	// (EdgeStat.Beside, BesideWindowUS). Edges that never made a dispatch busy are kept too,
	// so that merged digests count every request.
	Beside []BesideCount `json:"beside,omitempty"`
}

// BesideCount is how many of an edge's remote dispatches had a remote call along Edge begin
// beside them (Dispatches), of those in requests that called Edge remotely (Of).
type BesideCount struct {
	Edge
	Dispatches int `json:"dispatches"`
	Of         int `json:"of"`
}

// Share is the share of the dispatches in requests that called Edge remotely that had a
// call along it begin beside them.
func (b BesideCount) Share() float64 {
	if b.Of == 0 {
		return 0
	}
	return float64(b.Dispatches) / float64(b.Of)
}

// SetupDigest is what the requests of one setup showed.
type SetupDigest struct {
	ID      string          `json:"id"`
	Latency Values          `json:"latency,omitzero"`
	Warm    Values          `json:"warm,omitzero"`
	Cost    Values          `json:"cost,omitzero"`
	Cold    int             `json:"cold,omitempty"`
	Failed  int             `json:"failed,omitempty"`  // requests whose root task failed (in no latency)
	Samples []RequestSample `json:"samples,omitempty"` // in trace order
	Groups  []GroupDigest   `json:"groups,omitempty"`  // by root
}

// GroupDigest is what the invocations of one function (group) of a setup showed.
type GroupDigest struct {
	Root     string `json:"root"`
	MemoryMB int    `json:"memoryMB"`
	// Tasks are the tasks its invocations ran, sorted: the group's tasks as far as seen.
	Tasks       []string `json:"tasks,omitempty"`
	Invocations int      `json:"invocations"`
	ColdStarts  int      `json:"coldStarts,omitempty"`
	BilledMS    Values   `json:"billedMS,omitzero"`
	DurationMS  Values   `json:"durationMS,omitzero"`
	// Init holds the Init Duration of the group's cold starts.
	Init Values  `json:"init,omitzero"`
	Cost float64 `json:"cost"`
}

// IsZero reports whether the digest saw nothing.
func (d Digest) IsZero() bool {
	return d.Invocations == 0 && d.Dropped == 0 && len(d.Graph.Tasks) == 0
}

// Digest reduces everything added so far: records are deduplicated and REPORT lines
// joined as Profile does, nothing is thinned.
func (b *ProfileBuilder) Digest() Digest {
	recs, dropped := dedupe(b.records)
	reports := joinReports(b.reports)
	d := Digest{Graph: completeGraph(Graph{}, recs), Dropped: dropped}
	d.addRuns(gatherRuns(recs, reports, completeGraph(b.graph, recs)))
	d.addTraces(gatherTraces(recs, reports, b.opts.Prices))
	return d
}

func (d *Digest) addRuns(a *runAcc) {
	for _, t := range slices.Sorted(maps.Keys(a.runs)) {
		td := TaskDigest{Task: t, Runs: a.runs[t], MultiSync: a.multiSync[t], OverlapSync: a.overlapSync[t]}
		for _, m := range slices.Sorted(maps.Keys(a.self[t])) {
			td.Sizes = append(td.Sizes, SizeDigest{MemoryMB: m, Self: ValuesOf(a.self[t][m]), Alone: ValuesOf(a.alone[t][m]), CPU: ValuesOf(a.cpu[t][m])})
		}
		d.Tasks = append(d.Tasks, td)
	}
	for e, n := range a.calls {
		d.Calls = append(d.Calls, EdgeCount{Edge: e, Calls: n, AfterSync: a.afterSync[e], Remote: remoteDigests(a.dispatch[e], a.quiet[e], a.busy[e]),
			Beside: besideCounts(a.beside[e])})
	}
	slices.SortFunc(d.Calls, func(a, b EdgeCount) int { return compareEdges(a.Edge, b.Edge) })
	d.LocalAsync, d.RemoteAsync = ValuesOf(a.localAsync), ValuesOf(a.remoteAsync)
}

func (d *Digest) addTraces(a *traceAcc) {
	d.Invocations, d.ColdStarts, d.Incomplete = a.invocations, a.coldStarts, a.incomplete
	d.RemoteSync, d.Init, d.ReportGap = ValuesOf(a.overhead), ValuesOf(a.inits), ValuesOf(a.gaps)
	for i, c := range d.Calls {
		if ov := a.overheadBy[c.Edge]; len(ov) > 0 {
			d.Calls[i].Remote = remoteDigests(ov, nil, nil)
		}
	}
	for _, id := range slices.Sorted(slices.Values(a.setupIDs)) {
		sa := a.setups[id]
		sd := SetupDigest{ID: id, Latency: ValuesOf(sa.lat), Warm: ValuesOf(sa.warm), Cost: ValuesOf(sa.cost), Cold: sa.cold, Failed: sa.failed, Samples: sa.samples}
		for _, r := range slices.Sorted(maps.Keys(sa.groups)) {
			ga := sa.groups[r]
			sd.Groups = append(sd.Groups, GroupDigest{Root: r, MemoryMB: ga.mem, Tasks: slices.Sorted(maps.Keys(ga.tasks)), Invocations: ga.n, ColdStarts: ga.cold, BilledMS: ValuesOf(ga.billed), DurationMS: ValuesOf(ga.durs), Init: ValuesOf(ga.inits), Cost: ga.cost})
		}
		d.Setups = append(d.Setups, sd)
	}
}

func compareEdges(a, b Edge) int {
	return cmp.Or(strings.Compare(a.Caller, b.Caller), strings.Compare(a.Callee, b.Callee), cmp.Compare(a.Mode, b.Mode))
}

// Merge returns the digest of the traces of d and o, which must be disjoint sets of traces.
func (d Digest) Merge(o Digest) Digest {
	out := Digest{
		Graph:       mergeGraphs(d.Graph, o.Graph),
		LocalAsync:  d.LocalAsync.Merge(o.LocalAsync),
		RemoteAsync: d.RemoteAsync.Merge(o.RemoteAsync),
		RemoteSync:  d.RemoteSync.Merge(o.RemoteSync),
		Init:        d.Init.Merge(o.Init),
		ReportGap:   d.ReportGap.Merge(o.ReportGap),
		Invocations: d.Invocations + o.Invocations,
		ColdStarts:  d.ColdStarts + o.ColdStarts,
		Dropped:     d.Dropped + o.Dropped,
		Incomplete:  d.Incomplete + o.Incomplete,
	}
	out.Tasks = mergeSorted(d.Tasks, o.Tasks, func(t TaskDigest) string { return t.Task }, mergeTask)
	out.Calls = mergeByKey(d.Calls, o.Calls, func(a, b EdgeCount) int { return compareEdges(a.Edge, b.Edge) },
		func(a, b EdgeCount) EdgeCount {
			a.Calls += b.Calls
			a.AfterSync += b.AfterSync
			a.Remote = mergeByKey(a.Remote, b.Remote, func(x, y RemoteDigest) int { return cmp.Compare(x.MemoryMB, y.MemoryMB) },
				func(x, y RemoteDigest) RemoteDigest {
					return RemoteDigest{MemoryMB: x.MemoryMB, Values: x.Values.Merge(y.Values), Quiet: x.Quiet.Merge(y.Quiet), Busy: x.Busy.Merge(y.Busy)}
				})
			a.Beside = mergeByKey(a.Beside, b.Beside, func(x, y BesideCount) int { return compareEdges(x.Edge, y.Edge) },
				func(x, y BesideCount) BesideCount { x.Dispatches += y.Dispatches; x.Of += y.Of; return x })
			return a
		})
	out.Setups = mergeSorted(d.Setups, o.Setups, func(s SetupDigest) string { return s.ID }, mergeSetup)
	return out
}

// mergeGraphs returns a with the tasks and edges of b it lacks appended, and b's entry
// when a has none.
func mergeGraphs(a, b Graph) Graph {
	out := Graph{Entry: cmp.Or(a.Entry, b.Entry), Tasks: slices.Clone(a.Tasks), Edges: slices.Clone(a.Edges)}
	for _, t := range b.Tasks {
		if !slices.Contains(out.Tasks, t) {
			out.Tasks = append(out.Tasks, t)
		}
	}
	for _, e := range b.Edges {
		if !slices.Contains(out.Edges, e) {
			out.Edges = append(out.Edges, e)
		}
	}
	return out
}

func mergeTask(a, b TaskDigest) TaskDigest {
	a.Runs += b.Runs
	a.MultiSync += b.MultiSync
	a.OverlapSync += b.OverlapSync
	a.Sizes = mergeByKey(a.Sizes, b.Sizes, func(x, y SizeDigest) int { return cmp.Compare(x.MemoryMB, y.MemoryMB) },
		func(x, y SizeDigest) SizeDigest {
			return SizeDigest{MemoryMB: x.MemoryMB, Self: x.Self.Merge(y.Self), Alone: x.Alone.Merge(y.Alone), CPU: x.CPU.Merge(y.CPU)}
		})
	return a
}

func mergeSetup(a, b SetupDigest) SetupDigest {
	out := SetupDigest{ID: a.ID, Latency: a.Latency.Merge(b.Latency), Warm: a.Warm.Merge(b.Warm), Cost: a.Cost.Merge(b.Cost), Cold: a.Cold + b.Cold, Failed: a.Failed + b.Failed}
	out.Samples = append(slices.Clone(a.Samples), b.Samples...)
	slices.SortStableFunc(out.Samples, func(x, y RequestSample) int { return strings.Compare(x.Trace, y.Trace) })
	out.Groups = mergeSorted(a.Groups, b.Groups, func(g GroupDigest) string { return g.Root }, func(x, y GroupDigest) GroupDigest {
		return GroupDigest{Root: x.Root, MemoryMB: x.MemoryMB, Tasks: union(x.Tasks, y.Tasks), Invocations: x.Invocations + y.Invocations,
			ColdStarts: x.ColdStarts + y.ColdStarts, BilledMS: x.BilledMS.Merge(y.BilledMS), DurationMS: x.DurationMS.Merge(y.DurationMS),
			Init: x.Init.Merge(y.Init), Cost: x.Cost + y.Cost}
	})
	return out
}

// mergeSorted merges two lists sorted by a string key, combining elements of equal keys.
func mergeSorted[T any](a, b []T, key func(T) string, combine func(T, T) T) []T {
	return mergeByKey(a, b, func(x, y T) int { return strings.Compare(key(x), key(y)) }, combine)
}

// mergeByKey merges two lists sorted by compare, combining elements that compare equal.
func mergeByKey[T any](a, b []T, compare func(T, T) int, combine func(T, T) T) []T {
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := compare(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, combine(a[i], b[j]))
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Thin bounds the digest's size: every sample to at most keep values (evenly spaced order
// statistics; counts and sums stay exact), and each setup's request samples to the first
// requests in trace order, without their trace IDs (none when requests is 0, for a digest
// that no judge will read).
func (d Digest) Thin(keep, requests int) Digest {
	out := d
	out.LocalAsync, out.RemoteAsync = d.LocalAsync.Thin(keep), d.RemoteAsync.Thin(keep)
	out.RemoteSync, out.Init, out.ReportGap = d.RemoteSync.Thin(keep), d.Init.Thin(keep), d.ReportGap.Thin(keep)
	out.Calls = slices.Clone(d.Calls)
	for i := range out.Calls {
		out.Calls[i].Remote = slices.Clone(out.Calls[i].Remote)
		for j, r := range out.Calls[i].Remote {
			out.Calls[i].Remote[j].Values = r.Values.Thin(keep)
			out.Calls[i].Remote[j].Quiet, out.Calls[i].Remote[j].Busy = r.Quiet.Thin(keep), r.Busy.Thin(keep)
		}
	}
	out.Tasks = make([]TaskDigest, len(d.Tasks))
	for i, t := range d.Tasks {
		t.Sizes = slices.Clone(t.Sizes)
		for j, s := range t.Sizes {
			t.Sizes[j] = SizeDigest{MemoryMB: s.MemoryMB, Self: s.Self.Thin(keep), Alone: s.Alone.Thin(keep), CPU: s.CPU.Thin(keep)}
		}
		out.Tasks[i] = t
	}
	out.Setups = make([]SetupDigest, len(d.Setups))
	for i, s := range d.Setups {
		s.Latency, s.Warm, s.Cost = s.Latency.Thin(keep), s.Warm.Thin(keep), s.Cost.Thin(keep)
		s.Samples = slices.Clone(s.Samples[:min(len(s.Samples), requests)])
		for j := range s.Samples {
			s.Samples[j].Trace = "" // the judge needs none, and they are most of a sample's size
		}
		s.Groups = slices.Clone(s.Groups)
		for j := range s.Groups {
			s.Groups[j].BilledMS = s.Groups[j].BilledMS.Thin(keep)
			s.Groups[j].DurationMS = s.Groups[j].DurationMS.Thin(keep)
			s.Groups[j].Init = s.Groups[j].Init.Thin(keep)
		}
		out.Setups[i] = s
	}
	return out
}

// ProfileOf computes the profile of the app whose declared graph is g (which may be the
// zero Graph) from the digests of disjoint sets of its traces. ProfileBuilder.Profile is
// ProfileOf over its own Digest.
func ProfileOf(g Graph, opts ProfileOptions, digests ...Digest) Profile {
	opts = NewProfileBuilder(g, opts).opts
	var d Digest
	for _, x := range digests {
		d = d.Merge(x)
	}
	p := Profile{Graph: mergeGraphs(Graph{Entry: g.Entry, Tasks: slices.Clone(g.Tasks), Edges: slices.Clone(g.Edges)}, d.Graph)}
	keep := opts.MaxSamples
	p.Tasks, p.Edges = d.taskStats(p.Graph, keep)
	p.LocalAsync, p.RemoteAsync = d.LocalAsync.Summary(keep), d.RemoteAsync.Summary(keep)
	p.RemoteSync, p.Init, p.ReportGap = d.RemoteSync.Summary(keep), d.Init.Summary(keep), d.ReportGap.Summary(keep)
	p.Invocations, p.ColdStarts, p.Incomplete, p.Dropped = d.Invocations, d.ColdStarts, d.Incomplete, d.Dropped
	if p.Invocations > 0 {
		p.ColdStartRate = float64(p.ColdStarts) / float64(p.Invocations)
	}
	for _, s := range d.Setups {
		st := SetupStat{ID: s.ID, Requests: s.Latency.N, ColdRequests: s.Cold, Failed: s.Failed,
			Latency: s.Latency.Summary(keep), Warm: s.Warm.Summary(keep), Cost: s.Cost.Summary(keep), Samples: s.Samples}
		if len(st.Samples) > keep {
			st.Samples = st.Samples[:keep]
		}
		for _, g := range s.Groups {
			st.Groups = append(st.Groups, GroupStat{Root: g.Root, MemoryMB: g.MemoryMB, Tasks: g.Tasks, Invocations: g.Invocations, ColdStarts: g.ColdStarts,
				BilledMS: g.BilledMS.Summary(keep), DurationMS: g.DurationMS.Summary(keep), Init: g.Init.Summary(keep), MeanCost: g.Cost / float64(g.Invocations)})
		}
		p.Setups = append(p.Setups, st)
	}
	return p
}

// taskStats summarizes the task runs per task of g (own time per memory size, ascending)
// and per edge (calls per caller run; 1 for an edge whose caller never ran).
func (d Digest) taskStats(g Graph, keep int) ([]TaskStat, []EdgeStat) {
	tasks := map[string]TaskDigest{}
	for _, t := range d.Tasks {
		tasks[t.Task] = t
	}
	var out []TaskStat
	for _, t := range g.Tasks {
		td := tasks[t]
		ts := TaskStat{Task: t, Runs: td.Runs, ParallelSync: td.MultiSync > 0 && 2*td.OverlapSync > td.MultiSync}
		for _, s := range td.Sizes {
			ts.Sizes = append(ts.Sizes, SizeStat{MemoryMB: s.MemoryMB, Self: s.Self.Summary(keep), Alone: s.Alone.Summary(keep), CPU: s.CPU.Summary(keep)})
		}
		out = append(out, ts)
	}
	calls := map[Edge]EdgeCount{}
	for _, c := range d.Calls {
		calls[c.Edge] = c
	}
	var edges []EdgeStat
	for _, e := range g.Edges {
		es := EdgeStat{Caller: e.Caller, Callee: e.Callee, Mode: e.Mode, Calls: calls[e].Calls, CallerRuns: tasks[e.Caller].Runs,
			Remote: remoteStats(calls[e].Remote, keep), Beside: calls[e].Beside}
		if es.Calls > 0 {
			es.AfterSync = float64(calls[e].AfterSync) / float64(es.Calls)
		}
		if es.CallerRuns > 0 {
			es.PerRun = float64(es.Calls) / float64(es.CallerRuns)
		} else {
			es.PerRun = 1 // never observed: assume the declared call is made once
		}
		edges = append(edges, es)
	}
	return out, edges
}

// Values is a mergeable sample of a quantity: its count and sum exact, and its values
// sorted — all of them until Thin keeps evenly spaced order statistics.
type Values struct {
	N   int       `json:"n"`
	Sum float64   `json:"sum"`
	V   []float64 `json:"v,omitempty"`
}

// ValuesOf returns the sample xs (which it does not modify).
func ValuesOf(xs []float64) Values {
	if len(xs) == 0 {
		return Values{}
	}
	v := Values{N: len(xs), V: slices.Clone(xs)}
	slices.Sort(v.V)
	for _, x := range v.V {
		v.Sum += x
	}
	return v
}

// exact reports whether every value is kept.
func (v Values) exact() bool { return len(v.V) == v.N }

// Thin keeps at most keep values (all when keep <= 0).
func (v Values) Thin(keep int) Values {
	v.V = thin(v.V, keep)
	return v
}

// Merge returns the sample of both. Two exact samples merge exactly; otherwise each kept
// value stands for its sample's count over its kept values, and the merged sample keeps as
// many weighted order statistics as the larger of the two kept, each the middle of an equal
// share (as thin).
func (v Values) Merge(o Values) Values {
	switch {
	case o.N == 0:
		return v
	case v.N == 0:
		return o
	}
	out := Values{N: v.N + o.N, Sum: v.Sum + o.Sum}
	if v.exact() && o.exact() {
		out.V = append(slices.Clone(v.V), o.V...)
		slices.Sort(out.V)
		return out
	}
	type point struct{ x, w float64 }
	pts := make([]point, 0, len(v.V)+len(o.V))
	for _, s := range []Values{v, o} {
		w := float64(s.N) / float64(len(s.V))
		for _, x := range s.V {
			pts = append(pts, point{x, w})
		}
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.x, b.x) })
	m := max(len(v.V), len(o.V))
	total := float64(out.N)
	out.V = make([]float64, 0, m)
	cum, k := 0.0, 0
	for i := range m {
		target := total * (float64(i) + 0.5) / float64(m)
		for k < len(pts)-1 && cum+pts[k].w < target {
			cum += pts[k].w
			k++
		}
		out.V = append(out.V, pts[k].x)
	}
	return out
}

// Summary summarizes the sample keeping at most keep values: exactly Summarize of the
// values while all are kept, else with the exact count and mean and the quantiles of the
// kept order statistics.
func (v Values) Summary(keep int) Summary {
	if v.exact() {
		return Summarize(v.V, keep)
	}
	s := Summarize(v.V, keep)
	s.Count, s.Mean = v.N, v.Sum/float64(v.N)
	return s
}

// union returns the sorted union of two sorted lists.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	return slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a), b...))))
}

// RemoteDigest is what an edge's remote calls cost callers at one memory size.
type RemoteDigest struct {
	MemoryMB int    `json:"memoryMB"`
	Values   Values `json:"values"`
	// Quiet and Busy split an async edge's dispatch times: Busy those with a remote call
	// along another edge begun beside them (EdgeCount.Beside), Quiet the others.
	Quiet Values `json:"quiet,omitzero"`
	Busy  Values `json:"busy,omitzero"`
}

func remoteDigests(by, quiet, busy map[int][]float64) []RemoteDigest {
	var out []RemoteDigest
	for _, m := range slices.Sorted(maps.Keys(by)) {
		out = append(out, RemoteDigest{MemoryMB: m, Values: ValuesOf(by[m]), Quiet: ValuesOf(quiet[m]), Busy: ValuesOf(busy[m])})
	}
	return out
}

func remoteStats(ds []RemoteDigest, keep int) []RemoteStat {
	var out []RemoteStat
	for _, d := range ds {
		out = append(out, RemoteStat{MemoryMB: d.MemoryMB, Summary: d.Values.Summary(keep), Quiet: d.Quiet.Summary(keep), Busy: d.Busy.Summary(keep)})
	}
	return out
}

func besideCounts(by map[Edge][2]int) []BesideCount {
	var out []BesideCount
	for e, n := range by {
		out = append(out, BesideCount{Edge: e, Dispatches: n[0], Of: n[1]})
	}
	slices.SortFunc(out, func(a, b BesideCount) int { return compareEdges(a.Edge, b.Edge) })
	return out
}
