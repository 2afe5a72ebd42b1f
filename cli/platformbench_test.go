package cli

import (
	"strings"
	"testing"
)

// TestParseBenchRuns catches a parser that accepts unknown apps or rates that are not positive
// numbers, and one that drops runs.
func TestParseBenchRuns(t *testing.T) {
	runs, err := parseBenchRuns(defaultBenchRuns)
	if err != nil || len(runs) != 8 || runs[0] != (benchRun{"noop", 200}) || runs[7] != (benchRun{"webshop", 50}) {
		t.Fatalf("parseBenchRuns(default) = %v, %v", runs, err)
	}
	if runs, err := parseBenchRuns(""); err != nil || len(runs) != 0 {
		t.Errorf("parseBenchRuns(\"\") = %v, %v; want no runs", runs, err)
	}
	for _, bad := range []string{"tree", "tree@", "tree@0", "tree@-5", "tree@x", "shop@10"} {
		if _, err := parseBenchRuns(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("parseBenchRuns(%q) error = %v, want one naming it", bad, err)
		}
	}
}

// TestRoundDown2 catches rounding up (a work scale above what fits the machine).
func TestRoundDown2(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{1, 1}, {0.109, 0.1}, {0.4899, 0.48}, {0.0123, 0.012}, {0, 0}} {
		if got := roundDown2(c.in); got < c.want-1e-12 || got > c.want+1e-12 {
			t.Errorf("roundDown2(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
