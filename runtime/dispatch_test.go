package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

// fakeInvoker records remote calls and answers them with a function of its own.
type fakeInvoker struct {
	mu     sync.Mutex
	calls  []fakeCall
	answer func(ctx context.Context, function string, payload []byte, async bool) ([]byte, error)
}

type fakeCall struct {
	Function string
	Async    bool
	Envelope envelope
}

var _ Invoker = (*fakeInvoker)(nil)

func (f *fakeInvoker) Invoke(ctx context.Context, function string, payload []byte, async bool) ([]byte, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("fake invoker: bad envelope %s: %w", payload, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{Function: function, Async: async, Envelope: env})
	f.mu.Unlock()
	if f.answer != nil {
		return f.answer(ctx, function, payload, async)
	}
	return []byte(`"remote:` + env.Fusionize.Task + `"`), nil
}

// testApp: A calls B (sync) and C (async); B calls C (sync); C echoes; F fails; P panics;
// S sleeps 20 ms; W calls S and returns.
func testApp(ran *atomic.Int32) *App {
	app := NewApp("t")
	app.Register("A", func(ctx context.Context, in []byte) ([]byte, error) {
		b, err := Call(ctx, "B", in)
		if err != nil {
			return nil, err
		}
		if err := CallAsync(ctx, "C", []byte(`"async"`)); err != nil {
			return nil, err
		}
		return append([]byte("A("), append(b, ')')...), nil
	})
	app.Register("B", func(ctx context.Context, in []byte) ([]byte, error) {
		c, err := Call(ctx, "C", in)
		return append([]byte("B"), c...), err
	})
	app.Register("C", func(ctx context.Context, in []byte) ([]byte, error) {
		if ran != nil {
			ran.Add(1)
		}
		return in, nil
	})
	app.Register("F", func(ctx context.Context, in []byte) ([]byte, error) { return nil, errors.New("boom") })
	app.Register("P", func(ctx context.Context, in []byte) ([]byte, error) { panic("kaput") })
	app.Register("S", func(ctx context.Context, in []byte) ([]byte, error) {
		time.Sleep(20 * time.Millisecond)
		return in, nil
	})
	app.Register("W", func(ctx context.Context, in []byte) ([]byte, error) { return Call(ctx, "S", in) })
	for _, callee := range []string{"F", "P", "X", "S"} {
		app.Register("call"+callee, func(ctx context.Context, in []byte) ([]byte, error) { return Call(ctx, callee, in) })
	}
	return app
}

func newTestRuntime(t *testing.T, app *App, setup, group string, inv Invoker) (*Runtime, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	rt, err := app.NewRuntime(Options{Config: Config{Setup: fusion.MustParseSetup(setup), Group: group}, Invoker: inv, Trace: &buf})
	if err != nil {
		t.Fatal(err)
	}
	return rt, &buf
}

