package judge

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/fusionize/fusionize/fusion/constraint"
)

// Objective scores what a canary's arm observed against the baseline's observation, lower
// is better; the judge assumes it does not decrease when the candidate's median, p95 or
// cost grows (the default objective, and every sensible one, is so).
type Objective func(candidate, baseline constraint.Metrics) (float64, error)

// PolicyObjective is the policy's objective as the judge applies it: the expression is
// evaluated with each arm's observed metrics standing in for both its predicted and its
// observed ones, so that the canary judges by the same objective the planner ranked by.
func PolicyObjective(p *constraint.Policy, candidate, baseline constraint.Setup, tasks []string) Objective {
	return func(c, b constraint.Metrics) (float64, error) {
		return p.Objective(&constraint.Vars{
			Candidate: constraint.Subject{Setup: candidate, Predicted: c, Observed: c},
			Baseline:  constraint.Subject{Setup: baseline, Predicted: b, Observed: b},
			Tasks:     tasks,
		})
	}
}

// The parts of a decision, named in Verdict.Decided.
const (
	DecidedErrors    = "errors"    // the candidate surely fails more requests
	DecidedSamples   = "samples"   // too few warm samples to decide anything
	DecidedLatency   = "latency"   // surely slower than Options.MaxSlowdown allows
	DecidedTail      = "tail"      // p95 surely above Options.P95Tolerance
	DecidedObjective = "objective" // the objective on what both arms observed
)

// bootstrapRounds resample each arm for the p95 interval; the draws are seeded from fixed
// constants, so a decision is deterministic.
const bootstrapRounds = 400

// Decide judges a canary by the objective the planner optimizes: it compares the arms'
// warm latencies with the Mann-Whitney test and the Hodges-Lehmann shift (as Judge does),
// their cost per request (mean of the requests' billed cost, with a normal confidence
// interval), and their warm p95 (bootstrap interval), then decides, in this order:
//
//	a share of failed requests surely higher by more than
//	MaxErrorIncrease (failed requests are in no latency)   → fail (errors)
//	fewer than MinSamples warm samples in an arm           → inconclusive (samples)
//	median surely slower by more than MaxSlowdown          → fail (latency)
//	p95 surely higher by more than P95Tolerance            → fail (tail)
//	objective better even at the candidate's worst ends    → pass (objective)
//	objective not better even at the candidate's best ends → fail (objective)
//	otherwise                                              → inconclusive (objective)
//
// "Ends" are the confidence intervals' ends of the candidate's median, p95 and cost. So a
// cheaper candidate that is not meaningfully slower passes when the objective weighs the
// saving more than the slowdown, and a faster but dearer one fails when it does not. When
// an arm has no complete trace (no cost), cost counts as unchanged and the reason says so.
// Verdict.Decided names the part that decided and Reason says it in plain words.
func Decide(baseline, candidate []Sample, obj Objective, opts Options) (Verdict, error) {
	if obj == nil {
		return Verdict{}, errors.New("judge: no objective")
	}
	v := Judge(baseline, candidate, opts)
	o := v.Options
	if v.errors(baseline, candidate) {
		return v, nil
	}
	if v.BaselineN < o.MinSamples || v.CandidateN < o.MinSamples {
		v.Decided = DecidedSamples
		return v, nil
	}
	v.Outcome, v.Reason = "", ""
	bw, _ := split(baseline)
	cw, _ := split(candidate)
	v.BaselineP95MS, v.CandidateP95MS = quantile(bw, 0.95), quantile(cw, 0.95)
	v.P95Relative, v.P95RelativeLow, v.P95RelativeHigh = p95Shift(bw, cw, o.Alpha)
	v.costs(baseline, candidate)
	lat := v.latencyText()
	switch {
	case v.RelativeLow > o.MaxSlowdown:
		v.Outcome, v.Decided = Fail, DecidedLatency
		v.Reason = fmt.Sprintf("median is slower by more than %.0f %%: %s", 100*o.MaxSlowdown, lat)
		return v, nil
	case v.P95RelativeLow > o.P95Tolerance:
		v.Outcome, v.Decided = Fail, DecidedTail
		v.Reason = fmt.Sprintf("p95 is higher by more than %.0f %%: %.1f ms against %.1f ms (%+.1f %%, %.0f %% CI [%+.1f %%, %+.1f %%])",
			100*o.P95Tolerance, v.CandidateP95MS, v.BaselineP95MS, 100*v.P95Relative, 100*(1-o.Alpha), 100*v.P95RelativeLow, 100*v.P95RelativeHigh)
		return v, nil
	}
	if err := v.objective(obj); err != nil {
		return Verdict{}, err
	}
	v.Decided = DecidedObjective
	what := fmt.Sprintf("objective %.3f against %.3f (%.3f to %.3f within the intervals); %s; %s",
		v.ObjectiveCandidate, v.ObjectiveBaseline, v.ObjectiveLow, v.ObjectiveHigh, lat, v.costText())
	switch {
	case v.ObjectiveHigh < v.ObjectiveBaseline:
		v.Outcome, v.Reason = Pass, "better on the objective: "+what
	case v.ObjectiveLow >= v.ObjectiveBaseline:
		v.Outcome, v.Reason = Fail, "not better on the objective: "+what
	default:
		v.Outcome, v.Reason = Inconclusive, "cannot tell whether better on the objective: "+what
	}
	return v, nil
}

