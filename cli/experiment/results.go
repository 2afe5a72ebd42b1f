package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/plan"
)

// Results are everything an experiment measured: the setting and one record per app × arm ×
// latency profile.
type Results struct {
	Meta    Meta     `json:"meta"`
	Records []Record `json:"records"`
}

// Meta states how the results were made.
type Meta struct {
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Machine   string    `json:"machine"`
	CPUs      int       `json:"cpus"`
	GoVersion string    `json:"goVersion"`
	Platform  string    `json:"platform"`
	WorkScale float64   `json:"workScale"`
	Reduced   bool      `json:"reduced"`
	Note      string    `json:"note,omitempty"`
	// LoadAverage* are the machine's 1-minute load averages when the run started and ended
	// (other work on the machine shares its cores with the functions measured).
	LoadAverageStart float64 `json:"loadAverageStart"`
	LoadAverageEnd   float64 `json:"loadAverageEnd,omitempty"`
}

// Metrics are a setup's latency and cost.
type Metrics struct {
	MedianMS       float64 `json:"medianMS"`
	P95MS          float64 `json:"p95MS"`
	CostPerRequest float64 `json:"costPerRequest"`
}

// SetupResult is one setup run live.
type SetupResult struct {
	Setup string `json:"setup"`
	ID    string `json:"id"`
	// Kind is "measurement" or "canary"; Promoted and Verdict are a canary's.
	Kind     string `json:"kind"`
	Promoted bool   `json:"promoted,omitempty"`
	Verdict  string `json:"verdict,omitempty"`
	// Sent is the requests sent; Requests those traced (server side); Metrics from the traces: latency is the entry
	// invocation's duration plus its init on a cold start, cost is every invocation's
	// billed cost plus the request fees.
	Sent     int `json:"sent"`
	Requests int `json:"requests"`
	Metrics
	// ColdShare is the share of requests with a cold start on their response path.
	ColdShare float64     `json:"coldShare"`
	Client    ClientStats `json:"client"`
	// OffsetS is when the measurement started, in seconds from the arm's start.
	OffsetS float64 `json:"offsetS"`
	// LatencyMS is the sorted latency sample, thinned to at most 200 values.
	LatencyMS []float64 `json:"latencyMS,omitempty"`
}

// Prediction is a planner's prediction for a setup it ran, against what was observed.
type Prediction struct {
	Setup     string  `json:"setup"`
	Kind      string  `json:"kind"`
	Predicted Metrics `json:"predicted"`
	Observed  Metrics `json:"observed"`
	// A canary's baseline: the current setup as the same plan predicted it, and as its
	// last run before the canary observed it (the judge's latest baseline samples).
	BaselinePredicted Metrics `json:"baselinePredicted,omitzero"`
	BaselineObserved  Metrics `json:"baselineObserved,omitzero"`
}

// Record is one arm of one app with one latency profile.
type Record struct {
	App              string    `json:"app"`
	Arm              string    `json:"arm"`
	Profile          string    `json:"profile"`
	Platform         string    `json:"platform"`
	Rate             float64   `json:"rate"`
	RequestsPerSetup int       `json:"requestsPerSetup"`
	DefaultMemoryMB  int       `json:"defaultMemoryMB"`
	WorkScale        float64   `json:"workScale"`
	Reduced          bool      `json:"reduced"`
	Started          time.Time `json:"started"`
	Finished         time.Time `json:"finished"`
	// LoadAverage is the machine's 1-minute load average when the arm ended.
	LoadAverage float64 `json:"loadAverage,omitempty"`
	// Setups are every setup reached, in order.
	Setups []SetupResult `json:"setups"`
	// Final is the arm's final setup and its metrics (its last measurement); for the
	// exhaustive check, the setup with the lowest median latency.
	Final SetupResult `json:"final"`
	// Deployed counts setups deployed, ExperimentRequests the requests sent to measure and
	// canary them, WallS the arm's wall time in seconds.
	Deployed           int          `json:"deployed"`
	ExperimentRequests int          `json:"experimentRequests"`
	WallS              float64      `json:"wallS"`
	Converged          bool         `json:"converged"`
	Predictions        []Prediction `json:"predictions,omitempty"`
}

// Record returns the record of app, arm and profile.
func (r Results) Record(app, arm, profile string) (Record, bool) {
	for _, rec := range r.Records {
		if rec.App == app && rec.Arm == arm && rec.Profile == profile {
			return rec, true
		}
	}
	return Record{}, false
}

