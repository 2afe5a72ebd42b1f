// Package appconfig reads an app's Fusionize configuration: one YAML file per app saying what
// to deploy (a sample, a package or a built bundle), where (the local platform or AWS), which
// setups are allowed (memory sizes, architecture, CEL constraints), what is better (the CEL
// objective, prices), and how candidates are tried on live traffic (the canary policy and the
// planner). Load reports every problem at once with file:line:col and a caret, CEL errors
// included, and changes nothing.
//
// A full example, with every field and its default:
//
//	name: iot                      # app name; part of function names
//	sample: iot                    # a built-in sample (iot, tree, webshop) — or:
//	# package: ./samples/cmd/iot   # the app's main package, bundled by fusionize
//	# bundle: dist/iot-amd64.zip   # or a bundle built before
//	entry: I                       # the task outside requests reach (samples know theirs)
//	architecture: x86_64           # x86_64 or arm64; default: the bundle's (built-in samples: this machine's)
//	memory_sizes: [128, 256, 512, 1024, 2048, 3008]   # what the planner may choose from
//	initial_memory: 256            # memory of the all-remote starting setup
//	prices:                        # dollars; defaults are us-east-1's
//	  x86_gb_second: 0.0000166667
//	  arm64_gb_second: 0.0000133334
//	  per_request: 0.0000002
//	constraints:                   # CEL, all must hold for a candidate
//	  - name: keep-AS-isolated
//	    expr: setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))
//	  - name: latency-slo
//	    expr: candidate.predicted.p95_ms < 2000.0
//	objective: candidate.predicted.cost_per_request * 1e6 + candidate.predicted.median_ms / 100.0
//	planner: model                 # model (Fusionize's) or fusionizepp (the paper's heuristic)
//	canary:
//	  weights: [0.1, 0.5]          # candidate's share of traffic, step by step
//	  window: 30s                  # time per step
//	  min_samples: 50              # warm requests per arm before judging
//	  max_extensions: 2            # extra windows when inconclusive (on_inconclusive: extend)
//	  on_inconclusive: extend      # extend, pause or rollback
//	  acceptance: verdict.outcome == "pass"   # CEL deciding promotion
//	  approval: false              # wait for `fusionize optimize approve` before promoting
//	target: local                  # local (the embedded platform) or aws
//	environment:                   # extra variables for every function
//	  FUSIONIZE_WORK_SCALE: "1"
//	load:                          # traffic for `fusionize demo` and `fusionize load`
//	  rate: 10                     # requests per second
//	  payload: '{"sensor":"s-17","value":42.5,"seq":1}'
package appconfig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/samples"
)

// Config is one app's configuration.
type Config struct {
	Name          string            `yaml:"name"`
	Sample        string            `yaml:"sample"`
	Package       string            `yaml:"package"`
	Bundle        string            `yaml:"bundle"`
	Entry         string            `yaml:"entry"`
	Architecture  string            `yaml:"architecture"`
	MemorySizes   []int             `yaml:"memory_sizes"`
	InitialMemory int               `yaml:"initial_memory"`
	Prices        Prices            `yaml:"prices"`
	Constraints   []constraint.Rule `yaml:"constraints"`
	Objective     string            `yaml:"objective"`
	Planner       string            `yaml:"planner"`
	Canary        Canary            `yaml:"canary"`
	Target        string            `yaml:"target"`
	Environment   map[string]string `yaml:"environment"`
	Load          Load              `yaml:"load"`

	// Policy is the compiled constraints, objective and acceptance rule.
	Policy *constraint.Policy `yaml:"-"`
}

// Prices override the default Lambda prices (dollars).
type Prices struct {
	X86GBSecond   float64 `yaml:"x86_gb_second"`
	ARM64GBSecond float64 `yaml:"arm64_gb_second"`
	PerRequest    float64 `yaml:"per_request"`
}

