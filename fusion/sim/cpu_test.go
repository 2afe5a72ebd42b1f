package sim

import (
	"math"
	"testing"
)

// TestQuota: the instance's CPU is a CFS quota, not a fluid share. Each case names the
// broken CPU model it catches.
func TestQuota(t *testing.T) {
	const period = 20.0
	quota128 := 128.0 / VCPUMemoryMB * period // 1.447 ms per period
	tests := []struct {
		name     string
		memoryMB int
		work     []float64 // single-thread CPU work started at once
		want     float64   // when the instance is done (ms)
		catches  string
	}{
		{"a burst within the quota runs at full speed", 128, []float64{1}, 1, "a fluid share (13.8 ms)"},
		{"past the quota it waits for the next period", 128, []float64{2}, period + 2 - quota128, "no throttling, or a fluid share (27.6 ms)"},
		{"long work averages to the share", 128, []float64{100}, 100 * VCPUMemoryMB / 128.0, "a quota that never binds"},
		{"three goroutines share two cores", 3008, []float64{1, 1, 1}, 1.5, "goroutines that each get a core"},
		{"concurrent bursts use up the quota together", 256, []float64{1.5, 1.5}, period + 3 - 256.0/VCPUMemoryMB*period, "a quota per goroutine"},
	}
	for _, tt := range tests {
		in := newInstance(tt.memoryMB, 0, period)
		for _, w := range tt.work {
			in.compute(w, 1, func() {})
		}
		got := in.run()
		tol := 0.02 * tt.want
		if tt.name == "long work averages to the share" {
			tol = period
		}
		if math.Abs(got-tt.want) > tol {
			t.Errorf("%s: done at %.3f ms, want %.3f (catches %s)", tt.name, got, tt.want, tt.catches)
		}
	}
}
