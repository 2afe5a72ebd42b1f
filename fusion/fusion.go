// Package fusion is Fusionize's domain: the words of the design (task, call, group, setup,
// trace, profile) as Go types, with no I/O, no Temporal and no AWS. The runtime linked into
// every function bundle imports it for the setup model and the trace format, so this root
// package depends on the standard library only; heavier parts live in subpackages.
//
// Layout:
//
//	fusion             setup model and text form (ParseSetup, Setup.ID), call Graph, positioned
//	                   Issues, trace/v1 lines (ParseTraceLine) and REPORT lines (ParseReport),
//	                   the Lambda cost model (Prices), and the Profile built from traces
//	                   (BuildProfile, ProfileBuilder)
//	fusion/constraint  the user's CEL policy: constraints, objective, canary acceptance rule
//	fusion/plan        planners (the paper's FusionizePP and the project's Model), the
//	                   simulator that predicts a setup from a profile (Simulate), and Run,
//	                   the optimization loop without Temporal for offline evaluation
//	fusion/judge       the canary judge (Mann-Whitney U, Hodges-Lehmann shift)
//	fusion/sim         a synthetic ground truth that produces traces for any setup
//	fusion/apps        the paper's apps (IoT, tree, web shop) and synthetic apps, as data
//
// Everything the Temporal workflow passes to these packages is plain JSON-serializable data,
// and every function is deterministic given its inputs (random draws are seeded from them),
// so an activity can be retried and a workflow replayed.
package fusion
