// Command uidemo runs a dev server with two workflows in it (one completed,
// one waiting for a signal, both tagged with the Fusionize search
// attributes) until interrupted, for a manual look at the Web UI:
//
//	go run ./cli/devserver/internal/uidemo -data /tmp/uidemo
//	chromium --headless --screenshot=/tmp/ui.png \
//	  http://127.0.0.1:18233/namespaces/default/workflows
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
	dir := flag.String("data", "/tmp/uidemo", "data directory of the dev server")
	port := flag.Int("port", 17233, "frontend port")
	uiPort := flag.Int("ui-port", 18233, "Web UI port")
	flag.Parse()
	srv, err := devserver.New(devserver.Options{
		DataDir: *dir, FrontendPort: *port, UIPort: *uiPort,
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
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress()})
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