func parseTraces(t *testing.T, buf *bytes.Buffer) []fusion.TraceRecord {
	t.Helper()
	var out []fusion.TraceRecord
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		rec, err := fusion.ParseTraceLine([]byte(line))
		if err != nil {
			t.Fatalf("trace line %s: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func callsOf(rec fusion.TraceRecord) []string {
	var out []string
	for _, c := range rec.Calls {
		where := "local"
		if c.Remote {
			where = "remote"
		}
		out = append(out, fmt.Sprintf("%s→%s %s %s", c.Caller, c.Callee, c.Mode, where))
	}
	return out
}

func TestDispatchDecisions(t *testing.T) {
	allTasks := "+B+C+F+P+S+W+callF+callP+callX+callS"
	tests := []struct {
		name       string
		setup      string
		group      string
		want       string
		wantCalls  []string
		wantRemote []string // function:async
	}{
		{
			name: "all inline", setup: "A" + allTasks + "@256", group: "A",
			want:      `A(B"x")`,
			wantCalls: []string{"B→C sync local", "A→B sync local", "A→C async local"},
		},
		{
			name: "sync remote, async local", setup: "A+C@256,B@128", group: "A",
			want:       `A("remote:B")`,
			wantCalls:  []string{"A→B sync remote", "A→C async local"},
			wantRemote: []string{"t-{id}-B:false"},
		},
		{
			name: "sync local, async remote", setup: "A+B@256,C@128", group: "A",
			want:       `A(B"remote:C")`,
			wantCalls:  []string{"B→C sync remote", "A→B sync local", "A→C async remote"},
			wantRemote: []string{"t-{id}-C:false", "t-{id}-C:true"},
		},
		{
			name: "task inlined in two groups", setup: "A+B+C@256,C@128", group: "A",
			want:      `A(B"x")`,
			wantCalls: []string{"B→C sync local", "A→B sync local", "A→C async local"},
		},
		{
			name: "all remote", setup: "A@128,B@128,C@128", group: "A",
			want:       `A("remote:B")`,
			wantCalls:  []string{"A→B sync remote", "A→C async remote"},
			wantRemote: []string{"t-{id}-B:false", "t-{id}-C:true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Int32
			inv := &fakeInvoker{}
			rt, buf := newTestRuntime(t, testApp(&ran), tt.setup, tt.group, inv)
			out, err := rt.Invoke(context.Background(), []byte(`"x"`))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("output %s, want %s", out, tt.want)
			}
			recs := parseTraces(t, buf)
			if len(recs) != 1 {
				t.Fatalf("%d trace lines, want 1", len(recs))
			}
			if got := callsOf(recs[0]); strings.Join(got, "; ") != strings.Join(tt.wantCalls, "; ") {
				t.Errorf("calls %q, want %q", got, tt.wantCalls)
			}
			id := fusion.MustParseSetup(tt.setup).ID()
			var remote []string
			for _, c := range inv.calls {
				remote = append(remote, fmt.Sprintf("%s:%v", strings.ReplaceAll(c.Function, id, "{id}"), c.Async))
				if c.Envelope.Fusionize.Trace != recs[0].Trace {
					t.Errorf("remote call carries trace %q, want %q", c.Envelope.Fusionize.Trace, recs[0].Trace)
				}
			}
			if strings.Join(remote, " ") != strings.Join(tt.wantRemote, " ") {
				t.Errorf("remote calls %q, want %q", remote, tt.wantRemote)
			}
			if rec := recs[0]; rec.Setup != id || rec.Root != "A" || !rec.Cold || rec.Function != "t-"+id+"-A" {
				t.Errorf("trace header %+v", rec)
			}
		})
	}
}

func TestInlineAsyncFinishesBeforeReturn(t *testing.T) {
	var ran atomic.Int32
	app := NewApp("t")
	app.Register("A", func(ctx context.Context, in []byte) ([]byte, error) {
		for range 5 {
			if err := CallAsync(ctx, "C", nil); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	app.Register("C", func(ctx context.Context, in []byte) ([]byte, error) {
		time.Sleep(10 * time.Millisecond)
		ran.Add(1)
		return nil, nil
	})
	rt, buf := newTestRuntime(t, app, "A+C@128", "A", nil)
	if _, err := rt.Invoke(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := ran.Load(); n != 5 {
		t.Fatalf("%d of 5 inline async runs finished before the handler returned", n)
	}
	if recs := parseTraces(t, buf); len(recs[0].Tasks) != 6 {
		t.Errorf("%d task runs recorded, want 6", len(recs[0].Tasks))
	}
}

func TestDispatchErrors(t *testing.T) {
	timeoutInvoker := &fakeInvoker{answer: func(ctx context.Context, _ string, _ []byte, _ bool) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	failingInvoker := &fakeInvoker{answer: func(context.Context, string, []byte, bool) ([]byte, error) {
		return nil, functionError("Unhandled", []byte(`{"errorMessage":"disk full","errorType":"IOError"}`))
	}}
	tests := []struct {
		name, setup, group, entry string
		inv                       Invoker
		timeout                   time.Duration
		want                      []string
		is                        error
	}{
		{name: "local callee error", setup: "callF+F@128", group: "callF", want: []string{`call "F" from "callF"`, "boom"}},
		{name: "local callee panic", setup: "callP+P@128", group: "callP", want: []string{`call "P" from "callP"`, `task "P" panicked: kaput`}},
		{name: "unknown task", setup: "callX@128", group: "callX", want: []string{`call "X" from "callX"`, `unknown task "X"`}, is: ErrUnknownTask},
		{name: "setup does not cover callee", setup: "callF@128", group: "callF", inv: &fakeInvoker{}, want: []string{`call "F" from "callF"`, `nor has a group rooted at it`}, is: ErrNoSetupRoute},
		{name: "remote function error", setup: "callF@128,F@128", group: "callF", inv: failingInvoker, want: []string{`call "F" from "callF" (function t-`, "IOError: disk full"}},
		{name: "remote timeout", setup: "callS@128,S@128", group: "callS", inv: timeoutInvoker, timeout: 30 * time.Millisecond, want: []string{`call "S" from "callS"`, "deadline exceeded"}, is: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, buf := newTestRuntime(t, testApp(nil), tt.setup, tt.group, tt.inv)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := rt.Invoke(ctx, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if rec := parseTraces(t, buf)[0]; rec.Error == "" {
				t.Error("trace line has no error")
			}
		})
	}
}

func TestCallOutsideTask(t *testing.T) {
	if _, err := Call(context.Background(), "A", nil); !errors.Is(err, ErrOutsideTask) {
		t.Fatalf("got %v, want ErrOutsideTask", err)
	}
	if err := CallAsync(context.Background(), "A", nil); !errors.Is(err, ErrOutsideTask) {
		t.Fatalf("got %v, want ErrOutsideTask", err)
	}
}

func TestNewRuntimeRejectsBadConfig(t *testing.T) {
	app := testApp(nil)
	tests := []struct {
		name, setup, group string
		inv                Invoker
		want               string
	}{
		{"group not in setup", "A+B+C@128", "Z", nil, `group "Z"`},
		{"task not in bundle", "A+B+C+Q@128", "A", nil, `task "Q" is not registered`},
		{"remote groups without invoker", "A@128,B@128,C@128", "A", nil, "no Invoker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := app.NewRuntime(Options{Config: Config{Setup: fusion.MustParseSetup(tt.setup), Group: tt.group}, Invoker: tt.inv})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSelfTimeExcludesSyncWaits(t *testing.T) {
	rt, buf := newTestRuntime(t, testApp(nil), "W+S@128", "W", nil)
	if _, err := rt.Invoke(context.Background(), []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	rec := parseTraces(t, buf)[0]
	runs := map[string]fusion.TaskRun{}
	for _, r := range rec.Tasks {
		runs[r.Task] = r
	}
	w, s := runs["W"], runs["S"]
	if s.Self < 15_000 || w.Duration < s.Duration {
		t.Fatalf("S self %d µs, W duration %d µs, S duration %d µs", s.Self, w.Duration, s.Duration)
	}
	if w.Self > w.Duration-s.Duration+2_000 {
		t.Errorf("W self %d µs should exclude its %d µs wait on S", w.Self, s.Duration)
	}
}

func TestParallelSyncWaitsCountOnce(t *testing.T) {
	app := NewApp("t")
	app.Register("P", func(ctx context.Context, in []byte) ([]byte, error) {
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _, _ = Call(ctx, "S", nil) })
		}
		wg.Wait()
		return nil, nil
	})
	app.Register("S", func(ctx context.Context, in []byte) ([]byte, error) {
		time.Sleep(20 * time.Millisecond)
		return nil, nil
	})
	rt, buf := newTestRuntime(t, app, "P+S@128", "P", nil)
	if _, err := rt.Invoke(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range parseTraces(t, buf)[0].Tasks {
		if r.Task == "P" && (r.Self < 0 || r.Self > 10_000) {
			t.Errorf("P self %d µs of %d µs: three parallel 20 ms waits must count once", r.Self, r.Duration)
		}
	}
}

func TestRemoteCalleeReadsEnvelope(t *testing.T) {
	rt, buf := newTestRuntime(t, testApp(nil), "A@128,B@128,C@128", "C", &fakeInvoker{})
	payload, _ := json.Marshal(envelope{Fusionize: envelopeMeta{V: 1, Trace: "abc", Caller: "B", Task: "C", Async: true}, Input: json.RawMessage(`{"k":1}`)})
	out, err := rt.Invoke(context.Background(), payload)
	if err != nil || string(out) != `{"k":1}` {
		t.Fatalf("got %s, %v", out, err)
	}
	rec := parseTraces(t, buf)[0]
	if rec.Trace != "abc" || rec.Caller != "B" || !rec.Async {
		t.Errorf("trace %+v should carry the caller's trace ID, caller and async flag", rec)
	}
	// Binary input travels as base64.
	payload, _ = json.Marshal(envelope{Fusionize: envelopeMeta{V: 1, Trace: "abc", Caller: "B", Task: "C"}, Input64: []byte{0, 1, 2}})
	if out, err := rt.Invoke(context.Background(), payload); err != nil || !bytes.Equal(out, []byte{0, 1, 2}) {
		t.Fatalf("binary input: got %v, %v", out, err)
	}
	// A call meant for another group is refused, not run.
	payload, _ = json.Marshal(envelope{Fusionize: envelopeMeta{V: 1, Trace: "abc", Caller: "A", Task: "B"}})
	if _, err := rt.Invoke(context.Background(), payload); err == nil || !strings.Contains(err.Error(), `called for task "B"`) {
		t.Fatalf("misrouted call: %v", err)
	}
}

func TestRecordsAreBounded(t *testing.T) {
	app := NewApp("t")
	app.Register("L", func(ctx context.Context, in []byte) ([]byte, error) {
		for range MaxRecords + 10 {
			if _, err := Call(ctx, "N", nil); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	app.Register("N", func(ctx context.Context, in []byte) ([]byte, error) { return nil, nil })
	rt, buf := newTestRuntime(t, app, "L+N@128", "L", nil)
	if _, err := rt.Invoke(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rec := parseTraces(t, buf)[0]
	if len(rec.Calls) != MaxRecords || rec.Dropped != 10+11 || buf.Len() > 256<<10 {
		t.Fatalf("%d calls kept, %d dropped, line %d bytes", len(rec.Calls), rec.Dropped, buf.Len())
	}
}

func TestTraceRecordsCPUTime(t *testing.T) {
	app := NewApp("t")
	app.Register("B", func(ctx context.Context, in []byte) ([]byte, error) {
		// Busy until the process has used 20 ms of CPU (not 20 ms of wall
		// time, which a loaded machine turns into far less CPU), bounded in
		// wall time so an unsupported clock cannot hang the test.
		start, deadline := processCPU(), time.Now().Add(10*time.Second)
		x := 0
		for processCPU()-start < 20_000 && time.Now().Before(deadline) {
			for i := 0; i < 10_000; i++ {
				x++
			}
		}
		return []byte{byte(x)}, nil
	})
	rt, buf := newTestRuntime(t, app, "B@128", "B", nil)
	if _, err := rt.Invoke(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rec := parseTraces(t, buf)[0]
	// Catches a trace that records no CPU, or only part of it: the loop
	// used at least 20 ms of CPU inside the invocation.
	if processCPU() > 0 && rec.CPU < 20_000 {
		t.Fatalf("a busy loop of 20 ms CPU recorded %d µs of CPU", rec.CPU)
	}
}
