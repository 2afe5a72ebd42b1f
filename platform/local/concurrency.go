package local

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Concurrency as Lambda accounts it: one limit for the whole platform (Lambda's account-wide
// limit per region, 1,000 by default), shared by every function. A function with reserved
// concurrency (PutFunctionConcurrency) sets that many aside for itself and can use no more; the
// others share what is left, the unreserved pool. A synchronous request beyond its pool's limit
// is throttled with 429 TooManyRequestsException, an asynchronous event waits in its queue.
// Versions and aliases share their function's concurrency.

// Lambda's account concurrency limit per region unless raised, and the unreserved concurrency an
// account must keep (PutFunctionConcurrency refuses to go below it).
const (
	lambdaAccountLimit  = 1000
	lambdaMinUnreserved = 100
)

// Sizing of DefaultConcurrencyLimit: what one mostly idle instance costs this machine. An idle
// instance of a sample bundle (a Go aws-lambda-go process polling the Runtime API) holds about
// 10 MB resident, plus the kernel's and the platform's share (pipe, connection, goroutines,
// cgroup); "fusionize platform bench" measures it ("memory per idle instance"). The budget
// leaves room for instances that do work, and for the rest of the machine.
const (
	instanceMemoryBudget = 32 << 20 // bytes of RAM set aside per possible instance
	instanceFDs          = 8        // file descriptors per instance on the platform's side
)

// DefaultMaxStarting is the default of Options.MaxStarting: four instance starts at once per
// CPU core. Starting a sample bundle's process costs a few milliseconds of CPU; four per core
// keep a burst's cold starts short without taking the cores from the requests that run.
func DefaultMaxStarting() int { return 4 * runtime.NumCPU() }

// Reasons of a TooManyRequestsException, as Lambda names them.
const (
	reasonAccountExceeded = "ConcurrentInvocationLimitExceeded"
)

// DefaultConcurrencyLimit is the concurrency limit New uses when Options.ConcurrencyLimit is
// zero: Lambda's default of 1,000, lowered to what this machine can hold, which is its memory
// divided by a budget of 32 MB per instance and its open-file limit divided by 8 descriptors per
// instance. On a machine with 16 GB and 20,000 descriptors that is 512.
func DefaultConcurrencyLimit() int {
	limit := lambdaAccountLimit
	if mem := totalMemory(); mem > 0 {
		limit = min(limit, int(mem/instanceMemoryBudget))
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 0 {
		limit = min(limit, int(min(rl.Cur, 1<<20)/instanceFDs))
	}
	return max(limit, 1)
}

// totalMemory is the machine's memory in bytes (MemTotal), or 0 when unknown.
func totalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// minUnreserved is the unreserved concurrency that reservations must leave: Lambda's 100,
// or a tenth of a smaller limit.
func (p *Platform) minUnreserved() int {
	return min(lambdaMinUnreserved, p.opts.ConcurrencyLimit/10)
}

// reservedTotalLocked is the concurrency reserved by all functions but skip; call with p.mu held.
func (p *Platform) reservedTotalLocked(skip string) int {
	n := 0
	for name, f := range p.fns {
		if f.Reserved != nil && name != skip {
			n += *f.Reserved
		}
	}
	return n
}

// takeSlotLocked takes a concurrency slot for one invocation of f, or reports the reason of the
// throttle; call with p.mu held. Release the slot with freeSlotLocked.
func (p *Platform) takeSlotLocked(f *function, rt *fnRuntime) (ok bool, reason string) {
	if f.Reserved != nil {
		if rt.inflight >= *f.Reserved {
			return false, reasonReservedExceeded
		}
		rt.inflight++
		return true, ""
	}
	if p.unreservedInflight >= p.opts.ConcurrencyLimit-p.reserved {
		return false, reasonAccountExceeded
	}
	rt.inflight++
	rt.unreservedSlots++
	p.unreservedInflight++
	return true, ""
}

// freeSlotLocked returns a slot taken by takeSlotLocked, and lets waiting events of other
// functions have it when it came from the shared pool; call with p.mu held.
func (p *Platform) freeSlotLocked(name string, rt *fnRuntime) {
	rt.inflight--
	if rt.unreservedSlots == 0 {
		return
	}
	rt.unreservedSlots--
	p.unreservedInflight--
	p.pumpWaitingLocked()
}

// pumpWaitingLocked starts events of functions that wait for the unreserved pool, while it has
// room; call with p.mu held.
func (p *Platform) pumpWaitingLocked() {
	for name := range p.waiting {
		if p.unreservedInflight >= p.opts.ConcurrencyLimit-p.reserved {
			return
		}
		if rt := p.rt[name]; rt != nil {
			p.pumpLocked(name, rt)
		} else {
			delete(p.waiting, name)
		}
	}
}

// limitLocked is the concurrency f can use at most: its reservation, else the unreserved pool;
// call with p.mu held.
func (p *Platform) limitLocked(f *function) int {
	if f.Reserved != nil {
		return *f.Reserved
	}
	return p.opts.ConcurrencyLimit - p.reserved
}

// recountReservedLocked updates the cached sum of reservations after a change; call with p.mu
// held.
func (p *Platform) recountReservedLocked() { p.reserved = p.reservedTotalLocked("") }
