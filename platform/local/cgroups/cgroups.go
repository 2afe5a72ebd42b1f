// Package cgroups enforces Lambda's memory sizes on processes of the local platform with
// Linux cgroups: a memory limit, and a CPU quota of memory/1,769 MB of one core (Lambda's
// share), per instance, in a cgroup below a parent the platform owns, on cgroup v1 (separate
// cpu and memory hierarchies) or v2. New detects what the machine allows and says why not
// where it cannot.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fusionize/fusionize/fusion"
)

const (
	cfsPeriodUs = 100000
	mbPerVCPU   = fusion.MBPerVCPU
)

// CPU weights of an instance: the kernel's default, and the background weight of one that
// serves an asynchronous event (SetBackground), 1/32 of it, on kernels without cpu.idle:
// cpu.shares on v1, cpu.weight on v2.
const (
	SharesDefault, SharesBackground = 1024, 32
	WeightDefault, WeightBackground = 100, 3
)

// CPUQuotaUs is the CFS quota per 100 ms period that gives memoryMB its Lambda CPU share:
// memory/1769 MB of one core, at least 1 ms.
func CPUQuotaUs(memoryMB int) int {
	return max(1000, cfsPeriodUs*memoryMB/mbPerVCPU)
}

// Manager creates one cgroup per instance below a parent it owns, on cgroup v1 (separate
// cpu and memory hierarchies) or v2 (one unified hierarchy).
type Manager struct {
	V2 bool // the unified hierarchy, else v1
	// CPUParent and MemParent (v1) or Parent (v2) are the directories of the platform's
	// parent cgroup, below which every instance gets its own.
	CPUParent string
	MemParent string
	Parent    string
	// Idle says that an instance in the background is a SCHED_IDLE cgroup (cpu.idle, Linux
	// 5.15 and later) rather than one of a lower weight.
	Idle bool
	// Platform is the cgroup the platform's own process joined (JoinPlatform), "" before.
	Platform string
}

// cgroup is one instance's cgroup (one directory on v2, two on v1).
type Cgroup struct {
	dirs   []string
	memDir string
	// weight is the file that puts the cgroup in the background (cpu.idle, else the CPU
	// weight: cpu.weight, cpu.shares on v1), weights its default and background values, and
	// background whether it holds the background one (SetBackground).
	weight     string
	weights    [2]int
	background bool
	// Peak is the file holding the peak memory usage in bytes (v2), else "": read VmHWM
	// from /proc/<pid>/status instead.
	Peak string
	// ProcsV2, when set (v2), is the cgroup's directory opened for clone3's CgroupFD, so
	// that a process starts inside it.
	ProcsV2 *os.File
}

// New detects a writable cgroup hierarchy and prepares the platform's parent
// cgroup. It returns a reason instead of a manager where limits cannot be enforced.
func New() (*Manager, string) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, fmt.Sprintf("cannot read cgroup mounts: %v", err)
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, fmt.Sprintf("cannot read /proc/self/cgroup: %v", err)
	}
	if o := ownOriginal(); o != nil {
		own = o // the process is in its platform cgroup: the parent is where it came from
	}
	var reasons []string
	// Prefer v2 where it is the main hierarchy with the cpu and memory controllers.
	if m, ok := mounts["cgroup2"]; ok {
		mgr, err := setupV2(m, own[""])
		if err == nil {
			return mgr, ""
		}
		reasons = append(reasons, "cgroup V2: "+err.Error())
	}
	cpu, okCPU := mounts["cpu"]
	mem, okMem := mounts["memory"]
	if okCPU && okMem {
		mgr, err := setupV1(cpu, own["cpu"], mem, own["memory"])
		if err == nil {
			return mgr, ""
		}
		reasons = append(reasons, "cgroup v1: "+err.Error())
	} else {
		reasons = append(reasons, "cgroup v1: cpu and memory hierarchies are not both mounted")
	}
	return nil, strings.Join(reasons, "; ")
}

type mount struct{ root, dir string }

// cgroupMounts maps "cgroup2" and each v1 controller to its mount, from /proc/self/mountinfo.
func cgroupMounts() (map[string]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]mount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options optional... - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		m := mount{root: a[3], dir: a[4]}
		switch b[0] {
		case "cgroup2":
			if _, seen := out["cgroup2"]; !seen {
				out["cgroup2"] = m
			}
		case "cgroup":
			for _, opt := range strings.Split(b[2], ",") {
				if opt == "cpu" || opt == "memory" {
					out[opt] = m
				}
			}
		}
	}
	return out, sc.Err()
}

