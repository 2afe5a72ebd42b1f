// Package loadgen drives an open-loop load: requests start at a constant arrival rate whether
// or not earlier ones have finished, the way independent clients arrive, bounded in count,
// time and requests in flight. Latency is measured from each request's scheduled start, so a
// slow system cannot hide its queueing (no coordinated omission). The optimizer only watches
// traffic; this is the traffic for the demo, the integration tests and `fusionize load`.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

// Target serves one request.
type Target interface {
	Do(ctx context.Context) error
}

// TargetFunc adapts a function to Target.
type TargetFunc func(ctx context.Context) error

// Do calls f.
func (f TargetFunc) Do(ctx context.Context) error { return f(ctx) }

// Options bound a run. At least one of Duration and Requests must be set.
type Options struct {
	Rate        float64       // requests per second (> 0)
	Duration    time.Duration // stop starting requests after this long; 0 means no time bound
	Requests    int           // stop after starting this many; 0 means no count bound
	MaxInFlight int           // requests in flight at most; a request due while full is skipped and counted; default 256
	Timeout     time.Duration // per request; default 30 s
	// Drain bounds the wait for requests in flight once ctx is done (Ctrl-C); requests still
	// running after it are cancelled and counted as Abandoned. Default: Timeout.
	Drain time.Duration
	// Classify names an error's kind; errors are counted per kind, with the first message of
	// each kind kept as its example. Default: the error's text. Give a function that leaves
	// out what differs per request (request IDs), or nothing groups.
	Classify func(error) string
	// Progress, when set, is called about once per ProgressEvery with the figures so far.
	Progress      func(Snapshot)
	ProgressEvery time.Duration // default 1 s
}

// Snapshot is a run's progress.
type Snapshot struct {
	Elapsed  time.Duration
	Started  int
	OK       int
	Errors   int
	Skipped  int
	InFlight int
	P50      time.Duration // of finished requests so far
}

// Result is a finished run.
type Result struct {
	Started, OK, Errors, Skipped int
	// Abandoned counts requests still in flight when the drain after cancellation ran out.
	Abandoned   int
	Elapsed     time.Duration
	Interrupted bool            // ctx ended the run before its bounds
	Latencies   []time.Duration // of successful requests, sorted
	// ErrorCounts counts errors per kind (Options.Classify); every error is in one kind, and
	// past MaxErrorKinds kinds the rest count under OtherErrors.
	ErrorCounts   map[string]int
	ErrorExamples map[string]string // kind → the first error message of that kind
}

// MaxErrorKinds bounds the distinct error kinds a Result keeps.
const MaxErrorKinds = 100

// OtherErrors is the kind of errors beyond MaxErrorKinds distinct kinds.
const OtherErrors = "other kinds"

// ErrorKinds returns the error kinds, most frequent first.
func (r Result) ErrorKinds() []string {
	kinds := make([]string, 0, len(r.ErrorCounts))
	for k := range r.ErrorCounts {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		a, b := kinds[i], kinds[j]
		if r.ErrorCounts[a] != r.ErrorCounts[b] {
			return r.ErrorCounts[a] > r.ErrorCounts[b]
		}
		return a < b
	})
	return kinds
}

func (r *Result) countError(kind string, err error) {
	r.Errors++
	if _, ok := r.ErrorCounts[kind]; !ok && len(r.ErrorCounts) >= MaxErrorKinds {
		kind = OtherErrors
	}
	if _, ok := r.ErrorExamples[kind]; !ok {
		r.ErrorExamples[kind] = err.Error()
	}
	r.ErrorCounts[kind]++
}

// Percentile returns the p-th percentile (0–100) of successful latencies, or 0.
func (r Result) Percentile(p float64) time.Duration {
	return fusion.QuantileDuration(r.Latencies, p/100)
}

// Throughput returns successful requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Validate reports every problem of the options, as Run would.
func (o Options) Validate() error { return o.validate() }

