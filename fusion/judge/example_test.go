package judge_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fusionize/fusionize/fusion/judge"
)

func ExampleJudge() {
	rng := rand.New(rand.NewPCG(1, 2))
	arm := func(medianMS float64) []judge.Sample {
		var s []judge.Sample
		for i := range 200 {
			s = append(s, judge.Sample{LatencyMS: medianMS * math.Exp(0.1*rng.NormFloat64()), Cold: i%50 == 0})
		}
		return s
	}
	baseline := arm(237)
	v := judge.Judge(baseline, arm(171), judge.Options{})
	fmt.Println(v.Outcome, "-", v.Reason)
	fmt.Println("cold starts set apart:", v.BaselineColdN, v.CandidateColdN)
	v = judge.Judge(baseline, arm(262), judge.Options{})
	fmt.Println(v.Outcome, "-", v.Reason)
	// Output:
	// pass - candidate is faster: shift -62.8 ms (-26.5 %), 95 % CI [-28.2 %, -24.7 %], p = 5.05e-63, warm n = 196/196
	// cold starts set apart: 4 4
	// fail - candidate is slower by more than 1 %: shift +26.0 ms (+11.0 %), 95 % CI [+8.9 %, +13.1 %], p = 2.14e-22, warm n = 196/196
}
