// Package synthetic builds an app whose call graph and per-task work come from a spec file,
// for experiments beyond the paper's three applications. The spec is YAML:
//
//	app: synth            # app name (letters, digits, '_', '-')
//	entry: A              # the task outside requests reach
//	tasks:
//	  A:
//	    cpu_ms: 2         # CPU work per run, reference-core milliseconds (default 0, at most 900,000)
//	    threads: 1        # goroutines sharing the CPU work (default 1, at most 64)
//	    io_ms: 5          # wait per run, milliseconds (default 0, at most 900,000)
//	    payload_bytes: 64 # size of the task's output (default 16, at most 6 MB)
//	    calls:
//	      - to: B         # callee
//	        mode: sync    # sync (default) or async
//	        count: 2      # calls per run (default 1, at most 1,000)
//	        parallel: true  # sync calls of this entry run concurrently (default false)
//	      - {to: C, mode: async}
//	  B: {cpu_ms: 3}
//	  C: {io_ms: 10}
//
// Parse reports every problem at once with its line and column. The bundle main
// (samples/cmd/synthetic) reads the spec at start from FUSIONIZE_SYNTHETIC_SPEC (the text, or
// runtime.CompactEnv of it) or from the file named by FUSIONIZE_SYNTHETIC_SPEC_FILE, so one
// bundle serves any spec given at deploy time.
package synthetic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/work"
)

// Environment variables read by the synthetic bundle.
const (
	EnvSpec     = "FUSIONIZE_SYNTHETIC_SPEC"
	EnvSpecFile = "FUSIONIZE_SYNTHETIC_SPEC_FILE"
)

// Spec is a synthetic app.
type Spec struct {
	App   string
	Entry string
	Tasks []TaskSpec // in file order
}

// TaskSpec is the work and calls of one task.
type TaskSpec struct {
	Name         string
	CPUMS        float64
	Threads      int
	IOMS         float64
	PayloadBytes int
	Calls        []CallSpec
}

// CallSpec is one call site of a task.
type CallSpec struct {
	To       string
	Mode     fusion.Mode
	Count    int
	Parallel bool
}

// Parse reads a spec; source names the file in error messages. Every problem is reported in
// one *fusion.Issues error.
func Parse(source string, text []byte) (Spec, error) {
	is := &fusion.Issues{Source: source, Text: string(text)}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		is.AddYAMLSyntax(err)
		return Spec{}, is
	}
	p := parser{is: is}
	spec := p.spec(&root)
	if err := is.Err(); err != nil {
		return Spec{}, err
	}
	return spec, nil
}

type parser struct{ is *fusion.Issues }

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.is.AddAt(n.Line, n.Column, format, args...)
}

// mapping walks a mapping node, calling f per key; unknown keys are reported.
func (p *parser) mapping(n *yaml.Node, what string, keys []string, f func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if keys != nil && !slices.Contains(keys, k.Value) {
			p.errorf(k, "unknown field %q in %s (fields: %s)", k.Value, what, strings.Join(keys, ", "))
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "%q appears twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		f(k.Value, k, v)
	}
}

// number reads a finite number that is not negative.
func (p *parser) number(v *yaml.Node, what string) float64 {
	var f float64
	if v.Kind != yaml.ScalarNode || v.Decode(&f) != nil {
		p.errorf(v, "%s must be a number, not %q", what, v.Value)
		return 0
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(v, "%s must be a finite number, not %q", what, v.Value)
		return 0
	}
	if f < 0 {
		p.errorf(v, "%s must not be negative", what)
	}
	return f
}

// Bounds of a spec: the longest work a task may do per run (Lambda's 15-minute timeout), the
// most goroutines sharing a task's CPU work (Lambda's largest function has 6 vCPUs), the
// most calls one call site makes per run, and the largest output (Lambda's 6 MB payload).
const (
	maxWorkMS  = 15 * 60 * 1000
	maxThreads = 64
	maxCount   = 1000
	maxPayload = 6 << 20
)

