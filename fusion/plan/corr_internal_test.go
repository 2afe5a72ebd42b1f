package plan

import (
	"math"
	"testing"

	"github.com/fusionize/fusionize/fusion"
)

// What a group's canaries taught the model carries over to the same tasks at a memory size
// not tried yet: IoT's CT+AS ran 1.5× its prediction at 128 MB and 2× at 512 MB, so at
// 256 MB it is not predicted from the uncorrected model again.
func TestCorrectionAtUntriedSizes(t *testing.T) {
	m := &model{corr: map[string]float64{"CT+AS@512": 2, "CT+AS@128": 1.5}, anchors: map[string][]anchor{
		"CT+AS": {{128, 1.5}, {512, 2}},
	}}
	group := func(mem int) fusion.Group { return fusion.Group{Root: "CT", Inlined: []string{"AS"}, MemoryMB: mem} }
	for _, c := range []struct {
		g    fusion.Group
		want float64
	}{
		{group(256), 1.75}, // halfway in log memory
		{group(1024), 2},   // above every size tried: the nearest
		{group(64), 1.5},
		{fusion.Group{Root: "CT", MemoryMB: 256}, 1}, // other tasks: nothing learned
	} {
		if got := m.corrAt(c.g); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("corrAt(%s) = %v, want %v", c.g, got, c.want)
		}
	}
}
