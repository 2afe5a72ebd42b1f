package plan

import (
	"slices"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

// coldProfile measures the tree app all remote and fully fused at 128 MB on the simulator,
// with instances that stay warm once started: the only cold starts are the instances each
// function needed.
func coldProfile(t *testing.T) (fusion.Profile, fusion.Setup, fusion.Setup) {
	t.Helper()
	app := apps.Tree()
	app.ColdStartRate = 1e-12 // no recycling: cold starts only where a function needs an instance
	remote := fusion.AllRemote(app.Graph, 128)
	fused := fusion.MustParseSetup("A+B+C+D+E+F+G@128")
	b := fusion.NewProfileBuilder(app.Graph, fusion.ProfileOptions{})
	for i, s := range []fusion.Setup{remote, fused} {
		recs, reps := app.Measure(s, 300, uint64(i+1))
		b.AddRecords(recs...)
		b.AddReports(reps...)
	}
	return b.Profile(), remote, fused
}

// A new function's cold starts are the instances it needs, spread over the window a
// prediction is for: a canary of 30 requests sees them in many more of its requests than one
// of 3,000. (An app-wide cold-start rate per invocation ignores the window.)
func TestColdStartsSpreadOverTheWindow(t *testing.T) {
	p, remote, _ := coldProfile(t)
	g := apps.TreeGraph()
	short, err := Simulate(p, g, remote, SimOptions{Seed: 1, WindowRequests: 30})
	if err != nil {
		t.Fatal(err)
	}
	long, err := Simulate(p, g, remote, SimOptions{Seed: 1, WindowRequests: 3000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cold requests: window 30 %.3f, window 3000 %.4f; cost %.3g against %.3g", short.ColdStartRate, long.ColdStartRate, short.CostPerRequest, long.CostPerRequest)
	if short.ColdStartRate < 10*long.ColdStartRate || short.ColdStartRate < 0.02 {
		t.Errorf("cold requests: window 30 %.4f, window 3000 %.4f; want the short window's about 100× the long one's", short.ColdStartRate, long.ColdStartRate)
	}
	if short.CostPerRequest <= long.CostPerRequest {
		t.Errorf("cost per request: window 30 %.4g, window 3000 %.4g; want the short window to pay more inits per request", short.CostPerRequest, long.CostPerRequest)
	}
	// Over the window it was observed in, the prediction holds what was observed.
	same, err := Simulate(p, g, remote, SimOptions{Seed: 1, WindowRequests: 300})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := p.Setup(remote.ID())
	obs := float64(st.ColdRequests) / float64(st.Requests)
	if same.ColdStartRate < obs/2 || same.ColdStartRate > 2*obs {
		t.Errorf("cold requests over the observed window: predicted %.4f, observed %.4f (%d of %d)", same.ColdStartRate, obs, st.ColdRequests, st.Requests)
	}
}

// Each function's init comes from its own cold starts: the simulator's init grows with the
// tasks a function holds, so the fused function's inits are longer than a one-task
// function's, and a function never observed takes those of its memory size.
func TestInitPerFunction(t *testing.T) {
	p, _, _ := coldProfile(t)
	c := learnCold(p, fallback(p.Init, 150))
	_, fusedInit := c.forGroup([]string{"A", "B", "C", "D", "E", "F", "G"}, 128)
	_, aInit := c.forGroup([]string{"A"}, 128)
	fm, am := fusion.Quantile(fusedInit, 0.5), fusion.Quantile(aInit, 0.5)
	t.Logf("init median: fused %.1f ms (%d), A alone %.1f ms (%d)", fm, len(fusedInit), am, len(aInit))
	if fm < 1.3*am {
		t.Errorf("init median of the fused function %.1f ms, of A alone %.1f ms: want the fused one's own, about 1.6× (the simulator's 1 + 0.1 per task)", fm, am)
	}
	if k, _ := c.forGroup([]string{"A", "B"}, 128); k != 0 {
		t.Errorf("instances of a function never observed: %v, want 0 (estimated from its busy time)", k)
	}
	if k, _ := c.forGroup([]string{"A", "B", "C", "D", "E", "F", "G"}, 128); k < 1 {
		t.Errorf("instances of the fused function: %v, want at least 1", k)
	}
}

// A remote call costs what its own edge's calls cost callers at that memory size: I's async
// calls to CT that dispatch 40 ms slower at 256 MB lengthen I's invocation (IoT's response)
// by about that while the call is remote from a caller at 256 MB; not once CT is inlined,
// and not from a caller at 1024 MB, where the calls were seen dispatching as fast as the rest.
func TestRemoteCostByEdge(t *testing.T) {
	app := apps.IoT()
	remote := fusion.AllRemote(app.Graph, 256)
	recs, reps := app.Measure(remote, 300, 3)
	big, bigReps := app.Measure(fusion.AllRemote(app.Graph, 1024), 300, 4)
	base := fusion.BuildProfile(app.Graph, append(slices.Clone(recs), big...), append(slices.Clone(reps), bigReps...))
	for i := range recs {
		for j, c := range recs[i].Calls {
			if c.Caller == "I" && c.Callee == "CT" && c.Remote {
				recs[i].Calls[j].Duration += 40000
				recs[i].Duration += 40000
			}
		}
	}
	slow := fusion.BuildProfile(app.Graph, append(recs, big...), append(reps, bigReps...))
	predict := func(p fusion.Profile, s fusion.Setup) float64 {
		pr, err := Simulate(p, app.Graph, s, SimOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return pr.MedianMS
	}
	if d := predict(slow, remote) - predict(base, remote); d < 30 || d > 50 {
		t.Errorf("all remote at 256 MB: I→CT dispatching 40 ms slower moves the predicted median by %.1f ms, want about 40", d)
	}
	inlined := fusion.MustParseSetup("AS@256,CA@256,CS@256,CSA@256,CSL@256,CW@256,DJ@256,I+CT@256,SE@256")
	if d := predict(slow, inlined) - predict(base, inlined); d > 10 {
		t.Errorf("CT inlined into I: the slow remote dispatch still moves the predicted median by %.1f ms", d)
	}
	at1024 := fusion.AllRemote(app.Graph, 1024)
	if d := predict(slow, at1024) - predict(base, at1024); d > 10 {
		t.Errorf("all remote at 1024 MB: the slow dispatch seen at 256 MB moves the predicted median by %.1f ms", d)
	}
}
