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
//	collect:                       # what each cycle observes of the current setup before it plans
//	  requests: 300                # warm requests (at least 30); fewer make noisier predictions
//	  window: 5m                   # the longest it waits for them; it plans on what came by then
//	target: local                  # local (the embedded platform) or aws
//	environment:                   # extra variables for every function
//	  FUSIONIZE_WORK_SCALE: "1"
//	load:                          # traffic for `fusionize demo` and `fusionize load`
//	  rate: 10                     # requests per second
//	  payload: '{"sensor":"s-17","value":42.5,"seq":1}'
package appconfig

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
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
	Collect       Collect           `yaml:"collect"`
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

// Collect is how much of the current setup's traffic each cycle observes before it plans.
type Collect struct {
	Requests int           `yaml:"requests"`
	Window   time.Duration `yaml:"window"`
}

// Load is the demo's traffic.
type Load struct {
	Rate    float64 `yaml:"rate"`
	Payload string  `yaml:"payload"`
}

// minCollect is the fewest requests a cycle may observe of the current setup: the model
// planner calibrates on a setup seen at least 30 times.
const minCollect = 30

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
		// workflows.DefaultCollectRequests (a test in cli checks they agree).
		Collect: Collect{Requests: 300, Window: 5 * time.Minute},
		Target:  "local",
		Load:    Load{Rate: 10},
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
// any, is a *fusion.Issues listing every problem: a syntax error alone, else every unknown
// field, every value of the wrong type and every invalid value together.
func Parse(source string, text []byte) (Config, error) {
	is := &fusion.Issues{Source: source, Text: string(text)}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		is.AddYAMLSyntax(err)
		return Config{}, is
	}
	if len(root.Content) == 0 {
		is.AddAt(1, 1, "config is empty: want at least name and sample or package")
		return Config{}, is
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		is.AddAt(top.Line, top.Column, "a config is a mapping of fields such as name: and sample:, not a %s", kindName(top))
		return Config{}, is
	}
	c := Defaults()
	v := validator{is: is, root: top}
	v.unknownFields(top, reflect.TypeFor[Config](), "")
	if v.duplicates(top) || !v.decode(&c) {
		return Config{}, is
	}
	v.check(&c)
	v.dropShadowed()
	slices.SortStableFunc(is.List, func(a, b fusion.Issue) int {
		return cmp.Or(a.Pos.Line-b.Pos.Line, a.Pos.Column-b.Pos.Column)
	})
	if err := is.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("value (%q)", n.Value)
	}
	return "YAML node"
}

// decode fills c from the file, leaving fields whose value has the wrong type at their
// default and reporting each such value at its place. It returns false when the file could
// not be decoded at all (a key given twice).
func (v *validator) decode(c *Config) bool {
	err := v.root.Decode(c)
	var te *yaml.TypeError
	if err == nil {
		return true
	}
	if !errors.As(err, &te) {
		v.is.AddYAMLSyntax(err)
		return false
	}
	for _, e := range te.Errors {
		line := yamlLine(e)
		_, msg, _ := strings.Cut(e, ": ")
		key, n := v.nodeAt(line, msg)
		if key != "" {
			msg = key + ": " + msg
		}
		v.is.AddAt(n.Line, n.Column, "%s", msg)
		v.typed = append(v.typed, fusion.Position{Line: n.Line, Column: n.Column})
	}
	return true
}

// dropShadowed removes the checks' complaints about values that had the wrong type: such a
// field kept its default (or a zero element), which says nothing about the file.
func (v *validator) dropShadowed() {
	v.is.List = slices.DeleteFunc(v.is.List, func(it fusion.Issue) bool {
		return slices.ContainsFunc(v.typed, func(p fusion.Position) bool {
			return p.Line == it.Pos.Line && p.Column == it.Pos.Column && !strings.Contains(it.Message, "cannot unmarshal")
		})
	})
}

