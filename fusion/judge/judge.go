// Package judge is the canary judge: it compares the request latencies of the baseline
// (current setup) and the candidate from a canary and says pass, fail or inconclusive, with
// the numbers that led there.
//
// Cold starts are set apart (they depend on deployment age, not on the setup's steady
// state): warm samples are judged, cold ones are counted and their medians reported. On the
// warm samples the judge computes the Mann-Whitney U test (normal approximation with tie
// correction and continuity correction) and the Hodges-Lehmann estimate of the shift
// (candidate minus baseline: the median of all pairwise differences) with its distribution-
// free confidence interval (Moses), and relates the shift to the baseline median.
//
// Decision, with CI the (1−Alpha) confidence interval of the relative shift:
//
//	fewer than MinSamples warm samples in an arm  → inconclusive
//	CI low  > FailAbove  (slower, surely by more than FailAbove)      → fail
//	CI high < Tolerance  (not slower by more than Tolerance, surely)  → pass
//	otherwise                                                         → inconclusive
//
// Measured by simulation (TestJudgePower: fixed seeds, 1,000 comparisons per figure, arms
// drawn with replacement, defaults: 50 warm samples per arm, Alpha 0.05, FailAbove 1 %,
// Tolerance 5 %):
//
//	latencies                    A/A fails  +10 % caught (n=50)  +10 % caught (n=100)  −10 % passes
//	IoT ground-truth simulator   0.0 %      100 %                100 %                 100 %
//	lognormal, sigma 0.25        1.7 %      40 %                 66 %                  88 %
//
// The simulator's request latencies are tight (sums of several tasks with 10 % noise), so a
// 10 % shift is obvious; with the spread of real Lambda latencies (sigma 0.25) 50 samples per
// arm catch a 10 % regression only 40 % of the time, and the workflow should canary for more
// requests (about 300 per arm for 95 % power) when it matters. A regression never passed.
package judge

import (
	"fmt"
	"math"
	"slices"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
)

// Sample is one request's latency.
type Sample struct {
	LatencyMS float64 `json:"latencyMS"`
	Cold      bool    `json:"cold,omitempty"`
	// CostUSD is the request's cost from its billed durations; 0 when unknown (an
	// incomplete trace).
	CostUSD float64 `json:"costUSD,omitempty"`
	// Failed: the request failed; its latency is in no comparison.
	Failed bool `json:"failed,omitempty"`
}

// Outcome is the judge's decision.
type Outcome string

// The outcomes.
const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	Inconclusive Outcome = "inconclusive"
)

// DefaultMinSamples is Options.MinSamples' default.
const DefaultMinSamples = 50

// DefaultMaxSlowdown is Options.MaxSlowdown's default.
const DefaultMaxSlowdown = 0.10

// Options configures the judge; zero fields take the defaults.
type Options struct {
	// Alpha is one minus the confidence level of the shift's interval (default 0.05).
	Alpha float64 `json:"alpha,omitempty"`
	// MinSamples is the minimum number of warm samples per arm (default 50).
	MinSamples int `json:"minSamples,omitempty"`
	// FailAbove: the candidate fails when it is surely slower by more than this fraction
	// of the baseline median (default 0.01).
	FailAbove float64 `json:"failAbove,omitempty"`
	// Tolerance: the candidate passes when it is surely not slower by more than this
	// fraction of the baseline median (default 0.05).
	Tolerance float64 `json:"tolerance,omitempty"`
	// MaxSlowdown (Decide): the candidate fails when its median is surely slower by more
	// than this fraction, whatever it saves (default 0.10).
	MaxSlowdown float64 `json:"maxSlowdown,omitempty"`
	// P95Tolerance (Decide): the candidate fails when its warm p95 is surely higher by more
	// than this fraction (default 0.10): the default acceptance guards the tail.
	P95Tolerance float64 `json:"p95Tolerance,omitempty"`
	// MaxErrorIncrease (Decide): the candidate fails when the share of its requests that
	// fail is surely higher than the baseline's by more than this (default 0.01, one
	// percentage point), whatever else it does better.
	MaxErrorIncrease float64 `json:"maxErrorIncrease,omitempty"`
}

func (o Options) withDefaults() Options {
	if o.Alpha <= 0 || o.Alpha >= 1 {
		o.Alpha = 0.05
	}
	if o.MinSamples <= 0 {
		o.MinSamples = DefaultMinSamples
	}
	if o.FailAbove == 0 {
		o.FailAbove = 0.01
	}
	if o.Tolerance == 0 {
		o.Tolerance = 0.05
	}
	if o.MaxSlowdown == 0 {
		o.MaxSlowdown = DefaultMaxSlowdown
	}
	if o.P95Tolerance == 0 {
		o.P95Tolerance = 0.10
	}
	if o.MaxErrorIncrease == 0 {
		o.MaxErrorIncrease = 0.01
	}
	return o
}