// count reads a whole number from lo to hi; out of range, it reports and returns lo.
func (p *parser) count(v *yaml.Node, what string, lo, hi int) int {
	f := p.number(v, what)
	switch {
	case f < float64(lo):
		if f >= 0 { // number reported a negative one
			p.errorf(v, "%s must be at least %d", what, lo)
		}
		return lo
	case f > float64(hi):
		p.errorf(v, "%s %s exceeds %d", what, v.Value, hi)
		return lo
	case f != math.Trunc(f):
		p.errorf(v, "%s must be a whole number", what)
		return lo
	}
	return int(f)
}

// duration reads a task's work in milliseconds, which must fit in one Lambda invocation.
func (p *parser) duration(v *yaml.Node, what string) float64 {
	f := p.number(v, what)
	if f > maxWorkMS {
		p.errorf(v, "%s %s exceeds Lambda's 15-minute limit (%d ms)", what, v.Value, maxWorkMS)
		return 0
	}
	return f
}

func (p *parser) spec(doc *yaml.Node) Spec {
	var s Spec
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.is.AddAt(1, 1, "spec is empty: want app, entry and tasks")
		return s
	}
	var entryNode, tasksNode *yaml.Node
	calls := map[string][]*yaml.Node{} // callee → call nodes, to check them once all tasks are known
	p.mapping(doc.Content[0], "the spec", []string{"app", "entry", "tasks"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "app":
			s.App = v.Value
			if err := fusion.ValidTaskName(v.Value); err != nil {
				p.errorf(v, "app name: %v", err)
			}
		case "entry":
			s.Entry, entryNode = v.Value, v
		case "tasks":
			tasksNode = v
			p.mapping(v, "tasks", nil, func(name string, k, v *yaml.Node) {
				if err := fusion.ValidTaskName(name); err != nil {
					p.errorf(k, "%v", err)
				}
				s.Tasks = append(s.Tasks, p.task(name, v, calls))
			})
		}
	})
	root := doc.Content[0]
	if s.App == "" {
		p.errorf(root, "missing app: the app's name")
	}
	if tasksNode == nil || len(s.Tasks) == 0 {
		p.errorf(root, "missing tasks: at least the entry task")
		return s
	}
	names := map[string]bool{}
	for _, t := range s.Tasks {
		names[t.Name] = true
	}
	switch {
	case entryNode == nil:
		p.errorf(root, "missing entry: the task outside requests reach")
	case !names[s.Entry]:
		p.errorf(entryNode, "entry %q is not a task", s.Entry)
	}
	for _, callee := range slices.Sorted(mapsKeys(calls)) {
		if !names[callee] {
			for _, n := range calls[callee] {
				p.errorf(n, "call to %q: no such task", callee)
			}
		}
	}
	if len(p.is.List) == 0 {
		if cycle := findCycle(s); cycle != nil {
			p.errorf(tasksNode, "calls form a cycle %s: a request would never end", strings.Join(cycle, " → "))
		}
	}
	return s
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (p *parser) task(name string, n *yaml.Node, calls map[string][]*yaml.Node) TaskSpec {
	t := TaskSpec{Name: name, Threads: 1, PayloadBytes: 16}
	if n.Kind == yaml.ScalarNode && n.Value == "" { // "B:" with nothing: a task doing nothing
		return t
	}
	p.mapping(n, fmt.Sprintf("task %q", name), []string{"cpu_ms", "threads", "io_ms", "payload_bytes", "calls"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "cpu_ms":
			t.CPUMS = p.duration(v, "cpu_ms")
		case "threads":
			t.Threads = p.count(v, "threads", 1, maxThreads)
		case "io_ms":
			t.IOMS = p.duration(v, "io_ms")
		case "payload_bytes":
			t.PayloadBytes = p.count(v, "payload_bytes", 0, maxPayload)
		case "calls":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "calls must be a list")
				return
			}
			for _, c := range v.Content {
				t.Calls = append(t.Calls, p.call(name, c, calls))
			}
		}
	})
	return t
}

