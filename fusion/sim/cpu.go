package sim

import "math"

// instance is the CPU of one function instance during one invocation, simulated by events.
// The CPU is a CFS bandwidth quota, as a cgroup enforces it: in every period of PeriodMS
// the instance may use share·PeriodMS of CPU time (share = m/1769 vCPUs), on up to cores
// vCPUs at once; once the period's quota is used up every goroutine waits for the next
// period. So a short burst runs at full speed and long CPU work (or work inlined side by
// side) is throttled. The goroutines computing at once share the cores (each progresses at
// min(1, cores/k) of a vCPU while not throttled).
type instance struct {
	base   float64 // absolute start (ms); now is relative to it, for precision
	now    float64
	quota  float64 // CPU ms per period
	period float64
	cores  float64
	used   float64 // CPU ms used in the current period
	end    float64 // end of the current period (relative)
	cpu    float64 // CPU ms used in all
	acts   []*activity
	seq    int
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

func newInstance(memoryMB int, start, periodMS float64) *instance {
	share := float64(memoryMB) / VCPUMemoryMB
	return &instance{base: start, quota: share * periodMS, period: periodMS, end: periodMS,
		cores: math.Max(2, math.Ceil(share))}
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

// threads counts the goroutines computing now.
func (in *instance) threads() int {
	k := 0
	for _, a := range in.acts {
		if a.work > 0 {
			k += a.threads
		}
	}
	return k
}

// at is the current absolute time (ms).
func (in *instance) at() float64 { return in.base + in.now }

// step returns each computing goroutine's progress rate (vCPU-ms per ms) and the time of
// the next event: an activity's end, the quota running out, or the period's end.
func (in *instance) step() (rate, next float64) {
	const eps = 1e-9
	for in.now >= in.end-eps {
		in.end += in.period
		in.used = 0
	}
	next = math.Inf(1)
	k := in.threads()
	throttled := in.used >= in.quota-eps
	if k > 0 && !throttled {
		rate = math.Min(1, in.cores/float64(k))
		next = math.Min(in.end, in.now+(in.quota-in.used)/(rate*float64(k)))
	} else if k > 0 {
		next = in.end
	}
	for _, a := range in.acts {
		if a.work > 0 && rate > 0 {
			next = math.Min(next, in.now+a.work/rate)
		} else if a.work <= 0 {
			next = math.Min(next, a.until)
		}
	}
	return rate, next
}

// run advances time until nothing is left to do and returns that absolute time.
func (in *instance) run() float64 {
	const eps = 1e-9
	for len(in.acts) > 0 {
		rate, next := in.step()
		dt := next - in.now
		in.now = next
		spent := rate * float64(in.threads()) * dt
		in.used += spent
		in.cpu += spent
		var over []*activity
		keep := in.acts[:0]
		for _, a := range in.acts {
			if a.work > 0 {
				a.work -= rate * dt
				if a.work <= eps {
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
