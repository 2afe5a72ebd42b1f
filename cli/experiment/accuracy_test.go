package experiment_test

import (
	"context"
	"fmt"
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
// machine shows where it stands (docs/results). A test shares its machine with the other
// packages' tests, whose bursts can slow one 60-request canary of millisecond medians by a
// third (CI saw IoT's `I+CW+SE@1650` canary at +32 % beside five within 19 %). So the test
// separates the model's error from such noise: a model that mispredicts what fusion does is
// wrong in the same direction on the canaries of an app (its median error), or far off on
// one (before the model knew that async work inlined after a sync call shares the quota,
// Tree's fuse-all ran at 2.17× its prediction; an earlier model was 26 % and 36 % low on
// IoT's median and cost).
const (
	// accuracyBias bounds the median of an app's canaries' signed errors (median and cost).
	accuracyBias = 0.15
	// accuracyOne bounds each canary's error.
	accuracyOne = 0.50
)

// TestModelAccuracyLive runs the model planner to its end on IoT and Tree, live on the local
// platform at the paper's rate (10 requests/s, work scale 0.2, 60 requests per measurement
// and canary), prints every canary's predicted median, p95 and cost against what was
// observed, and checks each canary's median and cost within accuracyOne and the median error of an app's canaries within accuracyBias. It fails when
// the model mispredicts the setups it canaries, and when a sample ends with no canary to
// check.
func TestModelAccuracyLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live run of about two minutes")
	}
	opts := experiment.Options{Apps: []string{"iot", "tree"}, Profiles: []string{experiment.ProfileNone},
		Arms: []string{experiment.Model}, ModelRequests: 60, WarmUp: 5 * time.Second, Out: t.TempDir(), Reduced: true, WorkScale: 0.2,
		Command: "go test", Lab: experiment.LocalLab{WorkScale: 0.2, Bundle: sampleBundle}}
	res, err := experiment.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "app\tcanary\tmedian ms pred/obs\tp95 ms pred/obs\t$ per 1M pred/obs\twithin")
	for _, app := range opts.Apps {
		rec, ok := res.Record(app, experiment.Model, experiment.ProfileNone)
		if !ok {
			t.Fatalf("no record of %s", app)
		}
		canaries := 0
		var errM, errC []float64 // signed errors, observed/predicted - 1
		for _, p := range rec.Predictions {
			if p.Kind != "canary" {
				continue
			}
			canaries++
			dm := p.Observed.MedianMS/p.Predicted.MedianMS - 1
			dc := p.Observed.CostPerRequest/p.Predicted.CostPerRequest - 1
			errM, errC = append(errM, dm), append(errC, dc)
			ok := math.Abs(dm) <= accuracyOne && math.Abs(dc) <= accuracyOne
			fmt.Fprintf(w, "%s\t%s\t%.1f / %.1f (%+.0f %%)\t%.1f / %.1f\t%.2f / %.2f (%+.0f %%)\t%t\n", app, p.Setup,
				p.Predicted.MedianMS, p.Observed.MedianMS, 100*dm, p.Predicted.P95MS, p.Observed.P95MS,
				1e6*p.Predicted.CostPerRequest, 1e6*p.Observed.CostPerRequest, 100*dc, ok)
			if !ok {
				t.Errorf("%s canary %s: median %+.0f %%, cost %+.0f %% off its prediction (bound %.0f %%)", app, p.Setup, 100*dm, 100*dc, 100*accuracyOne)
			}
		}
		if len(errM) > 0 {
			bm, bc := medianOf(errM), medianOf(errC)
			fmt.Fprintf(w, "%s	median error of %d canaries	%+.0f %%		%+.0f %%	%t\n", app, len(errM), 100*bm, 100*bc,
				math.Abs(bm) <= accuracyBias && math.Abs(bc) <= accuracyBias)
			if math.Abs(bm) > accuracyBias || math.Abs(bc) > accuracyBias {
				t.Errorf("%s: the model is off in one direction: median error of its canaries %+.0f %% on the median, %+.0f %% on cost (bound %.0f %%)",
					app, 100*bm, 100*bc, 100*accuracyBias)
			}
		}
		if canaries == 0 {
			t.Errorf("%s: the model ran no canary, so nothing was checked (final %s)", app, rec.Final.Setup)
		}
	}
	w.Flush()
	t.Logf("predicted against observed:\n%s", table.String())
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