// Canary is how a candidate is tried on live traffic.
type Canary struct {
	Weights        []float64     `yaml:"weights"`
	Window         time.Duration `yaml:"window"`
	MinSamples     int           `yaml:"min_samples"`
	MaxExtensions  int           `yaml:"max_extensions"`
	OnInconclusive string        `yaml:"on_inconclusive"`
	Acceptance     string        `yaml:"acceptance"`
	Approval       bool          `yaml:"approval"`
}

// Load is the demo's traffic.
type Load struct {
	Rate    float64 `yaml:"rate"`
	Payload string  `yaml:"payload"`
}

// Planners, targets and inconclusive policies that configurations may name.
var (
	Planners       = []string{"model", "fusionizepp"}
	Targets        = []string{"local", "aws"}
	OnInconclusive = []string{"extend", "pause", "rollback"}
	Architectures  = []string{"x86_64", "arm64"}
)

// Defaults returns the configuration every field falls back to.
func Defaults() Config {
	p := fusion.DefaultPrices()
	return Config{
		MemorySizes:   []int{128, 256, 512, 1024, 2048, 3008},
		InitialMemory: 256,
		Prices:        Prices{X86GBSecond: p.X86GBSecond, ARM64GBSecond: p.ARM64GBSecond, PerRequest: p.PerRequest},
		Planner:       "model",
		Canary: Canary{Weights: []float64{0.1, 0.5}, Window: 30 * time.Second, MinSamples: 50, MaxExtensions: 2,
			OnInconclusive: "extend", Acceptance: constraint.DefaultAcceptance},
		Target: "local",
		Load:   Load{Rate: 10},
	}
}

// LoadFile reads and checks a configuration file.
func LoadFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read app config: %w", err)
	}
	return Parse(path, b)
}

// Parse reads and checks a configuration; source names it in error messages. The error, if
// any, is a *fusion.Issues listing every problem.
func Parse(source string, text []byte) (Config, error) {
	is := &fusion.Issues{Source: source, Text: string(text)}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		is.AddAt(yamlLine(err), 1, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return Config{}, is
	}
	if len(root.Content) == 0 {
		is.AddAt(1, 1, "config is empty: want at least name and sample or package")
		return Config{}, is
	}
	c := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				is.AddAt(yamlLine(errors.New(e)), 1, "%s", trimLine(e))
			}
		} else {
			is.AddAt(yamlLine(err), 1, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return Config{}, is
	}
	v := validator{is: is, root: root.Content[0]}
	v.check(&c)
	slices.SortStableFunc(is.List, func(a, b fusion.Issue) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Column - b.Pos.Column
	})
	if err := is.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// yamlLine finds the line number in a yaml.v3 message ("yaml: line 4: …" or "line 4: …").
func yamlLine(err error) int {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		var n int
		if _, err := fmt.Sscanf(msg[i:], "line %d", &n); err == nil {
			return n
		}
	}
	return 1
}

func trimLine(msg string) string {
	if _, after, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = after
	}
	if f, ok := strings.CutPrefix(msg, "field "); ok {
		if name, _, ok := strings.Cut(f, " not found in type"); ok {
			return fmt.Sprintf("unknown field %q (see the example in `go doc ./cli/appconfig`)", name)
		}
	}
	return msg
}

type validator struct {
	is   *fusion.Issues
	root *yaml.Node
}

// node returns the YAML node at a path of mapping keys and sequence indexes, or the deepest
// one found, so every problem points at the closest place in the file.
func (v *validator) node(path ...any) *yaml.Node {
	n := v.root
	for _, p := range path {
		switch p := p.(type) {
		case string:
			found := false
			for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					n, found = n.Content[i+1], true
					break
				}
			}
			if !found {
				return n
			}
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return n
			}
			n = n.Content[p]
		}
	}
	return n
}

// indent returns the number of leading spaces of a line (1-based) of the file.
func (v *validator) indent(line int) int {
	lines := strings.Split(v.is.Text, "\n")
	if line < 1 || line > len(lines) {
		return 0
	}
	return len(lines[line-1]) - len(strings.TrimLeft(lines[line-1], " "))
}

