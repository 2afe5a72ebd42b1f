package fusion

// stats summarizes the traces gathered, as the profile's setups (through a Digest).
func (a *traceAcc) stats(keep int) []SetupStat {
	var d Digest
	d.addTraces(a)
	return ProfileOf(Graph{}, ProfileOptions{MaxSamples: keep}, d).Setups
}
