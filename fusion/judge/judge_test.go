package judge_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/fusion/judge"
)

func samples(xs ...float64) []judge.Sample {
	out := make([]judge.Sample, len(xs))
	for i, x := range xs {
		out[i] = judge.Sample{LatencyMS: x}
	}
	return out
}

func TestJudgeNumbers(t *testing.T) {
	v := judge.Judge(samples(1, 2, 3, 4, 5), samples(6, 7, 8, 9, 10), judge.Options{MinSamples: 5})
	if v.U != 25 || math.Abs(v.Z-2.5067) > 1e-3 || math.Abs(v.PValue-0.01219) > 1e-4 {
		t.Errorf("U %v z %v p %v; want 25, 2.5067, 0.0122", v.U, v.Z, v.PValue)
	}
	if v.ShiftMS != 5 || v.ShiftLowMS != 3 || v.ShiftHighMS != 7 || v.RelativeEffect != 5.0/3 {
		t.Errorf("shift %v [%v, %v] rel %v", v.ShiftMS, v.ShiftLowMS, v.ShiftHighMS, v.RelativeEffect)
	}
	if v.Outcome != judge.Fail {
		t.Errorf("outcome %s: %s", v.Outcome, v.Reason)
	}
	// All ties: no evidence either way.
	tie := judge.Judge(samples(3, 3, 3, 3, 3), samples(3, 3, 3, 3, 3), judge.Options{MinSamples: 5})
	if tie.PValue != 1 || tie.ShiftMS != 0 || tie.Outcome != judge.Pass {
		t.Errorf("ties: %+v", tie)
	}
}

func TestJudgeColdAndMinimum(t *testing.T) {
	var b, c []judge.Sample
	for i := range 60 {
		b = append(b, judge.Sample{LatencyMS: 100 + float64(i%10)})
		c = append(c, judge.Sample{LatencyMS: 100 + float64(i%10)})
	}
	c = append(c, judge.Sample{LatencyMS: 900, Cold: true}, judge.Sample{LatencyMS: 1100, Cold: true})
	v := judge.Judge(b, c, judge.Options{})
	if v.CandidateColdN != 2 || v.CandidateColdMedianMS != 1000 || v.CandidateN != 60 || v.Outcome != judge.Pass {
		t.Errorf("cold starts not set apart: %+v", v)
	}
	short := judge.Judge(b[:49], c, judge.Options{})
	if short.Outcome != judge.Inconclusive {
		t.Errorf("49 samples: %s, want inconclusive", short.Outcome)
	}
}

// latencyPool returns request latencies of the IoT app from the ground-truth simulator.
func latencyPool(n int) []judge.Sample {
	app := apps.IoT()
	recs, reps := app.Measure(fusion.MustParseSetup("I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA+DJ@1024,AS@1024"), n, 11)
	st := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{MaxSamples: n})
	st.AddRecords(recs...)
	st.AddReports(reps...)
	p := st.Profile()
	return judge.Samples(p.Setups[0].Samples)
}

// errorRates judges 1,000 pairs of arms of n warm samples each (plus the cold ones drawn on
// the way), drawn with replacement from pool, the candidate's latencies scaled by scale.
func errorRates(pool []judge.Sample, seed uint64, n int, scale float64) map[judge.Outcome]float64 {
	rng := rand.New(rand.NewPCG(seed, 4))
	draw := func(scale float64) []judge.Sample {
		var out []judge.Sample
		for warm := 0; warm < n; {
			s := pool[rng.IntN(len(pool))]
			s.LatencyMS *= scale
			if !s.Cold {
				warm++
			}
			out = append(out, s)
		}
		return out
	}
	const runs = 1000
	r := map[judge.Outcome]float64{}
	for range runs {
		v := judge.Judge(draw(1), draw(scale), judge.Options{})
		r[v.Outcome] += 1.0 / runs
	}
	return r
}

// TestJudgePower measures the judge's error rates at the default options; the figures are
// quoted in the package comment.
func TestJudgePower(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	lognormal := make([]judge.Sample, 4000)
	for i := range lognormal {
		lognormal[i] = judge.Sample{LatencyMS: 200 * math.Exp(0.25*rng.NormFloat64())}
	}
	for _, tt := range []struct {
		name       string
		pool       []judge.Sample
		minPower50 float64
	}{
		{"IoT simulator latencies", latencyPool(4000), 0.8},
		{"lognormal sigma 0.25", lognormal, 0.3},
	} {
		aa := errorRates(tt.pool, 1, 50, 1)
		reg := errorRates(tt.pool, 2, 50, 1.1)
		imp := errorRates(tt.pool, 3, 50, 0.9)
		reg100 := errorRates(tt.pool, 4, 100, 1.1)
		t.Logf("%s, n=50: A/A fail %.1f%% pass %.1f%%; +10%%: fail %.1f%% pass %.1f%%; −10%%: pass %.1f%%; n=100, +10%%: fail %.1f%%",
			tt.name, 100*aa[judge.Fail], 100*aa[judge.Pass], 100*reg[judge.Fail], 100*reg[judge.Pass], 100*imp[judge.Pass], 100*reg100[judge.Fail])
		if aa[judge.Fail] > 0.02 {
			t.Errorf("%s: A/A false failure rate %.3f, want ≤ 0.02", tt.name, aa[judge.Fail])
		}
		if reg[judge.Fail] < tt.minPower50 {
			t.Errorf("%s: power against a 10%% regression %.3f, want ≥ %v", tt.name, reg[judge.Fail], tt.minPower50)
		}
		if reg[judge.Pass] > 0.01 {
			t.Errorf("%s: a 10%% regression passes %.3f", tt.name, reg[judge.Pass])
		}
	}
}
