package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/platform/local"
)

// TestReplayRefusesOtherConfiguration: a state directory holding a measurement of another
// setup (or another request count) is an error naming the file, not a silent replay of the
// wrong figures. It fails for a replay that trusts the file's position alone.
func TestReplayRefusesOtherConfiguration(t *testing.T) {
	dir := t.TempDir()
	stored := fusion.MustParseSetup("A@128,B@128")
	if err := writeMeasurement(filepath.Join(dir, "000.json.gz"), Measurement{Setup: stored.String(), SetupID: stored.ID(), Requests: 10}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		setup    string
		requests int
		ok       bool
	}{{"A@128,B@128", 10, true}, {"A+B@128", 10, false}, {"A@128,B@128", 20, false}} {
		l := &live{ctx: context.Background(), dir: dir}
		l.Measure(fusion.MustParseSetup(tt.setup), tt.requests, 0)
		if tt.ok != (l.err == nil) {
			t.Errorf("%s with %d requests: error %v", tt.setup, tt.requests, l.err)
		}
		if l.err != nil && !strings.Contains(l.err.Error(), "another configuration") {
			t.Errorf("unclear error: %v", l.err)
		}
		if tt.ok && (len(l.measurements) != 1 || l.measurements[0].SetupID != stored.ID()) {
			t.Errorf("replayed %+v", l.measurements)
		}
	}
}

// TestFusionChoices: Tree's six edges give 64 distinct setups, every one valid, the extremes
// all remote and all local among them. It fails for an enumeration that drops the callee's
// own calls from an inlined task or deduplicates wrongly.
func TestFusionChoices(t *testing.T) {
	g := fusion.Graph{Entry: "A", Tasks: []string{"A", "B", "C", "D", "E", "F", "G"}, Edges: []fusion.Edge{
		{Caller: "A", Callee: "B", Mode: fusion.Sync}, {Caller: "A", Callee: "C", Mode: fusion.Async},
		{Caller: "B", Callee: "D", Mode: fusion.Sync}, {Caller: "D", Callee: "E", Mode: fusion.Sync},
		{Caller: "C", Callee: "F", Mode: fusion.Async}, {Caller: "C", Callee: "G", Mode: fusion.Async}}}
	got := fusionChoices(g, 1024)
	if len(got) != 64 {
		t.Fatalf("%d setups, want 64", len(got))
	}
	seen := map[string]bool{}
	for _, s := range got {
		if err := s.Validate(g); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		seen[s.String()] = true
	}
	for _, want := range []string{"A@1024,B@1024,C@1024,D@1024,E@1024,F@1024,G@1024", "A+B+C+D+E+F+G@1024", "A+B+D+E@1024,C+F+G@1024"} {
		if !seen[want] {
			t.Errorf("%s missing", want)
		}
	}
}

// TestOptionsErrors: every bad option is reported at once.
func TestOptionsErrors(t *testing.T) {
	_, err := Options{Profiles: []string{"fast"}, Arms: []string{"greedy"}, Requests: -1}.withDefaults()
	for _, want := range []string{"apps, profiles, a lab and a results directory are required", `latency profile "fast"`, `arm "greedy"`, "must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// failing deploys anything and serves nothing.
type failing struct{}

func (failing) Deploy(_ context.Context, r activities.DeployRequest) (activities.Deployment, error) {
	return activities.Deployment{App: r.App, Setup: r.Setup}, nil
}
func (failing) Promote(context.Context, activities.Deployment) error { return nil }
func (failing) Retire(context.Context, activities.Deployment) error  { return nil }
func (failing) Traces(context.Context, activities.TraceQuery) (activities.Traces, error) {
	return activities.Traces{}, nil
}

// TestFailingSetupIsNotMeasured: a setup none of whose requests succeed is an error naming
// the commonest failure, not a measurement of zeros, and nothing is stored to replay. It
// fails for a live run that records whatever the load generator saw.
func TestFailingSetupIsNotMeasured(t *testing.T) {
	dir := t.TempDir()
	l := &live{ctx: context.Background(), app: "tree", entry: "A", dep: failing{}, rate: 1000, dir: dir,
		target: loadgen.TargetFunc(func(context.Context) error { return errors.New("Runtime.InvalidEntrypoint") })}
	l.Measure(fusion.MustParseSetup("A@128,B@128"), 20, 0)
	if l.err == nil || !strings.Contains(l.err.Error(), "none of 20 requests succeeded") || !strings.Contains(l.err.Error(), "20× Runtime.InvalidEntrypoint") {
		t.Errorf("error %v", l.err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("stored %v", files)
	}
}

// TestOutIsAbsolute: the platform runs function code from under the state directory, which
// a relative path would break once the platform changes directory.
func TestOutIsAbsolute(t *testing.T) {
	o, err := Options{Apps: []string{"iot"}, Profiles: []string{ProfileNone}, Lab: LocalLab{}, Out: "docs/results"}.withDefaults()
	if err != nil || !filepath.IsAbs(o.Out) || !filepath.IsAbs(o.State) {
		t.Errorf("out %q, state %q, err %v", o.Out, o.State, err)
	}
}

// TestLatencyProfiles: "aws" turns the platform's AWS latency profile on, "none" leaves it
// off, anything else is an error. It fails when the profile is not passed to the platform.
func TestLatencyProfiles(t *testing.T) {
	for _, tt := range []struct {
		name   string
		on, ok bool
	}{{ProfileAWS, true, true}, {ProfileNone, false, true}, {"fast", false, false}} {
		var o local.Options
		err := withLatencyProfile(&o, tt.name)
		if (err == nil) != tt.ok || o.LatencyProfile.On() != tt.on {
			t.Errorf("%s: on %t, error %v", tt.name, o.LatencyProfile.On(), err)
		}
	}
}

// noLab fails the test when opened.
type noLab struct{ t *testing.T }

func (l noLab) Open(context.Context, string, string, string) (Site, error) {
	l.t.Error("render opened a platform")
	return Site{}, errors.New("no platform")
}

// TestRenderOnly: --render rewrites the tables and plots from results.json without opening a
// platform. It fails when rendering measures, or writes nothing.
func TestRenderOnly(t *testing.T) {
	out := t.TempDir()
	s := SetupResult{Setup: "A@128,B@128", ID: "x", Requests: 10, Metrics: Metrics{MedianMS: 12, P95MS: 20, CostPerRequest: 2e-6}, LatencyMS: []float64{10, 12, 20}}
	r := Results{Records: []Record{{App: "tree", Arm: AllRemote, Profile: ProfileNone, Setups: []SetupResult{s}, Final: s}}}
	e := &runner{opts: Options{Out: out}, res: &r}
	if err := e.write(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"README.md", "tree-none-run.png"} {
		if err := os.Remove(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Run(context.Background(), Options{Apps: []string{"tree"}, Profiles: []string{ProfileNone}, Out: out, Lab: noLab{t}, RenderOnly: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"README.md", "tree-none-run.png", "tree-none-cdf.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
