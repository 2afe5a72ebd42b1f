// Package experiment runs the paper's experiments live, side by side, on the local platform:
// for each app and latency profile it measures all remote, all local (every task in one
// function), the paper's heuristic (plan.FusionizePP, faithful to its authors' code) to its
// end and Fusionize's model planner (plan.Model) to its end, and, for Tree, every fusion
// choice at one memory size to show how far each planner's final setup is from the best
// measured one. It writes what it saw to a results directory: results.json (one record per
// app × arm × profile), Markdown tables (README.md) and PNG plots.
//
// What is measured is what users get: every setup is deployed through platform/lambda (the
// aws-sdk-go-v2 adapter the worker uses) onto platform/local, driven by cli/loadgen at a
// constant arrival rate through the Lambda Invoke API, and observed through the same trace
// source (CloudWatch Logs' FilterLogEvents) and profile builder as the optimizer's cycle.
// The planners' loops run through plan.Run, the same planner code the Temporal cycle calls,
// with a live Environment instead of the simulator. The Temporal cycle is not in the loop:
// it adds canary traffic splitting and waiting windows that the paper's protocol (every
// setup measured alone at a fixed rate) does not have, and it would make the baseline's
// protocol differ from the paper's.
//
// Runs are resumable: every measurement is stored (gzip JSON, under the state directory)
// as soon as it is taken, and a second run replays the stored measurements in order (the
// planners are deterministic given what they observed) before measuring anything new; arms
// already complete are read from results.json.
package experiment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/plan"
	"github.com/fusionize/fusionize/samples"
)

// The arms of an experiment.
const (
	AllRemote   = "all-remote"
	AllLocal    = "all-local"
	FusionizePP = "fusionizepp"
	Model       = "model"
	// Exhaustive measures every fusion choice at ExhaustiveMemoryMB (Tree only).
	Exhaustive = "exhaustive"
)

// Arms lists every arm in the order they run.
var Arms = []string{AllRemote, AllLocal, FusionizePP, Model, Exhaustive}

// Latency profiles of the local platform.
const (
	ProfileNone = "none"
	ProfileAWS  = "aws"
)

// Options configure an experiment. Apps, Profiles and Lab are required.
type Options struct {
	Apps     []string // samples: iot, tree, webshop
	Arms     []string // default Arms (Exhaustive runs for tree only)
	Profiles []string // ProfileNone, ProfileAWS
	// Rate is the constant arrival rate by app in requests per second; default 10, the web
	// shop 3 (the paper's).
	Rate map[string]float64
	// Requests per setup of all remote, all local and fusionizepp (1,000: the paper's 100 s
	// at 10 requests/s); ModelRequests per measurement and canary of the model (300);
	// ExhaustiveRequests per setup of the exhaustive check (200).
	Requests, ModelRequests, ExhaustiveRequests int
	// ExhaustiveMemoryMB is the memory of every function in the exhaustive check (1024).
	ExhaustiveMemoryMB int
	// DefaultMemoryMB is the memory of all remote, all local and every planner's start (128).
	DefaultMemoryMB int
	// WorkScale scales the samples' task work (samples/work); recorded with the results.
	WorkScale float64
	// Out is the results directory; State holds the measurements (default Out/.state).
	Out, State string
	// Reduced labels the results as a reduced run (fewer requests than the paper's).
	Reduced bool
	// Command is the exact command line, recorded with the results.
	Command string
	// Note is printed under the tables' heading (what a reader must know about this run).
	Note string
	// WarmUp is how long, at the app's arrival rate, a platform that has just started gets
	// load that nothing records before its first arm (default 20 s; negative for none).
	WarmUp time.Duration
	// RenderOnly rewrites the tables and plots from results.json and measures nothing.
	RenderOnly bool
	Lab        Lab
	// Progress receives one line per measurement with the time left; nil for none.
	Progress io.Writer
}

// Lab opens a live platform with one latency profile for one app.
type Lab interface {
	Open(ctx context.Context, app, profile, dataDir string) (Site, error)
}

