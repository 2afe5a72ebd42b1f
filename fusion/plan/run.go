package plan

import (
	"fmt"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/constraint"
	"github.com/fusionize/fusionize/fusion/judge"
)

// Environment runs a setup live and returns what its requests leave behind; sim.App is one.
type Environment interface {
	Measure(s fusion.Setup, requests int, seed uint64) ([]fusion.TraceRecord, []fusion.Report)
}

// RunOptions configures Run.
type RunOptions struct {
	Graph           fusion.Graph
	MemorySizes     []int
	DefaultMemoryMB int
	Prices          fusion.Prices
	Policy          *constraint.Policy
	// Requests per canary and per measurement a planner does not size (300).
	Requests int
	// MaxSteps bounds the plans asked for (60).
	MaxSteps int
	Seed     uint64
	Judge    judge.Options
}

// RunResult is what an offline optimization loop did.
type RunResult struct {
	Final fusion.Setup `json:"final"`
	// Experiments counts the live runs: measurements and canaries, the start included.
	Experiments int     `json:"experiments"`
	Requests    int     `json:"requests"`
	Plans       int     `json:"plans"`
	Converged   bool    `json:"converged"`
	Trials      []Trial `json:"trials"`
}

// Run drives a planner's loop against env the way the optimizer workflow does, without
// Temporal: measure the all-remote start, then plan; run the requested measurements, or
// canary the best candidate (judge it against the current setup, promote it when the
// policy's acceptance rule says so), until the planner converges.
func Run(p Planner, env Environment, opts RunOptions) (RunResult, error) {
	if opts.Requests <= 0 {
		opts.Requests = 300
	}
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 60
	}
	if opts.DefaultMemoryMB == 0 {
		opts.DefaultMemoryMB = DefaultMemoryMB
	}
	if opts.Policy == nil {
		opts.Policy = constraint.MustCompile(constraint.Spec{})
	}
	opts.Prices = opts.Prices.WithDefaults()
	l := &loop{env: env, opts: opts, seed: opts.Seed,
		b: fusion.NewProfileBuilder(opts.Graph, fusion.ProfileOptions{Prices: opts.Prices})}
	l.current = fusion.AllRemote(opts.Graph, opts.DefaultMemoryMB)
	l.measureCurrent(Measurement)
	for range opts.MaxSteps {
		in := Input{Graph: opts.Graph, Current: l.current, Profile: l.b.Profile(), MemorySizes: opts.MemorySizes,
			DefaultMemoryMB: opts.DefaultMemoryMB, Prices: opts.Prices, Policy: opts.Policy, History: l.res.Trials, Seed: l.seed,
			WindowRequests: opts.Requests, // a canary runs opts.Requests of the candidate
			MaxSlowdown:    opts.Judge.MaxSlowdown}
		plan, err := p.Plan(in)
		l.res.Plans++
		if err != nil {
			return l.res, fmt.Errorf("plan step %d: %w", l.res.Plans, err)
		}
		if len(plan.Measurements) > 0 {
			l.measure(plan.Measurements)
			continue
		}
		if plan.Converged || len(plan.Candidates) == 0 {
			l.res.Converged = plan.Converged
			if plan.Final != nil {
				l.current = *plan.Final
			}
			break
		}
		if err := l.canary(plan.Candidates[0], plan.Current); err != nil {
			return l.res, err
		}
	}
	l.res.Final = l.current
	return l.res, nil
}

// loop is Run's state: the profile of everything that ran, the current setup with the
// samples of its requests so far (the judge's baseline), and the result.
type loop struct {
	env     Environment
	opts    RunOptions
	b       *fusion.ProfileBuilder
	seed    uint64
	current fusion.Setup
	// curSamples are the current setup's requests in every run of it since it became current.
	curSamples []fusion.RequestSample
	res        RunResult
}

// live runs one experiment and returns its own profile.
func (l *loop) live(s fusion.Setup, requests int) (fusion.Profile, constraint.Metrics) {
	l.seed++
	recs, reps := l.env.Measure(s, requests, l.seed)
	l.b.AddRecords(recs...)
	l.b.AddReports(reps...)
	one := fusion.NewProfileBuilder(l.opts.Graph, fusion.ProfileOptions{Prices: l.opts.Prices, MaxSamples: requests})
	one.AddRecords(recs...)
	one.AddReports(reps...)
	prof := one.Profile()
	obs, _ := Observe(prof, s)
	l.res.Experiments++
	l.res.Requests += requests
	return prof, obs
}

// measureCurrent runs the current setup (a trial of kind) and adds its requests to the baseline.
func (l *loop) measureCurrent(kind TrialKind) {
	prof, obs := l.live(l.current, l.opts.Requests)
	l.res.Trials = append(l.res.Trials, Trial{Setup: l.current, Kind: kind, Observed: obs})
	st, _ := prof.Setup(l.current.ID())
	l.curSamples = append(l.curSamples, st.Samples...)
}

