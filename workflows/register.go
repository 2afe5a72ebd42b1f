package workflows

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
)

// ActivityPrefix starts the registered name of every Fusionize activity ("FusionizeDeploy"),
// so they cannot collide with the activities of a worker they share.
const ActivityPrefix = "Fusionize"

// Register registers Fusionize's workflows and, when acts is not nil, its activities on a
// worker (or a workflow replayer, with nil acts). The worker must poll TaskQueue, or the
// queue given in OptimizerInput-starting code.
func Register(r worker.Registry, acts *activities.Activities) {
	RegisterWorkflows(r)
	if acts == nil {
		return
	}
	registerActivities(r, acts)
}

// WorkflowRegistry is the part of a worker or replayer that registers workflows.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// RegisterWorkflows registers the workflows only (for a replayer).
func RegisterWorkflows(r WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(Optimizer, workflow.RegisterOptions{Name: OptimizerWorkflow})
	r.RegisterWorkflowWithOptions(Cycle, workflow.RegisterOptions{Name: CycleWorkflow})
}

// PluginName is the name of the worker plugin.
const PluginName = "fusionize"

// NewPlugin returns a worker plugin (worker.Options.Plugins) that registers Fusionize's
// workflows and activities when the worker starts, and the workflows on a workflow replayer.
func NewPlugin(acts *activities.Activities) (*temporal.SimplePlugin, error) {
	if acts == nil {
		return nil, errors.New("fusionize plugin: no activities")
	}
	return temporal.NewSimplePlugin(temporal.SimplePluginOptions{
		Name: PluginName,
		RunContextBefore: func(_ context.Context, o temporal.SimplePluginRunContextBeforeOptions) error {
			if o.WorkflowReplayer {
				RegisterWorkflows(o.Registry)
				return nil
			}
			registerActivities(o.Registry, acts)
			RegisterWorkflows(o.Registry)
			return nil
		},
	})
}

type activityRegistry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

func registerActivities(r activityRegistry, acts *activities.Activities) {
	for name, fn := range map[string]any{
		activityDeploy: acts.Deploy, activityRoute: acts.Route, activityPromote: acts.Promote, activityRetire: acts.Retire,
		activityObserve: acts.Observe, activityPlan: acts.Plan, activityJudge: acts.Judge,
		activityAdopt: acts.Adopt, activityRetireOrphans: acts.RetireOrphans,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// SearchAttributes returns the custom search attributes the workflows set, with their types,
// for servers that register them at start (such as the dev server).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		AppKey.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SetupKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		PhaseKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}
