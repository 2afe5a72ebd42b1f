package activities

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

// Bounds of incremental reading.
const (
	// readOverlap is how far before its cursor each read starts again, for log events that
	// reach the log store a little after their timestamp (CloudWatch Logs ingests with a
	// delay); what is read twice is recognised and dropped.
	readOverlap = 2 * time.Second
	// closeAfter is how long after a trace's first invocation started it stays open for
	// records still to come, unless it is complete before (its root, an invocation for
	// every remote call and a REPORT line for every invocation).
	closeAfter = 10 * time.Second
	// maxOpen bounds the records of open traces, which a ReadState carries (about 400
	// bytes each); beyond it the oldest traces are closed as they are.
	maxOpen = 500
	// DigestKeep bounds each sample of a digest that an observation carries (values), and
	// DigestRequests the per-request samples per setup that the judge compares.
	DigestKeep     = 64
	DigestRequests = 2000
	// PlanDigestKeep bounds each sample of the digests the workflows keep for the planner
	// (without per-request samples), so that eight of them fit a workflow's input.
	PlanDigestKeep = 48
)

// ReadState is where an incremental read of an app's traces stands. Observe heartbeats it
// and returns it: a retried Observe resumes from the heartbeat, and the next Observe of the
// same window goes on from the last one's state (ObserveInput.From), so nothing is read
// twice but a short overlap.
type ReadState struct {
	// Cursor is where reading goes on.
	Cursor time.Time `json:"cursor"`
	// Digest holds the traces read and closed so far.
	Digest fusion.Digest `json:"digest"`
	// Closed names the traces digested lately, with when (Unix ms): their records read
	// again or late are dropped.
	Closed []ClosedTrace `json:"closed,omitempty"`
	// Open are the records of the traces still open (requests in flight), and Reports the
	// REPORT lines of their invocations.
	Open    []fusion.TraceRecord `json:"open,omitempty"`
	Reports []fusion.Report      `json:"reports,omitempty"`
}

// ClosedTrace is a trace already in a digest.
type ClosedTrace struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

// traceReader reads an app's traces incrementally: each poll fetches what was logged since
// its cursor, keeps the records of traces still open, and digests the traces that are
// complete or old enough.
type traceReader struct {
	src    TraceSource
	app    string
	deps   []Deployment
	prices fusion.Prices
	state  ReadState
	start  time.Time // the window's start: nothing before it is read
	read   time.Time // events before it were fetched
	open   map[string][]fusion.TraceRecord
	first  map[string]int64 // trace → earliest invocation start (µs)
	seen   map[string]bool  // keys of the records read
	// reports are the REPORT lines read and not yet joined to a digested invocation, with
	// when they were read.
	reports map[string]readReport
	closed  map[string]int64
}

type readReport struct {
	rep fusion.Report
	at  time.Time
}

func newTraceReader(src TraceSource, app string, deps []Deployment, prices fusion.Prices, start time.Time, from *ReadState) *traceReader {
	r := &traceReader{src: src, app: app, deps: deps, prices: prices, start: start, open: map[string][]fusion.TraceRecord{},
		first: map[string]int64{}, seen: map[string]bool{}, reports: map[string]readReport{}, closed: map[string]int64{}}
	r.state.Cursor = start
	if from != nil {
		r.state = ReadState{Cursor: from.Cursor, Digest: from.Digest}
		for _, c := range from.Closed {
			r.closed[c.ID] = c.At
		}
		r.add(from.Open, from.Reports, from.Cursor)
	}
	r.read = r.state.Cursor
	return r
}

// poll fetches what was logged from the cursor (less the overlap) to now.
func (r *traceReader) poll(ctx context.Context, now time.Time) error {
	from := r.read.Add(-readOverlap)
	if from.Before(r.start) {
		from = r.start
	}
	tr, err := r.src.Traces(ctx, TraceQuery{App: r.app, Deployments: r.deps, Start: from, End: now})
	if err != nil {
		return err
	}
	r.add(tr.Records, tr.Reports, now)
	r.read = now
	return nil
}

