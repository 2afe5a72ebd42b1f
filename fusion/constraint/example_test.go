package constraint_test

import (
	"fmt"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

func Example() {
	policy, err := constraint.Compile(constraint.Spec{
		Constraints: []constraint.Rule{
			{Name: "isolate-AS", Expr: `setup.groups.all(g, g.root == "AS" || !("AS" in g.tasks))`},
			{Name: "memory-cap", Expr: `setup.groups.all(g, g.memory <= 2048)`},
			{Name: "slo", Expr: `candidate.predicted.p95_ms < 300.0`},
			{Name: "budget", Expr: `candidate.predicted.cost_per_request < 2e-5`},
		},
		// Lower is better: here latency, plus a penalty per dollar.
		Objective: constraint.Rule{Expr: `candidate.predicted.median_ms + 1e6 * candidate.predicted.cost_per_request`},
	})
	if err != nil {
		panic(err)
	}
	for _, text := range []string{"I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA+DJ+AS@1024", "I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA+DJ@1024,AS@1024"} {
		v := &constraint.Vars{Candidate: constraint.Subject{
			Setup:     constraint.SetupOf(fusion.MustParseSetup(text)),
			Predicted: constraint.Metrics{MedianMS: 170, P95MS: 240, CostPerRequest: 1.7e-5},
		}}
		violated, _ := policy.Check(v)
		obj, _ := policy.Objective(v)
		fmt.Printf("violated %v, objective %.0f\n", violated, obj)
	}

	_, err = constraint.Compile(constraint.Spec{Constraints: []constraint.Rule{{Name: "policy.yaml", Expr: "candidate.predicted.p95_ms < 300"}}})
	fmt.Println(err)
	// Output:
	// violated [isolate-AS], objective 187
	// violated [], objective 187
	// policy.yaml:1:28: found no matching overload for '_<_' applied to '(double, int)'
	//  | candidate.predicted.p95_ms < 300
	//  | ...........................^
}
