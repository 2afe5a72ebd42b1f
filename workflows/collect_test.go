package workflows

import (
	"testing"

	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion/judge"
	"github.com/fusionize/fusionize/fusion/plan"
)

// TestCollectDefault runs a cycle whose settings leave the collection's size to the default:
// a cycle started on this code observes DefaultCollectRequests of the current setup, one
// replaying a history from before changeCollect300 the 100 it observed then, and a size the
// settings give is kept. Catches a default left at 100, and a change that would make a
// running optimizer wait for more requests than its history shows.
func TestCollectDefault(t *testing.T) {
	for _, tc := range []struct {
		name    string
		given   int
		version workflow.Version // what GetVersion returns; 0 for no mock
		want    int
	}{
		{"new", 0, 0, DefaultCollectRequests},
		{"replay", 0, workflow.DefaultVersion, legacyCollectRequests},
		{"given", 40, 0, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{plans: []plan.Plan{convergedPlan}, verdicts: []activities.Verdict{verdict(judge.Pass, true)}}
			e := newEnv(t, s)
			if tc.version != 0 {
				e.OnGetVersion(changeCollect300, workflow.DefaultVersion, 1).Return(tc.version)
			}
			set := settings()
			set.Collect.MinRequests = tc.given
			if _, err := runCycle(t, e, cycleInput(set)); err != nil {
				t.Fatal(err)
			}
			got := -1
			for _, in := range s.inputs {
				if o, ok := in.(activities.ObserveInput); ok {
					got = o.MinWarm
					break
				}
			}
			if got != tc.want {
				t.Errorf("the cycle collected %d requests of the current setup, want %d", got, tc.want)
			}
		})
	}
}
