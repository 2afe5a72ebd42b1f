package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunBoundedByCount(t *testing.T) {
	var n atomic.Int32
	res, err := Run(context.Background(), TargetFunc(func(ctx context.Context) error {
		if n.Add(1)%10 == 0 {
			return errors.New("every tenth fails")
		}
		return nil
	}), Options{Rate: 2000, Requests: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Started != 100 || res.OK != 90 || res.Errors != 10 || res.ErrorCounts["every tenth fails"] != 10 {
		t.Fatalf("result %+v", res)
	}
	if res.Percentile(50) > res.Percentile(99) {
		t.Fatal("percentiles out of order")
	}
}

func TestRunBoundedByTimeIsOpenLoop(t *testing.T) {
	// A target slower than the whole run: an open loop keeps starting requests, up to the
	// in-flight limit, and counts the ones it had to skip; the per-request timeout ends them.
	var snaps atomic.Int32
	res, err := Run(context.Background(), TargetFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}), Options{Rate: 500, Duration: 200 * time.Millisecond, MaxInFlight: 5, Timeout: 300 * time.Millisecond,
		Progress: func(Snapshot) { snaps.Add(1) }, ProgressEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Started != 5 || res.Errors != 5 || res.Skipped < 80 || snaps.Load() < 2 {
		t.Fatalf("result %+v after %d progress reports: want 5 started (the in-flight limit), the rest skipped", res, snaps.Load())
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Rate: 0, Requests: 1}, {Rate: 10}, {Rate: 10, Requests: -1}} {
		if _, err := Run(context.Background(), TargetFunc(func(context.Context) error { return nil }), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	_, err := Run(context.Background(), nil, Options{Rate: 10})
	if err == nil || !strings.Contains(err.Error(), "unbounded") {
		t.Fatalf("got %v", err)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	go func() {
		for n.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	res, err := Run(ctx, TargetFunc(func(context.Context) error { n.Add(1); return nil }), Options{Rate: 100, Duration: time.Hour})
	if err != nil || res.Started < 3 || res.Started > 1000 {
		t.Fatalf("result %+v, %v", res, err)
	}
}

// Catches grouping errors by their whole text (a request ID in each message means nothing
// groups) and a cap on kinds that drops errors from the counts.
func TestRunGroupsErrorsByKindAndCountsEvery(t *testing.T) {
	var n atomic.Int32
	res, err := Run(context.Background(), TargetFunc(func(ctx context.Context) error {
		i := n.Add(1)
		switch {
		case i%4 == 0:
			return fmt.Errorf("StatusCode: 404, RequestID: %d, ResourceNotFoundException", i)
		case i%4 == 1:
			return fmt.Errorf("kind-%d", i) // a new kind each time: more than MaxErrorKinds
		}
		return fmt.Errorf("StatusCode: 429, RequestID: %d, TooManyRequestsException", i)
	}), Options{Rate: 5000, Requests: 800, Classify: func(err error) string {
		msg := err.Error()
		if i := strings.Index(msg, ", RequestID"); i >= 0 {
			return msg[:i] + msg[strings.LastIndex(msg, ","):]
		}
		return msg
	}})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, c := range res.ErrorCounts {
		sum += c
	}
	if res.Errors != 800 || sum != 800 {
		t.Fatalf("%d errors, %d counted in kinds: want every error in a kind", res.Errors, sum)
	}
	if got := res.ErrorCounts["StatusCode: 429, TooManyRequestsException"]; got != 400 {
		t.Errorf("throttles: %d, want 400 in one kind; kinds %v", got, res.ErrorKinds()[:3])
	}
	if got := res.ErrorCounts["StatusCode: 404, ResourceNotFoundException"]; got != 200 {
		t.Errorf("not found: %d, want 200", got)
	}
	if len(res.ErrorCounts) != MaxErrorKinds+1 || res.ErrorCounts[OtherErrors] != 200-(MaxErrorKinds-2) {
		t.Errorf("%d kinds, %d other: want %d kinds and the rest under %q", len(res.ErrorCounts), res.ErrorCounts[OtherErrors], MaxErrorKinds, OtherErrors)
	}
	if k := res.ErrorKinds(); k[0] != "StatusCode: 429, TooManyRequestsException" || !strings.Contains(res.ErrorExamples[k[0]], "RequestID") {
		t.Errorf("most frequent kind %q with example %q", k[0], res.ErrorExamples[k[0]])
	}
}

// Catches waiting out the per-request timeout after Ctrl-C, and counting requests cut short
// by the interruption as errors of the system under load.
func TestRunDrainsBrieflyOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	target := TargetFunc(func(rctx context.Context) error {
		if started.Add(1) == 3 {
			cancel()
		}
		<-rctx.Done()
		return rctx.Err()
	})
	done := make(chan Result, 1)
	go func() {
		res, _ := Run(ctx, target, Options{Rate: 1000, Duration: time.Hour, Timeout: time.Hour, Drain: 20 * time.Millisecond})
		done <- res
	}()
	select {
	case res := <-done:
		if !res.Interrupted || res.Errors != 0 || res.Abandoned != res.Started || res.Started < 3 {
			t.Fatalf("result %+v: want interrupted, every request abandoned, no errors", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancellation within the drain")
	}
}
