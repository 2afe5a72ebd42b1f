package fusion_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

// TestDigestMerge: the profile of the merged digests of two disjoint halves of the traces is
// the profile of all of them, field for field, and survives JSON. It catches a Merge that
// drops or double counts a task, edge, setup, group or sample, mixes up memory sizes, or a
// digest that loses a field crossing Temporal's JSON payloads.
func TestDigestMerge(t *testing.T) {
	app := apps.IoT()
	var recs []fusion.TraceRecord
	var reps []fusion.Report
	for i, s := range []string{"I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA+DJ@1024,AS@1024", "I@128,CW@128,SE@128,CT@128,CS@128,CSL@128,CSA@128,CA@128,DJ@128,AS@128"} {
		r, p := app.Measure(fusion.MustParseSetup(s), 150, uint64(i+1))
		recs, reps = append(recs, r...), append(reps, p...)
	}
	opts := fusion.ProfileOptions{MaxSamples: 400}
	all := fusion.NewProfileBuilder(app.Graph, opts)
	all.AddRecords(recs...)
	all.AddReports(reps...)
	want := all.Profile()

	halves := [2]*fusion.ProfileBuilder{fusion.NewProfileBuilder(app.Graph, opts), fusion.NewProfileBuilder(app.Graph, opts)}
	side := map[string]int{}
	for _, r := range recs {
		if _, ok := side[r.Trace]; !ok {
			side[r.Trace] = len(side) % 2
		}
		halves[side[r.Trace]].AddRecords(r)
	}
	for _, h := range halves {
		h.AddReports(reps...) // each REPORT line joins the half that has its invocation
	}
	var digests []fusion.Digest
	for _, h := range halves {
		b, err := json.Marshal(h.Digest())
		if err != nil {
			t.Fatal(err)
		}
		var d fusion.Digest
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	got := fusion.ProfileOf(app.Graph, opts, digests...)
	// Sums of costs added in another order differ in the last bits: compare to 12 digits.
	if gb, wb := rounded(t, got), rounded(t, want); gb != wb {
		i := 0
		for i < min(len(gb), len(wb)) && gb[i] == wb[i] {
			i++
		}
		t.Errorf("profile of merged digests differs from the profile of all traces at byte %d:\n got …%.300s\nwant …%.300s", i, gb[max(i-200, 0):], wb[max(i-200, 0):])
	}
}

// TestValuesMergeThinned: merging thinned samples keeps the count and sum exact and the
// quantiles close to the exact ones. It catches weights ignored (a small sample merged with
// a large one counting as much), and a sum or count lost in thinning.
func TestValuesMergeThinned(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	small, large := make([]float64, 200), make([]float64, 5000)
	for i := range small {
		small[i] = 100 + rng.Float64()*10 // slow requests, few
	}
	for i := range large {
		large[i] = rng.Float64() * 10 // fast requests, many
	}
	exact := fusion.Summarize(append(append([]float64{}, small...), large...), 0)
	m := fusion.ValuesOf(small).Thin(64).Merge(fusion.ValuesOf(large).Thin(64))
	s := m.Summary(64)
	if s.Count != exact.Count || math.Abs(s.Mean-exact.Mean) > 1e-9*exact.Mean || len(s.Samples) > 64 {
		t.Errorf("count %d mean %g (%d kept), want %d and %g", s.Count, s.Mean, len(s.Samples), exact.Count, exact.Mean)
	}
	for _, q := range []struct {
		name      string
		got, want float64
	}{{"median", s.Median, exact.Median}, {"p25", s.P25, exact.P25}, {"p75", s.P75, exact.P75}, {"p95", s.P95, exact.P95}} {
		if math.Abs(q.got-q.want) > 1 {
			t.Errorf("%s %g, want %g within 1", q.name, q.got, q.want)
		}
	}
}

// rounded is v's JSON with every number rounded to 12 significant digits.
func rounded(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	var round func(any) any
	round = func(x any) any {
		switch x := x.(type) {
		case float64:
			f, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
			return f
		case []any:
			for i := range x {
				x[i] = round(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = round(x[k])
			}
		}
		return x
	}
	out, err := json.Marshal(round(x))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// Windows digested, thinned and merged, as an optimizer's are (each window's digest thinned
// to 64 values, then 48 for the planner, then merged), keep the shape of their values: a
// heavy tail does not grow with every merge.
func TestThinnedMergesKeepTheTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []float64
	var v fusion.Values
	for _, n := range []int{60, 300, 300, 150, 150, 300, 300, 150} {
		w := make([]float64, n)
		for i := range w {
			w[i] = math.Exp(1.2 * rng.NormFloat64()) // heavy right tail, median 1
		}
		all = append(all, w...)
		v = v.Merge(fusion.ValuesOf(w).Thin(64).Thin(48))
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.75, 0.9} {
		want := fusion.QuantileSorted(all, q)
		got := fusion.QuantileSorted(v.V, q)
		t.Logf("quantile %.2f: %.2f of all values, %.2f merged", q, want, got)
		if math.Abs(got/want-1) > 0.15 {
			t.Errorf("quantile %.2f after thinned merges: %.2f, of all values %.2f", q, got, want)
		}
	}
}