// Verdict is the judge's decision and the numbers behind it. Shifts are candidate minus
// baseline: positive means the candidate is slower.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`

	BaselineN         int     `json:"baselineN"` // warm samples
	CandidateN        int     `json:"candidateN"`
	BaselineMedianMS  float64 `json:"baselineMedianMS"`
	CandidateMedianMS float64 `json:"candidateMedianMS"`

	U      float64 `json:"u"` // Mann-Whitney U of the candidate
	Z      float64 `json:"z"`
	PValue float64 `json:"pValue"` // two-sided

	ShiftMS     float64 `json:"shiftMS"` // Hodges-Lehmann
	ShiftLowMS  float64 `json:"shiftLowMS"`
	ShiftHighMS float64 `json:"shiftHighMS"`
	// RelativeEffect is ShiftMS / BaselineMedianMS, and its interval likewise.
	RelativeEffect float64 `json:"relativeEffect"`
	RelativeLow    float64 `json:"relativeLow"`
	RelativeHigh   float64 `json:"relativeHigh"`

	// Failed requests of each arm, out of Requests (every sample, failed or not).
	BaselineFailed    int `json:"baselineFailed,omitempty"`
	CandidateFailed   int `json:"candidateFailed,omitempty"`
	BaselineRequests  int `json:"baselineRequests,omitempty"`
	CandidateRequests int `json:"candidateRequests,omitempty"`

	BaselineColdN         int     `json:"baselineColdN"`
	CandidateColdN        int     `json:"candidateColdN"`
	BaselineColdMedianMS  float64 `json:"baselineColdMedianMS,omitempty"`
	CandidateColdMedianMS float64 `json:"candidateColdMedianMS,omitempty"`

	// Set by Decide: the part that decided (DecidedSamples, DecidedLatency, DecidedTail,
	// DecidedObjective), the warm p95s and their relative difference with its bootstrap
	// interval, the mean cost per request of each arm (over CostN requests with a known
	// cost) and its relative difference with its interval, and the objective of each arm
	// (the candidate's also at the best and worst ends of its intervals).
	Decided          string  `json:"decided,omitempty"`
	BaselineP95MS    float64 `json:"baselineP95MS,omitempty"`
	CandidateP95MS   float64 `json:"candidateP95MS,omitempty"`
	P95Relative      float64 `json:"p95Relative,omitempty"`
	P95RelativeLow   float64 `json:"p95RelativeLow,omitempty"`
	P95RelativeHigh  float64 `json:"p95RelativeHigh,omitempty"`
	BaselineCost     float64 `json:"baselineCost,omitempty"`
	CandidateCost    float64 `json:"candidateCost,omitempty"`
	BaselineCostN    int     `json:"baselineCostN,omitempty"`
	CandidateCostN   int     `json:"candidateCostN,omitempty"`
	CostRelative     float64 `json:"costRelative,omitempty"`
	CostRelativeLow  float64 `json:"costRelativeLow,omitempty"`
	CostRelativeHigh float64 `json:"costRelativeHigh,omitempty"`

	ObjectiveBaseline  float64 `json:"objectiveBaseline,omitempty"`
	ObjectiveCandidate float64 `json:"objectiveCandidate,omitempty"`
	ObjectiveLow       float64 `json:"objectiveLow,omitempty"`
	ObjectiveHigh      float64 `json:"objectiveHigh,omitempty"`

	Options Options `json:"options"`
}

// maxPairs bounds the pairwise differences of the Hodges-Lehmann estimate; larger arms are
// thinned to evenly spaced order statistics.
const maxPairs = 1 << 22

// Judge compares the candidate's latencies with the baseline's. It is deterministic.
func Judge(baseline, candidate []Sample, opts Options) Verdict {
	o := opts.withDefaults()
	bw, bc := split(baseline)
	cw, cc := split(candidate)
	v := Verdict{Options: o, BaselineN: len(bw), CandidateN: len(cw), BaselineColdN: len(bc), CandidateColdN: len(cc),
		BaselineColdMedianMS: median(bc), CandidateColdMedianMS: median(cc),
		BaselineMedianMS: median(bw), CandidateMedianMS: median(cw)}
	if len(bw) < o.MinSamples || len(cw) < o.MinSamples {
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("too few warm samples: baseline %d, candidate %d, want at least %d each", len(bw), len(cw), o.MinSamples)
		return v
	}
	v.U, v.Z, v.PValue = mannWhitney(bw, cw)
	v.ShiftMS, v.ShiftLowMS, v.ShiftHighMS = hodgesLehmann(bw, cw, o.Alpha)
	if v.BaselineMedianMS > 0 {
		v.RelativeEffect = v.ShiftMS / v.BaselineMedianMS
		v.RelativeLow = v.ShiftLowMS / v.BaselineMedianMS
		v.RelativeHigh = v.ShiftHighMS / v.BaselineMedianMS
	}
	ci := fmt.Sprintf("shift %+.1f ms (%+.1f %%), %.0f %% CI [%+.1f %%, %+.1f %%], p = %.3g, warm n = %d/%d",
		v.ShiftMS, 100*v.RelativeEffect, 100*(1-o.Alpha), 100*v.RelativeLow, 100*v.RelativeHigh, v.PValue, v.BaselineN, v.CandidateN)
	switch {
	case v.RelativeLow > o.FailAbove:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("candidate is slower by more than %.0f %%: %s", 100*o.FailAbove, ci)
	case v.RelativeHigh < 0:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("candidate is faster: %s", ci)
	case v.RelativeHigh < o.Tolerance:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("candidate is not slower by more than %.0f %%: %s", 100*o.Tolerance, ci)
	default:
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("cannot tell: %s", ci)
	}
	return v
}

