package sim

import "math"

// instance is the CPU of one function instance during one invocation, simulated by events:
// the goroutines of every task running in it share its CPU (processor sharing). A function
// with m MB gets m/1769 of a vCPU (up to 10,240/1769 vCPUs); when k goroutines compute at
// once, each progresses at min(1, share/k) of a vCPU, so a two-thread task does not get
// twice the CPU below 3538 MB, and tasks inlined side by side slow each other down.
type instance struct {
	base  float64 // absolute start (ms); now is relative to it, for precision
	now   float64
	share float64 // vCPUs
	acts  []*activity
	seq   int
}

// activity is CPU work (work > 0: ms per thread on one full vCPU, for threads goroutines)
// or a wait until a time; then runs when it is over.
type activity struct {
	work    float64
	threads int
	until   float64
	then    func()
	seq     int
}

func newInstance(memoryMB int, start float64) *instance {
	return &instance{base: start, share: float64(memoryMB) / VCPUMemoryMB}
}

// compute adds totalMS of CPU work (ms on one full vCPU) split over threads goroutines.
func (in *instance) compute(totalMS float64, threads int, then func()) {
	threads = max(threads, 1)
	if totalMS <= 0 {
		in.sleep(0, then)
		return
	}
	in.seq++
	in.acts = append(in.acts, &activity{work: totalMS / float64(threads), threads: threads, then: then, seq: in.seq})
}

// sleep waits ms (I/O, a remote call) without using the CPU.
func (in *instance) sleep(ms float64, then func()) {
	in.seq++
	in.acts = append(in.acts, &activity{until: in.now + max(ms, 0), then: then, seq: in.seq})
}

// rate is each computing goroutine's progress in vCPU-ms per ms.
func (in *instance) rate() float64 {
	k := 0
	for _, a := range in.acts {
		if a.work > 0 {
			k += a.threads
		}
	}
	if k == 0 {
		return 0
	}
	return math.Min(1, in.share/float64(k))
}

// at is the current absolute time (ms).
func (in *instance) at() float64 { return in.base + in.now }

// run advances time until nothing is left to do and returns that absolute time.
func (in *instance) run() float64 {
	const eps = 1e-9
	for len(in.acts) > 0 {
		rate := in.rate()
		next := math.Inf(1)
		for _, a := range in.acts {
			if a.work > 0 {
				next = math.Min(next, in.now+a.work/rate)
			} else {
				next = math.Min(next, a.until)
			}
		}
		dt := next - in.now
		in.now = next
		var over []*activity
		keep := in.acts[:0]
		for _, a := range in.acts {
			if a.work > 0 {
				a.work -= rate * dt
				if a.work <= eps*rate {
					a.work = 0
					over = append(over, a)
					continue
				}
			} else if a.until <= in.now+eps {
				over = append(over, a)
				continue
			}
			keep = append(keep, a)
		}
		in.acts = keep
		for _, a := range over {
			a.then()
		}
	}
	return in.at()
}
