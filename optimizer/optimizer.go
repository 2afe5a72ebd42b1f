// Package optimizer is the client side of Fusionize's optimizer: it starts an app's
// optimizer workflow (registering the search attributes the workflows set), queries its
// status and cycle history, and steers it with updates (pause, resume, approve, abort). The
// workflows themselves are in package workflows; the command line (package cli) prints what
// these return.
package optimizer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fusionize/fusionize/workflows"
)

// RegisterSearchAttributes adds FusionizeApp, FusionizeSetup and FusionizePhase (Keyword) to
// the namespace through the operator service, skipping those that exist: calling it again
// changes nothing.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	op := c.OperatorService()
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %q: %w", namespace, err)
	}
	want := workflows.SearchAttributes()
	for k := range want {
		if _, ok := have.GetCustomAttributes()[k]; ok {
			delete(want, k)
		}
	}
	if len(want) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: want})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) && !strings.Contains(err.Error(), "already") {
		return fmt.Errorf("add search attributes to namespace %q: %w", namespace, err)
	}
	return nil
}

// StartOptions configure Start.
type StartOptions struct {
	TaskQueue string // workflows.TaskQueue when empty
	Namespace string // for RegisterSearchAttributes; "default" when empty
	// RegisterSearchAttributes registers the search attributes first and turns
	// Settings.SearchAttributes on.
	RegisterSearchAttributes bool
}

// Start starts an app's optimizer (workflow ID workflows.OptimizerID(app)), or returns the running one.
func Start(ctx context.Context, c client.Client, in workflows.OptimizerInput, opts StartOptions) (client.WorkflowRun, error) {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	s := in.Settings.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("start optimizer: %w", err)
	}
	if opts.RegisterSearchAttributes {
		if err := RegisterSearchAttributes(ctx, c, opts.Namespace); err != nil {
			return nil, err
		}
		in.Settings.SearchAttributes = true
	}
	so := client.StartWorkflowOptions{
		ID:                       workflows.OptimizerID(in.Settings.App),
		TaskQueue:                opts.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Fusionize optimizer of " + in.Settings.App,
		StaticDetails:            fmt.Sprintf("Planner `%s`, canary weights %v, window %v, min samples %d per arm", s.Planner, s.Canary.Weights, s.Canary.Window, s.Canary.MinSamples),
	}
	if in.Settings.SearchAttributes {
		so.TypedSearchAttributes = temporal.NewSearchAttributes(workflows.AppKey.ValueSet(in.Settings.App))
	}
	run, err := c.ExecuteWorkflow(ctx, so, workflows.OptimizerWorkflow, in)
	if err != nil {
		return nil, fmt.Errorf("start optimizer of %s: %w", in.Settings.App, err)
	}
	return run, nil
}

// Status queries an app's optimizer.
func Status(ctx context.Context, c client.Client, app string) (workflows.Status, error) {
	v, err := c.QueryWorkflow(ctx, workflows.OptimizerID(app), "", workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}, fmt.Errorf("status of %s: %w", app, err)
	}
	var st workflows.Status
	return st, v.Get(&st)
}

// History queries an app's optimizer for its cycles.
func History(ctx context.Context, c client.Client, app string) ([]workflows.CycleRecord, error) {
	v, err := c.QueryWorkflow(ctx, workflows.OptimizerID(app), "", workflows.QueryHistory)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", app, err)
	}
	var rs []workflows.CycleRecord
	return rs, v.Get(&rs)
}

// Control sends an update (workflows.UpdatePause, UpdateResume, UpdateApprove or
// UpdateAbort) with its reason to an app's optimizer and returns its status after it.
func Control(ctx context.Context, c client.Client, app, action, reason string) (workflows.Status, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.OptimizerID(app), UpdateName: action,
		Args: []any{reason}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return workflows.Status{}, fmt.Errorf("%s %s: %w", action, app, err)
	}
	var st workflows.Status
	if err := h.Get(ctx, &st); err != nil {
		return workflows.Status{}, fmt.Errorf("%s %s: %w", action, app, err)
	}
	return st, nil
}