// errors counts each arm's failed requests and decides fail (errors) when the candidate's
// share of failures is higher than the baseline's by more than MaxErrorIncrease even at the
// ends of their Wilson score intervals: so one failure in a handful of requests can fail a
// candidate whose baseline never fails, while a rare failure in both arms cannot.
func (v *Verdict) errors(baseline, candidate []Sample) bool {
	count := func(s []Sample) (failed int) {
		for _, x := range s {
			if x.Failed {
				failed++
			}
		}
		return failed
	}
	v.BaselineFailed, v.BaselineRequests = count(baseline), len(baseline)
	v.CandidateFailed, v.CandidateRequests = count(candidate), len(candidate)
	if v.CandidateFailed == 0 {
		return false
	}
	z := normalQuantile(1 - v.Options.Alpha/2)
	candLow, _ := wilson(v.CandidateFailed, v.CandidateRequests, z)
	_, baseHigh := wilson(v.BaselineFailed, v.BaselineRequests, z)
	if candLow-baseHigh <= v.Options.MaxErrorIncrease {
		return false
	}
	v.Outcome, v.Decided = Fail, DecidedErrors
	v.Reason = fmt.Sprintf("fails more requests: %d of %d (%.1f %%) against %d of %d (%.1f %%) of the current setup",
		v.CandidateFailed, v.CandidateRequests, 100*float64(v.CandidateFailed)/float64(v.CandidateRequests),
		v.BaselineFailed, v.BaselineRequests, 100*share(v.BaselineFailed, v.BaselineRequests))
	return true
}

// wilson is the Wilson score interval of the proportion k of n at normal quantile z; [0, 1]
// when n is 0.
func wilson(k, n int, z float64) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	p, fn := float64(k)/float64(n), float64(n)
	d := 1 + z*z/fn
	mid := (p + z*z/(2*fn)) / d
	half := z * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn)) / d
	return max(0, mid-half), min(1, mid+half)
}

