package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime/runtimetest"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/work"
)

// run runs the CLI with args and returns stdout, stderr and the error.
func run(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := New(&out, &errOut).RunContext(ctx, append([]string{"fusionize"}, args...))
	return out.String(), errOut.String(), err
}

func TestLoadAgainstLambdaAPI(t *testing.T) {
	t.Setenv(work.EnvScale, "0.01")
	s := samples.Tree()
	srv, err := runtimetest.NewServer(s.App, fusion.AllRemote(s.Graph, 256), s.Graph.Entry)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out, _, err := run(t, context.Background(), "load", "--platform", srv.URL, "--wait", "0", "--sample", "tree", "--rate", "200", "--requests", "20", srv.EntryFunction())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "20 started, 20 ok, 0 errors") || !strings.Contains(out, "p99") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestLoadUserErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"load"}, "load needs the function to invoke"},
		{[]string{"load", "--payload", "{}", "--sample", "iot", "f"}, "give one of"},
		{[]string{"load", "--sample", "nope", "f"}, `no sample "nope"`},
		{[]string{"load", "--platform", "http://127.0.0.1:1", "--requests", "2", "--rate", "100", "f"}, "look up f before sending load"},
		{[]string{"load", "--platform", "http://127.0.0.1:1", "--wait", "0", "--requests", "2", "--rate", "100", "f"}, "every request to f failed"},
		{[]string{"load", "--duration", "0", "f"}, "unbounded load"},
	}
	for _, tt := range tests {
		_, _, err := run(t, context.Background(), tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestBundleUserErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bundle"}, "exactly one package"},
		{[]string{"bundle", "../fusion"}, "is not runnable"},
		{[]string{"bundle", "--arch", "mips", "../samples/cmd/tree"}, `architecture "mips"`},
	} {
		_, _, err := run(t, context.Background(), tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// TestValidateSampleConfigs: every sample config validates as shipped, its setup-only
// constraints feasible and met by the initial setup (validate exits 0 and says so).
func TestValidateSampleConfigs(t *testing.T) {
	paths, _ := filepath.Glob("../samples/configs/*.yaml")
	if len(paths) < 3 {
		t.Fatalf("sample configs: %v", paths)
	}
	for _, p := range paths {
		out, errOut, err := run(t, context.Background(), "validate", p)
		if err != nil || !strings.Contains(out, p+": ok (constraints: ") {
			t.Errorf("%s: %v\n%s%s", p, err, out, errOut)
		}
	}
}

// TestValidateInfeasible: validate refuses, naming the constraint, a policy whose initial
// setup breaks a constraint on the setup alone, one that no setup can meet, and two that no
// setup meets together; a validate that said ok to these (as before) fails here.
func TestValidateInfeasible(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ rules, want string }{
		"initial": {"  - {name: small, expr: 'setup.groups.all(g, g.memory <= 128)'}\n",
			"the initial setup AS@256,CA@256,CS@256,CSA@256,CSL@256,CT@256,CW@256,DJ@256,I@256,SE@256 violates small"},
		"alone": {"  - {name: big, expr: 'setup.groups.all(g, g.memory >= 4096)'}\n  - {name: slo, expr: 'candidate.predicted.p95_ms < 300.0'}\n",
			"no setup satisfies the constraints: big alone excludes every one"},
		"together": {"  - {name: few, expr: 'setup.groups.size() <= 2'}\n  - {name: many, expr: 'setup.groups.size() >= 4'}\n",
			"no setup satisfies the constraints few, many together"},
	} {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte("name: iot\nsample: iot\nconstraints:\n"+c.rules), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, err := run(t, context.Background(), "validate", path)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: got %v\n%s\nwant %q", name, err, errOut, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	out, _, err := run(t, context.Background(), "validate", "--sample", "iot", "--setup", "I+CW+SE@256,CT@1024,CS+CSL+CSA@128,CA+DJ@512,AS@1024", "appconfig/testdata/full.yaml")
	if err != nil || !strings.Contains(out, "full.yaml: ok") || !strings.Contains(out, "setup: ok") {
		t.Fatalf("%s %v", out, err)
	}
	_, errOut, err := run(t, context.Background(), "validate", "--sample", "tree", "--setup", "A+B@128,C@99", "appconfig/testdata/bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "2 input(s) with problems") {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"bad.yaml:9:18: canary weights must increase", "setup:1:11: memory 99 MB", " | .........."} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// A setup that parses but does not fit the app: each problem at the task it is about.
	_, errOut, err = run(t, context.Background(), "validate", "--sample", "tree", "--setup", "A+B@128,C@128")
	if err == nil || !strings.Contains(errOut, `setup:1:3: group "A": B→D sync is remote, but no group is rooted at "D"`+"\n | A+B@128,C@128\n | ..^") {
		t.Fatalf("got %v\n%s", err, errOut)
	}
	if _, _, err := run(t, context.Background(), "validate"); err == nil {
		t.Fatal("validate with nothing accepted")
	}
}
