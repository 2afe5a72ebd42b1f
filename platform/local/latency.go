package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// A LatencyProfile adds, on a loopback platform, the time AWS Lambda's own machinery spends
// where the local platform spends almost none: the Invoke API's round trip (front end,
// placement, network), an asynchronous event's wait in Lambda's internal queue, and a cold
// start's sandbox creation. The functions' own time (init and handler) is the local one. The
// zero LatencyProfile adds nothing.
//
// The delays apply inside the platform's Invoke API, so every invocation gets them: from
// clients outside and from functions that call functions (the runtime's remote calls go through
// the same API at AWS_ENDPOINT_URL_LAMBDA). Durations in REPORT lines do not include them, as on
// Lambda, where neither the API's time nor sandbox creation is billed.
type LatencyProfile struct {
	// Name identifies the profile in start-up lines, Status, /metrics and results: "aws", or
	// "custom" for hand-made profiles. Empty means no profile.
	Name string
	// Invoke is added to every Invoke API call, half before the function runs and half after
	// for RequestResponse, all before the 202 for Event.
	Invoke Delay
	// EventQueue is an event's wait before Lambda's poller takes it from the function's queue.
	EventQueue Delay
	// ColdStart is added before a new instance's process starts (sandbox creation); the Init
	// Duration in REPORT still counts from the process start, as Lambda's counts from the
	// runtime's start.
	ColdStart Delay
	// Source cites the measurements the delays come from.
	Source string
}

// Delay is a log-normal distribution of durations: Median, and Sigma the standard deviation of
// the logarithm (0 gives Median every time; 0.35 puts the 99th percentile at 2.3 × Median).
type Delay struct {
	Median time.Duration
	Sigma  float64
}

// Draw returns one delay from the distribution, capped at 20 × Median.
func (d Delay) Draw() time.Duration {
	if d.Median <= 0 {
		return 0
	}
	f := math.Exp(d.Sigma * rand.NormFloat64())
	return time.Duration(float64(d.Median) * min(f, 20))
}

func (d Delay) String() string {
	if d.Median <= 0 {
		return "0"
	}
	return fmt.Sprintf("%v median (p99 %v)", d.Median, time.Duration(float64(d.Median)*math.Exp(2.326*d.Sigma)).Round(time.Millisecond))
}

// Latency profile names.
const (
	LatencyNone = "none"
	LatencyAWS  = "aws"
)

// LatencyProfileAWS is AWS Lambda's overhead as published measurements found it. The spreads
// (Sigma 0.35, a 99th percentile 2.3 times the median) are this package's assumption; the
// sources give medians.
//
//   - Invoke, 25 ms median: the median latency of warm invocations of AWS Lambda functions
//     measured by Wang et al., "Peeking Behind the Curtains of Serverless Platforms", USENIX ATC
//     2018 (measured in 2017, AWS us-east-1, from EC2 in the same region).
//   - ColdStart, 125 ms median: Firecracker, the VMM Lambda runs sandboxes in, starts a microVM
//     to its guest's init in about 125 ms (Agache et al., "Firecracker: Lightweight
//     Virtualization for Serverless Applications", NSDI 2020; measured 2019 on EC2 bare-metal
//     hosts, no region applies).
//   - EventQueue, 125 ms median: no published measurement of Lambda's internal Event queue alone
//     was found; the nearest is the ~125 ms per hop of a chain of Lambda functions that pass
//     events through an SQS queue Lambda polls (github.com/lukehoban/lambdaperf, 2018; region
//     not stated).
var LatencyProfileAWS = LatencyProfile{
	Name:       LatencyAWS,
	Invoke:     Delay{Median: 25 * time.Millisecond, Sigma: 0.35},
	EventQueue: Delay{Median: 125 * time.Millisecond, Sigma: 0.35},
	ColdStart:  Delay{Median: 125 * time.Millisecond, Sigma: 0.35},
	Source: "invoke 25 ms: Wang et al., USENIX ATC 2018 (AWS us-east-1, 2017); cold start 125 ms: " +
		"Firecracker, Agache et al., NSDI 2020 (2019); event queue 125 ms: lukehoban/lambdaperf (SQS hop, 2018)",
}

