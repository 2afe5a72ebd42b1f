// Package work is the samples' task work: CPU work spread over goroutines (where the paper's
// tasks used threads), waits (where they waited on I/O) and a key-value store (where they used
// DynamoDB). CPU amounts are fixed units of computation, not wall time, so a function with
// less memory (a smaller CPU share) takes longer, as on Lambda.
//
// FUSIONIZE_WORK_SCALE (a factor, default 1) scales every amount, so tests can run the paper's
// apps quickly and benchmarks at full size.
package work

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"
)

// UnitsPerMS is the number of spin units one core of the reference machine (x86-64, 2026)
// computes in a millisecond.
const UnitsPerMS = 450_000

// EnvScale names the environment variable that scales all work.
const EnvScale = "FUSIONIZE_WORK_SCALE"

// EnvFail names the environment variable that makes a share of I/O waits fail (0 to 1,
// default 0), as a dependency that errors would: fault tests deploy a candidate that fails
// with it.
const EnvFail = "FUSIONIZE_WORK_FAIL"

// ErrInjected is the error of an I/O wait failed by EnvFail.
var ErrInjected = errors.New("work: injected failure")

// failShare is EnvFail's share, 0 when unset or invalid.
func failShare() float64 {
	if f, err := strconv.ParseFloat(os.Getenv(EnvFail), 64); err == nil && f > 0 {
		return min(f, 1)
	}
	return 0
}

// Scale returns the work scale factor from the environment (1 when unset or invalid).
func Scale() float64 {
	if f, err := strconv.ParseFloat(os.Getenv(EnvScale), 64); err == nil && f >= 0 {
		return f
	}
	return 1
}

// CPU computes for ms milliseconds of reference-core time on each of threads goroutines and
// returns a checksum of the work (so the compiler cannot drop it). It stops early when ctx is
// done.
func CPU(ctx context.Context, ms float64, threads int) uint64 {
	units := int(ms * Scale() * UnitsPerMS)
	if threads < 1 {
		threads = 1
	}
	var wg sync.WaitGroup
	sums := make([]uint64, threads)
	for i := range threads {
		wg.Go(func() {
			const chunk = 50_000
			x := uint64(i + 1)
			for done := 0; done < units; done += chunk {
				if ctx.Err() != nil {
					return
				}
				x = spin(min(chunk, units-done), x)
			}
			sums[i] = x
		})
	}
	wg.Wait()
	var sum uint64
	for _, s := range sums {
		sum ^= s
	}
	return sum
}

// spin does n units of integer mixing and returns a value depending on all of them.
func spin(n int, seed uint64) uint64 {
	x := seed | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// IO waits ms milliseconds (scaled), as a task waiting on a remote service would, or until ctx
// is done.
func IO(ctx context.Context, ms float64) error {
	if f := failShare(); f > 0 && rand.Float64() < f {
		return fmt.Errorf("%w (%s=%g)", ErrInjected, EnvFail, f)
	}
	t := time.NewTimer(time.Duration(ms * Scale() * float64(time.Millisecond)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
