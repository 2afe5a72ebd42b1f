package fusion

import (
	"fmt"
	"math"
)

// Arch is a Lambda instruction set architecture; it decides the GB-second price.
type Arch string

// The architectures Lambda offers.
const (
	X86_64 Arch = "x86_64"
	ARM64  Arch = "arm64"
)

// Prices is the Lambda cost model: compute is billed per GB-second of billed duration (the
// handler's duration, plus the init duration on a cold start for custom runtimes, rounded up
// to the billing granularity) times the configured memory, plus a fee per request
// (invocation). A caller waiting on a remote sync call is billed for its wait while the
// callee is billed for its own run: the double billing that fusion removes. It needs no
// special case here, it follows from billing every invocation for its own duration, and the
// simulators reproduce it by doing exactly that.
type Prices struct {
	Arch Arch `json:"arch"`
	// GB-second prices in dollars per architecture.
	X86GBSecond   float64 `json:"x86GBSecond"`
	ARM64GBSecond float64 `json:"arm64GBSecond"`
	// PerRequest is the fee per invocation in dollars ($0.20 per million is 2e-7).
	PerRequest float64 `json:"perRequest"`
	// GranularityMS is the billing granularity; durations round up to a multiple of it.
	GranularityMS int `json:"granularityMS"`
}

// DefaultPrices returns the us-east-1 prices: x86_64 $0.0000166667 and arm64 $0.0000133334
// per GB-second, $0.20 per million requests, 1 ms billing granularity.
func DefaultPrices() Prices {
	return Prices{
		Arch:          X86_64,
		X86GBSecond:   0.0000166667,
		ARM64GBSecond: 0.0000133334,
		PerRequest:    0.20 / 1e6,
		GranularityMS: 1,
	}
}

// WithDefaults fills zero fields from DefaultPrices.
func (p Prices) WithDefaults() Prices {
	d := DefaultPrices()
	if p.Arch == "" {
		p.Arch = d.Arch
	}
	if p.X86GBSecond == 0 {
		p.X86GBSecond = d.X86GBSecond
	}
	if p.ARM64GBSecond == 0 {
		p.ARM64GBSecond = d.ARM64GBSecond
	}
	if p.PerRequest == 0 {
		p.PerRequest = d.PerRequest
	}
	if p.GranularityMS <= 0 {
		p.GranularityMS = d.GranularityMS
	}
	return p
}

// Validate checks the architecture and that prices are not negative.
func (p Prices) Validate() error {
	if p.Arch != X86_64 && p.Arch != ARM64 {
		return fmt.Errorf("prices: architecture %q is not %q or %q", p.Arch, X86_64, ARM64)
	}
	if p.X86GBSecond < 0 || p.ARM64GBSecond < 0 || p.PerRequest < 0 {
		return fmt.Errorf("prices: negative price in %+v", p)
	}
	return nil
}

// GBSecond returns the price of one GB-second on the configured architecture.
func (p Prices) GBSecond() float64 {
	if p.Arch == ARM64 {
		return p.ARM64GBSecond
	}
	return p.X86GBSecond
}

// BilledMS rounds a duration in milliseconds up to the billing granularity (at least one
// unit: Lambda bills every invocation for at least 1 ms).
func (p Prices) BilledMS(durationMS float64) int64 {
	g := int64(max(p.GranularityMS, 1))
	units := int64(math.Ceil(durationMS/float64(g) - 1e-9))
	return max(units, 1) * g
}

// Invocation returns the cost in dollars of one invocation billed for billedMS at memoryMB,
// fee included.
func (p Prices) Invocation(billedMS int64, memoryMB int) float64 {
	return float64(billedMS)/1000*float64(memoryMB)/1024*p.GBSecond() + p.PerRequest
}
