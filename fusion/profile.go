package fusion

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Profile is what the optimizer learns from traces: the call graph with multiplicities,
// each task's own time per memory size, remote-call overheads, cold starts, and per setup
// the request latency and cost per request. It is plain data (JSON-serializable) so that it
// can cross Temporal activity boundaries; BuildProfile makes it deterministically from its
// inputs, whatever their order.
//
// All times are milliseconds, all costs dollars.
type Profile struct {
	// Graph is the declared graph given to the builder, with any edge observed in traces
	// but not declared appended (and its tasks).
	Graph Graph      `json:"graph"`
	Edges []EdgeStat `json:"edges"`
	Tasks []TaskStat `json:"tasks"`
	// RemoteSync is the overhead of a remote sync call: the caller's wait minus the
	// callee's (warm) invocation duration.
	RemoteSync Summary `json:"remoteSync"`
	// RemoteAsync is the caller's time to dispatch a remote async call (an Event invoke).
	RemoteAsync Summary `json:"remoteAsync"`
	// LocalAsync is the caller's time to start an inline async call.
	LocalAsync Summary `json:"localAsync"`
	// Invocations and ColdStarts count every invocation seen; ColdStartRate is their ratio.
	Invocations   int     `json:"invocations"`
	ColdStarts    int     `json:"coldStarts"`
	ColdStartRate float64 `json:"coldStartRate"`
	// Init is the REPORT lines' Init Duration of cold starts.
	Init Summary `json:"init"`
	// ReportGap is, per invocation with a REPORT line, its Duration minus the handler's (the
	// trace's): the platform's and runtime's time around the handler that is billed.
	ReportGap Summary     `json:"reportGap"`
	Setups    []SetupStat `json:"setups"`
	// Dropped counts records ignored as duplicates (same request ID, or same trace, root
	// and start when there is no request ID) and Incomplete the traces left out of cost per
	// request because an invocation was missing.
	Dropped    int `json:"dropped"`
	Incomplete int `json:"incomplete"`
}

// EdgeStat is one observed call edge with its multiplicity.
type EdgeStat struct {
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Mode   Mode   `json:"mode"`
	// Calls made along the edge, and runs of the caller task seen; PerRun is Calls/CallerRuns,
	// the calls per run of the caller (0.5 for a call made every other time, 3 for a loop).
	Calls      int     `json:"calls"`
	CallerRuns int     `json:"callerRuns"`
	PerRun     float64 `json:"perRun"`
	// AfterSync is the share of the edge's async calls made after the caller's sync calls had
	// all returned (0 for sync edges, and where the caller makes no sync call).
	AfterSync float64 `json:"afterSync,omitempty"`
	// Remote is, of the edge's remote calls, an async call's dispatch time (as RemoteAsync)
	// or a sync call's overhead to a warm callee (as RemoteSync), by the caller's memory
	// size, ascending: what a call costs depends on its caller (one busy with CPU work, or
	// with little CPU, dispatches slowly).
	Remote []RemoteStat `json:"remote,omitempty"`
	// Beside counts, of an async edge's remote dispatches in requests that called another
	// edge remotely too, those during which a remote call along it began (made by another
	// invocation of the request, not one that follows from the dispatch): on one
	// machine, the platform then routes both at once and the dispatch waits longer (IoT's
	// I→CA while the CS it dispatched just before calls CSL). Which calls began beside a
	// dispatch is taken in its first BesideWindowUS, whatever its length, so that a slow
	// dispatch does not count as busy for being slow.
	Beside []BesideCount `json:"beside,omitempty"`
}

// BesideWindowUS is the part of a dispatch, from its start, in which a remote call beginning
// makes it busy (EdgeStat.Beside): 1 ms, about twice a quiet dispatch on the local platform.
const BesideWindowUS = 1000

// RemoteStat is what an edge's remote calls cost callers at one memory size.
type RemoteStat struct {
	MemoryMB int     `json:"memoryMB"`
	Summary  Summary `json:"summary"`
	// Quiet and Busy split an async edge's dispatch times (Summary) into those with no
	// remote call begun beside them and the others (EdgeStat.Beside).
	Quiet Summary `json:"quiet,omitzero"`
	Busy  Summary `json:"busy,omitzero"`
}

