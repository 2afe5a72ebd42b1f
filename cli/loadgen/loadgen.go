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
	Elapsed                      time.Duration
	Latencies                    []time.Duration // of successful requests, sorted
	ErrorCounts                  map[string]int  // error text → count (at most 20 distinct texts kept)
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

func (o *Options) validate() error {
	var errs []error
	if o.Rate <= 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate) {
		errs = append(errs, fmt.Errorf("rate %v: want requests per second > 0", o.Rate))
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		errs = append(errs, errors.New("unbounded load: set a duration or a number of requests"))
	}
	if o.Duration < 0 || o.Requests < 0 || o.MaxInFlight < 0 || o.Timeout < 0 {
		errs = append(errs, errors.New("duration, requests, in-flight limit and timeout must not be negative"))
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
	return errors.Join(errs...)
}

// Run drives the load until a bound is reached or ctx is done, waits for requests in flight
// and returns the figures. It returns an error only for invalid options.
func Run(ctx context.Context, t Target, opts Options) (Result, error) {
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	var (
		mu       sync.Mutex
		res      = Result{ErrorCounts: map[string]int{}}
		inFlight int
		wg       sync.WaitGroup
	)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / opts.Rate)
	snapshot := func() Snapshot {
		mu.Lock()
		defer mu.Unlock()
		lat := slices.Clone(res.Latencies)
		slices.Sort(lat)
		return Snapshot{Elapsed: time.Since(start), Started: res.Started, OK: res.OK, Errors: res.Errors,
			Skipped: res.Skipped, InFlight: inFlight, P50: fusion.QuantileDuration(lat, 0.5)}
	}
	nextProgress := start.Add(opts.ProgressEvery)
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if (opts.Requests > 0 && i >= opts.Requests) || (opts.Duration > 0 && due.Sub(start) >= opts.Duration) {
			break
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		if opts.Progress != nil && !time.Now().Before(nextProgress) {
			opts.Progress(snapshot())
			nextProgress = nextProgress.Add(opts.ProgressEvery)
		}
		mu.Lock()
		if inFlight >= opts.MaxInFlight {
			res.Skipped++
			mu.Unlock()
			continue
		}
		inFlight++
		res.Started++
		mu.Unlock()
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Timeout)
			err := t.Do(rctx)
			cancel()
			lat := time.Since(due) // from the scheduled start: queueing counts
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			if err != nil {
				res.Errors++
				if msg := err.Error(); res.ErrorCounts[msg] > 0 || len(res.ErrorCounts) < 20 {
					res.ErrorCounts[msg]++
				}
				return
			}
			res.OK++
			res.Latencies = append(res.Latencies, lat)
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	sort.Slice(res.Latencies, func(i, j int) bool { return res.Latencies[i] < res.Latencies[j] })
	if opts.Progress != nil {
		opts.Progress(snapshot())
	}
	return res, nil
}
