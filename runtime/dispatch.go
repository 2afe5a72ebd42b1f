package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/fusionize/fusionize/fusion"
)

// Invoker makes remote calls: a Lambda Invoke of a function (a name, ARN or
// "name:qualifier"), RequestResponse when async is false and Event when it is true. For a
// sync call it returns the function's response; a function error is returned as a
// *FunctionError.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte, async bool) ([]byte, error)
}

// FunctionError is a remote function's error as Lambda reports it.
type FunctionError struct {
	Type    string // Lambda's X-Amz-Function-Error, e.g. "Unhandled"
	Message string // the function's error payload, errorMessage when it is Lambda's JSON shape
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// ErrNoSetupRoute is wrapped by errors for calls to a task that the setup neither inlines in
// the caller's group nor deploys as the root of a group.
var ErrNoSetupRoute = errors.New("setup does not cover the called task")

// ErrUnknownTask is wrapped by errors for calls to a task the bundle does not have.
var ErrUnknownTask = errors.New("unknown task")

// ErrOutsideTask is returned by Call and CallAsync when the context does not come from a task
// run by the runtime.
var ErrOutsideTask = errors.New("runtime.Call needs the context of a running task")

// MaxRecords bounds the task runs and calls kept per invocation, so that a trace line stays
// well below CloudWatch Logs' 256 KB event limit. Records past it are counted, not kept.
const MaxRecords = 512

// Options configure a Runtime.
type Options struct {
	Config  Config
	Invoker Invoker   // remote calls; required when the setup has more than one group
	Trace   io.Writer // trace lines; nil means os.Stdout
	// MemoryMB is reported in trace lines; 0 means the group's memory in the setup (or
	// AWS_LAMBDA_FUNCTION_MEMORY_SIZE in Main).
	MemoryMB int
}

// Runtime runs the tasks of one group of a setup: it is the handler of one deployed function.
type Runtime struct {
	app      *App
	cfg      Config
	setupID  string
	group    fusion.Group
	function string
	version  string // AWS_LAMBDA_FUNCTION_VERSION, read once
	memoryMB int
	invoker  Invoker
	routes   map[string]route
	warm     atomic.Bool

	traceMu sync.Mutex
	trace   io.Writer
}

type route struct {
	fn       TaskFunc // non-nil when the task is in this group: a local call
	function string   // otherwise the function of the group rooted at the task
	known    bool     // the bundle has the task
}

// NewRuntime returns the runtime of one group (opts.Config.Group) of a setup. It checks the
// configuration against the app's tasks and reports every problem.
func (a *App) NewRuntime(opts Options) (*Runtime, error) {
	cfg := opts.Config
	if cfg.App == "" {
		cfg.App = a.name
	}
	if err := cfg.Validate(a.order); err != nil {
		return nil, fmt.Errorf("configure app %q: %w", a.name, err)
	}
	g, _ := cfg.Setup.Group(cfg.Group)
	if len(cfg.Setup.Groups) > 1 && opts.Invoker == nil {
		return nil, fmt.Errorf("configure app %q: setup %s has remote groups but no Invoker was given", a.name, cfg.Setup)
	}
	r := &Runtime{
		app: a, cfg: cfg, setupID: cfg.Setup.ID(), group: g,
		function: cfg.FunctionName(g.Root),
		version:  os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"),
		memoryMB: opts.MemoryMB,
		invoker:  opts.Invoker,
		routes:   map[string]route{},
		trace:    opts.Trace,
	}
	if r.memoryMB == 0 {
		r.memoryMB = g.MemoryMB
	}
	if r.trace == nil {
		r.trace = os.Stdout
	}
	for name, fn := range a.tasks {
		rt := route{known: true}
		switch {
		case g.Has(name):
			rt.fn = fn
		default:
			if _, ok := cfg.Setup.Group(name); ok {
				rt.function = cfg.FunctionName(name)
			}
		}
		r.routes[name] = rt
	}
	return r, nil
}

// Function returns the name of the function this runtime serves.
func (r *Runtime) Function() string { return r.function }

// envelope is the payload of a remote call: the callee's input plus what the trace needs.
// Requests from outside (the app's clients) carry the bare input instead.
type envelope struct {
	Fusionize envelopeMeta    `json:"fusionize"`
	Input     json.RawMessage `json:"input,omitempty"`   // when the input is JSON
	Input64   []byte          `json:"input64,omitempty"` // otherwise, base64
}

type envelopeMeta struct {
	V      int    `json:"v"`
	Trace  string `json:"trace"`
	Caller string `json:"caller"`
	Task   string `json:"task"`
	Async  bool   `json:"async,omitempty"`
}

var envelopePrefix = []byte(`{"fusionize":{`)

// Invoke handles one invocation of the function: it runs the group's root task with the
// payload (an outside request's bare input, or a remote call's envelope), waits for inline
// async calls, writes the trace line and returns the root task's output. It implements
// aws-lambda-go's lambda.Handler.
func (r *Runtime) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start, cpu0 := time.Now(), processCPU()
	inv := &invocation{rt: r, rec: fusion.TraceRecord{
		Format: fusion.TraceFormat, Setup: r.setupID, Function: r.function,
		Version: r.version, Root: r.group.Root, MemoryMB: r.memoryMB, Cold: !r.warm.Swap(true),
		Start: start.UnixMicro(),
	}}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		inv.rec.RequestID = lc.AwsRequestID
	}
	input := payload
	if len(payload) >= len(envelopePrefix) && string(payload[:len(envelopePrefix)]) == string(envelopePrefix) {
		var env envelope
		if err := json.Unmarshal(payload, &env); err != nil {
			return nil, fmt.Errorf("function %s: decode call envelope: %w", r.function, err)
		}
		if env.Fusionize.Task != r.group.Root {
			return nil, fmt.Errorf("function %s runs group %q but was called for task %q by %q (stale function name pattern?)",
				r.function, r.group.Root, env.Fusionize.Task, env.Fusionize.Caller)
		}
		inv.rec.Trace, inv.rec.Caller, inv.rec.Async = env.Fusionize.Trace, env.Fusionize.Caller, env.Fusionize.Async
		input = env.Input
		if env.Input64 != nil {
			input = env.Input64
		}
	}
	if inv.rec.Trace == "" {
		inv.rec.Trace = newTraceID()
	}
	inv.rec.Tasks = make([]fusion.TaskRun, 0, 8)
	inv.rec.Calls = make([]fusion.CallRecord, 0, 8)

	out, err := inv.run(ctx, r.group.Root, r.routes[r.group.Root].fn, input)
	inv.async.Wait()
	inv.rec.Duration = time.Since(start).Microseconds()
	if err != nil {
		inv.rec.Error = err.Error()
	}
	inv.rec.Dropped = inv.dropped
	if cpu0 > 0 {
		inv.rec.CPU = max(processCPU()-cpu0, 0)
	}
	r.writeTrace(&inv.rec)
	return out, err
}

