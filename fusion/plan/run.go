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
	prices := opts.Prices.WithDefaults()
	b := fusion.NewProfileBuilder(opts.Graph, fusion.ProfileOptions{Prices: prices})
	var res RunResult
	seed := opts.Seed
	// live runs one experiment and returns its own profile (for the judge).
	live := func(s fusion.Setup, requests int, kind TrialKind) (fusion.Profile, constraint.Metrics) {
		seed++
		recs, reps := env.Measure(s, requests, seed)
		b.AddRecords(recs...)
		b.AddReports(reps...)
		one := fusion.NewProfileBuilder(opts.Graph, fusion.ProfileOptions{Prices: prices, MaxSamples: requests})
		one.AddRecords(recs...)
		one.AddReports(reps...)
		prof := one.Profile()
		obs, _ := Observe(prof, s)
		res.Experiments++
		res.Requests += requests
		return prof, obs
	}
	current := fusion.AllRemote(opts.Graph, opts.DefaultMemoryMB)
	curProf, obs := live(current, opts.Requests, Measurement)
	res.Trials = append(res.Trials, Trial{Setup: current, Kind: Measurement, Observed: obs})
	for range opts.MaxSteps {
		in := Input{Graph: opts.Graph, Current: current, Profile: b.Profile(), MemorySizes: opts.MemorySizes,
			DefaultMemoryMB: opts.DefaultMemoryMB, Prices: prices, Policy: opts.Policy, History: res.Trials, Seed: seed}
		plan, err := p.Plan(in)
		res.Plans++
		if err != nil {
			return res, fmt.Errorf("plan step %d: %w", res.Plans, err)
		}
		if len(plan.Measurements) > 0 {
			for _, m := range plan.Measurements {
				n := m.Requests
				if n <= 0 {
					n = opts.Requests
				}
				prof, obs := live(m.Setup, n, Measurement)
				res.Trials = append(res.Trials, Trial{Setup: m.Setup, Kind: Measurement, Observed: obs})
				if m.Setup.Equal(current) {
					curProf = prof
				}
			}
			continue
		}
		if plan.Converged || len(plan.Candidates) == 0 {
			res.Converged = plan.Converged
			if plan.Final != nil {
				current = *plan.Final
			}
			break
		}
		cand := plan.Candidates[0]
		candProf, obs := live(cand.Setup, opts.Requests, Canary)
		trial, err := judgeCanary(opts, current, curProf, cand, candProf, obs)
		if err != nil {
			return res, err
		}
		res.Trials = append(res.Trials, trial)
		if trial.Promoted {
			current, curProf = cand.Setup, candProf
		}
	}
	res.Final = current
	return res, nil
}

// judgeCanary judges candidate cand (its own profile candProf, observed obs) against the
// current setup (curProf) as the workflow does, and returns the canary's trial.
func judgeCanary(opts RunOptions, current fusion.Setup, curProf fusion.Profile, cand Candidate, candProf fusion.Profile, obs constraint.Metrics) (Trial, error) {
	bs, _ := curProf.Setup(current.ID())
	cs, _ := candProf.Setup(cand.Setup.ID())
	obj := judge.PolicyObjective(opts.Policy, constraint.SetupOf(cand.Setup), constraint.SetupOf(current), opts.Graph.Tasks)
	v, err := judge.Decide(judge.Samples(bs.Samples), judge.Samples(cs.Samples), obj, opts.Judge)
	if err != nil {
		return Trial{}, fmt.Errorf("judge %s: %w", cand.Setup, err)
	}
	curObs, _ := Observe(curProf, current)
	accept, err := opts.Policy.Accept(&constraint.Vars{
		Candidate: constraint.Subject{Setup: constraint.SetupOf(cand.Setup), Predicted: cand.Predicted.Metrics, Observed: obs},
		Baseline:  constraint.Subject{Setup: constraint.SetupOf(current), Observed: curObs},
		Tasks:     opts.Graph.Tasks, Verdict: v.Vars(),
	})
	if err != nil {
		return Trial{}, fmt.Errorf("acceptance of %s: %w", cand.Setup, err)
	}
	return Trial{Setup: cand.Setup, Kind: Canary, Observed: obs, Predicted: cand.Predicted.Metrics, Promoted: accept, Verdict: string(v.Outcome)}, nil
}
