// Package runtime is the library linked into every Fusionize function bundle, and the only
// part of Fusionize an app author sees.
//
// An app registers named tasks on an App and calls Main. Inside a task, Call (sync: waits for
// the result) and CallAsync (async: fire and forget) reach other tasks by name. Which tasks
// share a deployed function, and so which calls are plain Go calls and which are Lambda
// Invokes, is not the author's concern: the current setup comes from configuration (see
// Config) and changes as Fusionize optimizes the app, while the bundle stays the same.
//
// Per invocation the runtime writes one trace line (format fusion.TraceFormat) to stdout,
// which CloudWatch Logs (or the local platform) collects for the optimizer.
package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/fusionize/fusionize/fusion"
)

// TaskFunc is a task: it gets its input bytes and returns its output bytes. The context
// carries the invocation; pass it to Call and CallAsync.
type TaskFunc func(ctx context.Context, input []byte) ([]byte, error)

// App is a set of named tasks: the whole application, compiled into one bundle.
type App struct {
	name  string
	tasks map[string]TaskFunc
	order []string
}

// NewApp returns an empty app. The name becomes part of function names, so it follows the
// task name rules (letters, digits, '_' and '-').
func NewApp(name string) *App {
	if err := fusion.ValidTaskName(name); err != nil {
		panic(fmt.Sprintf("runtime.NewApp: app name: %v", err))
	}
	return &App{name: name, tasks: map[string]TaskFunc{}}
}

// Register adds a task. Like http.Handle it panics on a programming error: an invalid or
// duplicate name, or a nil function. It returns the app so registrations can be chained.
func (a *App) Register(name string, fn TaskFunc) *App {
	if err := fusion.ValidTaskName(name); err != nil {
		panic(fmt.Sprintf("runtime.Register: %v", err))
	}
	if fn == nil {
		panic(fmt.Sprintf("runtime.Register: task %q has a nil function", name))
	}
	if _, dup := a.tasks[name]; dup {
		panic(fmt.Sprintf("runtime.Register: task %q registered twice", name))
	}
	a.tasks[name] = fn
	a.order = append(a.order, name)
	return a
}

// Name returns the app's name.
func (a *App) Name() string { return a.name }

// Tasks returns the task names in registration order.
func (a *App) Tasks() []string { return slices.Clone(a.order) }

// JSON adapts a typed function to a TaskFunc: the input is decoded from JSON into In and the
// result encoded as JSON. A decoding failure is returned as an error naming the type.
func JSON[In, Out any](fn func(ctx context.Context, in In) (Out, error)) TaskFunc {
	return func(ctx context.Context, input []byte) ([]byte, error) {
		var in In
		if len(input) > 0 {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, fmt.Errorf("decode input as %T: %w", in, err)
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}

// CallJSON is Call with a JSON-encoded input and a JSON-decoded result.
func CallJSON[Out any](ctx context.Context, task string, in any) (Out, error) {
	var out Out
	b, err := json.Marshal(in)
	if err != nil {
		return out, fmt.Errorf("call %q: encode input: %w", task, err)
	}
	res, err := Call(ctx, task, b)
	if err != nil {
		return out, err
	}
	if len(res) > 0 {
		if err := json.Unmarshal(res, &out); err != nil {
			return out, fmt.Errorf("call %q: decode result as %T: %w", task, out, err)
		}
	}
	return out, nil
}

// CallAsyncJSON is CallAsync with a JSON-encoded input.
func CallAsyncJSON(ctx context.Context, task string, in any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("call %q: encode input: %w", task, err)
	}
	return CallAsync(ctx, task, b)
}
