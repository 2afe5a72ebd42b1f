package synthetic

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion/fusiontest"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/runtime/runtimetest"
	"github.com/fusionize/fusionize/samples/work"
)

func TestParseErrorsGolden(t *testing.T) {
	for _, name := range []string{"bad", "cycle"} {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(name+".yaml", text)
			if err == nil {
				t.Fatal("no error")
			}
			fusiontest.Golden(t, filepath.Join("testdata", name+".errors"), err.Error()+"\n")
		})
	}
}

// TestParseRejectsSyntax: a syntax error is placed on its own line, not one early as
// yaml.v3's parser numbers it (a Parse passing yaml.v3's line through says x.yaml:2).
func TestParseRejectsSyntax(t *testing.T) {
	_, err := Parse("x.yaml", []byte("app: a\nentry: A\ntasks:\n  A: {}\n - B: {}\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "x.yaml:5:2: did not find expected key") {
		t.Fatalf("got %v", err)
	}
}

func TestSyntheticRunsInlineAndRemote(t *testing.T) {
	t.Setenv(work.EnvScale, "0.1")
	text, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The spec travels compressed in the environment, as a deployer passes it.
	spec, err := FromEnv(func(k string) string {
		if k == EnvSpec {
			return runtime.CompactEnv(strings.Repeat("# padding to force compression\n", 60) + string(text))
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	s := spec.Sample()
	if err := s.Graph.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, setup := range []fusion.Setup{fusion.MustParseSetup("A+B+C+D@512"), fusion.AllRemote(s.Graph, 256), fusion.MustParseSetup("A+B@256,C+D@128")} {
		srv, err := runtimetest.NewServer(s.App, setup, "A")
		if err != nil {
			t.Fatal(err)
		}
		out, err := srv.Invoke(context.Background(), s.Request)
		if err != nil || len(out) != 64 {
			t.Fatalf("setup %s: %d bytes, %v", setup, len(out), err)
		}
		recs, err := srv.Traces()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		for _, r := range recs {
			calls += len(r.Calls)
		}
		if calls != 5 { // A→B ×3, A→C, C→D
			t.Errorf("setup %s: %d calls traced, want 5", setup, calls)
		}
	}
}
