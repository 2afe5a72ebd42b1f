package local

import "sync/atomic"

// byteBudget bounds the bytes the platform holds for one purpose across all functions: the
// payloads of asynchronous events from the moment Invoke accepts them until they ran for the
// last time (queued, running, or waiting for a retry). Invoke answers TooManyRequestsException
// while the budget is spent, so a flood of events costs at most the budget in memory.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

func newByteBudget(limit int64) *byteBudget { return &byteBudget{limit: limit} }

// take reserves n bytes, or reports false when they would exceed the limit.
func (b *byteBudget) take(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (b *byteBudget) give(n int64) { b.used.Add(-n) }

// inUse is the number of bytes taken.
func (b *byteBudget) inUse() int64 { return b.used.Load() }

// eventOverheadBytes is what an asynchronous event costs beyond its payload and client context:
// its IDs, ARN and trace header, and the invocation built for each attempt.
const eventOverheadBytes = 1024

// eventSize is what an event counts against the asynchronous budget.
func eventSize(payload []byte, clientCtx string) int64 {
	return int64(len(payload)+len(clientCtx)) + eventOverheadBytes
}

// dropQueueLocked forgets a function's queued events and returns their bytes to the budget.
// Call with p.mu held.
func (p *Platform) dropQueueLocked(rt *fnRuntime) {
	for _, ev := range rt.queue {
		p.asyncBytes.give(ev.size)
	}
	rt.queue = nil
}