// measure runs the planner's measurements.
func (l *loop) measure(ms []MeasurementRequest) {
	for _, m := range ms {
		n := m.Requests
		if n <= 0 {
			n = l.opts.Requests
		}
		prof, obs := l.live(m.Setup, n)
		l.res.Trials = append(l.res.Trials, Trial{Setup: m.Setup, Kind: Measurement, Observed: obs})
		if m.Setup.Equal(l.current) {
			st, _ := prof.Setup(l.current.ID())
			l.curSamples = append(l.curSamples, st.Samples...)
		}
	}
}

// maxBaselineRuns bounds the runs of the current setup made to give the judge its warm samples.
const maxBaselineRuns = 3

// canary runs cand and judges it against the current setup. The judge needs MinSamples warm
// requests of each arm; the workflow's canary observes both arms at once, but here the
// current setup ran before, alone, and a fresh deployment's cold starts may have left it
// short: it runs again (up to maxBaselineRuns times) until its requests have enough, or the
// canary would be inconclusive for want of a baseline whatever the candidate does.
func (l *loop) canary(cand Candidate, curPred *Prediction) error {
	minWarm := l.opts.Judge.MinSamples
	if minWarm <= 0 {
		minWarm = judge.DefaultMinSamples
	}
	for i := 0; i < maxBaselineRuns && warmCount(l.curSamples) < minWarm; i++ {
		l.measureCurrent(Baseline)
	}
	candProf, obs := l.live(cand.Setup, l.opts.Requests)
	trial, err := judgeCanary(l.opts, l.current, l.curSamples, cand, candProf, obs)
	if err != nil {
		return err
	}
	if curPred != nil {
		trial.BaselinePredicted = curPred.Metrics
	}
	l.res.Trials = append(l.res.Trials, trial)
	if trial.Promoted {
		st, _ := candProf.Setup(cand.Setup.ID())
		l.current, l.curSamples = cand.Setup, st.Samples
	}
	return nil
}

func warmCount(s []fusion.RequestSample) int {
	n := 0
	for _, x := range s {
		if !x.Cold && !x.Failed {
			n++
		}
	}
	return n
}

// judgeCanary judges candidate cand (its own profile candProf, observed obs) against the
// current setup (the samples of its requests) as the workflow does, and returns the
// canary's trial.
func judgeCanary(opts RunOptions, current fusion.Setup, curSamples []fusion.RequestSample, cand Candidate, candProf fusion.Profile, obs constraint.Metrics) (Trial, error) {
	cs, _ := candProf.Setup(cand.Setup.ID())
	obj := judge.PolicyObjective(opts.Policy, constraint.SetupOf(cand.Setup), constraint.SetupOf(current), opts.Graph.Tasks)
	v, err := judge.Decide(judge.Samples(curSamples), judge.Samples(cs.Samples), obj, opts.Judge)
	if err != nil {
		return Trial{}, fmt.Errorf("judge %s: %w", cand.Setup, err)
	}
	curObs := observeSamples(curSamples)
	accept, err := opts.Policy.Accept(&constraint.Vars{
		Candidate: constraint.Subject{Setup: constraint.SetupOf(cand.Setup), Predicted: cand.Predicted.Metrics, Observed: obs},
		Baseline:  constraint.Subject{Setup: constraint.SetupOf(current), Observed: curObs},
		Tasks:     opts.Graph.Tasks, Verdict: v.Vars(),
	})
	if err != nil {
		return Trial{}, fmt.Errorf("acceptance of %s: %w", cand.Setup, err)
	}
	return Trial{Setup: cand.Setup, Kind: Canary, Observed: obs, Predicted: cand.Predicted.Metrics, Promoted: accept, Verdict: string(v.Outcome),
		Baseline: current, BaselineObserved: curObs}, nil
}

// observeSamples is what requests of one setup showed, as Observe says it of a profile.
func observeSamples(s []fusion.RequestSample) constraint.Metrics {
	var lat, cost []float64
	cold := 0
	for _, x := range s {
		if x.Failed {
			continue
		}
		lat = append(lat, x.LatencyMS)
		if x.Cold {
			cold++
		}
		if x.CostUSD > 0 {
			cost = append(cost, x.CostUSD)
		}
	}
	if len(lat) == 0 {
		return constraint.Metrics{}
	}
	l := fusion.Summarize(lat, 0)
	return constraint.Metrics{MedianMS: l.Median, P95MS: l.P95, CostPerRequest: fusion.Summarize(cost, 0).Mean,
		ColdStartRate: float64(cold) / float64(len(lat)), Requests: int64(len(lat))}
}
