package judge_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
)

// arm draws n requests with lognormal latencies around medianMS (sigma 0.1), a p95 raised
// by tail (the slowest 10 % of requests take tail times longer) and a cost per request
// around costUSD.
func arm(seed uint64, n int, medianMS, tail, costUSD float64) []judge.Sample {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]judge.Sample, n)
	for i := range out {
		lat := medianMS * math.Exp(0.1*rng.NormFloat64())
		if rng.Float64() < 0.1 {
			lat *= tail
		}
		out[i] = judge.Sample{LatencyMS: lat, CostUSD: costUSD * math.Exp(0.05*rng.NormFloat64())}
	}
	return out
}

// failing marks the first n samples failed.
func failing(s []judge.Sample, n int) []judge.Sample {
	for i := range n {
		s[i].Failed = true
	}
	return s
}

// defaultObjective is the default policy's objective as the judge applies it.
func defaultObjective() judge.Objective {
	p := constraint.MustCompile(constraint.Spec{})
	return judge.PolicyObjective(p, constraint.Setup{}, constraint.Setup{}, nil)
}

// TestDecide: the canary decides on the objective (relative median plus relative cost by
// default) with the latency and tail guards. Each case names the broken judge it catches.
func TestDecide(t *testing.T) {
	base := arm(1, 300, 100, 1, 1e-6)
	tests := []struct {
		name      string
		candidate []judge.Sample
		want      judge.Outcome
		decided   string
		catches   string
	}{
		{"5 % slower, 30 % cheaper", arm(2, 300, 105, 1, 0.7e-6), judge.Pass, judge.DecidedObjective,
			"a latency-only judge (fails anything surely slower by 1 %), so that a saving is never promoted"},
		{"10 % faster, 60 % dearer", arm(3, 300, 90, 1, 1.6e-6), judge.Fail, judge.DecidedObjective,
			"a latency-only judge that passes a faster candidate whatever it costs"},
		{"same median, 30 % cheaper, p95 +60 %", arm(4, 300, 100, 1.9, 0.7e-6), judge.Fail, judge.DecidedTail,
			"a judge without the tail guard (the README's demo promoted p95 +57.8 %)"},
		{"25 % slower, 60 % cheaper", arm(5, 300, 125, 1, 0.4e-6), judge.Fail, judge.DecidedLatency,
			"a judge without a bound on the slowdown a saving may buy"},
		{"the same setup again", arm(6, 300, 100, 1, 1e-6), judge.Inconclusive, judge.DecidedObjective,
			"a judge that decides on point estimates (it would pass or fail noise)"},
		{"too few samples", arm(7, 30, 50, 1, 0.5e-6), judge.Inconclusive, judge.DecidedSamples,
			"a judge that decides without its minimum sample size"},
		{"every request fails", failing(arm(8, 20, 5, 1, 0.1e-6), 20), judge.Fail, judge.DecidedErrors,
			"a judge that sees too few warm samples and waits (extends) while the candidate fails every request"},
		{"2× faster, 10 % of requests fail", failing(arm(9, 300, 50, 1, 0.5e-6), 30), judge.Fail, judge.DecidedErrors,
			"a judge that counts failed requests as fast ones, or ignores them (it would pass a candidate that fails 1 in 10)"},
		{"5 % slower, 30 % cheaper, one failure in 300", failing(arm(2, 300, 105, 1, 0.7e-6), 1), judge.Pass, judge.DecidedObjective,
			"a judge that fails a candidate for one failure that the baseline's rate would explain"},
	}
	for _, tt := range tests {
		v, err := judge.Decide(base, tt.candidate, defaultObjective(), judge.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != tt.want || v.Decided != tt.decided {
			t.Errorf("%s: %s decided by %s, want %s by %s (catches %s): %s", tt.name, v.Outcome, v.Decided, tt.want, tt.decided, tt.catches, v.Reason)
		}
		t.Logf("%s: %s", tt.name, v.Decision(v.Outcome == judge.Pass))
	}
}

// TestDecideWords: the reason says faster or slower and cheaper or dearer as it is, and the
// decision says when the acceptance rule overrode the judge.
func TestDecideWords(t *testing.T) {
	v, err := judge.Decide(arm(1, 300, 100, 1, 1e-6), arm(2, 300, 71, 1, 0.9e-6), defaultObjective(), judge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome != judge.Pass || !strings.Contains(v.Reason, "median faster by 2") || !strings.Contains(v.Reason, "cost cheaper by") {
		t.Errorf("29 %% faster, 10 %% cheaper: %s", v.Reason)
	}
	if d := v.Decision(true); !strings.HasPrefix(d, "promote: the judge says pass, decided by objective: better on the objective") {
		t.Errorf("decision %q", d)
	}
	if d := v.Decision(false); !strings.HasPrefix(d, "roll back") || !strings.Contains(d, "acceptance rule overrides") {
		t.Errorf("a pass the acceptance rule rejected: %q", d)
	}
	// No cost observed: cost counts as unchanged and the reason says so.
	strip := func(s []judge.Sample) []judge.Sample {
		for i := range s {
			s[i].CostUSD = 0
		}
		return s
	}
	v, err = judge.Decide(strip(arm(1, 300, 100, 1, 1e-6)), strip(arm(2, 300, 80, 1, 1e-6)), defaultObjective(), judge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome != judge.Pass || !strings.Contains(v.Reason, "cost not observed") {
		t.Errorf("20 %% faster, cost unknown: %s: %s", v.Outcome, v.Reason)
	}
	if _, err := judge.Decide(nil, nil, nil, judge.Options{}); err == nil {
		t.Error("no objective accepted")
	}
}
