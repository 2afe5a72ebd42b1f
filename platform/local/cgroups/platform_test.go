package cgroups

import (
	"os"
	"strings"
	"testing"
)

// TestJoinPlatformIsShared: two Managers of one process share the platform's cgroup; the
// process stays in it until the last one closes, then goes back where it came from, and the
// second Manager's parent is made where the process came from, not inside the platform's cgroup.
func TestJoinPlatformIsShared(t *testing.T) {
	home := ownCPU(t)
	a, reason := New()
	if a == nil {
		t.Skipf("cgroups are not available here: %s", reason)
	}
	defer a.Close()
	if err := a.JoinPlatform(); err != nil {
		t.Fatal(err)
	}
	in := ownCPU(t)
	if !strings.HasSuffix(a.Platform, in) || in == home {
		t.Fatalf("after JoinPlatform the process is in %s, want %s", in, a.Platform)
	}
	b, reason := New()
	if b == nil {
		t.Fatalf("a second Manager: %s", reason)
	}
	defer b.Close()
	if b.CPUParent+b.Parent != a.CPUParent+a.Parent {
		t.Errorf("the second Manager's parent is %s, want the first's %s", b.CPUParent+b.Parent, a.CPUParent+a.Parent)
	}
	if err := b.JoinPlatform(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if got := ownCPU(t); got != in {
		t.Errorf("after the first Close the process is in %s, want still %s", got, in)
	}
	b.Close()
	if got := ownCPU(t); got != home {
		t.Errorf("after the last Close the process is in %s, want %s back", got, home)
	}
	if _, err := os.Stat(a.CPUParent + a.Parent); !os.IsNotExist(err) {
		t.Errorf("the parent cgroup is left after the last Close (%v)", err)
	}
}

// ownCPU is the process's cgroup in the cpu hierarchy (v1) or the unified one (v2).
func ownCPU(t *testing.T) string {
	t.Helper()
	own, err := ownCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := own["cpu"]; ok {
		return p
	}
	return own[""]
}