// Site is an app's place on a running platform.
type Site struct {
	Deployer Deployer
	// Target invokes the app's entry through its live alias with the sample's request.
	Target loadgen.Target
	Entry  string
	// Platform describes the platform as the results state it (e.g. whether memory sizes
	// are enforced through cgroups).
	Platform string
	Close    func() error
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if len(o.Apps) == 0 || len(o.Profiles) == 0 || o.Lab == nil || o.Out == "" {
		errs = append(errs, errors.New("experiment: apps, profiles, a lab and a results directory are required"))
	}
	for _, p := range o.Profiles {
		if p != ProfileNone && p != ProfileAWS {
			errs = append(errs, fmt.Errorf("latency profile %q: want %s or %s", p, ProfileNone, ProfileAWS))
		}
	}
	if len(o.Arms) == 0 {
		o.Arms = Arms
	}
	for _, a := range o.Arms {
		if !slices.Contains(Arms, a) {
			errs = append(errs, fmt.Errorf("arm %q: want one of %v", a, Arms))
		}
	}
	if o.Requests < 0 || o.ModelRequests < 0 || o.ExhaustiveRequests < 0 || o.WorkScale < 0 {
		errs = append(errs, errors.New("requests and work scale must not be negative"))
	}
	o.Requests = cmp.Or(o.Requests, 1000)
	o.ModelRequests = cmp.Or(o.ModelRequests, 300)
	o.ExhaustiveRequests = cmp.Or(o.ExhaustiveRequests, 200)
	o.ExhaustiveMemoryMB = cmp.Or(o.ExhaustiveMemoryMB, 1024)
	o.DefaultMemoryMB = cmp.Or(o.DefaultMemoryMB, plan.DefaultMemoryMB)
	o.WarmUp = cmp.Or(o.WarmUp, 20*time.Second)
	if o.State == "" {
		// A dot directory: the go tool skips it, so ./... does not walk into the
		// platform's files when the results are inside a module.
		o.State = filepath.Join(o.Out, ".state")
	}
	// The platform runs function code from under State: make it absolute.
	for _, d := range []*string{&o.Out, &o.State} {
		if abs, err := filepath.Abs(*d); err == nil {
			*d = abs
		}
	}
	return o, errors.Join(errs...)
}

// rate is the app's arrival rate.
func (o Options) rate(app string) float64 {
	if r, ok := o.Rate[app]; ok && r > 0 {
		return r
	}
	if app == "webshop" {
		return 3
	}
	return 10
}

// memorySizes are the sizes both planners choose from: the paper's list for the app.
func memorySizes(app string) []int {
	if s, ok := plan.PaperMemorySizes[app]; ok {
		return s
	}
	return plan.DefaultMemorySizes
}

// Run runs every arm of every app and profile not yet in the results, writing the results
// after each arm. It returns the results so far with the first error.
func Run(ctx context.Context, opts Options) (Results, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Results{}, err
	}
	res, err := loadResults(filepath.Join(opts.Out, "results.json"))
	if err != nil {
		return Results{}, err
	}
	if opts.Note != "" {
		res.Meta.Note = opts.Note
	}
	if opts.RenderOnly {
		e := &runner{opts: opts, res: &res}
		return res, e.write()
	}
	res.Meta = newMeta(opts, res.Meta)
	res.Meta.Note = cmp.Or(opts.Note, res.Meta.Note)
	e := &runner{opts: opts, res: &res, progress: newProgress(opts), todo: map[[2]string][]string{}}
	graphs := map[string]fusion.Graph{}
	for _, app := range opts.Apps {
		s, err := samples.ByName(app)
		if err != nil {
			return res, err
		}
		graphs[app] = s.Graph
		for _, profile := range opts.Profiles {
			e.todo[[2]string{app, profile}] = e.arms(app, profile)
			e.progress.expect(app, profile, e.todo[[2]string{app, profile}], s.Graph, opts)
		}
	}
	for _, app := range opts.Apps {
		for _, profile := range opts.Profiles {
			if err := e.appProfile(ctx, app, profile, graphs[app]); err != nil {
				return res, err
			}
		}
	}
	res.Meta.Finished = time.Now().UTC()
	res.Meta.LoadAverageEnd = loadAverage()
	return res, e.write()
}

// runner runs the arms of an experiment.
type runner struct {
	opts     Options
	res      *Results
	progress *progress
	todo     map[[2]string][]string
	warm     *activities.Deployment // the warm-up's, live until the next arm's first setup is
}

// arms lists the arms of app with profile not in the results yet.
func (e *runner) arms(app, profile string) []string {
	var todo []string
	for _, arm := range e.opts.Arms {
		if arm == Exhaustive && app != "tree" {
			continue
		}
		if _, ok := e.res.Record(app, arm, profile); !ok {
			todo = append(todo, arm)
		}
	}
	return todo
}

