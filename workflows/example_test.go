package workflows_test

import (
	"context"
	"log"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/optimizer"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/workflows"
)

// A worker the user already runs gets Fusionize's workflows and activities from one plugin;
// the deployer and trace source are the Lambda adapter, configured by the SDK's default
// chain (region, credentials, AWS_ENDPOINT_URL_LAMBDA for the local platform).
func ExampleNewPlugin() {
	ctx := context.Background()
	lam, err := plambda.New(ctx, plambda.Options{
		Bundles: map[string]plambda.Bundle{"tree": {Zip: "dist/tree-amd64.zip"}},
		Role:    "arn:aws:iam::123456789012:role/fusionize-functions",
	})
	if err != nil {
		log.Fatal(err)
	}
	acts, err := activities.New(activities.Options{Deployer: lam, Traces: lam,
		Planners: map[string]plan.Planner{activities.PlannerModel: plan.NewModel(plan.ModelOptions{})}})
	if err != nil {
		log.Fatal(err)
	}
	plugin, err := workflows.NewPlugin(acts)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:7233"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, workflows.TaskQueue, worker.Options{Plugins: []worker.Plugin{plugin}})
	// Or, without the plugin: workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	defer w.Stop()

	// Start optimizing the tree sample.
	run, err := optimizer.Start(ctx, c, workflows.OptimizerInput{
		Settings: workflows.Settings{App: "tree", Graph: samples.Tree().Graph},
	}, optimizer.StartOptions{RegisterSearchAttributes: true})
	if err != nil {
		log.Fatal(err)
	}
	log.Println("optimizer", run.GetID())
}
