package activities_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
)

// logSource is a log store in time: each record and REPORT line is logged at its time, and
// a query returns what was logged within its window. It records the queries.
type logSource struct {
	mu      sync.Mutex
	events  []logged
	queries []activities.TraceQuery
}

type logged struct {
	at  time.Time
	rec *fusion.TraceRecord
	rep *fusion.Report
}

func (s *logSource) Traces(_ context.Context, q activities.TraceQuery) (activities.Traces, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	var out activities.Traces
	for _, e := range s.events {
		if e.at.Before(q.Start) || e.at.After(q.End) {
			continue
		}
		if e.rec != nil {
			out.Records = append(out.Records, *e.rec)
		} else {
			out.Reports = append(out.Reports, *e.rep)
		}
	}
	return out, nil
}

// requests logs n requests of setup s, one every 100 ms from t0: the root invocation of A
// (calling C asynchronously) logged when it ends, and C's invocation logged 3 s later.
func (s *logSource) requests(t0 time.Time, n int, setup fusion.Setup) {
	for i := range n {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		trace := fmt.Sprintf("t%04d", i)
		root := fusion.TraceRecord{Trace: trace, Setup: setup.ID(), Root: "A", RequestID: trace + "-a", MemoryMB: 128, Start: at.UnixMicro(), Duration: 20_000,
			Tasks: []fusion.TaskRun{{Task: "A", Start: at.UnixMicro(), Duration: 20_000, Self: 19_000}},
			Calls: []fusion.CallRecord{{Caller: "A", Callee: "C", Mode: fusion.Async, Remote: true, Start: at.UnixMicro() + 1000, Duration: 1000}}}
		callee := fusion.TraceRecord{Trace: trace, Setup: setup.ID(), Root: "C", Caller: "A", Async: true, RequestID: trace + "-c", MemoryMB: 128,
			Start: at.Add(2 * time.Second).UnixMicro(), Duration: 1_000_000, Tasks: []fusion.TaskRun{{Task: "C", Start: at.Add(2 * time.Second).UnixMicro(), Duration: 1_000_000, Self: 1_000_000}}}
		s.events = append(s.events,
			logged{at: at.Add(20 * time.Millisecond), rec: &root},
			logged{at: at.Add(20 * time.Millisecond), rep: &fusion.Report{RequestID: root.RequestID, DurationMS: 20, BilledMS: 20, MemoryMB: 128}},
			logged{at: at.Add(3 * time.Second), rec: &callee},
			logged{at: at.Add(3 * time.Second), rep: &fusion.Report{RequestID: callee.RequestID, DurationMS: 1000, BilledMS: 1000, MemoryMB: 128}})
	}
}

// TestObserveReadsIncrementally: each poll reads only what was logged since the last (less
// a short overlap), every request is counted once with its async invocation joined (its
// cost known), and a chunk going on from the last one's state (From) reads on from its
// cursor. It catches re-reading the window from its start on every poll or chunk, counting
// what the overlap reads twice, and digesting a trace before its async part was logged.
func TestObserveReadsIncrementally(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	t0 := time.Unix(1_764_000_000, 0)
	src := &logSource{}
	dep := deployment(treeAllRemote)
	src.requests(t0, 100, dep.Setup) // 10 s of requests, their async parts logged until 13 s
	acts := newActs(t, newFakeDeployer(), src)
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	in := activities.ObserveInput{App: "tree", Deployments: []activities.Deployment{dep}, Start: t0, MinWarm: 1 << 20, MaxWait: 10 * time.Second}
	first := observe(t, ae, acts, in)
	in.From = first.State
	obs := observe(t, ae, acts, in) // the second chunk: 10 s more
	for i, q := range src.queries[1:] {
		if prev := src.queries[i]; q.Start.Before(prev.End.Add(-3 * time.Second)) {
			t.Fatalf("query %d reads from %v, though query %d read up to %v", i+1, q.Start.Sub(t0), i, prev.End.Sub(t0))
		}
	}
	if len(src.queries) != 22 {
		t.Errorf("%d queries, want 22 (two chunks of 11 polls a second apart)", len(src.queries))
	}
	p := fusion.ProfileOf(fusion.Graph{}, fusion.ProfileOptions{}, digest(t, obs))
	st, _ := p.Setup(dep.Setup.ID())
	if st.Requests != 100 || st.Cost.Count != 100 || p.Incomplete != 0 || p.Dropped != 0 || p.Invocations != 200 {
		t.Errorf("requests %d, with cost %d, incomplete %d, dropped %d, invocations %d; want 100, 100, 0, 0, 200",
			st.Requests, st.Cost.Count, p.Incomplete, p.Dropped, p.Invocations)
	}
	if obs.Setups[0].Requests != 100 {
		t.Errorf("observation counts %d requests, want 100", obs.Setups[0].Requests)
	}
}