func share(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

// objective evaluates obj at the candidate's point estimates and at the ends of their
// intervals.
func (v *Verdict) objective(obj Objective) error {
	base := constraint.Metrics{MedianMS: v.BaselineMedianMS, P95MS: v.BaselineP95MS, CostPerRequest: v.BaselineCost}
	at := func(shift, p95, cost float64) constraint.Metrics {
		return constraint.Metrics{MedianMS: v.BaselineMedianMS + shift, P95MS: v.BaselineP95MS * (1 + p95),
			CostPerRequest: v.BaselineCost * (1 + cost)}
	}
	var err error
	eval := func(c constraint.Metrics) float64 {
		x, e := obj(c, base)
		if e != nil && err == nil {
			err = fmt.Errorf("judge: objective of the canary: %w", e)
		}
		return x
	}
	v.ObjectiveBaseline = eval(base)
	v.ObjectiveCandidate = eval(at(v.ShiftMS, v.P95Relative, v.CostRelative))
	v.ObjectiveLow = eval(at(v.ShiftLowMS, v.P95RelativeLow, v.CostRelativeLow))
	v.ObjectiveHigh = eval(at(v.ShiftHighMS, v.P95RelativeHigh, v.CostRelativeHigh))
	if err == nil && slices.ContainsFunc([]float64{v.ObjectiveBaseline, v.ObjectiveCandidate, v.ObjectiveLow, v.ObjectiveHigh}, math.IsNaN) {
		err = errors.New("judge: the objective is NaN on the canary's observations")
	}
	return err
}

// costs sets the arms' mean cost per request (of the requests with a known cost) and the
// relative difference with its normal-approximation interval.
func (v *Verdict) costs(baseline, candidate []Sample) {
	b, c := costsOf(baseline), costsOf(candidate)
	v.BaselineCostN, v.CandidateCostN = len(b), len(c)
	if len(b) < 2 || len(c) < 2 {
		v.BaselineCost, v.CandidateCost = 1, 1 // unknown: unchanged
		return
	}
	mb, vb := meanVar(b)
	mc, vc := meanVar(c)
	v.BaselineCost, v.CandidateCost = mb, mc
	if mb <= 0 {
		return
	}
	z := normalQuantile(1 - v.Options.Alpha/2)
	se := math.Sqrt(vb/float64(len(b)) + vc/float64(len(c)))
	v.CostRelative = (mc - mb) / mb
	v.CostRelativeLow, v.CostRelativeHigh = (mc-mb-z*se)/mb, (mc-mb+z*se)/mb
}

func costsOf(s []Sample) []float64 {
	var out []float64
	for _, x := range s {
		if x.CostUSD > 0 {
			out = append(out, x.CostUSD)
		}
	}
	return out
}

func meanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// p95Shift returns the relative difference of the warm p95s (candidate over baseline minus
// one) with its percentile-bootstrap interval at level 1−alpha. a and b are sorted.
func p95Shift(a, b []float64, alpha float64) (rel, lo, hi float64) {
	pa := quantile(a, 0.95)
	if pa <= 0 {
		return 0, 0, 0
	}
	rel = quantile(b, 0.95)/pa - 1
	rng := rand.New(rand.NewPCG(0x7a11, 0x95))
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	rels := make([]float64, bootstrapRounds)
	for k := range rels {
		resample(rng, a, ra)
		resample(rng, b, rb)
		if q := quantile(ra, 0.95); q > 0 {
			rels[k] = quantile(rb, 0.95)/q - 1
		}
	}
	slices.Sort(rels)
	return rel, quantile(rels, alpha/2), quantile(rels, 1-alpha/2)
}

// resample fills dst with draws from src with replacement, sorted.
func resample(rng *rand.Rand, src, dst []float64) {
	for i := range dst {
		dst[i] = src[rng.IntN(len(src))]
	}
	slices.Sort(dst)
}

// quantile of a sorted sample by linear interpolation (type 7); 0 when empty.
func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	h := q * float64(len(s)-1)
	lo := int(h)
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// latencyText says how the median moved, faster or slower, with its interval.
func (v *Verdict) latencyText() string {
	dir := "slower"
	if v.RelativeEffect < 0 {
		dir = "faster"
	}
	return fmt.Sprintf("median %s by %.1f %% (%.1f ms against %.1f ms, %.0f %% CI [%+.1f %%, %+.1f %%], p = %.3g, warm n = %d/%d)",
		dir, 100*math.Abs(v.RelativeEffect), v.CandidateMedianMS, v.BaselineMedianMS, 100*(1-v.Options.Alpha),
		100*v.RelativeLow, 100*v.RelativeHigh, v.PValue, v.BaselineN, v.CandidateN)
}

// costText says how the cost per request moved, or that it was not observed.
func (v *Verdict) costText() string {
	if v.BaselineCostN < 2 || v.CandidateCostN < 2 {
		return fmt.Sprintf("cost not observed (complete traces %d/%d), counted as unchanged", v.BaselineCostN, v.CandidateCostN)
	}
	dir := "dearer"
	if v.CostRelative < 0 {
		dir = "cheaper"
	}
	return fmt.Sprintf("cost %s by %.1f %% (%.3g $ against %.3g $ per request, CI [%+.1f %%, %+.1f %%]); p95 %+.1f %%",
		dir, 100*math.Abs(v.CostRelative), v.CandidateCost, v.BaselineCost, 100*v.CostRelativeLow, 100*v.CostRelativeHigh, 100*v.P95Relative)
}

// Decision says in plain words what a canary's verdict and the acceptance rule decided:
// "promote" or "roll back", and why.
func (v Verdict) Decision(accepted bool) string {
	verb := "roll back"
	if accepted {
		verb = "promote"
	}
	by := v.Decided
	if by == "" {
		by = "latency"
	}
	s := fmt.Sprintf("%s: the judge says %s, decided by %s: %s", verb, v.Outcome, by, v.Reason)
	if accepted != (v.Outcome == Pass) {
		s += "; the policy's acceptance rule overrides the judge"
	}
	return strings.TrimSpace(s)
}
