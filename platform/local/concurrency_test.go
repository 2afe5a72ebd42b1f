package local

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// holdSlots starts n synchronous invocations of fn that each sleep ms, and waits until the
// platform counts all n in flight. The returned wait gives their errors.
func (e *testEnv) holdSlots(t *testing.T, fn string, n, ms int) (wait func() []error) {
	t.Helper()
	before := e.inFlight(fn)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.lc.Invoke(context.Background(), &lambda.InvokeInput{
				FunctionName: aws.String(fn), Payload: []byte(`{"op":"sleep","ms":` + strconv.Itoa(ms) + `}`),
			})
			if err == nil && out.FunctionError != nil {
				err = errors.New(string(out.Payload))
			}
			errs[i] = err
		}()
	}
	eventually(t, 20*time.Second, strconv.Itoa(n)+" invocations of "+fn+" in flight", func() bool {
		return e.inFlight(fn) == before+n
	})
	return func() []error { wg.Wait(); return errs }
}

func (e *testEnv) inFlight(fn string) int {
	for _, f := range e.p.Status().Functions {
		if f.Name == fn {
			return f.InFlight
		}
	}
	return 0
}

// throttleReason invokes fn once and returns the reason of its TooManyRequestsException, or
// fails the test when it was not throttled.
func (e *testEnv) throttleReason(t *testing.T, fn string) types.ThrottleReason {
	t.Helper()
	_, err := e.lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{}`)})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) {
		t.Fatalf("invoke %s: %v, want TooManyRequestsException", fn, err)
	}
	return tm.Reason
}

// TestAccountConcurrency: a limit shared by all functions, reserved concurrency set aside from
// it, and no cap per function. It catches a per-function cap below the pool (the old default of
// 10 instances per function refused the 11th request), reserved concurrency that is not
// enforced, a pool that is not shared between functions, and events of one function that never
// run when another function frees a slot of the pool.
func TestAccountConcurrency(t *testing.T) {
	e := newTestEnv(t, Options{ConcurrencyLimit: 20, AsyncRetryDelays: []time.Duration{}})
	ctx := context.Background()
	for _, fn := range []string{"res", "free", "other"} {
		e.create(t, fn)
	}
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("res"), ReservedConcurrentExecutions: aws.Int32(3),
	}); err != nil {
		t.Fatalf("PutFunctionConcurrency: %v", err)
	}
	// A reservation may not leave less than the minimum unreserved (a tenth of 20).
	var ip *types.InvalidParameterValueException
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("free"), ReservedConcurrentExecutions: aws.Int32(16),
	}); !errors.As(err, &ip) {
		t.Fatalf("reserving 16 of the 17 left: %v, want InvalidParameterValueException", err)
	}

	// Reserved concurrency N: the (N+1)th concurrent request is throttled.
	waitRes := e.holdSlots(t, "res", 3, 4000)
	if r := e.throttleReason(t, "res"); r != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Errorf("4th request of a function reserving 3: reason %q", r)
	}

	// Without a reservation, 12 requests at once (more than any per-function cap of 10) and then
	// the rest of the unreserved pool (20 - 3 = 17) run; the pool is shared, so another
	// function without a reservation is throttled now too.
	waitFree := e.holdSlots(t, "free", 12, 4000)
	waitFree2 := e.holdSlots(t, "free", 5, 4000)
	for _, fn := range []string{"free", "other"} {
		if r := e.throttleReason(t, fn); r != types.ThrottleReasonConcurrentInvocationLimitExceeded {
			t.Errorf("%s beyond the unreserved pool: reason %q, want ConcurrentInvocationLimitExceeded", fn, r)
		}
	}
	// An event of "other" waits for the pool and runs once a request of "free" ends.
	if _, err := e.lc.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("other"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"op":"log","lines":["waited-for-the-pool"]}`),
	}); err != nil {
		t.Fatalf("Event invoke at the limit: %v", err)
	}
	for _, f := range e.p.Status().Functions {
		if f.Name == "other" && (f.Queued != 1 || f.InFlight != 0) {
			t.Errorf("event at the limit: queued %d, in flight %d; want it waiting", f.Queued, f.InFlight)
		}
	}
	for name, wait := range map[string]func() []error{"res": waitRes, "free": waitFree, "free ": waitFree2} {
		for i, err := range wait() {
			if err != nil {
				t.Errorf("%s request %d within its limit failed: %v", name, i, err)
			}
		}
	}
	eventually(t, 10*time.Second, "the waiting event to run", func() bool {
		return len(e.logMessages(t, "other", "waited-for-the-pool")) == 1
	})
	if st := e.p.Status(); st.ConcurrencyLimit != 20 || st.Reserved != 3 {
		t.Errorf("Status limit %d reserved %d, want 20 and 3", st.ConcurrencyLimit, st.Reserved)
	}
}

// TestStartsAreBounded: a burst against a function with a slow init starts at most MaxStarting
// instances at once, and the waiting requests take an instance that came free instead of each
// starting one. It catches unbounded scale-out (every request of the burst starting a process of
// its own, which on a saturated machine became hundreds of processes slowing each other down)
// and waiters that never wake (the burst would time out).
func TestStartsAreBounded(t *testing.T) {
	e := newTestEnv(t, Options{MaxStarting: 1})
	e.create(t, "slow", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"INIT_SLEEP_MS": "300"}}
	})
	const burst = 8
	var wg sync.WaitGroup
	errs := make([]error, burst)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("slow"), Payload: []byte(`{}`)})
			if err == nil && out.FunctionError != nil {
				err = errors.New(string(out.Payload))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	started := testutil.ToFloat64(e.p.metrics.coldStarts.WithLabelValues("slow"))
	if started > burst/2 {
		t.Errorf("%v instances started for a burst of %d with MaxStarting 1, want the waiting requests served by freed instances", started, burst)
	}
	if waits := testutil.ToFloat64(e.p.metrics.startWaits); waits == 0 {
		t.Errorf("no request waited for a start slot")
	}
}
