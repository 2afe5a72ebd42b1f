package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/optimizer"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/workflows"
)

// TestOptimizerLifecycleCommands runs `optimize start` and `optimize status` against a real
// Temporal server. A second start while the optimizer runs must refuse and say how to change
// the config (catches a start that silently keeps the old config); an optimizer whose worker
// has no bundle for the app fails, and status must show the failure and its error and return
// ErrOptimizerFailed (catches a status that prints the last phase, "deploying", with exit 0).
func TestOptimizerLifecycleCommands(t *testing.T) {
	ctx := context.Background()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	cfg, err := appconfig.LoadFile("../samples/configs/tree.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in, err := OptimizerInput(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	opts := optimizer.StartOptions{}
	var out bytes.Buffer
	if err := StartOptimizer(ctx, c, &out, in, opts, false); err != nil {
		t.Fatal(err)
	}
	err = StartOptimizer(ctx, c, &out, in, opts, false)
	if err == nil || !strings.Contains(err.Error(), "already runs") || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("second start: %v, want it to say the optimizer already runs and how to replace it", err)
	}

	// A worker whose platform has no bundle of the app: the initial deploy fails for good.
	plat, err := local.New(local.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer plat.Close(ctx)
	awsCfg, err := loadAWSConfig(ctx, plat.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	lam, err := plambda.New(ctx, plambda.Options{AWSConfig: &awsCfg, Role: "arn:aws:iam::000000000000:role/t"})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := activities.New(activities.Options{Deployer: lam, Traces: lam, Planners: NewPlanners()})
	if err != nil {
		t.Fatal(err)
	}
	plugin, err := workflows.NewPlugin(acts)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, workflows.TaskQueue, worker.Options{Plugins: []worker.Plugin{plugin}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	deadline := time.Now().Add(time.Minute)
	for {
		out.Reset()
		err = PrintStatus(ctx, c, &out, "tree")
		if errors.Is(err, ErrOptimizerFailed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status did not report the failure: %v\n%s", err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"phase    failed", `no bundle for app "tree"`, "what to do"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// It is over, so a new start is allowed.
	if err := StartOptimizer(ctx, c, &out, in, opts, false); err != nil {
		t.Errorf("start after the failure: %v", err)
	}
}

// TestConfigsReachTheOptimizer turns every sample config, and one that sets every value away
// from its default, into the optimizer's input and checks it field by field. Catches a config
// value that is validated and then dropped (prices, architecture, canary fields, policy).
func TestConfigsReachTheOptimizer(t *testing.T) {
	paths, err := filepath.Glob("../samples/configs/*.yaml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("sample configs %v %v", paths, err)
	}
	custom := []byte(`name: shop
sample: tree
entry: A
architecture: arm64
memory_sizes: [128, 512]
initial_memory: 512
prices: {x86_gb_second: 0.00002, arm64_gb_second: 0.00001, per_request: 0.0000003}
constraints: [{name: small, expr: "setup.groups.all(g, g.memory <= 512)"}]
objective: candidate.predicted.median_ms
planner: fusionizepp
canary: {weights: [0.25, 0.75], window: 45s, min_samples: 33, max_extensions: 3, on_inconclusive: pause, acceptance: 'verdict.outcome == "pass"', approval: true}
target: aws
`)
	type source struct {
		name string
		cfg  appconfig.Config
	}
	var sources []source
	for _, p := range paths {
		cfg, err := appconfig.LoadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, source{p, cfg})
	}
	cfg, err := appconfig.Parse("custom.yaml", custom)
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, source{"custom.yaml", cfg})
	for _, src := range sources {
		cfg := src.cfg
		in, err := OptimizerInput(cfg, "")
		if err != nil {
			t.Fatalf("%s: %v", src.name, err)
		}
		s := in.Settings
		wantArch := fusion.X86_64
		if cfg.Architecture == "arm64" {
			wantArch = fusion.ARM64
		}
		wantPrices := fusion.Prices{Arch: wantArch, X86GBSecond: cfg.Prices.X86GBSecond, ARM64GBSecond: cfg.Prices.ARM64GBSecond,
			PerRequest: cfg.Prices.PerRequest, GranularityMS: 1}
		sample, _ := samples.ByName(cfg.Sample)
		checks := []struct {
			field     string
			got, want any
		}{
			{"app", s.App, cfg.Name},
			{"graph entry", s.Graph.Entry, sample.Graph.Entry},
			{"planner", s.Planner, cfg.Planner},
			{"memory sizes", s.MemorySizes, cfg.MemorySizes},
			{"prices", deref(s.Prices), wantPrices},
			{"architecture", s.Arch, fusion.Arch(cfg.Architecture)},
			{"initial", in.Initial.String(), fusion.AllRemote(sample.Graph, cfg.InitialMemory).String()},
			{"constraints", s.Policy.Constraints, cfg.Constraints},
			{"objective", s.Policy.Objective.Expr, cfg.Objective},
			{"acceptance", s.Policy.Acceptance.Expr, cfg.Canary.Acceptance},
			{"canary weights", s.Canary.Weights, cfg.Canary.Weights},
			{"canary window", s.Canary.Window, cfg.Canary.Window},
			{"canary min samples", s.Canary.MinSamples, cfg.Canary.MinSamples},
			{"on inconclusive", string(s.Canary.OnInconclusive), cfg.Canary.OnInconclusive},
			{"max extensions", s.Canary.MaxExtensions, cfg.Canary.MaxExtensions},
			{"approval", s.Canary.RequireApproval, cfg.Canary.Approval},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s: %s is %v, want %v", src.name, c.field, c.got, c.want)
			}
		}
	}
	if cfg.Prices.ARM64GBSecond != 0.00001 || cfg.Canary.MinSamples != 33 {
		t.Fatalf("custom config not read as written: %+v", cfg)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestWriteHistoryShowsPlanReason: history prints the planner's reason where it says more
// than the cycle's outcome, so that "no measurement within the constraints can ground the
// model" reaches the user; a history that printed only the outcome's reason fails here.
func TestWriteHistoryShowsPlanReason(t *testing.T) {
	var b strings.Builder
	WriteHistory(&b, []workflows.CycleRecord{{Cycle: 1, Outcome: workflows.Converged, Reason: "the current setup is predicted best",
		PlanReason: "the current setup is predicted best; no measurement within the constraints can ground the model (own time of A observed at one memory size only: at 1024 MB it would break cap)"}})
	if !strings.Contains(b.String(), "cycle 1 plan: the current setup is predicted best; no measurement within the constraints") {
		t.Fatalf("history:\n%s", b.String())
	}
}

// TestOptimizerInputCollect checks that the config's collect section reaches the optimizer,
// and that a config without one asks for what the workflows take by default. Catches a
// collect section the CLI drops (the optimizer would observe the default, not what the user
// wrote) and defaults of the config and the workflows that drift apart.
func TestOptimizerInputCollect(t *testing.T) {
	if d := appconfig.Defaults().Collect; d.Requests != workflows.DefaultCollectRequests {
		t.Errorf("the config's default collect requests %d, the workflows' %d", d.Requests, workflows.DefaultCollectRequests)
	}
	cfg, err := appconfig.Parse("iot.yaml", []byte("name: iot\nsample: iot\ncollect: {requests: 120, window: 90s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := OptimizerInput(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := (workflows.CollectPolicy{MinRequests: 120, Window: 90 * time.Second}); in.Settings.Collect != want {
		t.Errorf("optimizer input collects %+v, want %+v", in.Settings.Collect, want)
	}
}
