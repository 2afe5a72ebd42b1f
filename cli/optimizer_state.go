package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/fusionize/fusionize/cli/appconfig"
	"github.com/fusionize/fusionize/workflows"
)

// ErrOptimizerFailed is returned (wrapped) by PrintStatus when the app's optimizer ended in
// failure, so the command exits non-zero.
var ErrOptimizerFailed = errors.New("the optimizer failed")

// optimizerRun describes the latest run of an app's optimizer; ok is false when there is none.
func optimizerRun(ctx context.Context, c client.Client, app string) (status enumspb.WorkflowExecutionStatus, started time.Time, ok bool, err error) {
	d, err := c.DescribeWorkflowExecution(ctx, workflows.OptimizerID(app), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("describe the optimizer of %s: %w", app, err)
	}
	info := d.GetWorkflowExecutionInfo()
	return info.GetStatus(), info.GetStartTime().AsTime(), true, nil
}

// writeFailure prints why an optimizer that is no longer running failed, and what to do.
func writeFailure(ctx context.Context, c client.Client, w io.Writer, app string, status enumspb.WorkflowExecutionStatus) error {
	err := c.GetWorkflow(ctx, workflows.OptimizerID(app), "").Get(ctx, nil)
	if err == nil {
		err = errors.New(status.String())
	}
	fmt.Fprintf(w, "app      %s\nphase    failed (%s)\nerror    %v\n", app, status, err)
	fmt.Fprintf(w, "what to do: the setup <app>:live served when it stopped keeps serving. Fix the cause (the\n"+
		"config, --initial, the worker's --bundle for %s), then `fusionize optimize start <app.yaml>`\n"+
		"again: the new optimizer adopts what is live.\n", app)
	return fmt.Errorf("optimizer of %s: %w: %v", app, ErrOptimizerFailed, err)
}

// checkStart checks what a worker cannot fix before an optimizer starts: the initial setup
// fits the app and satisfies the constraints on the setup alone, some setup satisfies them
// all, and a configured bundle exists.
func checkStart(cfg appconfig.Config, in workflows.OptimizerInput) error {
	var errs []error
	if !in.Initial.IsZero() {
		if err := in.Initial.Validate(in.Settings.Graph); err != nil {
			errs = append(errs, fmt.Errorf("--initial %q does not fit app %s: %w", in.Initial, cfg.Name, err))
		}
	}
	if _, err := checkConstraints(cfg, in.Settings.Graph, in.Initial); err != nil {
		errs = append(errs, err)
	}
	if cfg.Bundle != "" {
		if _, err := os.Stat(cfg.Bundle); err != nil {
			errs = append(errs, fmt.Errorf("bundle of %s: %w (build it with `fusionize bundle`)", cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

// replaceOptimizer aborts the running optimizer of app (rolling back a running canary) and
// waits until it has ended, so that a new one can start with a new configuration.
func replaceOptimizer(ctx context.Context, c client.Client, w io.Writer, app string) error {
	if err := Control(ctx, c, io.Discard, app, workflows.UpdateAbort, "replaced by a new configuration"); err != nil {
		return err
	}
	fmt.Fprintf(w, "aborted the running optimizer of %s; waiting for it to end ...\n", app)
	if err := c.GetWorkflow(ctx, workflows.OptimizerID(app), "").Get(ctx, nil); err != nil {
		return fmt.Errorf("wait for the aborted optimizer of %s: %w", app, err)
	}
	return nil
}
