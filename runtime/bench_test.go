package runtime

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

// A task doing no work of its own, so the benchmarks measure the dispatch alone.
func noop(ctx context.Context, in []byte) ([]byte, error) { return in, nil }

// benchInvocation runs body inside one invocation of a group that inlines N.
func benchInvocation(b *testing.B, body TaskFunc) {
	app := NewApp("bench")
	app.Register("L", body)
	app.Register("N", noop)
	rt, err := app.NewRuntime(Options{Config: Config{Setup: mustSetup("L+N@128"), Group: "L"}, Trace: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rt.Invoke(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDirectCall is the baseline: a plain Go call of the task function.
func BenchmarkDirectCall(b *testing.B) {
	fn := TaskFunc(noop)
	in := []byte("x")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fn(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInlineSyncCall is runtime.Call of a task inlined in the caller's group, with its
// trace recording (past MaxRecords the records are counted only, as in a long invocation).
func BenchmarkInlineSyncCall(b *testing.B) {
	in := []byte("x")
	benchInvocation(b, func(ctx context.Context, _ []byte) ([]byte, error) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Call(ctx, "N", in); err != nil {
				b.Fatal(err)
			}
		}
		return nil, nil
	})
}

// BenchmarkInlineAsyncCall is runtime.CallAsync of an inlined task: a goroutine the
// invocation waits for.
func BenchmarkInlineAsyncCall(b *testing.B) {
	in := []byte("x")
	benchInvocation(b, func(ctx context.Context, _ []byte) ([]byte, error) {
		b.ReportAllocs()
		for b.Loop() {
			if err := CallAsync(ctx, "N", in); err != nil {
				b.Fatal(err)
			}
		}
		return nil, nil
	})
}

// BenchmarkTraceRecording is what tracing adds to one inline call: two clock readings, a
// task run record and a call record.
func BenchmarkTraceRecording(b *testing.B) {
	inv := &invocation{}
	inv.rec.Tasks = make([]fusion.TaskRun, 0, MaxRecords)
	inv.rec.Calls = make([]fusion.CallRecord, 0, MaxRecords)
	b.ReportAllocs()
	for b.Loop() {
		if len(inv.rec.Calls) == MaxRecords {
			inv.rec.Tasks, inv.rec.Calls = inv.rec.Tasks[:0], inv.rec.Calls[:0]
		}
		start := time.Now()
		end := time.Now()
		inv.recordTask(fusion.TaskRun{Task: "N", Start: start.UnixMicro(), Duration: end.Sub(start).Microseconds()})
		inv.recordCall(fusion.CallRecord{Caller: "L", Callee: "N", Start: start.UnixMicro(), Duration: end.Sub(start).Microseconds()})
	}
}

// BenchmarkTraceLine is the once-per-invocation cost of writing the trace line of an
// invocation with 10 task runs and 9 calls.
func BenchmarkTraceLine(b *testing.B) {
	app := NewApp("bench")
	app.Register("L", noop)
	rt, err := app.NewRuntime(Options{Config: Config{Setup: mustSetup("L@128"), Group: "L"}, Trace: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	rec := fusion.TraceRecord{Format: fusion.TraceFormat, Trace: "8f3a", Setup: "3f2a9c1e0b7d", Function: "iot-3f2a9c1e0b7d-I", Root: "I", Start: 1764140052123456, Duration: 10532}
	for i := range 10 {
		rec.Tasks = append(rec.Tasks, fusion.TaskRun{Task: "CSL", Start: 1764140052123456 + int64(i), Duration: 800, Self: 700})
		if i > 0 {
			rec.Calls = append(rec.Calls, fusion.CallRecord{Caller: "CS", Callee: "CSL", Start: 1764140052123456, Duration: 810})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		rt.writeTrace(&rec)
	}
}

func mustSetup(s string) fusion.Setup { return fusion.MustParseSetup(s) }
