// Command uidemo keeps a dev server running with two workflows in it, for a
// manual look at the Web UI. Not committed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/cli/devserver"
)

var (
	appKey   = temporal.NewSearchAttributeKeyKeyword("FusionizeApp")
	phaseKey = temporal.NewSearchAttributeKeyKeyword("FusionizePhase")
)

func cycle(ctx workflow.Context, app string, wait bool) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, appKey.ValueSet(app), phaseKey.ValueSet("canary")); err != nil {
		return "", err
	}
	if wait {
		workflow.GetSignalChannel(ctx, "approve").Receive(ctx, nil)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, phaseKey.ValueSet("promoted"))
	return "promoted " + app, nil
}

func main() {
	dir := flag.String("data", "/tmp/uidemo", "data dir")
	flag.Parse()
	srv, err := devserver.New(devserver.Options{
		DataDir: *dir, FrontendPort: 17233, UIPort: 18233,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"FusionizeApp": enumspb.INDEXED_VALUE_TYPE_KEYWORD, "FusionizeSetup": enumspb.INDEXED_VALUE_TYPE_KEYWORD, "FusionizePhase": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Logger: nil})
	if err != nil {
		log.Fatal(err)
	}
	w := worker.New(c, "demo", worker.Options{})
	w.RegisterWorkflow(cycle)
	_ = w.Start()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("cycle-iot-%d", time.Now().Unix()), TaskQueue: "demo"}, cycle, "iot", false)
	if err != nil {
		log.Fatal(err)
	}
	var out string
	_ = run.Get(ctx, &out)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("cycle-tree-%d", time.Now().Unix()), TaskQueue: "demo"}, cycle, "tree", true)
	if err != nil {
		log.Fatal(err)
	}
	slog.Info("ready", "ui", srv.UIURL(), "result", out)
	fmt.Println("READY", srv.UIURL())
	<-ctx.Done()
	w.Stop()
	c.Close()
}
