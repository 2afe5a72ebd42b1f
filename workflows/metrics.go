package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// Metrics the workflows emit through the Temporal SDK's metrics handler (replay-safe: a
// replaying workflow emits nothing). Every one has the label app; MetricCycles has outcome
// and MetricPhase has phase. Served by temporalprom.NewHandler, counters get "_total".
const (
	MetricCycles           = "fusionize_cycles"                      // counter: finished cycles
	MetricPromotions       = "fusionize_promotions"                  // counter
	MetricRollbacks        = "fusionize_rollbacks"                   // counter
	MetricInconclusive     = "fusionize_inconclusive_verdicts"       // counter
	MetricPhase            = "fusionize_phase"                       // gauge: 1 for the current phase
	MetricPredictedLatency = "fusionize_predicted_median_latency_ms" // gauge: candidate, by the planner
	MetricObservedLatency  = "fusionize_observed_median_latency_ms"  // gauge: candidate, in its canary
	MetricPredictedCost    = "fusionize_predicted_cost_per_request_usd"
	MetricObservedCost     = "fusionize_observed_cost_per_request_usd"
)

func metricsFor(ctx workflow.Context, app string) client.MetricsHandler {
	return workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"app": app})
}
