package experiment

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/plan"
)

// Deployer is what a live run needs of platform/lambda: deploy a setup, send every request to
// it, delete it after, and read what its functions logged.
type Deployer interface {
	Deploy(ctx context.Context, req activities.DeployRequest) (activities.Deployment, error)
	Promote(ctx context.Context, d activities.Deployment) error
	Retire(ctx context.Context, d activities.Deployment) error
	activities.TraceSource
}

// Measurement is one setup run live: what the load generator saw and what the functions
// logged. It is the unit the state directory keeps, so an interrupted run replays its
// measurements instead of repeating them.
type Measurement struct {
	Setup    string               `json:"setup"`
	SetupID  string               `json:"setupID"`
	Requests int                  `json:"requests"`
	Start    time.Time            `json:"start"`
	End      time.Time            `json:"end"`
	Client   ClientStats          `json:"client"`
	Records  []fusion.TraceRecord `json:"records"`
	Reports  []fusion.Report      `json:"reports"`
}

// ClientStats are the load generator's figures of one measurement (latency from each
// request's scheduled start, so queueing counts).
type ClientStats struct {
	OK      int     `json:"ok"`
	Errors  int     `json:"errors"`
	Skipped int     `json:"skipped"`
	P50MS   float64 `json:"p50MS"`
	P95MS   float64 `json:"p95MS"`
	// Errs holds up to 20 distinct error texts with their counts.
	Errs map[string]int `json:"errs,omitempty"`
}

// live is a plan.Environment on a running platform: every Measure deploys the setup through
// Deployer, points the live alias at it, sends requests at the arrival rate through the load
// generator, and reads the traces back. Measurements already in dir are replayed in order
// instead (they must match what is asked, else the state is from another configuration).
// plan.Environment cannot fail, so the first error is kept in err and every later Measure
// returns nothing at once; the caller checks err after the run.
type live struct {
	ctx     context.Context
	app     string
	entry   string
	dep     Deployer
	target  loadgen.Target
	rate    float64
	dir     string // one file per measurement: 000.json.gz, 001.json.gz, ...
	settle  time.Duration
	onMeas  func(m Measurement, replayed bool)
	n       int
	err     error
	current *activities.Deployment

	measurements []Measurement
}

var _ plan.Environment = (*live)(nil)

// Measure implements plan.Environment.
func (l *live) Measure(s fusion.Setup, requests int, _ uint64) ([]fusion.TraceRecord, []fusion.Report) {
	if l.err != nil {
		return nil, nil
	}
	m, replayed, err := l.measure(s, requests)
	if err != nil {
		l.err = fmt.Errorf("measure %s of %s (%d requests): %w", s, l.app, requests, err)
		return nil, nil
	}
	l.n++
	l.measurements = append(l.measurements, m)
	if l.onMeas != nil {
		l.onMeas(m, replayed)
	}
	return m.Records, m.Reports
}

func (l *live) measure(s fusion.Setup, requests int) (Measurement, bool, error) {
	path := filepath.Join(l.dir, fmt.Sprintf("%03d.json.gz", l.n))
	if m, err := readMeasurement(path); err == nil {
		if m.SetupID != s.ID() || m.Requests != requests {
			return Measurement{}, false, fmt.Errorf("state %s holds %s with %d requests, the run asks for %s with %d: it is from another configuration (remove it, or use another --out)", path, m.Setup, m.Requests, s, requests)
		}
		return m, true, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return Measurement{}, false, err
	}
	m, err := l.run(s, requests)
	if err != nil {
		return Measurement{}, false, err
	}
	if err := writeMeasurement(path, m); err != nil {
		return Measurement{}, false, err
	}
	return m, false, nil
}

// run measures s live.
func (l *live) run(s fusion.Setup, requests int) (Measurement, error) {
	d, err := l.dep.Deploy(l.ctx, activities.DeployRequest{App: l.app, Setup: s, Entry: l.entry})
	if err != nil {
		return Measurement{}, fmt.Errorf("deploy: %w", err)
	}
	if err := l.dep.Promote(l.ctx, d); err != nil {
		return Measurement{}, fmt.Errorf("route every request to it: %w", err)
	}
	if l.current != nil && l.current.Setup.ID() != d.Setup.ID() {
		if err := l.dep.Retire(l.ctx, *l.current); err != nil {
			return Measurement{}, fmt.Errorf("retire the setup measured before (%s): %w", l.current.Setup, err)
		}
	}
	l.current = &d
	m := Measurement{Setup: s.String(), SetupID: s.ID(), Requests: requests, Start: time.Now()}
	res, err := loadgen.Run(l.ctx, l.target, loadgen.Options{Rate: l.rate, Requests: requests, MaxInFlight: 256})
	if err != nil {
		return Measurement{}, fmt.Errorf("load: %w", err)
	}
	if err := l.ctx.Err(); err != nil {
		return Measurement{}, err
	}
	if res.OK == 0 {
		// A setup that serves some requests is measured as it is (its errors are part of
		// the result); one that serves none says the experiment itself is broken.
		return Measurement{}, fmt.Errorf("none of %d requests succeeded (%s)", requests, commonest(res.ErrorCounts))
	}
	m.Client = ClientStats{OK: res.OK, Errors: res.Errors, Skipped: res.Skipped, Errs: res.ErrorCounts,
		P50MS: ms(res.Percentile(50)), P95MS: ms(res.Percentile(95))}
	tr, err := l.traces(d, m.Start, res.OK)
	if err != nil {
		return Measurement{}, err
	}
	m.End, m.Records, m.Reports = time.Now(), tr.Records, tr.Reports
	return m, nil
}

// traces polls the setup's logs until every successful request left a complete trace with
// its cost known, or l.settle passes (async work may still be running when the last
// response returns).
func (l *live) traces(d activities.Deployment, start time.Time, ok int) (activities.Traces, error) {
	deadline := time.Now().Add(l.settle)
	for {
		tr, err := l.dep.Traces(l.ctx, activities.TraceQuery{App: l.app, Deployments: []activities.Deployment{d}, Start: start, End: time.Now()})
		if err != nil {
			return activities.Traces{}, fmt.Errorf("read traces of %s: %w", d.Setup, err)
		}
		p := fusion.BuildProfile(fusion.Graph{}, tr.Records, tr.Reports)
		st, _ := p.Setup(d.Setup.ID())
		if (st.Requests >= ok && st.Cost.Count >= ok) || time.Now().After(deadline) {
			return tr, nil
		}
		select {
		case <-l.ctx.Done():
			return activities.Traces{}, l.ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// commonest returns the most frequent error text with its count.
func commonest(counts map[string]int) string {
	best, n := "no error", 0
	for msg, c := range counts {
		if c > n || (c == n && msg < best) {
			best, n = msg, c
		}
	}
	return fmt.Sprintf("%d× %s", n, best)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func readMeasurement(path string) (Measurement, error) {
	f, err := os.Open(path)
	if err != nil {
		return Measurement{}, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return Measurement{}, fmt.Errorf("read state %s: %w", path, err)
	}
	var m Measurement
	if err := json.NewDecoder(z).Decode(&m); err != nil {
		return Measurement{}, fmt.Errorf("read state %s: %w", path, err)
	}
	return m, nil
}

// writeMeasurement writes m to path atomically (a file that exists is complete).
func writeMeasurement(path string, m Measurement) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	z := gzip.NewWriter(f)
	err = json.NewEncoder(z).Encode(m)
	err = errors.Join(err, z.Close(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}