func newTraceID() string {
	return strconv.FormatUint(rand.Uint64()|1<<63, 16)
}

func (r *Runtime) writeTrace(rec *fusion.TraceRecord) {
	line, err := json.Marshal(rec)
	if err != nil { // cannot happen for these types; say so rather than lose the record silently
		line = []byte(fmt.Sprintf(`{"fusionizeError":%q}`, err.Error()))
	}
	line = append(line, '\n')
	r.traceMu.Lock()
	_, _ = r.trace.Write(line)
	r.traceMu.Unlock()
}

// invocation is the state of one handler call, shared by the task runs inside it.
type invocation struct {
	rt    *Runtime
	async sync.WaitGroup // inline async task runs

	mu      sync.Mutex
	rec     fusion.TraceRecord
	dropped int
}

// frame is a running task: it is the context passed to the task, so that Call can find the
// invocation and the caller without another allocation.
type frame struct {
	context.Context
	inv  *invocation
	task string

	// sync waits, under inv.mu: while waiting > 0 the task is blocked on at least one call.
	waiting   int
	waitStart time.Time
	waited    time.Duration
}

type frameKey struct{}

func (f *frame) Value(key any) any {
	if key == (frameKey{}) {
		return f
	}
	return f.Context.Value(key)
}

func (f *frame) beginWait(t time.Time) {
	f.inv.mu.Lock()
	if f.waiting == 0 {
		f.waitStart = t
	}
	f.waiting++
	f.inv.mu.Unlock()
}

func (f *frame) endWait(t time.Time) {
	f.inv.mu.Lock()
	f.waiting--
	if f.waiting == 0 {
		f.waited += t.Sub(f.waitStart)
	}
	f.inv.mu.Unlock()
}

// run executes one task in this process and records it.
func (inv *invocation) run(ctx context.Context, task string, fn TaskFunc, input []byte) (out []byte, err error) {
	f := &frame{Context: ctx, inv: inv, task: task}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("task %q panicked: %v", task, p)
		}
		end := time.Now()
		dur := end.Sub(start)
		inv.mu.Lock()
		self := dur - f.waited
		if f.waiting > 0 { // a call still outstanding (a task returning while its goroutine waits)
			self -= end.Sub(f.waitStart)
		}
		inv.mu.Unlock()
		run := fusion.TaskRun{Task: task, Start: start.UnixMicro(), Duration: dur.Microseconds(), Self: max(self, 0).Microseconds()}
		if err != nil {
			run.Error = err.Error()
		}
		inv.recordTask(run)
	}()
	return fn(f, input)
}