// RemoteAt returns what the edge's remote calls cost a caller at memMB: the samples at that
// size, else at the nearest size observed (in log memory); false when none were seen.
func (e EdgeStat) RemoteAt(memMB int) (Summary, bool) {
	best, bd := -1, math.Inf(1)
	for i, r := range e.Remote {
		if d := math.Abs(math.Log(float64(r.MemoryMB) / float64(memMB))); d < bd {
			best, bd = i, d
		}
	}
	if best < 0 {
		return Summary{}, false
	}
	return e.Remote[best].Summary, true
}

// TaskStat is what is known of one task's own time.
type TaskStat struct {
	Task string `json:"task"`
	Runs int    `json:"runs"`
	// ParallelSync is true when the task's sync calls mostly overlap in time (it waits for
	// the slowest, not the sum).
	ParallelSync bool `json:"parallelSync,omitempty"`
	// Sizes has the task's own time per memory size, ascending: the run's self time minus
	// the time it spent dispatching async calls, so that it does not depend on the setup.
	Sizes []SizeStat `json:"sizes"`
}

// SizeStat is a task's own time at one memory size.
type SizeStat struct {
	MemoryMB int     `json:"memoryMB"`
	Self     Summary `json:"self"`
	// Alone is Self over the runs in invocations where nothing ran concurrently (no inline
	// async call, no parallel inline sync calls): a run sharing its instance's CPU with
	// concurrent work takes longer than the task alone would, so Alone is the own time to
	// scale and combine when predicting other setups.
	Alone Summary `json:"alone"`
	// CPU is the CPU time (ms) of the task's runs in invocations that ran it alone (one task
	// run, trace member cpu): its CPU demand, which wall-clock own time hides when a short
	// burst fits in a CPU quota period. Empty where the runtime did not measure it.
	CPU Summary `json:"cpu,omitzero"`
}

// Size returns the task's statistics at memoryMB.
func (t TaskStat) Size(memoryMB int) (SizeStat, bool) {
	for _, s := range t.Sizes {
		if s.MemoryMB == memoryMB {
			return s, true
		}
	}
	return SizeStat{}, false
}

// SetupStat is what was observed of one deployed setup.
type SetupStat struct {
	ID string `json:"id"`
	// Requests counts traces with a root invocation that succeeded; Latency is the root invocation's
	// duration (server side) plus its init duration when it was a cold start; Warm has the
	// requests without a cold start on their response path.
	Requests     int `json:"requests"`
	ColdRequests int `json:"coldRequests"`
	// Failed counts the requests whose root task returned an error: they are not in
	// Requests, Latency or Warm.
	Failed  int     `json:"failed,omitempty"`
	Latency Summary `json:"latency"`
	Warm    Summary `json:"warm"`
	// Cost is the cost per complete request: every invocation of the trace, billed from its
	// REPORT line joined by request ID (from the trace duration when it is missing), plus
	// the per-request fees.
	Cost Summary `json:"cost"`
	// Samples are per-request samples (at most the builder's MaxSamples, in trace ID order)
	// for the canary judge.
	Samples []RequestSample `json:"samples,omitempty"`
	Groups  []GroupStat     `json:"groups"`
}

// RequestSample is one request of a setup.
type RequestSample struct {
	Trace     string  `json:"trace,omitempty"` // "" once a digest was thinned
	LatencyMS float64 `json:"latencyMS"`
	// CostUSD is 0 when the trace was incomplete.
	CostUSD float64 `json:"costUSD,omitempty"`
	// Cold is true when an invocation on the request's response path (the root or a
	// synchronously invoked function) was a cold start.
	Cold bool `json:"cold,omitempty"`
	// Failed is true when the root task returned an error; the request is in no latency
	// summary.
	Failed bool `json:"failed,omitempty"`
}

// GroupStat is one function (group) of an observed setup.
type GroupStat struct {
	Root     string `json:"root"`
	MemoryMB int    `json:"memoryMB"`
	// Tasks are the tasks its invocations ran, sorted.
	Tasks       []string `json:"tasks,omitempty"`
	Invocations int      `json:"invocations"`
	ColdStarts  int      `json:"coldStarts"`
	BilledMS    Summary  `json:"billedMS"`
	// DurationMS is its invocations' handler durations (the traces').
	DurationMS Summary `json:"durationMS"`
	// Init is the Init Duration of the group's cold starts.
	Init Summary `json:"init"`
	// MeanCost is the mean cost of one invocation, fee included.
	MeanCost float64 `json:"meanCost"`
}