// ParseLatencyProfile returns the profile named name: "aws", or "none" (or "") for none.
func ParseLatencyProfile(name string) (LatencyProfile, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", LatencyNone:
		return LatencyProfile{}, nil
	case LatencyAWS:
		return LatencyProfileAWS, nil
	}
	return LatencyProfile{}, fmt.Errorf("latency profile %q: want %q or %q", name, LatencyNone, LatencyAWS)
}

// On reports whether the profile adds any delay.
func (lp LatencyProfile) On() bool {
	return lp.Invoke.Median > 0 || lp.EventQueue.Median > 0 || lp.ColdStart.Median > 0
}

// String is the profile's name, "none" when it adds nothing.
func (lp LatencyProfile) String() string {
	if !lp.On() {
		return LatencyNone
	}
	if lp.Name == "" {
		return "custom"
	}
	return lp.Name
}

// Describe says what the profile adds, for start-up lines.
func (lp LatencyProfile) Describe() string {
	if !lp.On() {
		return "latency profile none: no delay beyond this machine's own"
	}
	s := fmt.Sprintf("latency profile %s: invoke +%v, event queue +%v, cold start +%v", lp, lp.Invoke, lp.EventQueue, lp.ColdStart)
	if lp.Source != "" {
		s += " (" + lp.Source + ")"
	}
	return s
}

func (lp LatencyProfile) validate() error {
	for name, d := range map[string]Delay{"Invoke": lp.Invoke, "EventQueue": lp.EventQueue, "ColdStart": lp.ColdStart} {
		if d.Median < 0 || d.Sigma < 0 || d.Sigma > 3 {
			return fmt.Errorf("LatencyProfile.%s: median %v and sigma %v must not be negative, sigma at most 3", name, d.Median, d.Sigma)
		}
	}
	return nil
}

// pause waits d, or less when ctx ends or the platform closes; it reports whether it waited
// all of d.
func (p *Platform) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-p.closing:
		return false
	}
}

// InfoPath is where the platform describes itself (GET, JSON Info), so that tools measuring
// through its Lambda API can record what they measured on.
const InfoPath = "/fusionize/info"

// Info is the platform's description at InfoPath.
type Info struct {
	Platform         string `json:"platform"` // "local"
	LatencyProfile   string `json:"latencyProfile"`
	LatencySource    string `json:"latencySource,omitempty"`
	ConcurrencyLimit int    `json:"concurrencyLimit"`
	CgroupsEnforced  bool   `json:"cgroupsEnforced"`
	CPUSaturated     bool   `json:"cpuSaturated"`
}

func (p *Platform) info() Info {
	lp := p.opts.LatencyProfile
	in := Info{Platform: "local", LatencyProfile: lp.String(), ConcurrencyLimit: p.opts.ConcurrencyLimit,
		CgroupsEnforced: p.cgStatus.Enforced, CPUSaturated: p.cpu.saturated.Load()}
	if lp.On() {
		in.LatencySource = lp.Source
	}
	return in
}

func (p *Platform) serveInfo(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.info())
}

// FetchInfo asks the platform at endpoint (its base URL) for its Info. It fails for endpoints
// that are not a local platform, such as AWS.
func FetchInfo(ctx context.Context, endpoint string) (Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+InfoPath, nil)
	if err != nil {
		return Info{}, fmt.Errorf("platform info from %s: %w", endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Info{}, fmt.Errorf("platform info from %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Info{}, fmt.Errorf("platform info from %s: HTTP %d", endpoint, resp.StatusCode)
	}
	var in Info
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&in); err != nil {
		return Info{}, fmt.Errorf("platform info from %s: %w", endpoint, err)
	}
	return in, nil
}