// add keeps the records of traces not yet closed that were not read before, and the REPORT
// lines.
func (r *traceReader) add(recs []fusion.TraceRecord, reps []fusion.Report, now time.Time) {
	for _, rec := range recs {
		key := rec.RequestID
		if key == "" {
			key = rec.Trace + "/" + rec.Root + "/" + time.UnixMicro(rec.Start).String()
		}
		if _, done := r.closed[rec.Trace]; done || r.seen[key] {
			continue
		}
		r.seen[key] = true
		r.open[rec.Trace] = append(r.open[rec.Trace], rec)
		if f, ok := r.first[rec.Trace]; !ok || rec.Start < f {
			r.first[rec.Trace] = rec.Start
		}
	}
	for _, rep := range reps {
		if _, ok := r.reports[rep.RequestID]; !ok {
			r.reports[rep.RequestID] = readReport{rep: rep, at: now}
		}
	}
}

// close digests the open traces that are complete or started closeAfter before now (and
// the oldest beyond maxOpen records), and forgets what is old.
func (r *traceReader) close(now time.Time) {
	cutoff := now.Add(-closeAfter).UnixMicro()
	ids := slices.SortedFunc(maps.Keys(r.open), func(a, b string) int { return cmp.Compare(r.first[a], r.first[b]) })
	n := 0
	for _, id := range ids {
		n += len(r.open[id])
	}
	b := fusion.NewProfileBuilder(fusion.Graph{}, fusion.ProfileOptions{Prices: r.prices})
	closing := 0
	for _, id := range ids {
		if n <= maxOpen && r.first[id] >= cutoff && !r.complete(id) {
			continue
		}
		n -= len(r.open[id])
		r.addTo(b, id)
		r.closed[id] = now.UnixMilli()
		closing++
	}
	if closing > 0 {
		r.state.Digest = r.state.Digest.Merge(b.Digest()).Thin(DigestKeep, DigestRequests)
	}
	forget := now.Add(-3 * closeAfter)
	maps.DeleteFunc(r.closed, func(_ string, at int64) bool { return at < forget.UnixMilli() })
	maps.DeleteFunc(r.reports, func(_ string, rr readReport) bool { return rr.at.Before(forget) })
	r.state.Cursor = r.read
	r.state.Closed = r.state.Closed[:0]
	for _, id := range slices.Sorted(maps.Keys(r.closed)) {
		r.state.Closed = append(r.state.Closed, ClosedTrace{ID: id, At: r.closed[id]})
	}
	r.state.Open, r.state.Reports = nil, nil
	for _, id := range ids {
		for _, rec := range r.open[id] {
			r.state.Open = append(r.state.Open, rec)
			if rr, ok := r.reports[rec.RequestID]; ok {
				r.state.Reports = append(r.state.Reports, rr.rep)
			}
		}
	}
}

// complete reports whether an open trace has its root, an invocation for every remote call
// made, and a REPORT line for every invocation.
func (r *traceReader) complete(id string) bool {
	recs := r.open[id]
	root := false
	need := map[[2]string]int{}
	for _, rec := range recs {
		if _, ok := r.reports[rec.RequestID]; !ok {
			return false
		}
		if rec.Caller == "" && !rec.Async {
			root = true
		} else {
			need[[2]string{rec.Caller, rec.Root}]--
		}
		for _, c := range rec.Calls {
			if c.Remote {
				need[[2]string{c.Caller, c.Callee}]++
			}
		}
	}
	for _, n := range need {
		if n != 0 {
			return false
		}
	}
	return root
}

// addTo adds an open trace with its REPORT lines to b and forgets it.
func (r *traceReader) addTo(b *fusion.ProfileBuilder, id string) {
	for _, rec := range r.open[id] {
		b.AddRecords(rec)
		if rr, ok := r.reports[rec.RequestID]; ok {
			b.AddReports(rr.rep)
			delete(r.reports, rec.RequestID)
		}
	}
	delete(r.open, id)
	delete(r.first, id)
}

// pending is the digest of the traces still open.
func (r *traceReader) pending() fusion.Digest {
	b := fusion.NewProfileBuilder(fusion.Graph{}, fusion.ProfileOptions{Prices: r.prices})
	for _, recs := range r.open {
		b.AddRecords(recs...)
		for _, rec := range recs {
			if rr, ok := r.reports[rec.RequestID]; ok {
				b.AddReports(rr.rep)
			}
		}
	}
	return b.Digest().Thin(DigestKeep, DigestRequests)
}