// appProfile runs the arms of one app with one profile.
func (e *runner) appProfile(ctx context.Context, app, profile string, g fusion.Graph) error {
	todo := e.todo[[2]string{app, profile}]
	if len(todo) == 0 {
		return nil
	}
	site, err := e.opts.Lab.Open(ctx, app, profile, filepath.Join(e.opts.State, "platform-"+profile))
	if err != nil {
		return fmt.Errorf("open the platform for %s with latency profile %s: %w", app, profile, err)
	}
	defer site.Close()
	e.res.Meta.Platform = site.Platform
	if err := e.warmUp(ctx, site, g, app, profile); err != nil {
		return fmt.Errorf("%s, latency profile %s: warm up the platform: %w", app, profile, err)
	}
	for _, arm := range todo {
		rec, err := e.arm(ctx, site, g, app, arm, profile)
		if err != nil {
			return fmt.Errorf("%s, %s, latency profile %s: %w", app, arm, profile, err)
		}
		e.progress.armDone(app, profile, arm)
		e.res.Records = append(e.res.Records, rec)
		if err := e.write(); err != nil {
			return err
		}
	}
	return nil
}

// warmUpMemoryMB is the memory of the setup that warms a platform up: all remote at a size
// that is no arm's start, so that the first arm does not find its instances warm.
const warmUpMemoryMB = 256

// warmUp sends Options.WarmUp of load to the app all remote at warmUpMemoryMB on a platform
// that has just started, and records nothing of it. The first arm would otherwise also
// measure the start of the platform and of this process (page cache, first instances of
// the bundle, the load generator's first connections): IoT all remote measured 10.5 ms as
// the first arm of a run and 6 to 7 ms later in the same run.
func (e *runner) warmUp(ctx context.Context, site Site, g fusion.Graph, app, profile string) error {
	env := &live{ctx: ctx, app: app, entry: site.Entry, dep: site.Deployer, target: site.Target, rate: e.opts.rate(app), settle: 5 * time.Second}
	s := fusion.AllRemote(g, warmUpMemoryMB)
	if e.opts.WarmUp < 0 {
		return nil
	}
	n := max(1, int(e.opts.WarmUp.Seconds()*env.rate))
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "[%s] %s/%s warming the platform up: %d requests to %s, not recorded\n",
			time.Since(e.progress.start).Round(time.Second), app, profile, n, s)
	}
	if _, err := env.run(s, n); err != nil {
		return err
	}
	e.warm = env.current // the first arm retires it once its own setup is live
	return nil
}

// arm runs one arm and makes its record.
func (e *runner) arm(ctx context.Context, site Site, g fusion.Graph, app, arm, profile string) (Record, error) {
	o := e.opts
	env := &live{ctx: ctx, app: app, entry: site.Entry, dep: site.Deployer, target: site.Target, rate: o.rate(app),
		dir: filepath.Join(o.State, fmt.Sprintf("%s-%s-%s", app, profile, arm)), settle: 30 * time.Second}
	env.onMeas = func(m Measurement, replayed bool) { e.progress.measured(app, profile, arm, m, replayed) }
	env.current, e.warm = e.warm, nil
	rec := Record{App: app, Arm: arm, Profile: profile, Platform: site.Platform, Rate: env.rate, WorkScale: o.WorkScale, Reduced: o.Reduced,
		DefaultMemoryMB: o.DefaultMemoryMB, Started: time.Now().UTC()}
	var (
		run   plan.RunResult
		preds *predictions
		err   error
	)
	switch arm {
	case AllRemote, AllLocal:
		rec.RequestsPerSetup = o.Requests
		s := fusion.AllRemote(g, o.DefaultMemoryMB)
		if arm == AllLocal {
			s = allLocal(g, o.DefaultMemoryMB)
		}
		env.Measure(s, o.Requests, 0)
		run = plan.RunResult{Final: s, Converged: true}
	case FusionizePP, Model:
		var p plan.Planner = plan.FusionizePP{Requests: o.Requests, MemorySizes: memorySizes(app)}
		rec.RequestsPerSetup = o.Requests
		if arm == Model {
			// Its measurements are as long as its canaries, so that a reduced run scales
			// both alike (the model's own default is 300, the full protocol's).
			p, rec.RequestsPerSetup = plan.NewModel(plan.ModelOptions{MeasurementRequests: o.ModelRequests}), o.ModelRequests
		}
		preds = &predictions{p: p}
		run, err = plan.Run(preds, env, plan.RunOptions{Graph: g, MemorySizes: memorySizes(app),
			DefaultMemoryMB: o.DefaultMemoryMB, Requests: rec.RequestsPerSetup, Seed: 1})
	case Exhaustive:
		rec.RequestsPerSetup = o.ExhaustiveRequests
		for _, s := range fusionChoices(g, o.ExhaustiveMemoryMB) {
			env.Measure(s, o.ExhaustiveRequests, 0)
		}
		run = plan.RunResult{Converged: true}
	}
	if err = errors.Join(err, env.err); err != nil {
		return Record{}, err
	}
	rec.Finished, rec.LoadAverage = time.Now().UTC(), loadAverage()
	rec.fill(g, env.measurements, run, preds)
	return rec, nil
}

