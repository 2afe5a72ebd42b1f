package workflows

import (
	"context"
	"reflect"
	"testing"

	"go.temporal.io/sdk/activity"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion/plan"
)

type registered map[string]any

func (r registered) RegisterActivityWithOptions(a any, o activity.RegisterOptions) { r[o.Name] = a }

func checkCall[I, O any](t *testing.T, r registered, a activityCall[I, O]) {
	t.Helper()
	want := reflect.TypeFor[func(context.Context, I) (O, error)]()
	if got := reflect.TypeOf(r[a.name]); got != want {
		t.Errorf("activity %s is registered as %v, its typed call expects %v", a.name, got, want)
	}
	delete(r, a.name)
}

func checkAction[I any](t *testing.T, r registered, a actionCall[I]) {
	t.Helper()
	want := reflect.TypeFor[func(context.Context, I) error]()
	if got := reflect.TypeOf(r[a.name]); got != want {
		t.Errorf("activity %s is registered as %v, its typed call expects %v", a.name, got, want)
	}
	delete(r, a.name)
}

// TestTypedCallsMatchRegistry catches a typed call built from one method but scheduled under
// another activity's name (newActivity(activityRoute, (*activities.Activities).Deploy)), a
// name registered with a function of other types, and an activity registered that no
// workflow can call through a typed call.
func TestTypedCallsMatchRegistry(t *testing.T) {
	acts, err := activities.New(activities.Options{Deployer: nopDeployer{}, Traces: nopDeployer{},
		Planners: map[string]plan.Planner{"model": nopPlanner{}}})
	if err != nil {
		t.Fatal(err)
	}
	r := registered{}
	registerActivities(r, acts)
	checkCall(t, r, deployActivity)
	checkCall(t, r, observeActivity)
	checkCall(t, r, planActivity)
	checkCall(t, r, judgeActivity)
	checkAction(t, r, routeActivity)
	checkAction(t, r, promoteActivity)
	checkAction(t, r, retireActivity)
	checkCall(t, r, adoptActivity)
	checkCall(t, r, retireOrphansActivity)
	if len(r) != 0 {
		t.Errorf("registered activities without a typed call: %v", r)
	}
}
