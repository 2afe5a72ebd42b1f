package cli

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/workflows"
)

// Catches progress that hides the arms' sample counts or the number they are judged at.
func TestCanaryLineCountsBothArms(t *testing.T) {
	got := canaryLine(workflows.Status{Phase: workflows.PhaseCanary, Step: 1, Weight: 0.5, StableSamples: 12, CanarySamples: 9}, 40)
	if want := "canary step 1, 50 % of traffic to the candidate: warm samples so far: current 12, candidate 9 (judged at 40 each)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// fakeRun is a workflow run whose Get returns the given errors in turn, then nil.
type fakeRun struct {
	client.WorkflowRun
	errs  []error
	calls int
}

func (f *fakeRun) Get(context.Context, any) error {
	f.calls++
	if f.calls <= len(f.errs) {
		return f.errs[f.calls-1]
	}
	return nil
}

// Catches a demo that gives up on a busy machine's timed-out history poll (it ended with
// "optimizer: context deadline exceeded" two minutes into a run), and one that retries the
// workflow's own failure forever.
func TestWaitResultRidesOutTransportErrors(t *testing.T) {
	run := &fakeRun{errs: []error{serviceerror.NewDeadlineExceeded("context deadline exceeded"), status.Error(codes.Unavailable, "closing")}}
	if err := waitResult(context.Background(), run, nil); err != nil || run.calls != 3 {
		t.Errorf("got %v after %d calls, want nil after 3", err, run.calls)
	}
	failed := errors.New("workflow execution error: the optimizer failed")
	run = &fakeRun{errs: []error{failed}}
	if err := waitResult(context.Background(), run, nil); !errors.Is(err, failed) || run.calls != 1 {
		t.Errorf("got %v after %d calls, want the failure at once", err, run.calls)
	}
}