func (p *parser) call(caller string, n *yaml.Node, calls map[string][]*yaml.Node) CallSpec {
	c := CallSpec{Count: 1}
	var toNode *yaml.Node
	p.mapping(n, fmt.Sprintf("a call of task %q", caller), []string{"to", "mode", "count", "parallel"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "to":
			c.To, toNode = v.Value, v
		case "mode":
			if err := c.Mode.UnmarshalText([]byte(v.Value)); err != nil {
				p.errorf(v, "%v", err)
			}
		case "count":
			c.Count = p.count(v, "count", 1, maxCount)
		case "parallel":
			if v.Decode(&c.Parallel) != nil {
				p.errorf(v, "parallel must be true or false")
			}
		}
	})
	switch {
	case toNode == nil:
		if n.Kind == yaml.MappingNode {
			p.errorf(n, "call of task %q without 'to'", caller)
		}
	case c.To == caller:
		p.errorf(toNode, "task %q calls itself: a request would never end", caller)
	default:
		calls[c.To] = append(calls[c.To], toNode)
	}
	if c.Parallel && c.Mode == fusion.Async {
		p.errorf(n, "parallel applies to sync calls only")
	}
	return c
}

func findCycle(s Spec) []string {
	byName := map[string]TaskSpec{}
	for _, t := range s.Tasks {
		byName[t.Name] = t
	}
	state := map[string]int{} // 1 visiting, 2 done
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		switch state[n] {
		case 1:
			i := slices.Index(stack, n)
			return append(slices.Clone(stack[i:]), n)
		case 2:
			return nil
		}
		state[n] = 1
		stack = append(stack, n)
		for _, c := range byName[n].Calls {
			if cyc := visit(c.To); cyc != nil {
				return cyc
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
		return nil
	}
	for _, t := range s.Tasks {
		if cyc := visit(t.Name); cyc != nil {
			return cyc
		}
	}
	return nil
}

// Graph returns the spec's call graph.
func (s Spec) Graph() fusion.Graph {
	g := fusion.Graph{Entry: s.Entry}
	seen := map[fusion.Edge]bool{}
	for _, t := range s.Tasks {
		g.Tasks = append(g.Tasks, t.Name)
		for _, c := range t.Calls {
			e := fusion.Edge{Caller: t.Name, Callee: c.To, Mode: c.Mode}
			if !seen[e] {
				seen[e] = true
				g.Edges = append(g.Edges, e)
			}
		}
	}
	return g
}

// Sample builds the app the spec describes.
func (s Spec) Sample() samples.Sample {
	app := runtime.NewApp(s.App)
	for _, t := range s.Tasks {
		app.Register(t.Name, taskFunc(t))
	}
	return samples.Sample{App: app, Graph: s.Graph(), Request: []byte(`{"synthetic":true}`)}
}

func taskFunc(t TaskSpec) runtime.TaskFunc {
	payload, _ := json.Marshal(strings.Repeat("x", max(t.PayloadBytes-2, 0)))
	return func(ctx context.Context, in []byte) ([]byte, error) {
		if t.CPUMS > 0 {
			work.CPU(ctx, t.CPUMS, t.Threads)
		}
		if t.IOMS > 0 {
			if err := work.IO(ctx, t.IOMS); err != nil {
				return nil, err
			}
		}
		for _, c := range t.Calls {
			if err := doCalls(ctx, c, payload); err != nil {
				return nil, err
			}
		}
		return payload, nil
	}
}

func doCalls(ctx context.Context, c CallSpec, payload []byte) error {
	if c.Mode == fusion.Async {
		for range c.Count {
			if err := runtime.CallAsync(ctx, c.To, payload); err != nil {
				return err
			}
		}
		return nil
	}
	if !c.Parallel {
		for range c.Count {
			if _, err := runtime.Call(ctx, c.To, payload); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, c.Count)
	var wg sync.WaitGroup
	for i := range c.Count {
		wg.Go(func() { _, errs[i] = runtime.Call(ctx, c.To, payload) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