// yamlLine finds the line number in a yaml.v3 decoding message ("line 4: …"), 1 when none.
func yamlLine(msg string) int {
	var n int
	if _, err := fmt.Sscanf(msg, "line %d", &n); err == nil && n > 0 {
		return n
	}
	return 1
}

// nodeAt finds the value a yaml.v3 type error on a line is about ("cannot unmarshal !!str
// `lots` into []int"): the last value node on that line whose text starts as the quoted
// one, else the line's last value node; and the key it belongs to.
func (v *validator) nodeAt(line int, msg string) (string, *yaml.Node) {
	quoted := ""
	if _, after, ok := strings.Cut(msg, "`"); ok {
		quoted, _, _ = strings.Cut(after, "`")
		quoted = strings.TrimSuffix(quoted, "...")
	}
	var best, bestMatch *yaml.Node
	var key, keyMatch string
	var walk func(n *yaml.Node, k string)
	walk = func(n *yaml.Node, k string) {
		if n.Line == line && n != v.root {
			best, key = n, k
			if quoted != "" && strings.HasPrefix(n.Value, quoted) {
				bestMatch, keyMatch = n, k
			}
		}
		for i := 0; i < len(n.Content); i++ {
			if n.Kind == yaml.MappingNode && i+1 < len(n.Content) {
				walk(n.Content[i+1], n.Content[i].Value)
				i++
				continue
			}
			walk(n.Content[i], k)
		}
	}
	walk(v.root, "")
	switch {
	case bestMatch != nil:
		return keyMatch, bestMatch
	case best != nil:
		return key, best
	}
	return "", &yaml.Node{Line: line, Column: 1}
}

// duplicates reports every mapping key given twice, at the second, and whether there was
// one: yaml.v3 would silently decode the file wrong.
func (v *validator) duplicates(n *yaml.Node) bool {
	found := false
	if n.Kind == yaml.MappingNode {
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if f, dup := first[k.Value]; dup {
				v.is.AddAt(k.Line, k.Column, "%q is given twice (first on line %d)", k.Value, f.Line)
				found = true
			}
			first[k.Value] = k
		}
	}
	for _, c := range n.Content {
		found = v.duplicates(c) || found
	}
	return found
}

// unknownFields reports every mapping key that is not a field of the configuration at its
// place, with the fields that are, so that a misspelt field is seen beside every other
// problem instead of hiding them.
func (v *validator) unknownFields(n *yaml.Node, t reflect.Type, where string) {
	switch t.Kind() {
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for _, e := range n.Content {
				v.unknownFields(e, t.Elem(), where)
			}
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the wrong type
		}
		fields, names := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			switch {
			case ok:
				v.unknownFields(n.Content[i+1], ft, k.Value)
			case where == "":
				v.is.AddAt(k.Line, k.Column, "unknown field %q (see the example in `go doc ./cli/appconfig`)", k.Value)
			default:
				v.is.AddAt(k.Line, k.Column, "unknown field %q in %s (fields: %s)", k.Value, where, strings.Join(names, ", "))
			}
		}
	}
}

// yamlFields returns a struct type's YAML field names (yaml.v3's rule: the tag's name, else
// the Go name in lower case) with their types, and the names in declaration order.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