// Setup returns the statistics of the setup with that ID.
func (p Profile) Setup(id string) (SetupStat, bool) {
	for _, s := range p.Setups {
		if s.ID == id {
			return s, true
		}
	}
	return SetupStat{}, false
}

// Task returns the statistics of a task.
func (p Profile) Task(name string) (TaskStat, bool) {
	for _, t := range p.Tasks {
		if t.Task == name {
			return t, true
		}
	}
	return TaskStat{}, false
}

// Edge returns the statistics of the edge caller→callee.
func (p Profile) Edge(caller, callee string) (EdgeStat, bool) {
	for _, e := range p.Edges {
		if e.Caller == caller && e.Callee == callee {
			return e, true
		}
	}
	return EdgeStat{}, false
}

// ProfileOptions configures a ProfileBuilder.
type ProfileOptions struct {
	// Prices for cost per request; zero fields default to DefaultPrices.
	Prices Prices
	// MaxSamples bounds each kept sample (default 1000) so that a profile stays small.
	MaxSamples int
}

// ProfileBuilder accumulates trace records and REPORT lines, in any order and with
// duplicates, and builds a Profile from them.
type ProfileBuilder struct {
	graph   Graph
	opts    ProfileOptions
	records []TraceRecord
	reports []Report
}

// NewProfileBuilder returns a builder for the app with the declared graph g (which may be
// the zero Graph: the graph is then what the traces show).
func NewProfileBuilder(g Graph, opts ProfileOptions) *ProfileBuilder {
	opts.Prices = opts.Prices.WithDefaults()
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = 1000
	}
	return &ProfileBuilder{graph: g, opts: opts}
}

// AddRecords adds trace records.
func (b *ProfileBuilder) AddRecords(rs ...TraceRecord) { b.records = append(b.records, rs...) }

// AddReports adds REPORT lines.
func (b *ProfileBuilder) AddReports(rs ...Report) { b.reports = append(b.reports, rs...) }

// BuildProfile builds a profile with default options (us-east-1 x86_64 prices).
func BuildProfile(g Graph, records []TraceRecord, reports []Report) Profile {
	b := NewProfileBuilder(g, ProfileOptions{})
	b.AddRecords(records...)
	b.AddReports(reports...)
	return b.Profile()
}

func compareRecords(a, b TraceRecord) int {
	return cmp.Or(strings.Compare(a.Trace, b.Trace), cmp.Compare(a.Start, b.Start),
		strings.Compare(a.Root, b.Root), strings.Compare(a.RequestID, b.RequestID),
		cmp.Compare(a.Duration, b.Duration))
}

type recordKey struct {
	trace, root string
	start       int64
}

const usPerMS = 1000.0

// Profile computes the profile of everything added so far, in named passes: dedupe the
// records and join the REPORT lines, complete the graph with what the traces show, gather
// the task runs (own time, calls, concurrency), then the traces (remote overhead, cold
// starts, latency and cost per setup) into a Digest, and summarize it (ProfileOf).
func (b *ProfileBuilder) Profile() Profile {
	return ProfileOf(b.graph, b.opts, b.Digest())
}

// dedupe orders the records and drops duplicates: the same request ID twice, or, without
// one, the same trace, root and start. It returns the records kept and how many it dropped.
func dedupe(records []TraceRecord) ([]TraceRecord, int) {
	recs := slices.Clone(records)
	slices.SortStableFunc(recs, compareRecords)
	seenReq := map[string]bool{}
	seenKey := map[recordKey]bool{}
	uniq, dropped := recs[:0], 0
	for _, r := range recs {
		k := recordKey{r.Trace, r.Root, r.Start}
		if (r.RequestID != "" && seenReq[r.RequestID]) || seenKey[k] {
			dropped++
			continue
		}
		if r.RequestID != "" {
			seenReq[r.RequestID] = true
		}
		seenKey[k] = true
		uniq = append(uniq, r)
	}
	return uniq, dropped
}