// ownCgroups maps each v1 controller ("" for v2) to this process's cgroup path.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

func cgroupDir(m mount, own string) string {
	rel := strings.TrimPrefix(own, m.root)
	return filepath.Join(m.dir, rel)
}

func parentName() string { return "fusionize-" + strconv.Itoa(os.Getpid()) }

func setupV1(cpu mount, cpuOwn string, mem mount, memOwn string) (*Manager, error) {
	m := &Manager{
		CPUParent: filepath.Join(cgroupDir(cpu, cpuOwn), parentName()),
		MemParent: filepath.Join(cgroupDir(mem, memOwn), parentName()),
	}
	removeStaleParents(filepath.Dir(m.CPUParent))
	removeStaleParents(filepath.Dir(m.MemParent))
	for _, d := range []string{m.CPUParent, m.MemParent} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			m.Close()
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := m.probe(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func setupV2(m2 mount, own string) (*Manager, error) {
	base := cgroupDir(m2, own)
	ctrl, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(ctrl))
	if !contains(have, "cpu") || !contains(have, "memory") {
		return nil, fmt.Errorf("%s offers controllers %q, not cpu and memory", base, have)
	}
	if err := enableControllers(base); err != nil {
		return nil, err
	}
	m := &Manager{V2: true, Parent: filepath.Join(base, parentName())}
	removeStaleParents(base)
	if err := os.Mkdir(m.Parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", m.Parent, err)
	}
	if err := enableControllers(m.Parent); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.probe(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func enableControllers(dir string) error {
	sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if f := strings.Fields(string(sub)); contains(f, "cpu") && contains(f, "memory") {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0); err != nil {
		return fmt.Errorf("enable cpu and memory controllers in %s: %w", dir, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// probe creates and removes one instance cgroup to prove that limits can be written, and
// finds out whether the kernel has cpu.idle.
func (m *Manager) probe() error {
	cg, err := m.Create("probe", 128)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(cg.dirs[0], "cpu.idle")); err == nil {
		m.Idle = true
	}
	return cg.Remove()
}

// removeStaleParents removes the empty cgroups left by platforms that are no longer running.
func removeStaleParents(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := strings.CutPrefix(e.Name(), "fusionize-")
		if !ok || !e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() {
			continue
		}
		if syscall.Kill(n, 0) == nil {
			continue // still running
		}
		parent := filepath.Join(dir, e.Name())
		children, _ := os.ReadDir(parent)
		for _, c := range children {
			if c.IsDir() {
				_ = syscall.Rmdir(filepath.Join(parent, c.Name()))
			}
		}
		_ = syscall.Rmdir(parent)
	}
}

// create makes the cgroup for one instance with memoryMB's CPU quota and memory limit.
func (m *Manager) Create(id string, memoryMB int) (*Cgroup, error) {
	limit := []byte(strconv.FormatInt(int64(memoryMB)<<20, 10))
	quota := CPUQuotaUs(memoryMB)
	cg := &Cgroup{}
	if m.V2 {
		dir := filepath.Join(m.Parent, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		cg.dirs, cg.memDir, cg.Peak = []string{dir}, dir, filepath.Join(dir, "memory.peak")
		m.backgroundFile(cg, dir, "cpu.weight", WeightDefault, WeightBackground)
		writes := [][2]string{
			{"cpu.max", fmt.Sprintf("%d %d", quota, cfsPeriodUs)},
			{"memory.max", string(limit)},
		}
		if err := cg.write(dir, writes); err != nil {
			return nil, err
		}
		_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0) // Lambda has no swap
		f, err := os.Open(dir)
		if err != nil {
			_ = cg.Remove()
			return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
		}
		cg.ProcsV2 = f
		return cg, nil
	}
	cpuDir, memDir := filepath.Join(m.CPUParent, id), filepath.Join(m.MemParent, id)
	for _, d := range []string{cpuDir, memDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			_ = cg.Remove()
			return nil, fmt.Errorf("create cgroup %s: %w", d, err)
		}
		cg.dirs = append(cg.dirs, d)
	}
	// The process joins after it started, so the cgroup misses what it charged before: peak
	// memory comes from the process's VmHWM instead (peak stays empty).
	cg.memDir = memDir
	m.backgroundFile(cg, cpuDir, "cpu.shares", SharesDefault, SharesBackground)
	if err := cg.write(cpuDir, [][2]string{
		{"cpu.cfs_period_us", strconv.Itoa(cfsPeriodUs)},
		{"cpu.cfs_quota_us", strconv.Itoa(quota)},
	}); err != nil {
		return nil, err
	}
	if err := cg.write(memDir, [][2]string{{"memory.limit_in_bytes", string(limit)}}); err != nil {
		return nil, err
	}
	_ = os.WriteFile(filepath.Join(memDir, "memory.swappiness"), []byte("0"), 0)
	return cg, nil
}

// backgroundFile gives cg the file SetBackground writes and its two values: cpu.idle where the
// kernel has it, else the weight file with its default and background weights.
func (m *Manager) backgroundFile(cg *Cgroup, dir, weight string, def, bg int) {
	if m.Idle {
		weight, def, bg = "cpu.idle", 0, 1
	}
	cg.weight, cg.weights = filepath.Join(dir, weight), [2]int{def, bg}
}

func (cg *Cgroup) write(dir string, kv [][2]string) error {
	for _, w := range kv {
		if err := os.WriteFile(filepath.Join(dir, w[0]), []byte(w[1]), 0); err != nil {
			_ = cg.Remove()
			return fmt.Errorf("write %s in %s: %w", w[0], dir, err)
		}
	}
	return nil
}

// SetBackground puts the cgroup in the background or takes it out again; it writes only on a
// change. In the background the cgroup is SCHED_IDLE (cpu.idle 1) where the kernel has
// cpu.idle, else it has a 32nd of the default CPU weight (SharesBackground, WeightBackground).
// The quota is unchanged: a background instance gets all the CPU it is due when the host's
// cores are free, and yields them when the platform or other instances want them. An idle
// cgroup yields at once: a task that wakes up next to one preempts it, where against a mere
// lower weight it may wait for the next scheduler tick (4 ms at 250 Hz).
//
// The local platform runs every instance on the host's few cores, where on Lambda each has CPUs
// of its own. An instance serving an asynchronous event is off every response path, so the
// platform makes it the one that waits when the cores are contended: a request's response is
// then not held up by the CPU bursts of the async work it started (measured on the IoT sample:
// one of its async dispatches took 4-7 ms instead of 0.5 in 41 % of the requests), and the async
// invocations' durations take the contention instead.
func (cg *Cgroup) SetBackground(bg bool) error {
	if cg.background == bg || cg.weight == "" {
		return nil
	}
	w := cg.weights[0]
	if bg {
		w = cg.weights[1]
	}
	if err := os.WriteFile(cg.weight, []byte(strconv.Itoa(w)), 0); err != nil {
		return fmt.Errorf("set cgroup CPU weight: %w", err)
	}
	cg.background = bg
	return nil
}

// addProcess moves pid into the cgroup (v1; on v2 the process starts inside it). The moves
// into the cpu and memory hierarchies run in parallel: each waits for the kernel.
func (cg *Cgroup) AddProcess(pid int) error {
	errs := make([]error, len(cg.dirs))
	var wg sync.WaitGroup
	for i, d := range cg.dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
				errs[i] = fmt.Errorf("move process %d into cgroup %s: %w", pid, d, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// oomKilled reports whether the kernel's OOM killer killed a process of the cgroup for going
// over its memory limit (oom_kill in memory.events on v2, memory.oom_control on v1).
func (cg *Cgroup) OOMKilled() bool {
	name := "memory.events"
	if cg.ProcsV2 == nil && len(cg.dirs) > 1 {
		name = "memory.oom_control"
	}
	b, err := os.ReadFile(filepath.Join(cg.memDir, name))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
			return err == nil && v > 0
		}
	}
	return false
}

// remove deletes the cgroup; the kernel refuses while a process is still inside, so it retries
// for a short while after the instance's process has exited.
func (cg *Cgroup) Remove() error {
	if cg.ProcsV2 != nil {
		cg.ProcsV2.Close()
		cg.ProcsV2 = nil
	}
	var err error
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		d := cg.dirs[i]
		deadline := time.Now().Add(2 * time.Second)
		for {
			err = syscall.Rmdir(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

// Close moves the process out of its platform cgroup (JoinPlatform) when no other Manager
// holds it there, and removes the platform's parent cgroups (after every instance cgroup is
// gone).
func (m *Manager) Close() {
	m.leavePlatform()
	for _, d := range []string{m.Parent, m.CPUParent, m.MemParent} {
		if d != "" {
			_ = syscall.Rmdir(d)
		}
	}
}