type validator struct {
	is    *fusion.Issues
	root  *yaml.Node
	typed []fusion.Position // values of the wrong type, reported by decode
	tasks []string          // the app's tasks, when known (a sample's)
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
		if err == nil {
			v.tasks = s.Graph.Tasks
		}
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
	v.checkCanarySamples(&c.Canary, c.Load.Rate)
	v.checkCollect(c.Collect)
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

func (v *validator) checkCollect(k Collect) {
	if k.Requests < minCollect {
		v.errorf([]any{"collect", "requests"}, "collect requests %d is below %d: the planner learns nothing from a setup seen fewer times", k.Requests, minCollect)
	}
	if k.Window < time.Second {
		v.errorf([]any{"collect", "window"}, "collect window %v is shorter than 1s", k.Window)
	}
}

// checkCanarySamples reports a canary whose first step cannot reach min_samples at the
// config's load: the candidate's arm gets rate × weight requests a second (a few of them
// cold) for the window, and for max_extensions more windows with on_inconclusive: extend;
// short of min_samples, every verdict would be inconclusive.
func (v *validator) checkCanarySamples(k *Canary, rate float64) {
	if rate <= 0 || len(k.Weights) == 0 || k.Weights[0] <= 0 || k.Weights[0] >= 1 || k.Window < time.Second || k.MinSamples < 1 {
		return
	}
	windows := 1
	if k.OnInconclusive == "extend" && k.MaxExtensions > 0 {
		windows += k.MaxExtensions
	}
	perSecond := rate * min(k.Weights[0], 1-k.Weights[0]) // the smaller arm
	expected := perSecond * k.Window.Seconds() * float64(windows)
	if expected >= float64(k.MinSamples) {
		return
	}
	need := time.Duration(math.Ceil(float64(k.MinSamples)*1.25/perSecond/float64(windows)/5) * 5 * float64(time.Second))
	v.errorf([]any{"canary", "window"}, "canary window %v (%d window(s) with extensions): at load.rate %g/s the smaller arm of step 1 (%g %%) "+
		"gets about %.0f requests, fewer than min_samples %d, so every step would end inconclusive: make the window at least %v "+
		"(a quarter spare for cold starts), allow extensions, or raise the first weight",
		k.Window, windows, rate, 100*k.Weights[0], expected, k.MinSamples, need)
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
	ok := true
	for i, r := range c.Constraints {
		if r.Name == "" {
			r.Name = fmt.Sprintf("constraints[%d]", i)
			c.Constraints[i].Name = r.Name
		}
		if strings.TrimSpace(r.Expr) == "" {
			v.errorf([]any{"constraints", i}, "constraint %s has no expr", r.Name)
			ok = false
			continue
		}
		places = append(places, place{[]any{"constraints", i, "expr"}, r})
	}
	if c.Objective != "" {
		places = append(places, place{[]any{"objective"}, constraint.Rule{Name: "objective", Expr: c.Objective}})
	}
	places = append(places, place{[]any{"canary", "acceptance"}, constraint.Rule{Name: "acceptance", Expr: c.Canary.Acceptance}})
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
		n := v.node(p.path...)
		if _, err := constraint.Compile(spec); err != nil {
			ok = false
			var cis *fusion.Issues
			if !errors.As(err, &cis) {
				v.is.AddAt(n.Line, n.Column, "%s: %v", p.rule.Name, err)
				continue
			}
			for _, it := range cis.List {
				line, col := v.inExpr(n, it.Pos)
				v.is.AddAt(line, col, "%s: %s", p.rule.Name, it.Message)
			}
			continue
		}
		v.checkTaskNames(p.rule, n)
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

// inExpr returns the place in the file of a position in the expression of node n: a CEL
// position is relative to the expression, which starts after the key (and a quote) or, in a
// block scalar ('|' or '>'), on the next line, indented like its first line.
func (v *validator) inExpr(n *yaml.Node, pos fusion.Position) (int, int) {
	line, col := n.Line+pos.Line-1, pos.Column
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	switch {
	case block:
		line++
		col += v.indent(n.Line + 1)
	case pos.Line == 1:
		col += n.Column - 1
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			col++
		}
	}
	return line, col
}

// checkTaskNames flags a task name a rule writes that the app does not have: such a rule
// holds or fails for every setup alike, which is never what was meant.
func (v *validator) checkTaskNames(r constraint.Rule, n *yaml.Node) {
	if v.tasks == nil {
		return
	}
	refs, err := constraint.TaskRefs(r.Expr)
	if err != nil {
		return // compiled above; cannot fail
	}
	for _, ref := range refs {
		if !slices.Contains(v.tasks, ref.Name) {
			line, col := v.inExpr(n, ref.Pos)
			v.is.AddAt(line, col, "%s: %q is not a task of the app (tasks: %s)", r.Name, ref.Name, strings.Join(v.tasks, ", "))
		}
	}
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