func (v *validator) errorf(at []any, format string, args ...any) {
	n := v.node(at...)
	v.is.AddAt(n.Line, n.Column, format, args...)
}

func oneOf(val string, allowed []string) bool { return slices.Contains(allowed, val) }

func (v *validator) check(c *Config) {
	if err := fusion.ValidTaskName(c.Name); err != nil {
		v.errorf([]any{"name"}, "name: %v", err)
	}
	sources := 0
	for _, s := range []string{c.Sample, c.Package, c.Bundle} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		v.errorf(nil, "give exactly one of sample (%s), package or bundle", strings.Join(samples.Names(), ", "))
	}
	if c.Sample != "" {
		s, err := samples.ByName(c.Sample)
		switch {
		case err != nil:
			v.errorf([]any{"sample"}, "%v", err)
		case c.Entry == "":
			c.Entry = s.Graph.Entry
		case c.Entry != s.Graph.Entry:
			v.errorf([]any{"entry"}, "sample %s enters at %q, not %q", c.Sample, s.Graph.Entry, c.Entry)
		}
	}
	if c.Entry == "" {
		v.errorf(nil, "missing entry: the task outside requests reach")
	} else if err := fusion.ValidTaskName(c.Entry); err != nil {
		v.errorf([]any{"entry"}, "entry: %v", err)
	}
	if c.Architecture != "" && !oneOf(c.Architecture, Architectures) {
		v.errorf([]any{"architecture"}, "architecture %q: want %s", c.Architecture, strings.Join(Architectures, " or "))
	}
	if len(c.MemorySizes) == 0 {
		v.errorf([]any{"memory_sizes"}, "memory_sizes is empty")
	}
	for i, m := range c.MemorySizes {
		if m < fusion.MinMemoryMB || m > fusion.MaxMemoryMB {
			v.errorf([]any{"memory_sizes", i}, "memory %d MB is outside Lambda's %d–%d MB", m, fusion.MinMemoryMB, fusion.MaxMemoryMB)
		}
		if i > 0 && m <= c.MemorySizes[i-1] {
			v.errorf([]any{"memory_sizes", i}, "memory_sizes must be increasing: %d after %d", m, c.MemorySizes[i-1])
		}
	}
	if !slices.Contains(c.MemorySizes, c.InitialMemory) {
		v.errorf([]any{"initial_memory"}, "initial_memory %d MB is not one of memory_sizes %v", c.InitialMemory, c.MemorySizes)
	}
	for _, p := range []struct {
		key string
		val float64
	}{{"x86_gb_second", c.Prices.X86GBSecond}, {"arm64_gb_second", c.Prices.ARM64GBSecond}, {"per_request", c.Prices.PerRequest}} {
		if p.val < 0 {
			v.errorf([]any{"prices", p.key}, "price %s must not be negative", p.key)
		}
	}
	if !oneOf(c.Planner, Planners) {
		v.errorf([]any{"planner"}, "planner %q: want %s", c.Planner, strings.Join(Planners, " or "))
	}
	if !oneOf(c.Target, Targets) {
		v.errorf([]any{"target"}, "target %q: want %s", c.Target, strings.Join(Targets, " or "))
	}
	v.checkCanary(&c.Canary)
	if c.Load.Rate <= 0 {
		v.errorf([]any{"load", "rate"}, "load rate must be above 0 requests per second")
	}
	for k := range c.Environment {
		if strings.HasPrefix(k, "AWS_") || (strings.HasPrefix(k, "FUSIONIZE_") && k != "FUSIONIZE_WORK_SCALE" && !strings.HasPrefix(k, "FUSIONIZE_SYNTHETIC_")) {
			v.errorf([]any{"environment", k}, "environment variable %s is set by Lambda or Fusionize, not by the config", k)
		}
	}
	v.compilePolicy(c)
}

