package local

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// heapInUse is the live heap after a collection: the platform runs in the test's process.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestFloodKeepsMemoryBounded floods the platform with events for throttled functions and with
// logs. Before, it queued up to 10,000 events of 256 KB per function with no bound across
// functions (1,200 events of 250 KB raised RSS from 283 to 630 MB) and kept 16 MB of logs per
// group forever. Now events beyond AsyncQueueBytes are refused with TooManyRequestsException,
// logs stay within LogBytes across groups, and DeleteFunction frees its function's events.
func TestFloodKeepsMemoryBounded(t *testing.T) {
	const budget, logBudget = 8 << 20, 4 << 20
	e := newTestEnv(t, Options{AsyncQueueBytes: budget, LogBytes: logBudget})
	ctx := context.Background()
	fns := []string{"q0", "q1", "q2", "q3"}
	for _, fn := range fns {
		e.create(t, fn)
		if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
	}
	before := heapInUse()
	payload := bigJSON(250 << 10)
	accepted, refused := 0, 0
	for i := range 200 { // 50 MB offered
		_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fns[i%len(fns)]), InvocationType: types.InvocationTypeEvent, Payload: payload})
		var throttled *types.TooManyRequestsException
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &throttled):
			refused++
		default:
			t.Fatalf("Event %d: %v", i, err)
		}
	}
	held := e.p.Status().AsyncBytes
	grown := heapInUse() - before
	t.Logf("events: %d accepted, %d refused, %d bytes held, heap grew %d bytes", accepted, refused, held, grown)
	if refused == 0 || held > budget || int64(accepted)*int64(len(payload)) > budget {
		t.Errorf("%d events accepted (%d bytes held), want at most %d bytes", accepted, held, budget)
	}
	if grown > budget+16<<20 {
		t.Errorf("the heap grew by %d bytes for a budget of %d", grown, budget)
	}

	// Logs: 12 MB of lines across two groups stay within the bound, newest kept.
	line := strings.Repeat("l", 64<<10)
	lines := make([]string, 16)
	for i := range lines {
		lines[i] = line
	}
	for _, fn := range []string{"chatty0", "chatty1"} {
		e.create(t, fn)
		for range 6 {
			e.invoke(t, fn, map[string]any{"op": "log", "lines": lines})
		}
	}
	eventually(t, 10*time.Second, "the last REPORT line", func() bool {
		return len(e.logMessages(t, "chatty1", "REPORT")) > 0
	})
	if got := e.p.Status().LogBytes; got > logBudget || got < logBudget/2 {
		t.Errorf("logs hold %d bytes, want at most %d (and most of it used)", got, logBudget)
	}

	// Deleting the throttled functions frees their events.
	for _, fn := range fns {
		if _, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)}); err != nil {
			t.Fatal(err)
		}
	}
	if held := e.p.Status().AsyncBytes; held != 0 {
		t.Errorf("after DeleteFunction, events still hold %d bytes", held)
	}
	if after := heapInUse() - before; after > 8<<20 {
		t.Errorf("after DeleteFunction the heap is still %d bytes above the start", after)
	}
}

// TestThrottledBeforeBodyIsRead: a throttled Invoke is answered before its payload is read, so
// throttled callers cost no payload memory. Before, the platform read the whole payload (up to
// 6 MB) and only then found the function throttled; this request's body never ends, so the old
// code never answered.
func TestThrottledBeforeBodyIsRead(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "full")
	ctx := context.Background()
	if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("full"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	body, w := io.Pipe()
	defer w.Close()
	go func() { _, _ = w.Write([]byte(`{"pad":"` + strings.Repeat("x", 1024))) }() // and nothing more
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	context.AfterFunc(rctx, func() { w.CloseWithError(rctx.Err()) }) // else the client waits for the body forever
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, e.p.Endpoint()+"/2015-03-31/functions/full/invocations", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", fakeSigV4)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a throttled Invoke with an unfinished body got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("X-Amzn-ErrorType") != errTooManyRequests {
		t.Errorf("throttled Invoke: %d %s, want 429 %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), errTooManyRequests)
	}
}
