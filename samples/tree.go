package samples

import (
	"context"
	"encoding/json"

	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/samples/work"
)

// Tree is the paper's tree application (7 tasks, entry A): A calls B synchronously and C
// asynchronously; B→D and D→E are sync; C starts F and G asynchronously. B, D and E wait
// 500 ms on I/O; C, F and G do two-thread CPU work.
func Tree() Sample {
	app := runtime.NewApp("tree")
	ioTask := func(next string) runtime.TaskFunc {
		return func(ctx context.Context, in []byte) ([]byte, error) {
			if err := work.IO(ctx, 500); err != nil {
				return nil, err
			}
			if next == "" {
				return []byte(`"leaf"`), nil
			}
			return runtime.Call(ctx, next, in)
		}
	}
	cpuTask := func(ms float64, next ...string) runtime.TaskFunc {
		return func(ctx context.Context, in []byte) ([]byte, error) {
			sum := work.CPU(ctx, ms, 2)
			for _, n := range next {
				if err := runtime.CallAsync(ctx, n, in); err != nil {
					return nil, err
				}
			}
			return json.Marshal(sum)
		}
	}
	app.Register("A", func(ctx context.Context, in []byte) ([]byte, error) {
		b, err := runtime.Call(ctx, "B", in)
		if err != nil {
			return nil, err
		}
		if err := runtime.CallAsync(ctx, "C", in); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]json.RawMessage{"b": b})
	})
	app.Register("B", ioTask("D"))
	app.Register("C", cpuTask(30, "F", "G"))
	app.Register("D", ioTask("E"))
	app.Register("E", ioTask(""))
	app.Register("F", cpuTask(40))
	app.Register("G", cpuTask(40))
	return Sample{
		App:     app,
		Graph:   apps.TreeGraph(),
		Request: []byte(`{"n":1}`),
	}
}