func (v *validator) checkCanary(k *Canary) {
	if len(k.Weights) == 0 {
		v.errorf([]any{"canary", "weights"}, "canary weights are empty: want shares such as [0.1, 0.5]")
	}
	for i, w := range k.Weights {
		if w <= 0 || w >= 1 {
			v.errorf([]any{"canary", "weights", i}, "canary weight %v must be between 0 and 1 (exclusive)", w)
		}
		if i > 0 && w <= k.Weights[i-1] {
			v.errorf([]any{"canary", "weights", i}, "canary weights must increase: %v after %v", w, k.Weights[i-1])
		}
	}
	if k.Window < time.Second {
		v.errorf([]any{"canary", "window"}, "canary window %v is shorter than 1s", k.Window)
	}
	if k.MinSamples < 10 {
		v.errorf([]any{"canary", "min_samples"}, "min_samples %d is below 10: no test can judge that few", k.MinSamples)
	}
	if k.MaxExtensions < 0 {
		v.errorf([]any{"canary", "max_extensions"}, "max_extensions must not be negative")
	}
	if !oneOf(k.OnInconclusive, OnInconclusive) {
		v.errorf([]any{"canary", "on_inconclusive"}, "on_inconclusive %q: want %s", k.OnInconclusive, strings.Join(OnInconclusive, ", "))
	}
}

// compilePolicy compiles the CEL rules and reports their errors at their place in the file:
// a CEL error's line and column are relative to the expression, so they are shifted to where
// the expression starts.
func (v *validator) compilePolicy(c *Config) {
	type place struct {
		path []any
		rule constraint.Rule
	}
	var places []place
	for i, r := range c.Constraints {
		if r.Name == "" {
			r.Name = fmt.Sprintf("constraints[%d]", i)
			c.Constraints[i].Name = r.Name
		}
		places = append(places, place{[]any{"constraints", i, "expr"}, r})
	}
	if c.Objective != "" {
		places = append(places, place{[]any{"objective"}, constraint.Rule{Name: "objective", Expr: c.Objective}})
	}
	places = append(places, place{[]any{"canary", "acceptance"}, constraint.Rule{Name: "acceptance", Expr: c.Canary.Acceptance}})
	ok := true
	for _, p := range places { // compile each alone so each error is placed
		var spec constraint.Spec
		switch p.path[0] {
		case "constraints":
			spec.Constraints = []constraint.Rule{p.rule}
		case "objective":
			spec.Objective = p.rule
		default:
			spec.Acceptance = p.rule
		}
		if _, err := constraint.Compile(spec); err != nil {
			ok = false
			n := v.node(p.path...)
			var cis *fusion.Issues
			if !errors.As(err, &cis) {
				v.is.AddAt(n.Line, n.Column, "%s: %v", p.rule.Name, err)
				continue
			}
			for _, it := range cis.List {
				line, col := n.Line+it.Pos.Line-1, it.Pos.Column
				if it.Pos.Line == 1 && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
					col += n.Column - 1
					if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
						col++
					}
				} else if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
					line++ // the text starts on the line after '|' or '>', indented like its first line
					col += v.indent(n.Line + 1)
				}
				v.is.AddAt(line, col, "%s: %s", p.rule.Name, it.Message)
			}
		}
	}
	if !ok {
		return
	}
	policy, err := constraint.Compile(constraint.Spec{
		Constraints: c.Constraints,
		Objective:   constraint.Rule{Name: "objective", Expr: c.Objective},
		Acceptance:  constraint.Rule{Name: "acceptance", Expr: c.Canary.Acceptance},
	})
	if err != nil {
		v.errorf(nil, "policy: %v", err)
		return
	}
	c.Policy = policy
}

// FusionPrices returns the cost model of the configured prices and architecture (x86_64
// prices when the architecture is left to the bundle's).
func (c Config) FusionPrices() fusion.Prices {
	p := fusion.DefaultPrices()
	p.X86GBSecond, p.ARM64GBSecond, p.PerRequest = c.Prices.X86GBSecond, c.Prices.ARM64GBSecond, c.Prices.PerRequest
	if c.Architecture == "arm64" {
		p.Arch = fusion.ARM64
	}
	return p
}