func split(s []Sample) (warm, cold []float64) {
	for _, x := range s {
		if math.IsNaN(x.LatencyMS) || x.Failed {
			continue
		}
		if x.Cold {
			cold = append(cold, x.LatencyMS)
		} else {
			warm = append(warm, x.LatencyMS)
		}
	}
	slices.Sort(warm)
	slices.Sort(cold)
	return warm, cold
}

// median of a sorted slice; 0 when empty.
func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mannWhitney returns the U statistic of b (the candidate) against a, its z score (with
// tie and continuity correction) and the two-sided p-value. a and b are sorted.
func mannWhitney(a, b []float64) (u, z, p float64) {
	n1, n2 := float64(len(a)), float64(len(b))
	n := n1 + n2
	// Merge the sorted arms, giving tied values their average rank.
	rankSumB, ties := 0.0, 0.0
	i, j, rank := 0, 0, 1.0
	for i < len(a) || j < len(b) {
		var x float64
		if j >= len(b) || (i < len(a) && a[i] <= b[j]) {
			x = a[i]
		} else {
			x = b[j]
		}
		ca, cb := 0, 0
		for i < len(a) && a[i] == x {
			i++
			ca++
		}
		for j < len(b) && b[j] == x {
			j++
			cb++
		}
		t := float64(ca + cb)
		avg := rank + (t-1)/2
		rankSumB += avg * float64(cb)
		ties += t*t*t - t
		rank += t
	}
	u = rankSumB - n2*(n2+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1))))
	if sd == 0 {
		return u, 0, 1
	}
	d := u - mean
	switch {
	case d > 0.5:
		d -= 0.5
	case d < -0.5:
		d += 0.5
	default:
		d = 0
	}
	z = d / sd
	return u, z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

// hodgesLehmann returns the median of the differences b[j]−a[i] and its Moses confidence
// interval at level 1−alpha. a and b are sorted.
func hodgesLehmann(a, b []float64, alpha float64) (shift, lo, hi float64) {
	for len(a)*len(b) > maxPairs {
		if len(a) >= len(b) {
			a = thin(a, len(a)/2)
		} else {
			b = thin(b, len(b)/2)
		}
	}
	d := make([]float64, 0, len(a)*len(b))
	for _, y := range b {
		for _, x := range a {
			d = append(d, y-x)
		}
	}
	slices.Sort(d)
	n1, n2 := float64(len(a)), float64(len(b))
	k := int(math.Floor(n1*n2/2 - normalQuantile(1-alpha/2)*math.Sqrt(n1*n2*(n1+n2+1)/12)))
	k = max(0, min(k, len(d)/2))
	return median(d), d[k], d[len(d)-1-k]
}

func thin(s []float64, keep int) []float64 {
	out := make([]float64, keep)
	for i := range keep {
		out[i] = s[i*(len(s)-1)/max(keep-1, 1)]
	}
	return out
}

// normalQuantile returns the p-quantile of the standard normal distribution.
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// Vars returns the verdict as the acceptance rule of a constraint.Policy sees it.
func (v Verdict) Vars() constraint.Verdict {
	return constraint.Verdict{
		Outcome: string(v.Outcome), PValue: v.PValue,
		ShiftMS: v.ShiftMS, ShiftLowMS: v.ShiftLowMS, ShiftHighMS: v.ShiftHighMS, RelativeEffect: v.RelativeEffect,
		BaselineN: int64(v.BaselineN), CandidateN: int64(v.CandidateN),
		BaselineColdN: int64(v.BaselineColdN), CandidateColdN: int64(v.CandidateColdN),
		Decided: v.Decided, P95Relative: v.P95Relative, P95RelativeLow: v.P95RelativeLow, CostRelative: v.CostRelative,
		ObjectiveBaseline: v.ObjectiveBaseline, ObjectiveCandidate: v.ObjectiveCandidate, ObjectiveHigh: v.ObjectiveHigh,
	}
}

// Samples converts a profile's request samples.
func Samples(rs []fusion.RequestSample) []Sample {
	out := make([]Sample, len(rs))
	for i, r := range rs {
		out[i] = Sample{LatencyMS: r.LatencyMS, Cold: r.Cold, CostUSD: r.CostUSD, Failed: r.Failed}
	}
	return out
}
