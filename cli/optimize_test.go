package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/appconfig"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
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
	opts := workflows.StartOptions{}
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