// TestObserveResumesFromHeartbeat: a retried Observe (heartbeat details present) reads on
// from the heartbeat's cursor with its digest, instead of from the window's start. It
// catches a retry that re-reads the window, or one that counts the digested traces twice.
func TestObserveResumesFromHeartbeat(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	t0 := time.Unix(1_764_000_000, 0)
	src := &logSource{}
	dep := deployment(treeAllRemote)
	src.requests(t0, 100, dep.Setup)
	acts := newActs(t, newFakeDeployer(), src)
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	in := activities.ObserveInput{App: "tree", Deployments: []activities.Deployment{dep}, Start: t0, MinWarm: 1 << 20, MaxWait: 8 * time.Second}
	partial := observe(t, ae, acts, in) // what the first attempt had heartbeated
	if partial.State.Cursor.Sub(t0) < 5*time.Second {
		t.Fatalf("cursor %v after 8 s", partial.State.Cursor.Sub(t0))
	}
	src.queries = nil
	retry := env.NewTestActivityEnvironment()
	retry.RegisterActivity(acts)
	retry.SetHeartbeatDetails(*partial.State)
	in.MaxWait = 10 * time.Second
	obs := observe(t, retry, acts, in)
	if got := src.queries[0].Start; got.Before(partial.State.Cursor.Add(-3 * time.Second)) {
		t.Errorf("the retry read from %v, not from the heartbeat's cursor %v", got.Sub(t0), partial.State.Cursor.Sub(t0))
	}
	p := fusion.ProfileOf(fusion.Graph{}, fusion.ProfileOptions{}, digest(t, obs))
	if st, _ := p.Setup(dep.Setup.ID()); st.Requests != 100 || p.Invocations != 200 {
		t.Errorf("requests %d, invocations %d after the retry; want 100 and 200", st.Requests, p.Invocations)
	}
}

func digest(t *testing.T, obs activities.Observation) fusion.Digest {
	t.Helper()
	d, ok := obs.Digest()
	if !ok {
		t.Fatal("the observation carries no digest")
	}
	return d
}

// TestObserveBoundsOpenTraces: requests whose async part never logs stay open at most
// closeAfter, and no more than a bounded number of their records travel in the ReadState;
// the rest are digested as they are, none lost. It catches an unbounded state (a
// heartbeat or workflow history growing with the load).
func TestObserveBoundsOpenTraces(t *testing.T) {
	var env testsuite.WorkflowTestSuite
	t0 := time.Unix(1_764_000_000, 0)
	src := &logSource{}
	dep := deployment(treeAllRemote)
	for i := range 2000 { // 2,000 requests in 2 s, each waiting for an invocation of C that never logs
		at := t0.Add(time.Duration(i) * time.Millisecond)
		rec := fusion.TraceRecord{Trace: fmt.Sprintf("t%05d", i), Setup: dep.Setup.ID(), Root: "A", RequestID: fmt.Sprintf("r%05d", i), MemoryMB: 128,
			Start: at.UnixMicro(), Duration: 1000, Calls: []fusion.CallRecord{{Caller: "A", Callee: "C", Mode: fusion.Async, Remote: true, Start: at.UnixMicro(), Duration: 100}}}
		src.events = append(src.events, logged{at: at, rec: &rec})
	}
	acts := newActs(t, newFakeDeployer(), src)
	ae := env.NewTestActivityEnvironment()
	ae.RegisterActivity(acts)
	obs := observe(t, ae, acts, activities.ObserveInput{App: "tree", Deployments: []activities.Deployment{dep}, Start: t0, MinWarm: 1 << 20, MaxWait: 3 * time.Second})
	if n := len(obs.State.Open); n > 500 {
		t.Errorf("%d open records in the state, want at most 500", n)
	}
	p := fusion.ProfileOf(fusion.Graph{}, fusion.ProfileOptions{}, digest(t, obs))
	if st, _ := p.Setup(dep.Setup.ID()); st.Requests != 2000 {
		t.Errorf("%d requests digested or open, want 2000", st.Requests)
	}
}
