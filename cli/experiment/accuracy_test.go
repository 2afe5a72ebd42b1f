package experiment_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/fusionize/fusionize/cli/experiment"
	"github.com/fusionize/fusionize/internal/quiet"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/runtime/bundle"
)

// sampleBundles builds each sample's bundle once for the tests.
var sampleBundles = struct {
	sync.Mutex
	m map[string]plambda.Bundle
}{m: map[string]plambda.Bundle{}}

func sampleBundle(ctx context.Context, app string) (plambda.Bundle, error) {
	sampleBundles.Lock()
	defer sampleBundles.Unlock()
	if b, ok := sampleBundles.m[app]; ok {
		return b, nil
	}
	dir, err := os.MkdirTemp("", "experiment-bundle-")
	if err != nil {
		return plambda.Bundle{}, err
	}
	arts, err := bundle.Build(ctx, bundle.Options{Package: "github.com/fusionize/fusionize/samples/cmd/" + app,
		OutDir: dir, Archs: []string{goruntime.GOARCH}, Name: app})
	if err != nil {
		return plambda.Bundle{}, err
	}
	b := plambda.Bundle{Zip: arts[0].Zip, Arch: goruntime.GOARCH, S3Bucket: local.CodeBucket, S3Key: arts[0].Zip}
	sampleBundles.m[app] = b
	return b, nil
}

// The goal is every canary within 10 % of its prediction, and the experiment on a quiet
// machine shows where it stands (docs/results). In `go test ./...` the other packages' test
// binaries run beside this one, and their bursts slowed a 60-request canary of millisecond
// medians by a third or more (CI saw IoT's first canary at 6.9 ms, p95 18.3 ms, where quiet
// runs observe 3.7-5.0 ms, p95 8-10 ms). So the test waits to be alone (package quiet). What
// is left is the machine's own noise: alone, IoT's medians of ten consecutive requests of
// one setup range from 3.5 to 6.9 ms, all remote at 2048 MB ran at 5.6 and 8.6 ms in two
// runs, and one canary, predicted at 4.1-4.6 ms, ran at 4.0, 4.3 and 5.4 ms (120 requests
// each) in three runs one after another. So the test separates the model's error from that
// noise: a model that mispredicts what fusion does is wrong in the same direction on the
// canaries of an app, and in every run (before the model knew that async work inlined after
// a sync call shares the quota, Tree's fuse-all ran at 2.17x its prediction; an earlier
// model was 26 % and 36 % low on IoT's median and cost), while a burst of noise slows one
// run. An app passes when one of accuracyAttempts runs is within the bounds; every run's
// canaries are printed.
const (
	// accuracyBias bounds the median of an app's canaries' signed errors, on the median and
	// on cost.
	accuracyBias = 0.15
	// accuracyOne bounds each canary's error.
	accuracyOne = 0.50
	// accuracyRequests is the requests per measurement and canary.
	accuracyRequests = 120
	// accuracyAttempts bounds the runs of an app.
	accuracyAttempts = 3
)

// TestModelAccuracyLive runs the model planner to its end on IoT and Tree, live on the local
// platform at the paper's rate (10 requests/s, work scale 0.2, accuracyRequests per
// measurement and canary), prints every canary's predicted median, p95 and cost against what
// was observed, with its baseline's (the current setup's last run before it), and checks
// each canary's median and cost within accuracyOne and the median error of an app's canaries
// within accuracyBias. It fails when the model mispredicts the setups it canaries in every
// run of an app, and when a sample ends with no canary to check.
func TestModelAccuracyLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live run of three minutes or more")
	}
	quiet.Alone(t)
	var table strings.Builder
	w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "app\trun\tcanary\tmedian ms pred/obs\tp95 ms pred/obs\t$ per 1M pred/obs\tbaseline median ms, $ pred/obs\twithin")
	for _, app := range []string{"iot", "tree"} {
		var off []string
		for run := 1; run <= accuracyAttempts; run++ {
			if off = accuracyRun(t, w, app, run); len(off) == 0 {
				break
			}
		}
		for _, o := range off {
			t.Errorf("%s, in each of %d runs; the last: %s", app, accuracyAttempts, o)
		}
	}
	w.Flush()
	t.Logf("predicted against observed:\n%s", table.String())
}

// accuracyRun runs the model planner on app once, writes its canaries to w as table rows,
// and returns what was off bounds.
func accuracyRun(t *testing.T, w io.Writer, app string, run int) (off []string) {
	t.Helper()
	opts := experiment.Options{Apps: []string{app}, Profiles: []string{experiment.ProfileNone},
		Arms: []string{experiment.Model}, ModelRequests: accuracyRequests, WarmUp: 5 * time.Second, Out: t.TempDir(), Reduced: true, WorkScale: 0.2,
		Command: "go test", Lab: experiment.LocalLab{WorkScale: 0.2, Bundle: sampleBundle}}
	res, err := experiment.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := res.Record(app, experiment.Model, experiment.ProfileNone)
	if !ok {
		t.Fatalf("no record of %s", app)
	}
	var errM, errC []float64 // signed errors, observed/predicted - 1
	for _, p := range rec.Predictions {
		if p.Kind != "canary" {
			continue
		}
		pr, ob, bp, bo := p.Predicted, p.Observed, p.BaselinePredicted, p.BaselineObserved
		dm, dc := ob.MedianMS/pr.MedianMS-1, ob.CostPerRequest/pr.CostPerRequest-1
		errM, errC = append(errM, dm), append(errC, dc)
		ok := math.Abs(dm) <= accuracyOne && math.Abs(dc) <= accuracyOne
		fmt.Fprintf(w, "%s\t%d\t%s\t%.1f / %.1f (%+.0f %%)\t%.1f / %.1f\t%.2f / %.2f (%+.0f %%)\t%.1f / %.1f, %.2f / %.2f\t%t\n",
			app, run, p.Setup, pr.MedianMS, ob.MedianMS, 100*dm, pr.P95MS, ob.P95MS, 1e6*pr.CostPerRequest, 1e6*ob.CostPerRequest, 100*dc,
			bp.MedianMS, bo.MedianMS, 1e6*bp.CostPerRequest, 1e6*bo.CostPerRequest, ok)
		if !ok {
			off = append(off, fmt.Sprintf("canary %s: median %+.0f %%, cost %+.0f %% off its prediction (bound %.0f %%)", p.Setup, 100*dm, 100*dc, 100*accuracyOne))
		}
	}
	if len(errM) == 0 {
		return append(off, fmt.Sprintf("the model ran no canary, so nothing was checked (final %s)", rec.Final.Setup))
	}
	bm, bc := medianOf(errM), medianOf(errC)
	ok = math.Abs(bm) <= accuracyBias && math.Abs(bc) <= accuracyBias
	fmt.Fprintf(w, "%s\t%d\tmedian error of %d canaries\t%+.0f %%\t\t%+.0f %%\t\t%t\n", app, run, len(errM), 100*bm, 100*bc, ok)
	if !ok {
		off = append(off, fmt.Sprintf("the model is off in one direction: median error of its canaries %+.0f %% on the median, %+.0f %% on cost (bound %.0f %%)",
			100*bm, 100*bc, 100*accuracyBias))
	}
	return off
}

// medianOf is the median of v (the mean of the middle two for an even count).
func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
