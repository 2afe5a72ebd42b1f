package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplay replays the histories recorded from real runs against the current workflow code:
// a change that would break running optimizers or cycles fails here, and must go behind
// workflow.GetVersion. testdata/ holds the happy path of a live optimization
// (history-tree*.json, from the integration test TestTreeConverges) and every other path a
// user can take an optimizer (paused, aborted, approval, inconclusive, rolledback,
// continued as new: history-<path>*.json, from the integration test TestLifecyclePaths).
// Record them anew with FUSIONIZE_RECORD_HISTORY=1 go test ./integration -run 'TestTreeConverges|TestLifecyclePaths'.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "history-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/ (record them: FUSIONIZE_RECORD_HISTORY=1 go test ./integration -run 'TestTreeConverges|TestLifecyclePaths')")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			h, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The workflow ID matters: the optimizer names its cycles after it.
			id := OptimizerID(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "history-"), ".json"))
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r)
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: "replay"}})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
