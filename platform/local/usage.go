package local

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Usage is what the platform and its instances use of the machine.
type Usage struct {
	Instances   int           // running instance processes
	InstanceRSS int64         // resident memory of the running instances, bytes
	PlatformRSS int64         // resident memory of the process running the platform, bytes
	InstanceCPU time.Duration // CPU time of all instances since New, exited ones included
	Cores       int           // CPUs of the machine
	// MachineBusy is the share of the machine's CPU time that was busy over the last ten
	// seconds (0..1), and Saturated whether it was at least 0.9 — demand beyond the machine,
	// where latencies stop being Lambda-like — until it falls below 0.8.
	MachineBusy float64
	Saturated   bool
}

// Saturation thresholds on the machine's busy share, with hysteresis.
const (
	saturatedAbove = 0.9
	saturatedBelow = 0.8
	cpuSampleEvery = 2 * time.Second
	cpuWindow      = 5 // samples: ten seconds
)

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// Usage reports memory and CPU use now. It reads /proc for every running instance.
func (p *Platform) Usage() Usage {
	p.mu.Lock()
	pids := make([]int, 0, len(p.instances))
	for _, inst := range p.instances {
		if pid := inst.pid(); pid > 0 {
			pids = append(pids, pid)
		}
	}
	p.mu.Unlock()
	u := Usage{Instances: len(pids), PlatformRSS: rss(os.Getpid()), Cores: runtime.NumCPU(),
		InstanceCPU: time.Duration(p.exitedCPU.Load())}
	for _, pid := range pids {
		u.InstanceRSS += rss(pid)
		u.InstanceCPU += processCPU(pid)
	}
	u.MachineBusy, u.Saturated = p.cpu.state()
	return u
}

func (inst *instance) pid() int {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.cmd == nil || inst.cmd.Process == nil {
		return 0
	}
	return inst.cmd.Process.Pid
}

// recordExit adds the CPU time of an instance's exited process to the platform's total.
func (p *Platform) recordExit(inst *instance) {
	if st := inst.cmd.ProcessState; st != nil {
		p.exitedCPU.Add(int64(st.UserTime() + st.SystemTime()))
	}
}

// rss is a process's resident memory in bytes (0 when it is gone).
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// processCPU is a running process's user and system CPU time (0 when it is gone).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is field 3 of stat, utime 14 and stime 15
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// cpuTimes is the machine's CPU time from the first line of /proc/stat, in clock ticks.
type cpuTimes struct{ busy, total uint64 }

// parseProcStat reads the aggregate "cpu" line of /proc/stat: idle and iowait are idle, every
// other column (user, nice, system, irq, softirq, steal) busy. Guest time is already counted
// in user.
func parseProcStat(b []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("parse /proc/stat: first line %q is not the cpu line", line)
	}
	var t cpuTimes
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("parse /proc/stat: column %d %q: %w", i+1, s, err)
		}
		t.total += v
		if i != 3 && i != 4 {
			t.busy += v
		}
	}
	return t, nil
}

// cpuMonitor keeps the machine's busy share over a sliding window and whether it is saturated.
type cpuMonitor struct {
	samples   []cpuTimes // oldest first, at most cpuWindow+1
	busy      atomic.Uint64
	saturated atomic.Bool
}

// add takes a new reading and reports whether the saturation state changed.
func (m *cpuMonitor) add(t cpuTimes) (changed bool) {
	m.samples = append(m.samples, t)
	if len(m.samples) > cpuWindow+1 {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	if len(m.samples) < 2 || t.total <= first.total {
		return false
	}
	busy := float64(t.busy-first.busy) / float64(t.total-first.total)
	m.busy.Store(uint64(busy * 1e6))
	was := m.saturated.Load()
	now := was
	switch {
	case !was && busy >= saturatedAbove && len(m.samples) == cpuWindow+1:
		now = true
	case was && busy < saturatedBelow:
		now = false
	}
	m.saturated.Store(now)
	return now != was
}

func (m *cpuMonitor) state() (busy float64, saturated bool) {
	return float64(m.busy.Load()) / 1e6, m.saturated.Load()
}

// watchCPU samples /proc/stat until Close, and warns (log and metrics) while the machine's CPU
// is saturated: figures measured then are the machine's, not Lambda-like.
func (p *Platform) watchCPU() {
	defer p.bg.Done()
	t := time.NewTicker(cpuSampleEvery)
	defer t.Stop()
	for {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			p.log.Warn("local platform: cannot watch the machine's CPU", "err", err)
			return
		}
		if ct, err := parseProcStat(b); err == nil && p.cpu.add(ct) {
			p.reportSaturation()
		}
		busy, saturated := p.cpu.state()
		p.metrics.machineBusy.Set(busy)
		if saturated {
			p.metrics.saturatedSeconds.Add(cpuSampleEvery.Seconds())
		}
		select {
		case <-p.closing:
			return
		case <-t.C:
		}
	}
}

func (p *Platform) reportSaturation() {
	u := p.Usage()
	if u.Saturated {
		p.metrics.saturated.Set(1)
		p.log.Warn("local platform: the machine's CPU is saturated: offered CPU demand exceeds the machine, so latencies "+
			"and durations are no longer Lambda-like (lower the load or the work scale)",
			"busy", fmt.Sprintf("%.0f%%", 100*u.MachineBusy), "cores", u.Cores, "instances", u.Instances)
		return
	}
	p.metrics.saturated.Set(0)
	p.log.Info("local platform: the machine's CPU is no longer saturated", "busy", fmt.Sprintf("%.0f%%", 100*u.MachineBusy))
}