func (inv *invocation) recordTask(r fusion.TaskRun) {
	inv.mu.Lock()
	if len(inv.rec.Tasks) < MaxRecords {
		inv.rec.Tasks = append(inv.rec.Tasks, r)
	} else {
		inv.dropped++
	}
	inv.mu.Unlock()
}

func (inv *invocation) recordCall(c fusion.CallRecord) {
	inv.mu.Lock()
	if len(inv.rec.Calls) < MaxRecords {
		inv.rec.Calls = append(inv.rec.Calls, c)
	} else {
		inv.dropped++
	}
	inv.mu.Unlock()
}

// Call runs task with input and waits for its result. When the current setup inlines task in
// the caller's group this is a plain Go call; otherwise it is a Lambda Invoke
// (RequestResponse) of the function of the group rooted at task. Errors name the callee.
func Call(ctx context.Context, task string, input []byte) ([]byte, error) {
	f, ok := ctx.Value(frameKey{}).(*frame)
	if !ok {
		return nil, fmt.Errorf("call %q: %w", task, ErrOutsideTask)
	}
	return f.inv.call(f, task, input, fusion.Sync)
}

// CallAsync starts task with input and does not wait for its result. When the current setup
// inlines task in the caller's group it runs on a goroutine that the invocation waits for
// before the handler returns (Lambda freezes an instance after that); otherwise it is a Lambda
// Invoke of type Event. The error reports only a failure to dispatch.
func CallAsync(ctx context.Context, task string, input []byte) error {
	f, ok := ctx.Value(frameKey{}).(*frame)
	if !ok {
		return fmt.Errorf("call %q: %w", task, ErrOutsideTask)
	}
	_, err := f.inv.call(f, task, input, fusion.Async)
	return err
}

func (inv *invocation) call(caller *frame, task string, input []byte, mode fusion.Mode) ([]byte, error) {
	rt := inv.rt.routes[task]
	switch {
	case !rt.known:
		return nil, fmt.Errorf("call %q from %q: %w %q in app %q", task, caller.task, ErrUnknownTask, task, inv.rt.app.name)
	case rt.fn != nil:
		return inv.callLocal(caller, task, rt.fn, input, mode)
	case rt.function != "":
		return inv.callRemote(caller, task, rt.function, input, mode)
	default:
		return nil, fmt.Errorf("call %q from %q: %w: setup %s neither inlines %q in group %q nor has a group rooted at it",
			task, caller.task, ErrNoSetupRoute, inv.rt.cfg.Setup, task, inv.rt.group.Root)
	}
}

func (inv *invocation) callLocal(caller *frame, task string, fn TaskFunc, input []byte, mode fusion.Mode) ([]byte, error) {
	start := time.Now()
	if mode == fusion.Async {
		inv.async.Add(1)
		go func() {
			defer inv.async.Done()
			_, _ = inv.run(caller, task, fn, input) // its error is in its task run record
		}()
		inv.recordCall(fusion.CallRecord{Caller: caller.task, Callee: task, Mode: mode, Start: start.UnixMicro(), Duration: time.Since(start).Microseconds()})
		return nil, nil
	}
	caller.beginWait(start)
	out, err := inv.run(caller, task, fn, input)
	end := time.Now()
	caller.endWait(end)
	c := fusion.CallRecord{Caller: caller.task, Callee: task, Mode: mode, Start: start.UnixMicro(), Duration: end.Sub(start).Microseconds()}
	if err != nil {
		err = fmt.Errorf("call %q from %q: %w", task, caller.task, err)
		c.Error = err.Error()
	}
	inv.recordCall(c)
	return out, err
}

func (inv *invocation) callRemote(caller *frame, task, function string, input []byte, mode fusion.Mode) ([]byte, error) {
	env := envelope{Fusionize: envelopeMeta{V: 1, Trace: inv.rec.Trace, Caller: caller.task, Task: task, Async: mode == fusion.Async}}
	if json.Valid(input) {
		env.Input = input
	} else {
		env.Input64 = input
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("call %q from %q: encode envelope: %w", task, caller.task, err)
	}
	start := time.Now()
	if mode == fusion.Sync {
		caller.beginWait(start)
	}
	out, err := inv.rt.invoker.Invoke(caller, function, payload, mode == fusion.Async)
	end := time.Now()
	if mode == fusion.Sync {
		caller.endWait(end)
	}
	c := fusion.CallRecord{Caller: caller.task, Callee: task, Mode: mode, Remote: true, Start: start.UnixMicro(), Duration: end.Sub(start).Microseconds()}
	if err != nil {
		err = fmt.Errorf("call %q from %q (function %s): %w", task, caller.task, function, err)
		c.Error = err.Error()
	}
	inv.recordCall(c)
	if mode == fusion.Async {
		return nil, err
	}
	return out, err
}
