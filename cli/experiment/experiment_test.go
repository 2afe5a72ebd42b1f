package experiment_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/experiment"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/plan"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/samples"
)

// iotBundle builds the IoT sample's bundle once for the tests.
func iotBundle() (plambda.Bundle, error) { return sampleBundle(context.Background(), "iot") }

// countingLab counts the setups deployed live and can cancel the run after some deploys.
type countingLab struct {
	experiment.LocalLab
	deploys     atomic.Int64
	cancelAfter int64
	cancel      context.CancelFunc
}

func (l *countingLab) Open(ctx context.Context, app, profile, dir string) (experiment.Site, error) {
	s, err := l.LocalLab.Open(ctx, app, profile, dir)
	s.Deployer = countingDeployer{Deployer: s.Deployer, lab: l}
	return s, err
}

type countingDeployer struct {
	experiment.Deployer
	lab *countingLab
}

func (d countingDeployer) Deploy(ctx context.Context, req activities.DeployRequest) (activities.Deployment, error) {
	if n := d.lab.deploys.Add(1); d.lab.cancel != nil && n == d.lab.cancelAfter {
		d.lab.cancel()
	}
	return d.Deployer.Deploy(ctx, req)
}

// TestShortExperiment is the CI check of the pipeline (not of the figures): every arm of IoT
// runs live on the local platform with few requests per setup, is interrupted after a few
// deployments, and resumes from its state without measuring again what it had measured;
// the results hold every field, the tables and the plots. It fails when a measurement reads
// no traces (no requests, no cost), when the heuristic does not reach its end, when the
// model's predictions are not paired with observations, when resuming measures stored
// setups again, or when a plot or table is missing.
func TestShortExperiment(t *testing.T) {
	if testing.Short() {
		t.Skip("live run")
	}
	b, err := iotBundle()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	lab := &countingLab{LocalLab: experiment.LocalLab{WorkScale: 0.05,
		Bundle: func(context.Context, string) (plambda.Bundle, error) { return b, nil }}}
	var log bytes.Buffer
	opts := experiment.Options{Apps: []string{"iot"}, Profiles: []string{experiment.ProfileNone},
		Arms:     []string{experiment.AllRemote, experiment.AllLocal, experiment.FusionizePP, experiment.Model},
		Rate:     map[string]float64{"iot": 40},
		Requests: 24, ModelRequests: 24, WarmUp: time.Second, Out: out, Reduced: true, WorkScale: 0.05, Command: "go test", Lab: lab, Progress: &log}

	// Interrupted after the sixth deployment (the warm-up and five setups: inside the heuristic's run).
	ctx, cancel := context.WithCancel(context.Background())
	lab.cancel, lab.cancelAfter = cancel, 6
	opts.Lab = lab
	if _, err := experiment.Run(ctx, opts); err == nil {
		t.Fatal("an interrupted run reported success")
	}
	first := lab.deploys.Load()
	lab.cancel = nil
	log.Reset()
	res, err := experiment.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, log.String())
	}
	t.Log(log.String())
	if n := strings.Count(log.String(), "replayed from the state"); n < 2 {
		t.Errorf("%d measurements replayed on resume, want the ones taken before the interruption (>= 2)", n)
	}
	checkRecords(t, res)
	// The platform, just started, is warmed up once before the first arm, and nothing of
	// that enters the results.
	if n := strings.Count(log.String(), "warming the platform up"); n != 1 {
		t.Errorf("warm-ups on resume: %d, want 1 (the platform has just started)", n)
	}
	warm := fusion.AllRemote(mustGraph(t), 256).String()
	for _, rec := range res.Records {
		for _, s := range rec.Setups {
			if s.Setup == warm {
				t.Errorf("%s recorded the warm-up's setup %s", rec.Arm, warm)
			}
		}
	}
	pp, _ := res.Record("iot", experiment.FusionizePP, experiment.ProfileNone)
	if total := int64(len(pp.Setups)) + 2 + int64(countKind(res, "canary")+countKind(res, string(plan.Baseline))); lab.deploys.Load()-first > total {
		t.Errorf("resume deployed %d setups, more than the run's %d", lab.deploys.Load()-first, total)
	}

	// A third run finds every arm in the results and deploys nothing.
	before := lab.deploys.Load()
	if _, err := experiment.Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if lab.deploys.Load() != before {
		t.Errorf("a complete run deployed %d setups again", lab.deploys.Load()-before)
	}
	checkFiles(t, out)
}

func countKind(r experiment.Results, kind string) int {
	n := 0
	for _, rec := range r.Records {
		for _, s := range rec.Setups {
			if s.Kind == kind {
				n++
			}
		}
	}
	return n
}

func checkRecords(t *testing.T, res experiment.Results) {
	t.Helper()
	for _, arm := range []string{experiment.AllRemote, experiment.AllLocal, experiment.FusionizePP, experiment.Model} {
		rec, ok := res.Record("iot", arm, experiment.ProfileNone)
		if !ok {
			t.Fatalf("no record of %s", arm)
		}
		if len(rec.Setups) == 0 || rec.Final.Setup == "" || rec.Deployed == 0 || rec.ExperimentRequests == 0 || rec.WallS <= 0 {
			t.Errorf("%s: incomplete record %+v", arm, rec)
		}
		for _, s := range rec.Setups {
			if s.Requests < s.Client.OK*9/10 || s.CostPerRequest <= 0 || s.MedianMS <= 0 || s.P95MS < s.MedianMS || len(s.LatencyMS) == 0 {
				t.Errorf("%s: setup %s: %d traced of %d ok, median %.1f, p95 %.1f, cost %g", arm, s.Setup, s.Requests, s.Client.OK, s.MedianMS, s.P95MS, s.CostPerRequest)
			}
		}
	}
	pp, _ := res.Record("iot", experiment.FusionizePP, experiment.ProfileNone)
	if !pp.Converged || pp.Setups[0].Setup != fusion.AllRemote(mustGraph(t), 128).String() || len(pp.Setups) < 8 {
		t.Errorf("fusionizepp: converged %t after %d setups, first %s", pp.Converged, len(pp.Setups), pp.Setups[0].Setup)
	}
	m, _ := res.Record("iot", experiment.Model, experiment.ProfileNone)
	asked := len(m.Setups) - 1 - countKind(res, string(plan.Baseline)) // the baseline's runs are the loop's, not the planner's
	if len(m.Predictions) == 0 || len(m.Predictions) != asked {
		t.Errorf("model: %d predictions for %d setups the planner asked for", len(m.Predictions), asked)
	}
	for _, p := range m.Predictions {
		if p.Observed.MedianMS <= 0 || p.Observed.CostPerRequest <= 0 {
			t.Errorf("model: prediction of %s not paired with an observation: %+v", p.Setup, p)
		}
	}
}

func checkFiles(t *testing.T, out string) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REDUCED run", "## iot, latency profile none", "| model |", "| fusionizepp |", "The model's predictions against what was observed", "≥ 40 % lower"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("tables lack %q", want)
		}
	}
	for _, name := range []string{"iot-none-run.png", "iot-none-cdf.png", "iot-none-predicted.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Error(err)
			continue
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 500 {
			t.Errorf("%s: %v, %dx%d", name, err, cfg.Width, cfg.Height)
		}
	}
}

func mustGraph(t *testing.T) fusion.Graph {
	t.Helper()
	s, err := samples.ByName("iot")
	if err != nil {
		t.Fatal(err)
	}
	return s.Graph
}
