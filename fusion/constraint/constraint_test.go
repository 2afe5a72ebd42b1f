package constraint_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion/fusiontest"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

func vars(setup string, median, p95, cost float64) *constraint.Vars {
	return &constraint.Vars{
		Candidate: constraint.Subject{
			Setup:     constraint.SetupOf(fusion.MustParseSetup(setup)),
			Predicted: constraint.Metrics{MedianMS: median, P95MS: p95, CostPerRequest: cost},
		},
		Baseline: constraint.Subject{
			Setup:     constraint.SetupOf(fusion.MustParseSetup("A@128,B@128,C@128")),
			Predicted: constraint.Metrics{MedianMS: 100, P95MS: 200, CostPerRequest: 1e-5},
		},
		Tasks: []string{"A", "B", "C"},
	}
}

func TestCheck(t *testing.T) {
	p := constraint.MustCompile(constraint.Spec{Constraints: []constraint.Rule{
		{Name: "isolate-C", Expr: `setup.groups.all(g, g.root == "C" || !("C" in g.tasks))`},
		{Name: "memory-cap", Expr: `setup.groups.all(g, g.memory <= 1024)`},
		{Name: "slo", Expr: `candidate.predicted.p95_ms < 300.0`},
		{Name: "budget", Expr: `candidate.predicted.cost_per_request < 2e-5`},
		{Name: "tasks", Expr: `tasks.size() == 3 && setup.id.size() == 12 && setup.text != ""`},
	}})
	tests := []struct {
		setup     string
		p95, cost float64
		want      []string
	}{
		{"A+B@256,C@512", 250, 1e-5, nil},
		{"A+B+C@256", 250, 1e-5, []string{"isolate-C"}},
		{"A+B@2048,C@128", 250, 1e-5, []string{"memory-cap"}},
		{"A@128,B@128,C@128", 301, 3e-5, []string{"slo", "budget"}},
	}
	for _, tt := range tests {
		got, err := p.Check(vars(tt.setup, 80, tt.p95, tt.cost))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Check(%s, p95 %v, cost %v) = %v, %v; want %v", tt.setup, tt.p95, tt.cost, got, err, tt.want)
		}
	}
	obj, err := p.Objective(vars("A+B@256,C@512", 80, 250, 0.5e-5))
	if err != nil || obj != 0.8+0.5 {
		t.Errorf("default objective = %v, %v; want 1.3", obj, err)
	}
}

func TestAccept(t *testing.T) {
	p := constraint.MustCompile(constraint.Spec{Acceptance: constraint.Rule{
		Expr: `verdict.outcome == "pass" || (verdict.outcome == "inconclusive" && verdict.relative_effect < 0.0 && candidate.observed.cost_per_request < baseline.observed.cost_per_request)`}})
	v := vars("A+B@256,C@512", 80, 250, 1e-5)
	v.Verdict = constraint.Verdict{Outcome: "inconclusive", RelativeEffect: -0.05}
	v.Candidate.Observed.CostPerRequest, v.Baseline.Observed.CostPerRequest = 1e-5, 2e-5
	if ok, err := p.Accept(v); !ok || err != nil {
		t.Errorf("Accept = %v, %v; want true", ok, err)
	}
	v.Verdict.Outcome = "fail"
	if ok, err := p.Accept(v); ok || err != nil {
		t.Errorf("Accept(fail) = %v, %v; want false", ok, err)
	}
	def := constraint.MustCompile(constraint.Spec{})
	if ok, _ := def.Accept(&constraint.Vars{Verdict: constraint.Verdict{Outcome: "pass"}}); !ok {
		t.Error("default acceptance rejects a pass")
	}
}

func TestCostLimit(t *testing.T) {
	p := constraint.MustCompile(constraint.Spec{Constraints: []constraint.Rule{{Name: "heavy",
		Expr: `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`}}})
	_, err := p.Check(vars("A@128,B@128,C@128", 1, 1, 1))
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("err = %v, want a cost limit error", err)
	}
}

// TestCompileErrors renders the errors of bad rules (testdata/errors.txt, "kind: expression"
// entries separated by lines of "---") against testdata/errors.golden.
func TestCompileErrors(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimRight(string(in), "\n"), "\n---\n") {
		kind, expr, _ := strings.Cut(line, ": ")
		var spec constraint.Spec
		name := "policy.yaml:" + kind
		switch kind {
		case "constraint":
			spec.Constraints = []constraint.Rule{{Name: name, Expr: expr}}
		case "objective":
			spec.Objective = constraint.Rule{Name: name, Expr: expr}
		case "acceptance":
			spec.Acceptance = constraint.Rule{Name: name, Expr: expr}
		}
		_, err := constraint.Compile(spec)
		if err == nil {
			t.Errorf("line %d: %q compiled", i+1, line)
			continue
		}
		b.WriteString("== " + line + "\n" + err.Error() + "\n")
	}
	fusiontest.Golden(t, filepath.Join("testdata", "errors.golden"), b.String())
}

func TestPolicyJSON(t *testing.T) {
	spec := constraint.Spec{Constraints: []constraint.Rule{{Name: "slo", Expr: "candidate.predicted.p95_ms < 300.0"}}}
	b, err := json.Marshal(constraint.MustCompile(spec))
	if err != nil {
		t.Fatal(err)
	}
	var p constraint.Policy
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Spec(), spec) {
		t.Errorf("round trip spec %+v, want %+v", p.Spec(), spec)
	}
	if v, _ := p.Check(vars("A@128,B@128,C@128", 1, 400, 1)); len(v) != 1 {
		t.Errorf("decoded policy does not check: %v", v)
	}
	if err := json.Unmarshal([]byte(`{"constraints":[{"expr":"1 +"}]}`), &p); err == nil {
		t.Error("bad spec decoded")
	}
}