// fill makes the record's figures from the arm's measurements and the planner's run.
func (rec *Record) fill(g fusion.Graph, ms []Measurement, run plan.RunResult, preds *predictions) {
	start := rec.Started
	if len(ms) > 0 {
		start = ms[0].Start
	}
	ids := map[string]bool{}
	for i, m := range ms {
		sr := setupResult(g, m, start)
		if i < len(run.Trials) {
			t := run.Trials[i]
			sr.Kind, sr.Promoted, sr.Verdict = string(t.Kind), t.Promoted, t.Verdict
		}
		rec.Setups = append(rec.Setups, sr)
		ids[m.SetupID] = true
		rec.ExperimentRequests += m.Requests
	}
	rec.Deployed = len(ids)
	rec.Converged = run.Converged
	if len(ms) > 0 {
		rec.WallS = ms[len(ms)-1].End.Sub(ms[0].Start).Seconds()
	}
	rec.Final = finalOf(rec.Setups, run.Final)
	if preds != nil {
		// What the planner asked pairs, in order, with the next run of the same setup (the
		// loop may run the current setup again between them, for the judge's baseline).
		base := lastCurrentRuns(rec.Setups)
		next := 1
		for _, p := range preds.list {
			for k := next; k < len(rec.Setups); k++ {
				if rec.Setups[k].Setup == p.Setup {
					p.Observed = rec.Setups[k].Metrics
					if p.Kind == string(plan.Canary) {
						p.BaselineObserved = base[k]
					}
					rec.Predictions = append(rec.Predictions, p)
					next = k + 1
					break
				}
			}
		}
	}
}

// lastCurrentRuns gives, for each run, what the last run of the setup current at its
// start observed (the first run's setup is current until a canary is promoted).
func lastCurrentRuns(rs []SetupResult) []Metrics {
	out := make([]Metrics, len(rs))
	if len(rs) == 0 {
		return out
	}
	cur, last := rs[0].ID, rs[0].Metrics
	for k, r := range rs {
		out[k] = last
		switch {
		case r.Kind == string(plan.Canary) && r.Promoted:
			cur, last = r.ID, r.Metrics
		case r.ID == cur:
			last = r.Metrics
		}
	}
	return out
}

// finalOf is the last result of the final setup, or, without one (the exhaustive check),
// the result with the lowest median latency.
func finalOf(rs []SetupResult, final fusion.Setup) SetupResult {
	if len(final.Groups) > 0 {
		for i := len(rs) - 1; i >= 0; i-- {
			if rs[i].ID == final.ID() {
				return rs[i]
			}
		}
	}
	var best SetupResult
	for _, r := range rs {
		if best.Setup == "" || r.MedianMS < best.MedianMS {
			best = r
		}
	}
	return best
}

// setupResult reads one measurement's figures from its traces.
func setupResult(g fusion.Graph, m Measurement, start time.Time) SetupResult {
	p := fusion.BuildProfile(g, m.Records, m.Reports)
	sr := SetupResult{Setup: m.Setup, ID: m.SetupID, Kind: string(plan.Measurement), Client: m.Client, Sent: m.Requests,
		OffsetS: m.Start.Sub(start).Seconds()}
	st, ok := p.Setup(m.SetupID)
	if !ok || st.Requests == 0 {
		return sr
	}
	sr.Requests = st.Requests
	sr.Metrics = Metrics{MedianMS: st.Latency.Median, P95MS: st.Latency.P95, CostPerRequest: finite(st.Cost.Mean)}
	sr.ColdShare = float64(st.ColdRequests) / float64(st.Requests)
	sr.LatencyMS = thin(st.Latency.Samples, 200)
	return sr
}

// thin keeps at most n evenly spaced order statistics of sorted xs.
func thin(xs []float64, n int) []float64 {
	if len(xs) <= n {
		return xs
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = xs[i*(len(xs)-1)/(n-1)]
	}
	return out
}

func loadResults(path string) (Results, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Results{}, nil
	}
	if err != nil {
		return Results{}, fmt.Errorf("read results %s: %w", path, err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return Results{}, fmt.Errorf("read results %s (remove it to start over): %w", path, err)
	}
	return r, nil
}

// write writes results.json, the Markdown tables and the plots.
func (e *runner) write() error {
	if err := mkdirOut(e.opts.Out); err != nil {
		return err
	}
	b, err := json.MarshalIndent(e.res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	path := filepath.Join(e.opts.Out, "results.json")
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(filepath.Join(e.opts.Out, "README.md"), []byte(Markdown(*e.res)), 0o644); err != nil {
		return fmt.Errorf("write the tables: %w", err)
	}
	return WritePlots(*e.res, e.opts.Out)
}

// newMeta states this run; the start of an earlier, interrupted run is kept.
func newMeta(o Options, old Meta) Meta {
	m := Meta{Command: o.Command, Started: time.Now().UTC(), Machine: machine(), CPUs: goruntime.NumCPU(),
		GoVersion: goruntime.Version(), WorkScale: o.WorkScale, Reduced: o.Reduced, LoadAverageStart: loadAverage()}
	if !old.Started.IsZero() {
		m.Started, m.LoadAverageStart = old.Started, old.LoadAverageStart
	}
	return m
}

// machine names the CPU and OS.
func machine() string {
	name := goruntime.GOOS + "/" + goruntime.GOARCH
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return name
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return fmt.Sprintf("%s, %s", strings.TrimSpace(v), name)
		}
	}
	return name
}

// loadAverage is the 1-minute load average (0 where unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
}
