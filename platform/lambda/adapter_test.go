package lambda_test

import (
	"github.com/fusionize/fusionize/activities"
	plambda "github.com/fusionize/fusionize/platform/lambda"
)

// The adapter satisfies the interfaces the activities declare; checked here so that the
// package itself does not import activities (and with it Temporal).
var (
	_ activities.Deployer    = (*plambda.Platform)(nil)
	_ activities.TraceSource = (*plambda.Platform)(nil)
	_ activities.Inventory   = (*plambda.Platform)(nil)
)
