package plan_test

import (
	"reflect"
	"testing"

	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/plan"
)

// TestCheckFeasible: a satisfiable cap gives an example that satisfies it; a constraint no
// memory size can meet is named as the one excluding everything; two constraints that
// exclude everything only together are said to; a metric constraint is deferred. A search
// that answered feasible always (or never), or blamed the wrong constraint, fails here.
func TestCheckFeasible(t *testing.T) {
	rules := func(exprs ...string) *constraint.Policy {
		var rs []constraint.Rule
		for i, e := range exprs {
			rs = append(rs, constraint.Rule{Name: string(rune('a' + i)), Expr: e})
		}
		return constraint.MustCompile(constraint.Spec{Constraints: rs})
	}
	g := apps.IoTGraph()
	for _, c := range []struct {
		name      string
		policy    *constraint.Policy
		feasible  bool
		excluding []string
		deferred  []string
	}{
		{"cap", rules(`setup.groups.all(g, g.memory <= 256)`, `candidate.predicted.p95_ms < 300.0`), true, nil, []string{"b"}},
		{"isolated and fused", rules(`setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))`, `setup.groups.size() <= 4`), true, nil, nil},
		{"above every size", rules(`setup.groups.all(g, g.memory >= 4096)`, `setup.groups.size() > 1`), false, []string{"a"}, nil},
		{"only together", rules(`setup.groups.size() >= 5`, `setup.groups.size() <= 3`), false, nil, nil},
		{"entry's memory", rules(`setup.groups.exists(g, g.root == "I" && g.memory == 1024)`, `setup.groups.all(g, g.root == "I" || g.memory == 128)`), true, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := plan.CheckFeasible(g, []int{128, 256, 512, 1024, 2048, 3008}, c.policy)
			if err != nil {
				t.Fatal(err)
			}
			if f.Feasible() != c.feasible || !reflect.DeepEqual(f.Excluding, c.excluding) || !reflect.DeepEqual(f.Deferred, c.deferred) {
				t.Fatalf("got %+v", f)
			}
			if !c.feasible {
				return
			}
			if err := f.Example.Validate(g); err != nil {
				t.Fatalf("example %s: %v", f.Example, err)
			}
			v := &constraint.Vars{Candidate: constraint.Subject{Setup: constraint.SetupOf(f.Example)}, Tasks: g.Tasks}
			violated, err := c.policy.Check(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range violated {
				if n != "b" || c.name != "cap" { // b reads metrics: zero here, not decided
					t.Fatalf("example %s violates %v", f.Example, violated)
				}
			}
		})
	}
}
