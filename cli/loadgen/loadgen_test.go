package loadgen

import (
	"context"
	"errors"
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