// joinReports indexes REPORT lines by request ID; of differing duplicates it keeps the
// least by its fields, so that the join does not depend on the input order.
func joinReports(reps []Report) map[string]Report {
	reports := map[string]Report{}
	sorted := slices.Clone(reps)
	slices.SortStableFunc(sorted, func(a, b Report) int {
		return cmp.Or(strings.Compare(a.RequestID, b.RequestID), cmp.Compare(a.BilledMS, b.BilledMS),
			cmp.Compare(a.DurationMS, b.DurationMS), cmp.Compare(a.InitDurationMS, b.InitDurationMS),
			cmp.Compare(a.MemoryMB, b.MemoryMB), cmp.Compare(a.MaxMemoryMB, b.MaxMemoryMB))
	})
	for _, r := range sorted {
		if _, dup := reports[r.RequestID]; !dup {
			reports[r.RequestID] = r
		}
	}
	return reports
}

// completeGraph returns g with the tasks and edges the records show but g does not declare
// appended, and the entry taken from the first entry invocation when g has none.
func completeGraph(g Graph, recs []TraceRecord) Graph {
	tasks := map[string]bool{}
	for _, t := range g.Tasks {
		tasks[t] = true
	}
	addTask := func(t string) {
		if !tasks[t] {
			tasks[t] = true
			g.Tasks = append(g.Tasks, t)
		}
	}
	edges := map[Edge]bool{}
	for _, e := range g.Edges {
		edges[e] = true
	}
	for _, r := range recs {
		for _, t := range r.Tasks {
			addTask(t.Task)
		}
		for _, c := range r.Calls {
			addTask(c.Caller)
			addTask(c.Callee)
			e := Edge{Caller: c.Caller, Callee: c.Callee, Mode: c.Mode}
			if !edges[e] {
				edges[e] = true
				g.Edges = append(g.Edges, e)
			}
		}
		if g.Entry == "" && r.Caller == "" && !r.Async {
			g.Entry = r.Root
		}
	}
	return g
}

// runAcc gathers what the task runs show: own time per task and memory (all runs, and runs
// alone in their instance), runs and calls, parallel sync calls, async dispatch times.
type runAcc struct {
	self, alone, cpu        map[string]map[int][]float64
	runs                    map[string]int
	calls                   map[Edge]int
	afterSync               map[Edge]int // async calls made after their task run's sync calls returned
	multiSync, overlapSync  map[string]int
	localAsync, remoteAsync []float64
	// remote async dispatch times by edge and caller memory: all, quiet and busy (EdgeStat.Beside)
	dispatch, quiet, busy map[Edge]map[int][]float64
	beside                map[Edge]map[Edge][2]int // by other edge: dispatches with a call along it beside, of those in requests that called it remotely
}

func gatherRuns(recs []TraceRecord, reports map[string]Report, g Graph) *runAcc {
	a := &runAcc{self: map[string]map[int][]float64{}, alone: map[string]map[int][]float64{}, cpu: map[string]map[int][]float64{}, runs: map[string]int{},
		calls: map[Edge]int{}, afterSync: map[Edge]int{}, dispatch: map[Edge]map[int][]float64{}, quiet: map[Edge]map[int][]float64{},
		busy: map[Edge]map[int][]float64{}, beside: map[Edge]map[Edge][2]int{}, multiSync: map[string]int{}, overlapSync: map[string]int{}}
	beside, remoteIn := besideCalls(recs, g)
	for i, r := range recs {
		mem := r.MemoryMB
		if rep, ok := reports[r.RequestID]; ok && rep.MemoryMB > 0 {
			mem = rep.MemoryMB
		}
		a.add(r, mem, beside[i], remoteIn[r.Trace])
	}
	return a
}

