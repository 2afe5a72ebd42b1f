package cli

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDemo runs README's main command end to end on free ports, on the web shop sample: the
// dev stack, the sample bundled and deployed, load, the optimizer to convergence, and the
// before/after report. It wants a promoted setup that is faster and cheaper than the
// all-remote start, as measured side by side in its canary. It catches a planner that does
// nothing (no promotion), a cycle that never promotes, and a demo that reports nothing.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole dev stack for minutes")
	}
	dir := t.TempDir()
	out, errOut, err := run(t, context.Background(), "demo", "--app", "webshop", "--data-dir", dir, "--temporal-port", "0", "--ui-port", "0",
		"--platform-addr", "127.0.0.1:0", "--metrics-addr", "", "--timeout", "8m")
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, want := range []string{"optimizer started", "load: ", "webshop:live", "cycle 1", "optimizer finished", "CYCLE", "plot:", "Web UI: http://127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	for _, row := range []string{"median latency (ms)", "cost per million requests ($)"} {
		if ch, ok := demoChange(out, row); !ok || ch >= 0 {
			t.Errorf("%s: change %v (found %t), want a promoted setup that is better:\n%s", row, ch, ok, out)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "reports", "webshop-*.png")); len(matches) != 1 {
		t.Errorf("plots written: %v", matches)
	}
}

// demoChange reads the change in percent of a row of the demo's before/after table.
func demoChange(out, row string) (float64, bool) {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), row)
		f := strings.Fields(rest)
		if !ok || len(f) < 2 || f[len(f)-1] != "%" {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-2], 64)
		return v, err == nil
	}
	return 0, false
}

func TestCommandUserErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--data-dir", dir, "--temporal-port", "0", "--app", "nope"}, `no sample "nope"`},
		{[]string{"demo", "--data-dir", dir, "--temporal-port", busy, "--platform-addr", "127.0.0.1:1"}, "but no platform on 127.0.0.1:1"},
		{[]string{"worker", "--address", "127.0.0.1:1"}, "no bundles"},
		// Every busy port at once, before bundling (the test checks nothing was bundled).
		{[]string{"demo", "--data-dir", dir, "--temporal-port", "0", "--ui-port", busy, "--platform-addr", "127.0.0.1:" + busy, "--metrics-addr", "127.0.0.1:" + busy},
			"Temporal Web UI: cannot listen on 127.0.0.1:" + busy},
		{[]string{"dev", "--data-dir", dir, "--temporal-port", "0", "--ui-port", "0", "--platform-addr", "127.0.0.1:" + busy, "--metrics-addr", "127.0.0.1:" + busy},
			"local platform: cannot listen on 127.0.0.1:" + busy + " (listen tcp 127.0.0.1:" + busy + ": bind: address already in use); stop what uses it or choose another with --platform-addr\nworker metrics"},
		{[]string{"worker", "--bundle", "iot"}, "want app=path/to/bundle.zip"},
		{[]string{"optimize", "status", "--address", "127.0.0.1:1", "--app", "iot"}, "connect to Temporal at 127.0.0.1:1"},
		{[]string{"optimize", "start", "--address", "127.0.0.1:1", "appconfig/testdata/bad.yaml"}, "canary weights must increase"},
		{[]string{"report", "--address", "127.0.0.1:1", "--app", "iot"}, "connect to Temporal at 127.0.0.1:1"},
		{[]string{"platform", "--data-dir", dir, "--cgroups", "sometimes"}, "sometimes"},
		{[]string{"platform", "--data-dir", dir, "--addr", "0.0.0.0:0"}, "is not a loopback address"},
		{[]string{"platform", "--data-dir", dir, "--isolation", "jail"}, `Isolation "jail"`},
		{[]string{"deploy"}, "needs the app's config file"},
		{[]string{"experiment", "--out", dir, "--app", "nope"}, `no sample "nope"`},
		{[]string{"experiment", "--out", dir, "--profile", "fast"}, `latency profile "fast": want none or aws`},
		{[]string{"experiment", "--out", dir, "--arm", "greedy"}, `arm "greedy": want one of`},
		{[]string{"optimize", "start", "--address", "127.0.0.1:1", "--initial", "A@128,Z@128", "../samples/configs/tree.yaml"}, "--initial does not fit app tree:\nsetup:1:7: group \"Z\": \"Z\" is not a task of the app"},
		{[]string{"cleanup"}, "needs the app's config file"},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithCancel(context.Background())
		_, _, err := run(t, ctx, tt.args...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bundles")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bundles were built before a port check failed: %v", err)
	}
}
