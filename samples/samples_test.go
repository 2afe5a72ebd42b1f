package samples_test

import (
	"context"
	"slices"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime/runtimetest"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/work"
)

// allInline puts every task of the graph in the entry's group.
func allInline(g fusion.Graph) fusion.Setup {
	grp := fusion.Group{Root: g.Entry, MemoryMB: 1024}
	for _, t := range g.Tasks {
		if t != g.Entry {
			grp.Inlined = append(grp.Inlined, t)
		}
	}
	return fusion.Setup{Groups: []fusion.Group{grp}}.Canonical()
}

// TestSamplesInlineAndRemote runs each sample once with every call inline and once with every
// call remote through a real HTTP server speaking the Lambda Invoke API, and checks that the
// results agree and that the trace lines show exactly the declared call graph.
func TestSamplesInlineAndRemote(t *testing.T) {
	t.Setenv(work.EnvScale, "0.02")
	for _, name := range samples.Names() {
		t.Run(name, func(t *testing.T) {
			s, err := samples.ByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Graph.Validate(); err != nil {
				t.Fatal(err)
			}
			if got, want := slices.Sorted(slices.Values(s.App.Tasks())), slices.Sorted(slices.Values(s.Graph.Tasks)); !slices.Equal(got, want) {
				t.Fatalf("registered tasks %v, graph tasks %v", got, want)
			}
			results := map[string]string{}
			for _, setup := range []fusion.Setup{allInline(s.Graph), fusion.AllRemote(s.Graph, 256)} {
				if err := setup.Validate(s.Graph); err != nil {
					t.Fatal(err)
				}
				srv, err := runtimetest.NewServer(s.App, setup, s.Graph.Entry)
				if err != nil {
					t.Fatal(err)
				}
				out, err := srv.Invoke(context.Background(), s.Request)
				if err != nil {
					t.Fatalf("setup %s: %v", setup, err)
				}
				results[setup.String()] = string(out)
				recs, err := srv.Traces()
				srv.Close()
				if err != nil {
					t.Fatal(err)
				}
				checkTraces(t, s.Graph, setup, recs)
			}
			var outs []string
			for _, o := range results {
				outs = append(outs, o)
			}
			if len(outs) != 2 || outs[0] != outs[1] {
				t.Errorf("inline and remote results differ: %q", results)
			}
		})
	}
}

func checkTraces(t *testing.T, g fusion.Graph, setup fusion.Setup, recs []fusion.TraceRecord) {
	t.Helper()
	wantInvocations := len(setup.Groups)
	if len(setup.Groups) == 1 {
		wantInvocations = 1
	}
	observed := map[fusion.Edge]bool{}
	trace := ""
	for _, r := range recs {
		if trace == "" {
			trace = r.Trace
		}
		if r.Trace != trace {
			t.Errorf("setup %s: one request left traces %q and %q", setup, trace, r.Trace)
		}
		if r.Setup != setup.ID() || r.RequestID == "" || r.Error != "" {
			t.Errorf("setup %s: trace record %+v", setup, r)
		}
		for _, c := range r.Calls {
			observed[fusion.Edge{Caller: c.Caller, Callee: c.Callee, Mode: c.Mode}] = true
			if c.Remote == (len(setup.Groups) == 1) {
				t.Errorf("setup %s: call %s→%s remote=%v", setup, c.Caller, c.Callee, c.Remote)
			}
		}
	}
	for _, e := range g.Edges {
		if !observed[e] {
			t.Errorf("setup %s: declared call %s not observed", setup, e)
		}
		delete(observed, e)
	}
	for e := range observed {
		t.Errorf("setup %s: undeclared call %s observed", setup, e)
	}
	if len(setup.Groups) == 1 && len(recs) != wantInvocations {
		t.Errorf("setup %s: %d invocations, want 1", setup, len(recs))
	}
}