// besideCalls finds, for each remote async call of recs (by record, then call index), the
// edges of the remote calls of its own request that began in its first BesideWindowUS, made
// by other invocations: not by its caller's, nor by the invocation it dispatched or one its
// caller's later calls started, nor by what these call (the tasks g reaches from the
// callees), since those follow from the dispatch and did not compete with it. It also
// returns, by trace, the edges its requests called remotely. Looking within a request only,
// digests of traces built apart merge into the profile of all of them.
func besideCalls(recs []TraceRecord, g Graph) (beside []map[int][]Edge, remoteIn map[string][]Edge) {
	reach := map[string]map[string]bool{}
	reached := func(from string) map[string]bool {
		if r, ok := reach[from]; ok {
			return r
		}
		r := map[string]bool{from: true}
		for todo := []string{from}; len(todo) > 0; {
			t := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			for _, e := range g.Edges {
				if e.Caller == t && !r[e.Callee] {
					r[e.Callee] = true
					todo = append(todo, e.Callee)
				}
			}
		}
		reach[from] = r
		return r
	}
	byTrace := map[string][]int{}
	remoteIn = map[string][]Edge{}
	for i, r := range recs {
		byTrace[r.Trace] = append(byTrace[r.Trace], i)
		for _, c := range r.Calls {
			if e := (Edge{Caller: c.Caller, Callee: c.Callee, Mode: c.Mode}); c.Remote && !slices.Contains(remoteIn[r.Trace], e) {
				remoteIn[r.Trace] = append(remoteIn[r.Trace], e)
			}
		}
	}
	beside = make([]map[int][]Edge, len(recs))
	for i, r := range recs {
		for ci, c := range r.Calls {
			if !c.Remote || c.Mode != Async || r.Trace == "" {
				continue
			}
			var edges []Edge
			for _, j := range byTrace[r.Trace] {
				if j == i || followsFrom(r, c, recs[j].Root, reached) {
					continue
				}
				for _, o := range recs[j].Calls {
					e := Edge{Caller: o.Caller, Callee: o.Callee, Mode: o.Mode}
					if o.Remote && o.Start > c.Start && o.Start <= c.Start+BesideWindowUS && !slices.Contains(edges, e) {
						edges = append(edges, e)
					}
				}
			}
			if len(edges) > 0 {
				if beside[i] == nil {
					beside[i] = map[int][]Edge{}
				}
				beside[i][ci] = edges
			}
		}
	}
	return beside, remoteIn
}

// followsFrom reports whether an invocation of root in r's request follows from r's call c:
// root is reached from the callee of c or of a call r made after it.
func followsFrom(r TraceRecord, c CallRecord, root string, reached func(string) map[string]bool) bool {
	for _, later := range r.Calls {
		if later.Start >= c.Start && reached(later.Callee)[root] {
			return true
		}
	}
	return false
}

// add gathers one invocation's task runs at memory mem; beside holds, by call index, the
// edges of the remote calls begun beside its remote async calls, and remote the edges its
// request called remotely (besideCalls).
func (a *runAcc) add(r TraceRecord, mem int, beside map[int][]Edge, remote []Edge) {
	concurrent := false
	asyncIn := make([]float64, len(r.Tasks))
	syncIn := make([][]CallRecord, len(r.Tasks))
	for ci, c := range r.Calls {
		a.calls[Edge{Caller: c.Caller, Callee: c.Callee, Mode: c.Mode}]++
		i := runOf(r.Tasks, c)
		switch {
		case c.Mode == Async:
			d := float64(c.Duration) / usPerMS
			if c.Remote {
				a.remoteAsync = append(a.remoteAsync, d)
				e := Edge{Caller: c.Caller, Callee: c.Callee, Mode: c.Mode}
				appendMem(a.dispatch, e, mem, d)
				if a.beside[e] == nil {
					a.beside[e] = map[Edge][2]int{}
				}
				for _, b := range remote {
					if b != e {
						n := a.beside[e][b]
						n[1]++
						if slices.Contains(beside[ci], b) {
							n[0]++
						}
						a.beside[e][b] = n
					}
				}
				if len(beside[ci]) > 0 {
					appendMem(a.busy, e, mem, d)
				} else {
					appendMem(a.quiet, e, mem, d)
				}
			} else {
				a.localAsync = append(a.localAsync, d)
				concurrent = true
			}
			if i >= 0 {
				asyncIn[i] += d
			}
		case i >= 0:
			syncIn[i] = append(syncIn[i], c)
		}
	}
	for _, sc := range syncIn {
		if local := localCalls(sc); len(local) >= 2 && overlapping(local) {
			concurrent = true
		}
	}
	a.countAfterSync(r, syncIn)
	if len(r.Tasks) == 1 && r.CPU > 0 {
		appendAt(a.cpu, r.Tasks[0].Task, mem, float64(r.CPU)/usPerMS)
	}
	for i, t := range r.Tasks {
		a.runs[t.Task]++
		own := max(float64(t.Self)/usPerMS-asyncIn[i], 0)
		appendAt(a.self, t.Task, mem, own)
		if !concurrent {
			appendAt(a.alone, t.Task, mem, own)
		}
		if sc := syncIn[i]; len(sc) >= 2 {
			a.multiSync[t.Task]++
			if overlapping(sc) {
				a.overlapSync[t.Task]++
			}
		}
	}
}

