// Package constraint compiles the user's policy, written in CEL (github.com/google/cel-go),
// into a Policy that planners and the canary judge evaluate: constraints (bool) filter
// candidate setups, the objective (double, lower is better) ranks them, and the acceptance
// rule (bool) decides whether a canary is promoted from the judge's numbers.
//
// Every expression sees the same declared variables (see Vars):
//
//	setup      constraint.Setup    the candidate's setup (same as candidate.setup):
//	                               id, text, groups (list of {root, tasks, memory})
//	candidate  constraint.Subject  the candidate: setup, predicted and observed Metrics
//	baseline   constraint.Subject  the current setup, likewise
//	tasks      list(string)        the app's tasks
//	verdict    constraint.Verdict  the canary judge's numbers (acceptance rule only;
//	                               zero elsewhere): outcome ("pass", "fail",
//	                               "inconclusive"), p_value, shift_ms, shift_low_ms,
//	                               shift_high_ms, relative_effect, baseline_n,
//	                               candidate_n, baseline_cold_n, candidate_cold_n,
//	                               decided ("errors", "samples", "latency", "tail",
//	                               "objective"), p95_relative, p95_relative_low,
//	                               cost_relative, objective_baseline,
//	                               objective_candidate, objective_high
//
// Metrics have median_ms, p95_ms, cost_per_request (dollars), cold_start_rate and requests.
// Observed metrics are zero for a setup that has not run yet.
//
// Examples:
//
//	setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))   // keep AS isolated
//	setup.groups.all(g, g.memory <= 1024)                          // cap memory
//	candidate.predicted.p95_ms < 300.0                             // latency SLO
//	candidate.predicted.cost_per_request < 2e-5                    // budget
//
// A policy is compiled once (Compile) and evaluated many times; compile errors are
// *fusion.Issues with the rule's name as the source, line, column and a caret. Evaluation
// is deterministic and bounded by a CEL cost limit rather than a timeout, so the same
// inputs always give the same answer, which the Temporal workflow's replay needs. A Policy
// marshals to JSON as its Spec and compiles again when unmarshaled, so it can cross
// activity boundaries.
package constraint

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/fusionize/fusionize/fusion"
)

// Metrics are the latency and cost figures of a setup, predicted or observed: a domain
// type of package fusion, which CEL sees as fusion.Metrics.
type Metrics = fusion.Metrics

// Group is a group of a setup as CEL sees it: tasks lists the root first.
type Group struct {
	Root   string   `json:"root" cel:"root"`
	Tasks  []string `json:"tasks" cel:"tasks"`
	Memory int64    `json:"memory" cel:"memory"`
}

// Setup is a setup as CEL sees it.
type Setup struct {
	ID     string  `json:"id" cel:"id"`
	Text   string  `json:"text" cel:"text"`
	Groups []Group `json:"groups" cel:"groups"`
}

// SetupOf converts a fusion.Setup (canonical order).
func SetupOf(s fusion.Setup) Setup {
	c := s.Canonical()
	out := Setup{ID: c.ID(), Text: c.String(), Groups: make([]Group, len(c.Groups))}
	for i, g := range c.Groups {
		out.Groups[i] = Group{Root: g.Root, Tasks: g.Tasks(), Memory: int64(g.MemoryMB)}
	}
	return out
}

// Subject is a setup with its predicted and observed metrics.
type Subject struct {
	Setup     Setup   `json:"setup" cel:"setup"`
	Predicted Metrics `json:"predicted" cel:"predicted"`
	Observed  Metrics `json:"observed" cel:"observed"`
}

