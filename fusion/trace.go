package fusion

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TraceFormat names the version of the trace line format. A trace line is one JSON object on
// one line of a function's stdout (CloudWatch Logs on AWS), written by the runtime once per
// invocation, whose first member is "fusionize":"trace/v1".
//
// Format trace/v1 (times are Unix microseconds, durations microseconds):
//
//	{"fusionize":"trace/v1",      // format marker, always first
//	 "trace":"4bf92f3577b34da6",   // trace ID, made at the entry, carried through remote calls
//	 "setup":"3f2a9c1e0b7d",       // setup ID of the invoked function
//	 "function":"iot-3f2a9c1e0b7d-CT", "version":"$LATEST",
//	 "requestId":"…",              // the Lambda request ID, joins the platform's REPORT line
//	 "root":"CT",                  // root task of the invoked group
//	 "memoryMB":1024, "cold":true,
//	 "async":true,                 // invoked as an Event (fire and forget)
//	 "caller":"I",                 // remote caller task; absent at the entry
//	 "start":1764140052123456, "dur":10532,
//	 "error":"…",                  // absent when the root task succeeded
//	 "tasks":[{"task":"CT","start":…,"dur":…,"self":…,"error":"…"}],   // each task run here
//	 "calls":[{"caller":"CT","callee":"AS","mode":"async","remote":true,"start":…,"dur":…,"error":"…"}],
//	 "dropped":0,                  // records past the runtime's per-invocation limit, counted only
//	 "cpu":8125}                   // process CPU time (user+system) during the invocation, when measured
//
// A task run's self time is its duration minus the time it waited on sync calls (overlapping
// parallel waits count once). A sync call's duration is the caller's wait; an async call's is
// the time to dispatch it. Readers ignore members they do not know, so members may be added
// within v1; a change of meaning gets a new version.
const TraceFormat = "trace/v1"

// TraceRecord is one trace line: one invocation of one function.
type TraceRecord struct {
	Format    string       `json:"fusionize"`
	Trace     string       `json:"trace"`
	Setup     string       `json:"setup"`
	Function  string       `json:"function"`
	Version   string       `json:"version,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	Root      string       `json:"root"`
	MemoryMB  int          `json:"memoryMB,omitempty"`
	Cold      bool         `json:"cold,omitempty"`
	Async     bool         `json:"async,omitempty"`
	Caller    string       `json:"caller,omitempty"`
	Start     int64        `json:"start"`
	Duration  int64        `json:"dur"`
	Error     string       `json:"error,omitempty"`
	Tasks     []TaskRun    `json:"tasks"`
	Calls     []CallRecord `json:"calls"`
	Dropped   int          `json:"dropped,omitempty"` // task runs and calls past the runtime's per-invocation limit
	// CPU is the CPU time (user + system, µs) the function's process used during the
	// invocation; 0 where the runtime cannot measure it. Lambda runs one request per instance
	// at a time, so it is the invocation's CPU demand, which wall-clock times hide when a
	// short burst fits in a CPU quota period.
	CPU int64 `json:"cpu,omitempty"`
}

// TaskRun is one execution of a task inside an invocation.
type TaskRun struct {
	Task     string `json:"task"`
	Start    int64  `json:"start"`
	Duration int64  `json:"dur"`
	Self     int64  `json:"self"`
	Error    string `json:"error,omitempty"`
}

// CallRecord is one call made by a task, local (a Go call in-process) or remote (a Lambda
// Invoke).
type CallRecord struct {
	Caller   string `json:"caller"`
	Callee   string `json:"callee"`
	Mode     Mode   `json:"mode"`
	Remote   bool   `json:"remote,omitempty"`
	Start    int64  `json:"start"`
	Duration int64  `json:"dur"`
	Error    string `json:"error,omitempty"`
}

var tracePrefix = []byte(`{"fusionize":"`)

// IsTraceLine reports whether a log line looks like a trace line (of any version).
func IsTraceLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(line), tracePrefix)
}

// ErrNotTrace is returned by ParseTraceLine for lines that are not trace lines, such as the
// app's own log output or the platform's START/END/REPORT lines.
var ErrNotTrace = errors.New("not a trace line")

