package synthetic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
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

// FuzzParse: no spec panics the parser; every problem lies inside the text; a spec that
// parses has a valid call graph without cycles, finite work within Lambda's limits and
// bounded fan-out, and prints back (specYAML) to text that parses to the same spec.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("app: a\nentry: A\ntasks:\n  A: {threads: 1e9, calls: [{to: B, count: 1e12}]}\n  B: {payload_bytes: 1e300}\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		s, err := Parse("fuzz.yaml", text)
		if err != nil {
			var is *fusion.Issues
			if !errors.As(err, &is) {
				t.Fatalf("error %T is not a list of issues: %v", err, err)
			}
			// YAML breaks lines at \n, \r\n and a lone \r.
			lines := strings.Count(strings.ReplaceAll(string(text), "\r\n", "\n"), "\r") + strings.Count(string(text), "\n") + 1
			for _, it := range is.List {
				if it.Pos.Line < 1 || it.Pos.Line > lines || it.Pos.Column < 1 {
					t.Fatalf("issue %q at %d:%d outside the text %q", it.Message, it.Pos.Line, it.Pos.Column, text)
				}
			}
			return
		}
		if err := s.Graph().Validate(); err != nil {
			t.Fatalf("%q parses to an invalid graph: %v", text, err)
		}
		for _, task := range s.Tasks {
			if !(task.CPUMS >= 0 && task.CPUMS <= maxWorkMS && task.IOMS >= 0 && task.IOMS <= maxWorkMS) ||
				task.Threads < 1 || task.Threads > maxThreads || task.PayloadBytes < 0 || task.PayloadBytes > maxPayload {
				t.Fatalf("%q: task %+v out of bounds", text, task)
			}
			for _, c := range task.Calls {
				if c.Count < 1 || c.Count > maxCount {
					t.Fatalf("%q: call %+v out of bounds", text, c)
				}
			}
		}
		again, err := Parse("again.yaml", []byte(specYAML(s)))
		if err != nil {
			t.Fatalf("%q parses, but not as printed:\n%s\n%v", text, specYAML(s), err)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", text, s, again)
		}
	})
}

// specYAML prints a spec in the format Parse reads (JSON strings are YAML strings).
func specYAML(s Spec) string {
	q := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	var b strings.Builder
	fmt.Fprintf(&b, "app: %s\nentry: %s\ntasks:\n", q(s.App), q(s.Entry))
	for _, t := range s.Tasks {
		fmt.Fprintf(&b, "  %s:\n    cpu_ms: %s\n    threads: %d\n    io_ms: %s\n    payload_bytes: %d\n",
			q(t.Name), num(t.CPUMS), t.Threads, num(t.IOMS), t.PayloadBytes)
		b.WriteString("    calls: [\n")
		for _, c := range t.Calls {
			fmt.Fprintf(&b, "      {to: %s, mode: %s, count: %d, parallel: %t},\n", q(c.To), c.Mode, c.Count, c.Parallel)
		}
		b.WriteString("    ]\n")
	}
	return b.String()
}