// Verdict is the canary judge's result as the acceptance rule sees it.
type Verdict struct {
	Outcome        string  `json:"outcome" cel:"outcome"`
	PValue         float64 `json:"pValue" cel:"p_value"`
	ShiftMS        float64 `json:"shiftMS" cel:"shift_ms"`
	ShiftLowMS     float64 `json:"shiftLowMS" cel:"shift_low_ms"`
	ShiftHighMS    float64 `json:"shiftHighMS" cel:"shift_high_ms"`
	RelativeEffect float64 `json:"relativeEffect" cel:"relative_effect"`
	BaselineN      int64   `json:"baselineN" cel:"baseline_n"`
	CandidateN     int64   `json:"candidateN" cel:"candidate_n"`
	BaselineColdN  int64   `json:"baselineColdN" cel:"baseline_cold_n"`
	CandidateColdN int64   `json:"candidateColdN" cel:"candidate_cold_n"`
	// Decided names the part of the judge's decision that decided: "samples", "latency",
	// "tail" or "objective".
	Decided string `json:"decided,omitempty" cel:"decided"`
	// P95Relative is the candidate's warm p95 over the baseline's minus one, P95RelativeLow
	// the low end of its interval; CostRelative likewise for the cost per request.
	P95Relative    float64 `json:"p95Relative,omitempty" cel:"p95_relative"`
	P95RelativeLow float64 `json:"p95RelativeLow,omitempty" cel:"p95_relative_low"`
	CostRelative   float64 `json:"costRelative,omitempty" cel:"cost_relative"`
	// The objective on what the arms observed: the baseline's, the candidate's, and the
	// candidate's at the worst ends of its intervals.
	ObjectiveBaseline  float64 `json:"objectiveBaseline,omitempty" cel:"objective_baseline"`
	ObjectiveCandidate float64 `json:"objectiveCandidate,omitempty" cel:"objective_candidate"`
	ObjectiveHigh      float64 `json:"objectiveHigh,omitempty" cel:"objective_high"`
}

// Vars are the values an expression is evaluated against.
type Vars struct {
	Candidate Subject  `json:"candidate"`
	Baseline  Subject  `json:"baseline"`
	Tasks     []string `json:"tasks"`
	Verdict   Verdict  `json:"verdict"`
}

// ResolveName makes Vars a CEL activation without building a map per evaluation.
func (v *Vars) ResolveName(name string) (any, bool) {
	switch name {
	case "setup":
		return v.Candidate.Setup, true
	case "candidate":
		return v.Candidate, true
	case "baseline":
		return v.Baseline, true
	case "tasks":
		return v.Tasks, true
	case "verdict":
		return v.Verdict, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *Vars) Parent() interpreter.Activation { return nil }

// Rule is one CEL expression with a name that error messages use as its source (a file
// name, or "constraints[2]").
type Rule struct {
	Name string `json:"name,omitempty"`
	Expr string `json:"expr"`
}

// Spec is a policy's source: what the user writes.
type Spec struct {
	// Constraints must all be true for a candidate to be considered.
	Constraints []Rule `json:"constraints,omitempty"`
	// Objective ranks feasible candidates, lower is better; DefaultObjective when empty.
	Objective Rule `json:"objective,omitzero"`
	// Acceptance decides promotion after a canary; DefaultAcceptance when empty.
	Acceptance Rule `json:"acceptance,omitzero"`
}

// DefaultObjective weighs relative latency and relative cost equally: 2.0 for a candidate
// predicted exactly like the baseline, 1.6 for one 20 % faster and 20 % cheaper.
const DefaultObjective = "candidate.predicted.median_ms / baseline.predicted.median_ms + " +
	"candidate.predicted.cost_per_request / baseline.predicted.cost_per_request"

// DefaultAcceptance promotes a canary whose judge verdict is a pass: the judge (judge.Decide)
// passes a candidate that is better on the objective evaluated on what both arms observed,
// whose median is not surely slower by more than 10 % and whose p95 is not surely higher by
// more than 10 %, so that the default guards the tail.
const DefaultAcceptance = `verdict.outcome == "pass"`

// CostLimit bounds the work of one evaluation (CEL's runtime cost units).
const CostLimit = 100_000

// Policy is a compiled Spec, safe for concurrent use.
type Policy struct {
	spec        Spec
	constraints []program
	objective   program
	acceptance  program
}

type program struct {
	name string
	prg  cel.Program
}

var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Subject](), reflect.TypeFor[Verdict](), ext.ParseStructTags(true)),
		cel.Variable("setup", cel.ObjectType("constraint.Setup")),
		cel.Variable("candidate", cel.ObjectType("constraint.Subject")),
		cel.Variable("baseline", cel.ObjectType("constraint.Subject")),
		cel.Variable("tasks", cel.ListType(cel.StringType)),
		cel.Variable("verdict", cel.ObjectType("constraint.Verdict")),
	)
})