func (o *Options) validate() error {
	var errs []error
	if o.Rate <= 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate) {
		errs = append(errs, fmt.Errorf("rate %v: want requests per second > 0", o.Rate))
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		errs = append(errs, errors.New("unbounded load: set a duration or a number of requests"))
	}
	if o.Duration < 0 || o.Requests < 0 || o.MaxInFlight < 0 || o.Timeout < 0 || o.Drain < 0 {
		errs = append(errs, errors.New("duration, requests, in-flight limit, timeout and drain must not be negative"))
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 256
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	if o.Drain == 0 {
		o.Drain = o.Timeout
	}
	if o.Classify == nil {
		o.Classify = func(err error) string { return err.Error() }
	}
	return errors.Join(errs...)
}

// Run drives the load until a bound is reached or ctx is done, waits for requests in flight
// (after ctx is done, at most Options.Drain) and returns the figures. It returns an error only
// for invalid options.
func Run(ctx context.Context, t Target, opts Options) (Result, error) {
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	r := &runner{t: t, opts: opts, start: time.Now(),
		res: Result{ErrorCounts: map[string]int{}, ErrorExamples: map[string]string{}}}
	// Requests outlive ctx by at most Drain: a cancelled run still reports what finished.
	reqCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(opts.Drain, abandon)
		go func() { <-reqCtx.Done(); t.Stop() }()
	})
	defer stopDrain()
	r.res.Interrupted = !r.schedule(ctx, reqCtx)
	r.wg.Wait()
	r.res.Elapsed = time.Since(r.start)
	slices.Sort(r.res.Latencies)
	if opts.Progress != nil {
		opts.Progress(r.snapshot())
	}
	return r.res, nil
}

type runner struct {
	t        Target
	opts     Options
	start    time.Time
	mu       sync.Mutex
	res      Result
	inFlight int
	wg       sync.WaitGroup
}

// schedule starts requests at their due times until a bound is reached (true) or ctx is done
// (false).
func (r *runner) schedule(ctx, reqCtx context.Context) bool {
	interval := time.Duration(float64(time.Second) / r.opts.Rate)
	nextProgress := r.start.Add(r.opts.ProgressEvery)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := r.start.Add(time.Duration(i) * interval)
		if (r.opts.Requests > 0 && i >= r.opts.Requests) || (r.opts.Duration > 0 && due.Sub(r.start) >= r.opts.Duration) {
			return true
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return false
		}
		if r.opts.Progress != nil && !time.Now().Before(nextProgress) {
			r.opts.Progress(r.snapshot())
			nextProgress = nextProgress.Add(r.opts.ProgressEvery)
		}
		r.mu.Lock()
		if r.inFlight >= r.opts.MaxInFlight {
			r.res.Skipped++
			r.mu.Unlock()
			continue
		}
		r.inFlight++
		r.res.Started++
		r.mu.Unlock()
		r.wg.Go(func() { r.do(reqCtx, due) })
	}
}

// do runs one request and counts its outcome.
func (r *runner) do(reqCtx context.Context, due time.Time) {
	rctx, cancel := context.WithTimeout(reqCtx, r.opts.Timeout)
	err := r.t.Do(rctx)
	cancel()
	lat := time.Since(due) // from the scheduled start: queueing counts
	var kind string
	if err != nil && reqCtx.Err() == nil {
		kind = r.opts.Classify(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	switch {
	case err == nil:
		r.res.OK++
		r.res.Latencies = append(r.res.Latencies, lat)
	case reqCtx.Err() != nil:
		r.res.Abandoned++
	default:
		r.res.countError(kind, err)
	}
}

func (r *runner) snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := slices.Clone(r.res.Latencies)
	slices.Sort(lat)
	return Snapshot{Elapsed: time.Since(r.start), Started: r.res.Started, OK: r.res.OK, Errors: r.res.Errors,
		Skipped: r.res.Skipped, InFlight: r.inFlight, P50: fusion.QuantileDuration(lat, 0.5)}
}
