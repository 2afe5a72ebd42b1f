package local

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

// Cgroup modes for Options.Cgroups.
const (
	CgroupsAuto = "auto" // enforce memory sizes with cgroups where writable, else run unthrottled
	CgroupsOff  = "off"  // never use cgroups
)

const (
	cfsPeriodUs = 100000
	mbPerVCPU   = fusion.MBPerVCPU
)

// cpuQuotaUs is the CFS quota per 100 ms period that gives memoryMB its Lambda CPU share:
// memory/1769 MB of one core, at least 1 ms.
func cpuQuotaUs(memoryMB int) int {
	return max(1000, cfsPeriodUs*memoryMB/mbPerVCPU)
}

// cgroupManager creates one cgroup per instance below a parent it owns, on cgroup v1 (separate
// cpu and memory hierarchies) or v2 (one unified hierarchy).
type cgroupManager struct {
	v2        bool
	cpuParent string // v1
	memParent string // v1
	parent    string // v2
}

// cgroup is one instance's cgroup (one directory on v2, two on v1).
type cgroup struct {
	dirs    []string
	memDir  string
	peak    string // file holding the peak memory usage in bytes (v2), else ""
	procsV2 *os.File
}

// newCgroupManager detects a writable cgroup hierarchy and prepares the platform's parent
// cgroup. It returns a reason instead of a manager where limits cannot be enforced.
func newCgroupManager() (*cgroupManager, string) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, fmt.Sprintf("cannot read cgroup mounts: %v", err)
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, fmt.Sprintf("cannot read /proc/self/cgroup: %v", err)
	}
	var reasons []string
	// Prefer v2 where it is the main hierarchy with the cpu and memory controllers.
	if m, ok := mounts["cgroup2"]; ok {
		mgr, err := setupV2(m, own[""])
		if err == nil {
			return mgr, ""
		}
		reasons = append(reasons, "cgroup v2: "+err.Error())
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

func setupV1(cpu mount, cpuOwn string, mem mount, memOwn string) (*cgroupManager, error) {
	m := &cgroupManager{
		cpuParent: filepath.Join(cgroupDir(cpu, cpuOwn), parentName()),
		memParent: filepath.Join(cgroupDir(mem, memOwn), parentName()),
	}
	removeStaleParents(filepath.Dir(m.cpuParent))
	removeStaleParents(filepath.Dir(m.memParent))
	for _, d := range []string{m.cpuParent, m.memParent} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			m.close()
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := m.probe(); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

func setupV2(m2 mount, own string) (*cgroupManager, error) {
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
	m := &cgroupManager{v2: true, parent: filepath.Join(base, parentName())}
	removeStaleParents(base)
	if err := os.Mkdir(m.parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", m.parent, err)
	}
	if err := enableControllers(m.parent); err != nil {
		m.close()
		return nil, err
	}
	if err := m.probe(); err != nil {
		m.close()
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

// probe creates and removes one instance cgroup to prove that limits can be written.
func (m *cgroupManager) probe() error {
	cg, err := m.create("probe", 128)
	if err != nil {
		return err
	}
	return cg.remove()
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
func (m *cgroupManager) create(id string, memoryMB int) (*cgroup, error) {
	limit := []byte(strconv.FormatInt(int64(memoryMB)<<20, 10))
	quota := cpuQuotaUs(memoryMB)
	cg := &cgroup{}
	if m.v2 {
		dir := filepath.Join(m.parent, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		cg.dirs, cg.memDir, cg.peak = []string{dir}, dir, filepath.Join(dir, "memory.peak")
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
			_ = cg.remove()
			return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
		}
		cg.procsV2 = f
		return cg, nil
	}
	cpuDir, memDir := filepath.Join(m.cpuParent, id), filepath.Join(m.memParent, id)
	for _, d := range []string{cpuDir, memDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			_ = cg.remove()
			return nil, fmt.Errorf("create cgroup %s: %w", d, err)
		}
		cg.dirs = append(cg.dirs, d)
	}
	// The process joins after it started, so the cgroup misses what it charged before: peak
	// memory comes from the process's VmHWM instead (peak stays empty).
	cg.memDir = memDir
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

func (cg *cgroup) write(dir string, kv [][2]string) error {
	for _, w := range kv {
		if err := os.WriteFile(filepath.Join(dir, w[0]), []byte(w[1]), 0); err != nil {
			_ = cg.remove()
			return fmt.Errorf("write %s in %s: %w", w[0], dir, err)
		}
	}
	return nil
}

// addProcess moves pid into the cgroup (v1; on v2 the process starts inside it). The moves
// into the cpu and memory hierarchies run in parallel: each waits for the kernel.
func (cg *cgroup) addProcess(pid int) error {
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
func (cg *cgroup) oomKilled() bool {
	name := "memory.events"
	if cg.procsV2 == nil && len(cg.dirs) > 1 {
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
func (cg *cgroup) remove() error {
	if cg.procsV2 != nil {
		cg.procsV2.Close()
		cg.procsV2 = nil
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

// close removes the platform's parent cgroups (after every instance cgroup is gone).
func (m *cgroupManager) close() {
	for _, d := range []string{m.parent, m.cpuParent, m.memParent} {
		if d != "" {
			_ = syscall.Rmdir(d)
		}
	}
}

// parseVmHWM reads the peak resident set size from the text of /proc/<pid>/status.
func parseVmHWM(status string) (int64, bool) {
	i := strings.Index(status, "VmHWM:")
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(status[i+len("VmHWM:"):])
	if len(f) < 1 {
		return 0, false
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	return kb << 10, err == nil
}

func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}
