package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// joined is the platform process's cgroup of its own, which every Manager of the process
// shares: the first JoinPlatform moves the process in, the last Close moves it back.
var joined struct {
	sync.Mutex
	n    int
	dir  string            // the cgroup the process joined
	back string            // the cgroup.procs file of the cgroup it came from
	own  map[string]string // what /proc/self/cgroup said before it moved
}

// ownOriginal is the process's own cgroups before it joined its platform cgroup, nil while it
// has not: a second Manager of the process makes its parent next to the first one's.
func ownOriginal() map[string]string {
	joined.Lock()
	defer joined.Unlock()
	return joined.own
}

// JoinPlatform moves the calling process, every thread of it, into a cgroup of its own below
// the parent ("platform", in the cpu hierarchy on v1), at the default CPU weight.
//
// On Lambda the service that routes invocations runs on machines of its own; here it is this
// process, and it shares the host's cores with the instances. The kernel weighs a waking task
// against the running one at the level where their cgroups are siblings. Below the parent, an
// instance in the background (SetBackground) is an idle sibling of the platform's cgroup, so
// the platform's routing of a request takes the core from it at once; from outside the parent
// it would have waited for the next scheduler tick. Measured on the IoT sample (three rounds of
// 300 requests at 10/s, old and new code taking turns), all remote: p95 latency 10.0-11.5 ms
// before, 8.2-9.7 after. The cgroup keeps the default weight: at 100 times it the process
// (which may hold Temporal, a worker and a load generator too) kept the cores from the
// entry longer, p95 10.3-10.7 ms side by side with 8.2-9.7.
func (m *Manager) JoinPlatform() error {
	if m.Platform != "" {
		return nil
	}
	parent := m.CPUParent
	if m.V2 {
		parent = m.Parent
	}
	dir := filepath.Join(parent, "platform")
	joined.Lock()
	defer joined.Unlock()
	if joined.n > 0 {
		if joined.dir != dir {
			return fmt.Errorf("the process is in the platform cgroup %s already", joined.dir)
		}
		joined.n++
		m.Platform = dir
		return nil
	}
	own, err := ownCgroups()
	if err != nil {
		return err
	}
	back := filepath.Join(filepath.Dir(parent), "cgroup.procs")
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create the platform's cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		_ = syscall.Rmdir(dir)
		return fmt.Errorf("move the platform's process into %s: %w", dir, err)
	}
	joined.n, joined.dir, joined.back, joined.own = 1, dir, back, own
	m.Platform = dir
	return nil
}

// leavePlatform undoes JoinPlatform: the last Manager to leave moves the process back where
// it came from and removes the platform's cgroup.
func (m *Manager) leavePlatform() {
	if m.Platform == "" {
		return
	}
	m.Platform = ""
	joined.Lock()
	defer joined.Unlock()
	if joined.n--; joined.n > 0 {
		return
	}
	if err := os.WriteFile(joined.back, []byte(strconv.Itoa(os.Getpid())), 0); err == nil {
		_ = syscall.Rmdir(joined.dir)
	}
	joined.dir, joined.back, joined.own = "", "", nil
}