// countAfterSync counts the async calls of r made after every sync call of their task run had
// returned (Tree's A calls B and then starts C), so the model knows when inlined async work
// starts; syncIn holds each run's sync calls.
func (a *runAcc) countAfterSync(r TraceRecord, syncIn [][]CallRecord) {
	for _, c := range r.Calls {
		if c.Mode != Async {
			continue
		}
		i := runOf(r.Tasks, c)
		if i < 0 || len(syncIn[i]) == 0 {
			continue
		}
		after := true
		for _, s := range syncIn[i] {
			after = after && c.Start >= s.Start+s.Duration
		}
		if after {
			a.afterSync[Edge{Caller: c.Caller, Callee: c.Callee, Mode: c.Mode}]++
		}
	}
}

func localCalls(cs []CallRecord) []CallRecord {
	var local []CallRecord
	for _, c := range cs {
		if !c.Remote {
			local = append(local, c)
		}
	}
	return local
}

func appendMem(m map[Edge]map[int][]float64, e Edge, mem int, x float64) {
	if m[e] == nil {
		m[e] = map[int][]float64{}
	}
	m[e][mem] = append(m[e][mem], x)
}

func appendAt(m map[string]map[int][]float64, task string, mem int, x float64) {
	if m[task] == nil {
		m[task] = map[int][]float64{}
	}
	m[task][mem] = append(m[task][mem], x)
}

// traceAcc gathers what whole traces show: invocations and cold starts, remote sync
// overheads, init durations, and per setup the requests' latency and cost.
type traceAcc struct {
	prices                              Prices
	reports                             map[string]Report
	invocations, coldStarts, incomplete int
	overhead, inits, gaps               []float64
	overheadBy                          map[Edge]map[int][]float64 // remote sync overheads by edge and caller memory
	setups                              map[string]*setupAcc
	setupIDs                            []string
}

type setupAcc struct {
	lat, warm, cost []float64
	cold, failed    int
	samples         []RequestSample
	groups          map[string]*groupAcc
}

func gatherTraces(recs []TraceRecord, reports map[string]Report, prices Prices) *traceAcc {
	a := &traceAcc{prices: prices, reports: reports, setups: map[string]*setupAcc{}, overheadBy: map[Edge]map[int][]float64{}}
	for lo := 0; lo < len(recs); {
		hi := lo + 1
		for hi < len(recs) && recs[hi].Trace == recs[lo].Trace {
			hi++
		}
		a.trace(recs[lo:hi])
		lo = hi
	}
	return a
}

// trace gathers one trace (its records, in order).
func (a *traceAcc) trace(tr []TraceRecord) {
	var root *TraceRecord
	// The trace is complete when every remote call has its callee's invocation.
	need := map[[2]string]int{}
	cold, cost := false, 0.0
	for i := range tr {
		r := &tr[i]
		if r.Caller == "" && !r.Async && root == nil {
			root = r
		} else {
			need[[2]string{r.Caller, r.Root}]--
		}
		cold = cold || (r.Cold && !r.Async)
		cost += a.invocation(tr, r, need)
	}
	if root == nil {
		return
	}
	sa := a.setups[root.Setup]
	// The request waits for the root's init too when it was a cold start.
	lat := float64(root.Duration) / usPerMS
	if rep, ok := a.reports[root.RequestID]; ok && root.Cold {
		lat += rep.InitDurationMS
	}
	s := RequestSample{Trace: root.Trace, LatencyMS: lat, Cold: cold, Failed: root.Error != ""}
	switch {
	case s.Failed:
		// A failed request's latency says nothing of the setup's speed (a fast failure
		// would look like a fast setup): it is counted apart, for the judge.
		sa.failed++
	case cold:
		sa.lat = append(sa.lat, lat)
		sa.cold++
	default:
		sa.lat = append(sa.lat, lat)
		sa.warm = append(sa.warm, lat)
	}
	complete := true
	for _, n := range need {
		complete = complete && n == 0
	}
	if complete {
		s.CostUSD = cost
		sa.cost = append(sa.cost, cost)
	} else {
		a.incomplete++
	}
	sa.samples = append(sa.samples, s)
}

