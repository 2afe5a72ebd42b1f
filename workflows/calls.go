package workflows

import (
	"context"

	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
)

// Activity names as registered by Register and NewPlugin. Workflows schedule activities by
// these names rather than through method values of a nil *activities.Activities: a method
// value is turned into the prefixed name only through the worker's registry, which a
// workflow replayer does not have, so replays would see different activity types.
const (
	activityDeploy  = ActivityPrefix + "Deploy"
	activityRoute   = ActivityPrefix + "Route"
	activityPromote = ActivityPrefix + "Promote"
	activityRetire  = ActivityPrefix + "Retire"
	activityObserve = ActivityPrefix + "Observe"
	activityPlan    = ActivityPrefix + "Plan"
	activityJudge   = ActivityPrefix + "Judge"
	// Only the optimizer calls these, when it starts.
	activityAdopt         = ActivityPrefix + "Adopt"
	activityRetireOrphans = ActivityPrefix + "RetireOrphans"
)

// The activities as typed calls: each is scheduled by its name, and its argument and result
// types are those of the Activities method it is built from, so the compiler checks every
// call.
var (
	deployActivity  = newActivity(activityDeploy, (*activities.Activities).Deploy)
	observeActivity = newActivity(activityObserve, (*activities.Activities).Observe)
	planActivity    = newActivity(activityPlan, (*activities.Activities).Plan)
	judgeActivity   = newActivity(activityJudge, (*activities.Activities).Judge)
	routeActivity   = newAction(activityRoute, (*activities.Activities).Route)
	promoteActivity = newAction(activityPromote, (*activities.Activities).Promote)
	retireActivity  = newAction(activityRetire, (*activities.Activities).Retire)

	adoptActivity         = newActivity(activityAdopt, (*activities.Activities).Adopt)
	retireOrphansActivity = newActivity(activityRetireOrphans, (*activities.Activities).RetireOrphans)
)

// activityCall is an activity that takes I and returns O, scheduled by name.
type activityCall[I, O any] struct{ name string }

// newActivity returns the call of the activity registered as name; method (only its type
// is used) ties I and O to the Activities method registered under that name.
func newActivity[I, O any](name string, method func(*activities.Activities, context.Context, I) (O, error)) activityCall[I, O] {
	_ = method
	return activityCall[I, O]{name: name}
}

// run schedules the activity with options o and waits for its result.
func (a activityCall[I, O]) run(ctx workflow.Context, o workflow.ActivityOptions, in I) (O, error) {
	var out O // a fresh value: decoding into a used one would keep its old slices
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), a.name, in).Get(ctx, &out)
	return out, err
}

// actionCall is an activity that takes I and returns only an error.
type actionCall[I any] struct{ name string }

// newAction is newActivity for an activity without a result.
func newAction[I any](name string, method func(*activities.Activities, context.Context, I) error) actionCall[I] {
	_ = method
	return actionCall[I]{name: name}
}

// run schedules the activity with options o and waits for it.
func (a actionCall[I]) run(ctx workflow.Context, o workflow.ActivityOptions, in I) error {
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), a.name, in).Get(ctx, nil)
}
