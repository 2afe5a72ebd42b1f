package plan

import "github.com/fusionize/fusionize/fusion"

// FusionSetup is the setup of the fusion choices local (one per edge of g: inline the
// callee where the caller runs) with each group root's memory from mem (def when absent),
// for tests that enumerate the setup space.
func FusionSetup(g fusion.Graph, local []bool, mem map[string]int, def int) fusion.Setup {
	return fusionState{local: local, mem: mem}.setup(g, def)
}