// TestTaskRefs finds the task names of the usual ways to name a task, at their place, and
// nothing else: a TaskRefs that missed a form (a macro's variable, a list after in) or took
// any string (the setup's text, an ID) fails here.
func TestTaskRefs(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string // "name@line:col"
	}{
		{`setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))`, []string{"AS@1:31", "AS@1:41"}},
		{`setup.groups.exists(g, "QQ" != g.root && g.root in ["A", "B"])`, []string{"QQ@1:24", "A@1:53", "B@1:58"}},
		{`setup.groups.all(g, g.tasks.exists(t, t == "CT") || g.memory <= 256)`, []string{"CT@1:44"}},
		{"\"Z\" in tasks &&\n  setup.text != \"A@128\" && setup.id != \"x\"", []string{"Z@1:1"}},
		{`candidate.predicted.p95_ms < 300.0`, nil},
		{`setup.groups.all(g, g.memory <= 1024)`, nil},
	} {
		refs, err := constraint.TaskRefs(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		var got []string
		for _, r := range refs {
			got = append(got, fmt.Sprintf("%s@%d:%d", r.Name, r.Pos.Line, r.Pos.Column))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("TaskRefs(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
	if _, err := constraint.TaskRefs(`g.root ==`); err == nil {
		t.Error("TaskRefs of a broken expression: no error")
	}
}

// FuzzCompile: no expression panics the compiler or, compiled, the evaluation (bounded by
// the cost limit); every problem lies inside the expression; a policy that compiles
// crosses JSON to the same spec and evaluates there to the same answer; TaskRefs reads
// every expression that compiles.
func FuzzCompile(f *testing.F) {
	for _, e := range []string{
		`setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))`,
		`setup.groups.all(g, g.memory <= 1024)`,
		`candidate.predicted.p95_ms < 300.0`,
		`candidate.predicted.cost_per_request < 2e-5 && "A" in tasks`,
		`setup.groups.exists(g, g.tasks.exists(t, t == "B")) || setup.text.contains("@128")`,
		`[1, 2, 3].map(x, [1, 2, 3].map(y, x * y)).size() > 2`,
		`candidate.predicted.median_ms / baseline.predicted.median_ms > 1.0 ? false : true`,
		`g.root ==`, `1 +`, `"unclosed`,
	} {
		f.Add(e)
	}
	v := vars("A+B@256,C@1024", 80, 150, 9e-6)
	f.Fuzz(func(t *testing.T, expr string) {
		spec := constraint.Spec{Constraints: []constraint.Rule{{Name: "c", Expr: expr}}}
		p, err := constraint.Compile(spec)
		if err != nil {
			var is *fusion.Issues
			if !errors.As(err, &is) || len(is.List) == 0 {
				t.Fatalf("Compile(%q): error %T is not a list of issues: %v", expr, err, err)
			}
			lines := strings.Count(expr, "\n") + 1
			for _, it := range is.List {
				if it.Pos.Line < 1 || it.Pos.Line > lines || it.Pos.Column < 1 {
					t.Fatalf("Compile(%q): issue %q at %d:%d, outside the expression", expr, it.Message, it.Pos.Line, it.Pos.Column)
				}
			}
			return
		}
		violated, evalErr := p.Check(v)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal policy of %q: %v", expr, err)
		}
		var again constraint.Policy
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("policy of %q does not cross JSON (%s): %v", expr, b, err)
		}
		if !reflect.DeepEqual(again.Spec(), p.Spec()) {
			t.Fatalf("spec of %q changed crossing JSON: %+v", expr, again.Spec())
		}
		violated2, evalErr2 := again.Check(v)
		if !reflect.DeepEqual(violated, violated2) || (evalErr == nil) != (evalErr2 == nil) {
			t.Fatalf("%q: evaluated %v %v before JSON, %v %v after", expr, violated, evalErr, violated2, evalErr2)
		}
		if _, err := constraint.TaskRefs(expr); err != nil {
			t.Fatalf("TaskRefs(%q) of a compiled expression: %v", expr, err)
		}
	})
}

// TestSetupOnly tells constraints on the setup alone from those on metrics: a SetupOnly that
// took every constraint (or none) as setup-only fails here.
func TestSetupOnly(t *testing.T) {
	for expr, want := range map[string]bool{
		`setup.groups.all(g, g.memory <= 256)`:                          true,
		`candidate.setup.groups.size() <= 3 && "A" in tasks`:            true,
		`setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))`:     true,
		`candidate.predicted.p95_ms < 300.0`:                            false,
		`setup.groups.size() < baseline.setup.groups.size()`:            false,
		`setup.groups.all(g, g.memory <= 256) || verdict.p_value < 0.1`: false,
		`candidate.observed.requests == 0 || setup.groups.size() > 1`:   false,
	} {
		got, err := constraint.SetupOnly(expr)
		if err != nil || got != want {
			t.Errorf("SetupOnly(%s) = %v, %v; want %v", expr, got, err, want)
		}
	}
	p := constraint.MustCompile(constraint.Spec{Constraints: []constraint.Rule{
		{Name: "cap", Expr: `setup.groups.all(g, g.memory <= 256)`},
		{Name: "slo", Expr: `candidate.predicted.p95_ms < 300.0`},
	}})
	if got := p.SetupOnly(); !reflect.DeepEqual(got, []string{"cap"}) {
		t.Errorf("Policy.SetupOnly = %v, want [cap]", got)
	}
}
