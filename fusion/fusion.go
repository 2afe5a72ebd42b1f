// Package fusion is Fusionize's domain: the words of the design (task, call, group, setup,
// trace, profile) as Go types, with no I/O, no Temporal and no AWS. The runtime linked into
// every function bundle imports it for the setup model and the trace format, so this root
// package depends on the standard library only; heavier parts (CEL constraints, planners, the
// canary judge) live in subpackages.
package fusion
