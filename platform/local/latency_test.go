package local

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestParseLatencyProfile(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{"", "none", ""}, {"none", "none", ""}, {"aws", "aws", ""}, {" AWS ", "aws", ""},
		{"gcp", "", `latency profile "gcp": want "none" or "aws"`},
	} {
		lp, err := ParseLatencyProfile(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseLatencyProfile(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || lp.String() != c.want {
			t.Errorf("ParseLatencyProfile(%q) = %v, %v; want %s", c.in, lp, err, c.want)
		}
	}
	if _, err := New(Options{DataDir: t.TempDir(), LatencyProfile: LatencyProfile{Invoke: Delay{Median: -time.Second}}}); err == nil ||
		!strings.Contains(err.Error(), "LatencyProfile.Invoke") {
		t.Errorf("New with a negative delay: %v, want an error naming LatencyProfile.Invoke", err)
	}
	// The AWS profile's medians are the cited figures.
	if p := LatencyProfileAWS; p.Invoke.Median != 25*time.Millisecond || p.ColdStart.Median != 125*time.Millisecond || p.EventQueue.Median != 125*time.Millisecond {
		t.Errorf("LatencyProfileAWS = %+v", p)
	}
}

// TestLatencyProfile runs a profile without spread (every delay its median) and checks each
// path Lambda spends time on gets its delay: it catches a platform that leaves out the Invoke
// round trip, the sandbox creation of a cold start, the event queueing, or the delay of calls
// that functions make to functions (they come through the same Invoke API).
func TestLatencyProfile(t *testing.T) {
	const invoke, queue, cold = 150 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond
	e := newTestEnv(t, Options{LatencyProfile: LatencyProfile{
		Name: "test", Invoke: Delay{Median: invoke}, EventQueue: Delay{Median: queue}, ColdStart: Delay{Median: cold},
	}})
	ctx := context.Background()
	e.create(t, "a")
	e.create(t, "b")
	if st := e.p.Status(); st.LatencyProfile != "test" {
		t.Errorf("Status().LatencyProfile = %q", st.LatencyProfile)
	}

	timed := func(fn string, req any) time.Duration {
		t.Helper()
		start := time.Now()
		e.invoke(t, fn, req)
		return time.Since(start)
	}
	if d := timed("b", map[string]any{}); d < invoke+cold {
		t.Errorf("cold invoke took %v, want at least the invoke and sandbox delays, %v", d, invoke+cold)
	}
	if d := timed("b", map[string]any{}); d < invoke || d >= invoke+cold {
		t.Errorf("warm invoke took %v, want the invoke delay %v and no sandbox", d, invoke)
	}
	timed("a", map[string]any{}) // a warm now
	// a calls b through the platform from inside: two invoke delays.
	if d := timed("a", map[string]any{"op": "invoke", "target": "b", "body": "{}"}); d < 2*invoke {
		t.Errorf("a call with a remote call inside took %v, want at least two invoke delays, %v", d, 2*invoke)
	}

	start := time.Now()
	if _, err := e.lc.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("b"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"op":"log","lines":["queued-with-delay"]}`),
	}); err != nil {
		t.Fatalf("Event invoke: %v", err)
	}
	if d := time.Since(start); d < invoke {
		t.Errorf("Event invoke answered after %v, want the invoke delay %v first", d, invoke)
	}
	accepted := time.Now()
	eventually(t, 10*time.Second, "the event to run", func() bool {
		return len(e.logMessages(t, "b", "queued-with-delay")) == 1
	})
	if d := time.Since(accepted); d < queue {
		t.Errorf("event ran %v after its 202, want at least the queueing delay %v", d, queue)
	}
}
