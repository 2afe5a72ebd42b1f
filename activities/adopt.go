package activities

import (
	"context"
	"fmt"
	"slices"

	"github.com/fusionize/fusionize/fusion"
)

// Inventory reads what of an app is on the platform, so that an optimizer started afresh
// adopts what serves instead of trusting workflow state alone, and so that nothing the app
// no longer serves is left behind.
type Inventory interface {
	// Serving returns the deployment the app's live route sends its primary traffic to, and
	// the versions it sends a canary share to; ok is false when nothing is live.
	Serving(ctx context.Context, app string) (d Deployment, canary []string, ok bool, err error)
	// Deployments lists every setup of the app with functions or an entry version on the
	// platform.
	Deployments(ctx context.Context, app string) ([]Deployment, error)
}

// AdoptInput is the input of Adopt.
type AdoptInput struct {
	App   string       `json:"app"`
	Graph fusion.Graph `json:"graph"`
}

// AdoptResult says what the app serves.
type AdoptResult struct {
	// Found is true when the app serves a setup that fits its graph; Live is that setup.
	Found bool       `json:"found"`
	Live  Deployment `json:"live"`
	// Reason says why nothing was adopted, or what was done to adopt it.
	Reason string `json:"reason,omitempty"`
}

// Adopt reads the setup the app's live route serves. A canary share left behind by an
// optimizer that stopped mid-canary is routed back to the serving setup first, so that what
// is adopted is all that serves. A served setup that does not fit the graph is not adopted.
func (a *Activities) Adopt(ctx context.Context, in AdoptInput) (AdoptResult, error) {
	if a.inventory == nil {
		return AdoptResult{Reason: "the platform cannot say what is live"}, nil
	}
	d, canary, ok, err := a.inventory.Serving(ctx, in.App)
	if err != nil {
		return AdoptResult{}, platformError(ErrDeploy, fmt.Errorf("read the live setup of %s: %w", in.App, err))
	}
	if !ok {
		return AdoptResult{Reason: "nothing is live"}, nil
	}
	if err := d.Setup.Validate(in.Graph); err != nil {
		return AdoptResult{Reason: fmt.Sprintf("the live setup %s does not fit the app: %v", d.Setup, err)}, nil
	}
	res := AdoptResult{Found: true, Live: d, Reason: "adopted the live setup " + d.Setup.String()}
	if len(canary) > 0 {
		if err := a.deployer.Promote(ctx, d); err != nil {
			return AdoptResult{}, platformError(ErrRoute, fmt.Errorf("route the canary share of %s (versions %v) back to setup %s: %w", in.App, canary, d.Setup.ID(), err))
		}
		res.Reason += fmt.Sprintf(" (a canary share to versions %v was routed back to it)", canary)
	}
	return res, nil
}

// RetireOrphans retires every deployment of keep's app except keep and what the live route
// serves, and returns the IDs of the setups it retired.
func (a *Activities) RetireOrphans(ctx context.Context, keep Deployment) ([]string, error) {
	if a.inventory == nil {
		return nil, nil
	}
	all, err := a.inventory.Deployments(ctx, keep.App)
	if err != nil {
		return nil, platformError(ErrDeploy, fmt.Errorf("list the deployments of %s: %w", keep.App, err))
	}
	live, canary, _, err := a.inventory.Serving(ctx, keep.App)
	if err != nil {
		return nil, platformError(ErrDeploy, fmt.Errorf("read the live setup of %s: %w", keep.App, err))
	}
	var retired []string
	for _, d := range all {
		if d.Setup.ID() == keep.Setup.ID() || d.Setup.ID() == live.Setup.ID() || (d.Version != "" && slices.Contains(canary, d.Version)) {
			continue
		}
		err := heartbeating(ctx, func(ctx context.Context) error { return a.deployer.Retire(ctx, d) })
		if err != nil {
			return retired, platformError(ErrDeploy, fmt.Errorf("retire orphaned setup %s (%s) of %s: %w", d.Setup.ID(), d.Setup, keep.App, err))
		}
		a.log.Info("retired an orphaned setup", "app", keep.App, "setup", d.Setup.ID(), "functions", d.Functions, "version", d.Version)
		retired = append(retired, d.Setup.ID())
	}
	return retired, nil
}