// invocation gathers one invocation r of trace tr and returns its cost; it counts the
// remote calls r made in need, and the overhead of its remote sync calls to warm callees.
func (a *traceAcc) invocation(tr []TraceRecord, r *TraceRecord, need map[[2]string]int) float64 {
	a.invocations++
	rep, hasRep := a.reports[r.RequestID]
	if r.Cold {
		a.coldStarts++
		if hasRep && rep.InitDurationMS > 0 {
			a.inits = append(a.inits, rep.InitDurationMS)
		}
	}
	mem, billed := r.MemoryMB, a.prices.BilledMS(float64(r.Duration)/usPerMS)
	if hasRep {
		if rep.MemoryMB > 0 {
			mem = rep.MemoryMB
		}
		if rep.BilledMS > 0 {
			billed = rep.BilledMS
		}
		if rep.DurationMS > 0 {
			a.gaps = append(a.gaps, rep.DurationMS-float64(r.Duration)/usPerMS)
		}
	}
	c := a.prices.Invocation(billed, mem)
	sa := a.setups[r.Setup]
	if sa == nil {
		sa = &setupAcc{groups: map[string]*groupAcc{}}
		a.setups[r.Setup] = sa
		a.setupIDs = append(a.setupIDs, r.Setup)
	}
	ga := sa.groups[r.Root]
	if ga == nil {
		ga = &groupAcc{mem: mem, tasks: map[string]bool{}}
		sa.groups[r.Root] = ga
	}
	ga.n++
	for _, t := range r.Tasks {
		ga.tasks[t.Task] = true
	}
	if r.Cold {
		ga.cold++
		if hasRep && rep.InitDurationMS > 0 {
			ga.inits = append(ga.inits, rep.InitDurationMS)
		}
	}
	ga.billed = append(ga.billed, float64(billed))
	ga.durs = append(ga.durs, float64(r.Duration)/usPerMS)
	ga.cost += c
	for _, call := range r.Calls {
		if !call.Remote {
			continue
		}
		need[[2]string{call.Caller, call.Callee}]++
		if call.Mode != Sync {
			continue
		}
		if callee := findCallee(tr, call); callee != nil && !callee.Cold {
			ov := float64(call.Duration-callee.Duration) / usPerMS
			a.overhead = append(a.overhead, ov)
			e := Edge{Caller: call.Caller, Callee: call.Callee, Mode: call.Mode}
			if a.overheadBy[e] == nil {
				a.overheadBy[e] = map[int][]float64{}
			}
			a.overheadBy[e][mem] = append(a.overheadBy[e][mem], ov)
		}
	}
	return c
}

type groupAcc struct {
	mem, n, cold        int
	billed, durs, inits []float64
	tasks               map[string]bool
	cost                float64
}

// runOf returns the index of the task run that made call c: a run of the caller task whose
// time window holds the call's start (the first such run), else the first run of the
// caller, else -1.
func runOf(runs []TaskRun, c CallRecord) int {
	first := -1
	for i, t := range runs {
		if t.Task != c.Caller {
			continue
		}
		if first < 0 {
			first = i
		}
		if c.Start >= t.Start && c.Start <= t.Start+t.Duration {
			return i
		}
	}
	return first
}

// overlapping reports whether any two of the sync calls overlap in time by more than the
// rounding of microsecond timestamps.
func overlapping(cs []CallRecord) bool {
	const slack = 100 // µs
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b CallRecord) int { return cmp.Compare(a.Start, b.Start) })
	end := s[0].Start + s[0].Duration
	for _, c := range s[1:] {
		if c.Start+slack < end {
			return true
		}
		end = max(end, c.Start+c.Duration)
	}
	return false
}

// findCallee returns the invocation in trace tr that a remote sync call started: rooted at
// the callee, called by the caller, synchronous, starting within the call; the one starting
// closest to the call when several do.
func findCallee(tr []TraceRecord, c CallRecord) *TraceRecord {
	var best *TraceRecord
	bestGap := int64(math.MaxInt64)
	for i := range tr {
		r := &tr[i]
		if r.Root != c.Callee || r.Async || (r.Caller != "" && r.Caller != c.Caller) {
			continue
		}
		if r.Start < c.Start || r.Start > c.Start+c.Duration || r.Duration > c.Duration {
			continue
		}
		if gap := r.Start - c.Start; gap < bestGap {
			best, bestGap = r, gap
		}
	}
	return best
}
