package experiment

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Markdown renders the results as the tables of docs/results: the setting, per app and
// latency profile the arms' final setups side by side, the goals met or not, and every setup
// each arm ran with the model's predictions against observations.
func Markdown(r Results) string {
	var b strings.Builder
	m := r.Meta
	label := "full protocol"
	if m.Reduced {
		label = "REDUCED run (fewer requests per setup than the paper's protocol; see each table)"
	}
	fmt.Fprintf(&b, "# Fusionize against Fusionize++, live on the local platform\n\n")
	fmt.Fprintf(&b, "%s.\n\n", label)
	if m.Note != "" {
		fmt.Fprintf(&b, "**Note:** %s\n\n", m.Note)
	}
	end, loadEnd := "(not finished: interrupted, or still running)", "(not finished)"
	if !m.Finished.IsZero() {
		end, loadEnd = m.Finished.Format(time.RFC3339), fmt.Sprintf("%.1f", m.LoadAverageEnd)
	}
	fmt.Fprintf(&b, "- command: `%s`\n- date: %s to %s\n- machine: %s, %d CPUs, Go %s; 1-minute load average %.1f at start, %s at end\n- platform (of the last app opened; each section states its own): %s\n- work scale: %g\n\n",
		m.Command, m.Started.Format(time.RFC3339), end, m.Machine, m.CPUs, m.GoVersion,
		m.LoadAverageStart, loadEnd, m.Platform, m.WorkScale)
	b.WriteString("Latency is the entry invocation's duration (plus init on a cold start) from the traces; cost per request is every invocation's billed cost plus request fees (us-east-1 x86 prices); cold share is the share of requests with a cold start on their response path.\n\n")
	for _, ap := range appProfiles(r) {
		writeSection(&b, r, ap[0], ap[1])
	}
	return b.String()
}