// ParseTraceLine decodes one trace line. It returns ErrNotTrace for other log lines and a
// descriptive error for malformed trace lines or unknown format versions.
func ParseTraceLine(line []byte) (TraceRecord, error) {
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, tracePrefix) {
		return TraceRecord{}, ErrNotTrace
	}
	var r TraceRecord
	if err := json.Unmarshal(line, &r); err != nil {
		return TraceRecord{}, fmt.Errorf("trace line: %w", err)
	}
	if r.Format != TraceFormat {
		return TraceRecord{}, fmt.Errorf("trace line: format %q is not %q", r.Format, TraceFormat)
	}
	var errs []error
	if r.Trace == "" {
		errs = append(errs, errors.New("no trace ID"))
	}
	if r.Root == "" {
		errs = append(errs, errors.New("no root task"))
	}
	if r.Duration < 0 {
		errs = append(errs, fmt.Errorf("negative duration %d", r.Duration))
	}
	for _, t := range r.Tasks {
		if t.Task == "" || t.Duration < 0 || t.Self < 0 || t.Self > t.Duration {
			errs = append(errs, fmt.Errorf("bad task run %+v", t))
		}
	}
	for _, c := range r.Calls {
		if c.Caller == "" || c.Callee == "" || c.Duration < 0 {
			errs = append(errs, fmt.Errorf("bad call %+v", c))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return TraceRecord{}, fmt.Errorf("trace line of request %q: %w", r.RequestID, err)
	}
	return r, nil
}

// Report is the platform's REPORT line for one invocation, as Lambda writes it:
//
//	REPORT RequestId: id	Duration: 4.65 ms	Billed Duration: 5 ms	Memory Size: 256 MB	Max Memory Used: 20 MB	Init Duration: 12.5 ms
type Report struct {
	RequestID      string
	DurationMS     float64
	BilledMS       int64
	MemoryMB       int
	MaxMemoryMB    int
	InitDurationMS float64 // 0 when the invocation was warm
}

// ErrNotReport is returned by ParseReport for lines that are not REPORT lines.
var ErrNotReport = errors.New("not a REPORT line")

// ParseReport decodes a Lambda REPORT line. Durations must be finite and not negative,
// billed duration and memory whole numbers of milliseconds and MB.
func ParseReport(line string) (Report, error) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "REPORT RequestId: ") {
		return Report{}, ErrNotReport
	}
	var r Report
	for _, field := range strings.Split(strings.TrimPrefix(line, "REPORT "), "\t") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), ": ")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "RequestId":
			r.RequestID = v
		case "Duration":
			r.DurationMS, err = reportMS(v)
		case "Billed Duration":
			r.BilledMS, err = reportInt(v, " ms", 63)
		case "Memory Size":
			var n int64
			n, err = reportInt(v, " MB", 31)
			r.MemoryMB = int(n)
		case "Max Memory Used":
			var n int64
			n, err = reportInt(v, " MB", 31)
			r.MaxMemoryMB = int(n)
		case "Init Duration":
			r.InitDurationMS, err = reportMS(v)
		}
		if err != nil {
			return Report{}, fmt.Errorf("REPORT line field %q: %w", k, err)
		}
	}
	if r.RequestID == "" {
		return Report{}, errors.New("REPORT line without a request ID")
	}
	return r, nil
}

// reportMS reads "4.65 ms".
func reportMS(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, " ms")), 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return f, nil
}

// reportInt reads a whole number with its unit ("5 ms", "256 MB") that fits in bits bits.
func reportInt(v, unit string, bits int) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, unit)), 10, bits+1)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return n, nil
}

// String returns the report as Lambda writes it (durations with every digit they have, so
// that ParseReport gives the same Report back).
func (r Report) String() string {
	ms := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	s := fmt.Sprintf("REPORT RequestId: %s\tDuration: %s ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		r.RequestID, ms(r.DurationMS), r.BilledMS, r.MemoryMB, r.MaxMemoryMB)
	if r.InitDurationMS > 0 {
		s += "Init Duration: " + ms(r.InitDurationMS) + " ms\t"
	}
	return s
}