// Compile checks and compiles every rule of spec, reporting every problem at once: the
// error joins one *fusion.Issues per faulty rule.
func Compile(spec Spec) (*Policy, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("constraint environment: %w", err)
	}
	p := &Policy{spec: spec}
	var errs []error
	compile := func(r Rule, name string, want *cel.Type) program {
		if r.Name != "" {
			name = r.Name
		}
		if at := invalidUTF8(r.Expr); at >= 0 {
			// JSON, YAML and Temporal's payloads would replace the bytes, changing the rule.
			is := &fusion.Issues{Source: name, Text: r.Expr}
			line := strings.Count(r.Expr[:at], "\n") + 1
			is.AddAt(line, at-strings.LastIndex(r.Expr[:at], "\n"), "expression is not valid UTF-8")
			errs = append(errs, is)
			return program{}
		}
		ast, iss := e.Compile(r.Expr)
		if iss.Err() != nil {
			errs = append(errs, issues(name, r.Expr, iss))
			return program{}
		}
		if !ast.OutputType().IsExactType(want) {
			is := &fusion.Issues{Source: name, Text: r.Expr}
			is.AddAt(1, 1, "expression has type %s, want %s", ast.OutputType(), want)
			errs = append(errs, is)
			return program{}
		}
		prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(CostLimit))
		if err != nil {
			is := &fusion.Issues{Source: name, Text: r.Expr}
			is.AddAt(1, 1, "%v", err)
			errs = append(errs, is)
		}
		return program{name: name, prg: prg}
	}
	for i, r := range spec.Constraints {
		p.constraints = append(p.constraints, compile(r, fmt.Sprintf("constraints[%d]", i), cel.BoolType))
	}
	obj, acc := spec.Objective, spec.Acceptance
	if obj.Expr == "" {
		obj.Expr = DefaultObjective
	}
	if acc.Expr == "" {
		acc.Expr = DefaultAcceptance
	}
	p.objective = compile(obj, "objective", cel.DoubleType)
	p.acceptance = compile(acc, "acceptance", cel.BoolType)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// invalidUTF8 returns the byte offset of the first invalid UTF-8 sequence in s, or -1.
func invalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return i
			}
		}
	}
	return -1
}

// MustCompile is Compile for specs known to be valid; it panics on error.
func MustCompile(spec Spec) *Policy {
	p, err := Compile(spec)
	if err != nil {
		panic(err)
	}
	return p
}

// issues converts cel's issues to positioned fusion.Issues, sorted by position.
func issues(name, text string, iss *cel.Issues) *fusion.Issues {
	out := &fusion.Issues{Source: name, Text: text}
	errs := iss.Errors()
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Location, errs[j].Location
		return a.Line() < b.Line() || a.Line() == b.Line() && a.Column() < b.Column()
	})
	for _, e := range errs {
		out.AddAt(max(e.Location.Line(), 1), max(e.Location.Column()+1, 1), "%s", e.Message)
	}
	return out
}

// Spec returns the source the policy was compiled from.
func (p *Policy) Spec() Spec { return p.spec }

// Check evaluates the constraints and returns the names of those the candidate violates
// (nil when it satisfies all), in the order of the spec.
func (p *Policy) Check(v *Vars) ([]string, error) {
	var violated []string
	for _, c := range p.constraints {
		ok, err := evalBool(c, v)
		if err != nil {
			return nil, err
		}
		if !ok {
			violated = append(violated, c.name)
		}
	}
	return violated, nil
}

// Objective evaluates the objective (lower is better).
func (p *Policy) Objective(v *Vars) (float64, error) {
	out, _, err := p.objective.prg.Eval(v)
	if err != nil {
		return 0, fmt.Errorf("evaluate %s: %w", p.objective.name, err)
	}
	f, ok := out.Value().(float64)
	if !ok {
		return 0, fmt.Errorf("evaluate %s: result %v is not a double", p.objective.name, out)
	}
	return f, nil
}

// Accept evaluates the acceptance rule.
func (p *Policy) Accept(v *Vars) (bool, error) { return evalBool(p.acceptance, v) }

func evalBool(c program, v *Vars) (bool, error) {
	out, _, err := c.prg.Eval(v)
	if err != nil {
		return false, fmt.Errorf("evaluate %s: %w", c.name, err)
	}
	if out.Type() != types.BoolType {
		return false, fmt.Errorf("evaluate %s: result %v is not a bool", c.name, out)
	}
	return out.Value().(bool), nil
}

// MarshalJSON encodes the policy as its Spec.
func (p *Policy) MarshalJSON() ([]byte, error) { return json.Marshal(p.spec) }

// UnmarshalJSON decodes a Spec and compiles it.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	q, err := Compile(s)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// Names returns the names of the policy's constraints.
func (p *Policy) Names() []string {
	out := make([]string, len(p.constraints))
	for i, c := range p.constraints {
		out[i] = c.name
	}
	return slices.Clip(out)
}