// appProfiles lists the (app, profile) pairs in the order first seen.
func appProfiles(r Results) [][2]string {
	var out [][2]string
	for _, rec := range r.Records {
		if k := [2]string{rec.App, rec.Profile}; !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func writeSection(b *strings.Builder, r Results, app, profile string) {
	fmt.Fprintf(b, "## %s, latency profile %s\n\n", app, profile)
	if rec, ok := r.Record(app, AllRemote, profile); ok {
		fmt.Fprintf(b, "Platform: %s.\n\n", cmp.Or(rec.Platform, r.Meta.Platform))
	}
	b.WriteString("| arm | final setup | median ms | p95 ms | $ per 1M requests | cold | setups deployed | requests per setup (planner default) | experiment requests | wall time | converged | load average at its end |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, arm := range Arms {
		rec, ok := r.Record(app, arm, profile)
		if !ok {
			continue
		}
		f := rec.Final
		load := "not recorded"
		if rec.LoadAverage > 0 {
			load = fmt.Sprintf("%.0f", rec.LoadAverage)
		}
		fmt.Fprintf(b, "| %s | `%s` | %.1f | %.1f | %.2f | %.1f %% | %d | %d | %d | %s | %t | %s |\n", arm, f.Setup, f.MedianMS, f.P95MS,
			f.CostPerRequest*1e6, 100*f.ColdShare, rec.Deployed, rec.RequestsPerSetup, rec.ExperimentRequests,
			time.Duration(rec.WallS*float64(time.Second)).Round(time.Second), rec.Converged, load)
	}
	b.WriteString("\n")
	writeGoals(b, r, app, profile)
	fmt.Fprintf(b, "Plots: [latency and cost over the run](%[1]s-%[2]s-run.png), [latency CDFs](%[1]s-%[2]s-cdf.png), [predicted against observed](%[1]s-%[2]s-predicted.png).\n\n", app, profile)
	for _, arm := range Arms {
		if rec, ok := r.Record(app, arm, profile); ok && arm != AllRemote && arm != AllLocal {
			writeSetups(b, rec)
		}
	}
}

// writeGoals states the goals for this app and profile as met or not, with figures.
func writeGoals(b *strings.Builder, r Results, app, profile string) {
	base, okB := r.Record(app, AllRemote, profile)
	model, okM := r.Record(app, Model, profile)
	if !okB || !okM {
		return
	}
	pp, okP := r.Record(app, FusionizePP, profile)
	change := func(after, before float64) float64 { return 100 * (after/before - 1) }
	b.WriteString("| goal | figure | met |\n|---|---|---|\n")
	lat, cost := change(model.Final.MedianMS, base.Final.MedianMS), change(model.Final.CostPerRequest, base.Final.CostPerRequest)
	goal(b, "model: median ≥ 40 % lower than all remote", fmt.Sprintf("%+.1f %%", lat), lat <= -40)
	goal(b, "model: cost per request ≥ 40 % lower than all remote", fmt.Sprintf("%+.1f %%", cost), cost <= -40)
	if okP {
		goal(b, "model: median no worse than fusionizepp's final", fmt.Sprintf("%.1f ms against %.1f ms", model.Final.MedianMS, pp.Final.MedianMS), model.Final.MedianMS <= pp.Final.MedianMS)
		goal(b, "model: cost no worse than fusionizepp's final", fmt.Sprintf("%.2f against %.2f $ per 1M", 1e6*model.Final.CostPerRequest, 1e6*pp.Final.CostPerRequest), model.Final.CostPerRequest <= pp.Final.CostPerRequest)
		goal(b, "model: ≤ 1/3 of fusionizepp's experiment requests", fmt.Sprintf("%d against %d", model.ExperimentRequests, pp.ExperimentRequests), 3*model.ExperimentRequests <= pp.ExperimentRequests)
	}
	if bestLat, bestCost, ok := bestMeasured(r, app, profile); ok {
		dl, dc := change(model.Final.MedianMS, bestLat.MedianMS), change(model.Final.CostPerRequest, bestCost.CostPerRequest)
		goal(b, "model: median within 5 % of the best measured setup", fmt.Sprintf("%+.1f %% (best `%s`, %.1f ms)", dl, bestLat.Setup, bestLat.MedianMS), dl <= 5)
		goal(b, "model: cost within 5 % of the best measured setup", fmt.Sprintf("%+.1f %% (best `%s`, %.2f $ per 1M)", dc, bestCost.Setup, 1e6*bestCost.CostPerRequest), dc <= 5)
	}
	b.WriteString("\n")
}

func goal(b *strings.Builder, what, figure string, met bool) {
	verdict := "not met"
	if met {
		verdict = "met"
	}
	fmt.Fprintf(b, "| %s | %s | %s |\n", what, figure, verdict)
}

// bestMeasured returns the setups with the lowest median and the lowest cost measured by any
// arm, when the exhaustive check ran.
func bestMeasured(r Results, app, profile string) (lat, cost SetupResult, ok bool) {
	if _, ok := r.Record(app, Exhaustive, profile); !ok {
		return lat, cost, false
	}
	for _, rec := range r.Records {
		if rec.App != app || rec.Profile != profile {
			continue
		}
		for _, s := range rec.Setups {
			if s.Requests == 0 {
				continue
			}
			if lat.Setup == "" || s.MedianMS < lat.MedianMS {
				lat = s
			}
			if cost.Setup == "" || s.CostPerRequest < cost.CostPerRequest {
				cost = s
			}
		}
	}
	return lat, cost, lat.Setup != ""
}

func writeSetups(b *strings.Builder, rec Record) {
	fmt.Fprintf(b, "### %s: every setup, in order (at %g requests/s)\n\n", rec.Arm, rec.Rate)
	b.WriteString("| # | setup | kind | requests | median ms | p95 ms | $ per 1M | cold | client p50 ms | errors |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, s := range rec.Setups {
		kind := s.Kind
		if s.Verdict != "" {
			kind = fmt.Sprintf("%s (%s, promoted %t)", kind, s.Verdict, s.Promoted)
		}
		fmt.Fprintf(b, "| %d | `%s` | %s | %d | %.1f | %.1f | %.2f | %.1f %% | %.1f | %d |\n", i+1, s.Setup, kind, s.Sent, s.MedianMS, s.P95MS,
			1e6*s.CostPerRequest, 100*s.ColdShare, s.Client.P50MS, s.Client.Errors+s.Client.Skipped)
	}
	b.WriteString("\n")
	if len(rec.Predictions) == 0 {
		return
	}
	if rec.Arm == Model {
		b.WriteString("The model's predictions against what was observed (a measurement's prediction is plan.Simulate on the profile the plan was made from; a canary's is the plan's):\n\n")
	} else {
		b.WriteString("The heuristic predicts nothing; for comparison, plan.Simulate on the profile at each step against what was observed:\n\n")
	}
	b.WriteString("| setup | kind | median ms (pred / obs) | p95 ms (pred / obs) | $ per 1M (pred / obs) |\n|---|---|---:|---:|---:|\n")
	for _, p := range rec.Predictions {
		fmt.Fprintf(b, "| `%s` | %s | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f |\n", p.Setup, p.Kind, p.Predicted.MedianMS, p.Observed.MedianMS,
			p.Predicted.P95MS, p.Observed.P95MS, 1e6*p.Predicted.CostPerRequest, 1e6*p.Observed.CostPerRequest)
	}
	b.WriteString("\n")
}