// allLocal is every task in the entry's function.
func allLocal(g fusion.Graph, memoryMB int) fusion.Setup {
	gr := fusion.Group{Root: g.Entry, MemoryMB: memoryMB}
	for _, t := range g.Tasks {
		if t != g.Entry {
			gr.Inlined = append(gr.Inlined, t)
		}
	}
	return fusion.Setup{Groups: []fusion.Group{gr}}.Canonical()
}

// fusionChoices lists the distinct setups of every choice of local or remote per edge, all
// functions at memoryMB: a local edge runs its callee in every function that runs its
// caller; a remote edge's callee roots a function of its own.
func fusionChoices(g fusion.Graph, memoryMB int) []fusion.Setup {
	var out []fusion.Setup
	seen := map[string]bool{}
	for mask := range 1 << len(g.Edges) {
		local := func(e fusion.Edge) bool {
			return mask&(1<<slices.Index(g.Edges, e)) != 0
		}
		var s fusion.Setup
		roots := []string{g.Entry}
		for i := 0; i < len(roots); i++ {
			gr := fusion.Group{Root: roots[i], MemoryMB: memoryMB}
			for next := []string{roots[i]}; len(next) > 0; {
				t := next[0]
				next = next[1:]
				for _, e := range g.Callees(t) {
					switch {
					case local(e) && !gr.Has(e.Callee):
						gr.Inlined = append(gr.Inlined, e.Callee)
						next = append(next, e.Callee)
					case !local(e) && !slices.Contains(roots, e.Callee):
						roots = append(roots, e.Callee)
					}
				}
			}
			s.Groups = append(s.Groups, gr)
		}
		if s = s.Canonical(); !seen[s.ID()] {
			seen[s.ID()] = true
			out = append(out, s)
		}
	}
	return out
}

// predictions wraps a planner to keep, for every setup it asks to run, what it predicted
// before the run: a canary's prediction as the plan gives it, a measurement's by simulating
// the setup from the profile the plan was made from.
type predictions struct {
	p    plan.Planner
	list []Prediction
}

// Plan implements plan.Planner.
func (r *predictions) Plan(in plan.Input) (plan.Plan, error) {
	out, err := r.p.Plan(in)
	if err != nil {
		return out, err
	}
	for _, m := range out.Measurements {
		pr := Prediction{Setup: m.Setup.String(), Kind: string(plan.Measurement)}
		if p, err := plan.Simulate(in.Profile, in.Graph, m.Setup, plan.SimOptions{Seed: in.Seed, Prices: in.Prices, WindowRequests: in.WindowRequests}); err == nil {
			pr.Predicted = fromPrediction(p)
		}
		r.list = append(r.list, pr)
	}
	if len(out.Measurements) == 0 && !out.Converged && len(out.Candidates) > 0 {
		c := out.Candidates[0]
		pr := Prediction{Setup: c.Setup.String(), Kind: string(plan.Canary), Predicted: fromPrediction(c.Predicted)}
		if out.Current != nil {
			pr.BaselinePredicted = fromPrediction(*out.Current)
		}
		r.list = append(r.list, pr)
	}
	return out, nil
}

func fromPrediction(p plan.Prediction) Metrics {
	return Metrics{MedianMS: p.MedianMS, P95MS: p.P95MS, CostPerRequest: p.CostPerRequest}
}

// finite turns NaN and infinities into 0 so that results encode as JSON.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// mkdirOut makes the results directory.
func mkdirOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make results directory %s: %w", dir, err)
	}
	return nil
}
