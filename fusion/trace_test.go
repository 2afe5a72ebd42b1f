package fusion_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/fusionize/fusionize/fusion"
)

func TestParseTraceLine(t *testing.T) {
	tests := []struct {
		name, line string
		wantErr    string // "" for success
		notTrace   bool
	}{
		{name: "ok", line: `{"fusionize":"trace/v1","trace":"t1","setup":"s","function":"f","root":"A","start":1,"dur":10,"tasks":[{"task":"A","start":1,"dur":10,"self":8}],"calls":[{"caller":"A","callee":"B","mode":"sync","remote":true,"start":2,"dur":2}],"future":1}`},
		{name: "app log", line: `hello`, notTrace: true},
		{name: "report", line: "REPORT RequestId: x\tDuration: 1 ms", notTrace: true},
		{name: "version", line: `{"fusionize":"trace/v9","trace":"t","root":"A"}`, wantErr: `trace line: format "trace/v9" is not "trace/v1"`},
		{name: "bad json", line: `{"fusionize":"trace/v1",`, wantErr: "trace line: unexpected end of JSON input"},
		{name: "missing", line: `{"fusionize":"trace/v1","requestId":"r","dur":-1}`, wantErr: "trace line of request \"r\": no trace ID\nno root task\nnegative duration -1"},
		{name: "bad mode", line: `{"fusionize":"trace/v1","trace":"t","root":"A","calls":[{"caller":"A","callee":"B","mode":"later"}]}`, wantErr: `trace line: call mode "later": want sync or async`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fusion.ParseTraceLine([]byte(tt.line))
			switch {
			case tt.notTrace:
				if !errors.Is(err, fusion.ErrNotTrace) {
					t.Fatalf("err = %v, want ErrNotTrace", err)
				}
			case tt.wantErr == "":
				if err != nil {
					t.Fatal(err)
				}
			case err == nil || err.Error() != tt.wantErr:
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseReport(t *testing.T) {
	r, err := fusion.ParseReport("REPORT RequestId: abc\tDuration: 4.65 ms\tBilled Duration: 5 ms\tMemory Size: 256 MB\tMax Memory Used: 20 MB\tInit Duration: 12.5 ms\t")
	want := fusion.Report{RequestID: "abc", DurationMS: 4.65, BilledMS: 5, MemoryMB: 256, MaxMemoryMB: 20, InitDurationMS: 12.5}
	if err != nil || r != want {
		t.Fatalf("ParseReport = %+v, %v; want %+v", r, err, want)
	}
	if _, err := fusion.ParseReport("START RequestId: abc"); !errors.Is(err, fusion.ErrNotReport) {
		t.Fatalf("START line: err = %v", err)
	}
	if _, err := fusion.ParseReport("REPORT RequestId: abc\tDuration: x ms"); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func FuzzParseTraceLine(f *testing.F) {
	f.Add([]byte(`{"fusionize":"trace/v1","trace":"t1","setup":"s","function":"f","requestId":"r","root":"A","memoryMB":128,"cold":true,"start":1,"dur":10,"tasks":[{"task":"A","start":1,"dur":10,"self":8}],"calls":[{"caller":"A","callee":"B","mode":"async","remote":true,"start":2,"dur":2}]}`))
	f.Add([]byte(`{"fusionize":"trace/v1"}`))
	f.Add([]byte(`REPORT RequestId: x`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := fusion.ParseTraceLine(line)
		if err != nil {
			return
		}
		// What parses must encode and parse back to the same record.
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		again, err := fusion.ParseTraceLine(b)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		if !reflect.DeepEqual(normal(r), normal(again)) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, again)
		}
	})
}

// normal makes empty and nil slices compare equal.
func normal(r fusion.TraceRecord) fusion.TraceRecord {
	if len(r.Tasks) == 0 {
		r.Tasks = nil
	}
	if len(r.Calls) == 0 {
		r.Calls = nil
	}
	return r
}

// FuzzParseReport: whatever parses has finite, non-negative figures and prints back to a line
// that parses to the same Report. Before, "Duration: NaN ms", "-5 ms" and "Billed Duration:
// 1e300 ms" (an int64 overflow) parsed, and NaN broke every median built on it.
func FuzzParseReport(f *testing.F) {
	f.Add("REPORT RequestId: abc\tDuration: 4.65 ms\tBilled Duration: 5 ms\tMemory Size: 256 MB\tMax Memory Used: 20 MB\tInit Duration: 12.5 ms\t")
	f.Add("REPORT RequestId: 8f0e-11\tDuration: 0.31 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\t")
	f.Add("REPORT RequestId: x\tDuration: NaN ms")
	f.Add("REPORT RequestId: x\tBilled Duration: 1e300 ms")
	f.Add("START RequestId: abc Version: $LATEST")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := fusion.ParseReport(line)
		if err != nil {
			return
		}
		for _, v := range []float64{r.DurationMS, r.InitDurationMS} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("ParseReport(%q) = %+v: a duration that is no duration", line, r)
			}
		}
		if r.BilledMS < 0 || r.MemoryMB < 0 || r.MaxMemoryMB < 0 {
			t.Fatalf("ParseReport(%q) = %+v: negative", line, r)
		}
		again, err := fusion.ParseReport(r.String())
		if err != nil {
			t.Fatalf("ParseReport(%q) = %+v, whose line %q does not parse: %v", line, r, r.String(), err)
		}
		if again != r {
			t.Fatalf("round trip %q: %+v → %q → %+v", line, r, r.String(), again)
		}
	})
}
