package fusion

import (
	"math"
	"slices"
	"time"
)

// Summary describes a sample of a quantity (milliseconds or dollars): its size, robust
// location and spread, and a bounded copy of the sample kept for resampling.
type Summary struct {
	Count  int     `json:"count"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P25    float64 `json:"p25"`
	P75    float64 `json:"p75"`
	P95    float64 `json:"p95"`
	// MAD is the median absolute deviation from the median.
	MAD float64 `json:"mad"`
	// Samples is the sorted sample, thinned to at most the builder's MaxSamples values by
	// taking evenly spaced order statistics, so that resampling it keeps the distribution.
	Samples []float64 `json:"samples,omitempty"`
}

// Summarize computes a Summary of xs (which it does not modify), keeping at most keep
// sorted values (all when keep <= 0).
func Summarize(xs []float64, keep int) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	med := QuantileSorted(s, 0.5)
	dev := make([]float64, len(s))
	for i, x := range s {
		dev[i] = math.Abs(x - med)
	}
	slices.Sort(dev)
	out := Summary{
		Count:  len(s),
		Mean:   sum / float64(len(s)),
		Median: med,
		P25:    QuantileSorted(s, 0.25),
		P75:    QuantileSorted(s, 0.75),
		P95:    QuantileSorted(s, 0.95),
		MAD:    QuantileSorted(dev, 0.5),
	}
	out.Samples = thin(s, keep)
	return out
}

// thin returns at most keep elements of the sorted slice s, each the middle of an equal share
// of it: the order statistics at (i+½)·len(s)/keep. Each kept value stands for len(s)/keep
// values, as Values.Merge weighs it; keeping the first and the last instead would give the
// extremes, rarer than that, a full share each, and every merge would fatten the tails (IoT's
// I→CS dispatch: a 90th percentile of 4.9 ms became 7.8 ms over a demo's windows).
func thin(s []float64, keep int) []float64 {
	if keep <= 0 || len(s) <= keep {
		return s
	}
	out := make([]float64, keep)
	for i := range keep {
		out[i] = s[(2*i+1)*len(s)/(2*keep)]
	}
	return out
}

// QuantileSorted returns the q-quantile (0 ≤ q ≤ 1) of the sorted sample s by linear
// interpolation between order statistics (the "type 7" definition of R and NumPy); NaN for
// an empty sample.
func QuantileSorted(s []float64, q float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if q <= 0 {
		return s[0]
	}
	if q >= 1 {
		return s[n-1]
	}
	h := q * float64(n-1)
	lo := int(math.Floor(h))
	if lo+1 >= n {
		return s[n-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// QuantileDuration is QuantileSorted for sorted durations (0 for an empty sample), for
// latency percentiles of load generators and benchmarks.
func QuantileDuration(s []time.Duration, q float64) time.Duration {
	n := len(s)
	switch {
	case n == 0:
		return 0
	case q <= 0:
		return s[0]
	case q >= 1:
		return s[n-1]
	}
	h := q * float64(n-1)
	lo := int(h)
	if lo+1 >= n {
		return s[n-1]
	}
	return s[lo] + time.Duration((h-float64(lo))*float64(s[lo+1]-s[lo]))
}

// Quantile returns the q-quantile of xs without modifying it.
func Quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return QuantileSorted(s, q)
}
