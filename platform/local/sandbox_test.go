package local

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestFunctionsAreIsolatedFromEachOther attacks one function from another as the issue did.
// Before isolation every instance ran as the platform's user: function bob read alice's
// /proc/<pid>/environ, took the Runtime API token from it, polled alice's next request (its
// payload, a card number) and posted a forged response that alice's caller received. As root,
// each function now runs as a user of its own, and the Runtime API only serves the instance's
// own user, so bob can neither read the token nor use it.
func TestFunctionsAreIsolatedFromEachOther(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("functions run as users of their own only when the platform runs as root; TestIsolationStatus checks what is reported otherwise")
	}
	e := newTestEnv(t, Options{})
	if st := e.p.Status().Isolation; !st.Enabled {
		t.Fatalf("isolation is not enabled as root: %s", st.Reason)
	}
	e.create(t, "alice", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"CARD": "4111111111111111"}}
	})
	e.create(t, "bob")
	e.invoke(t, "alice", map[string]any{}) // alice's instance now waits for her next request
	alice := e.instanceOf(t, "alice")
	alice.mu.Lock()
	pid := alice.cmd.Process.Pid
	alice.mu.Unlock()

	// bob cannot read alice's environment, where her token and secrets are.
	out, _ := e.invoke(t, "bob", map[string]any{"op": "read", "target": "/proc/" + strconv.Itoa(pid) + "/environ"})
	if out.FunctionError == nil {
		t.Fatalf("bob read alice's environment: %.200s", out.Payload)
	}
	if fe := decodeError(t, out); !strings.Contains(fe.Message, "permission denied") {
		t.Errorf("reading alice's environ: %+v, want permission denied", fe)
	}
	// Even with alice's token in hand (say it leaked into a log), bob takes none of her requests.
	_, got := e.invoke(t, "bob", map[string]any{"op": "next", "target": e.p.runtime + "/" + alice.token})
	if !strings.HasPrefix(got.Body, "403 ") {
		t.Errorf("bob polling with alice's token got %q, want 403", got.Body)
	}
	if _, r := e.invoke(t, "alice", map[string]any{"op": "env"}); r.Env["CARD"] != "4111111111111111" {
		t.Errorf("alice's own request: %+v", r)
	}

	// Each function has a user of its own, neither root; bob writes his tmp directory and
	// nothing of the platform's, alice's or the shared code.
	_, a := e.invoke(t, "alice", map[string]any{"op": "env"})
	_, b := e.invoke(t, "bob", map[string]any{"op": "env"})
	aliceUID, bobUID := processUID(t, pid), processUID(t, e.instanceOf(t, "bob").cmd.Process.Pid)
	if aliceUID == bobUID || aliceUID == 0 || bobUID == 0 {
		t.Errorf("alice runs as uid %d, bob as %d: want two different unprivileged users", aliceUID, bobUID)
	}
	if b.Env["TMPDIR"] == "" || b.Env["TMPDIR"] == a.Env["TMPDIR"] {
		t.Fatalf("TMPDIR alice %q, bob %q: want one of their own each", a.Env["TMPDIR"], b.Env["TMPDIR"])
	}
	if out, _ := e.invoke(t, "bob", map[string]any{"op": "write", "target": filepath.Join(b.Env["TMPDIR"], "scratch"), "body": "x"}); out.FunctionError != nil {
		t.Errorf("bob cannot write his own tmp: %s", out.Payload)
	}
	for _, target := range []string{
		filepath.Join(a.Env["TMPDIR"], "planted"),
		filepath.Join(b.Env["LAMBDA_TASK_ROOT"], "bootstrap"),
		filepath.Join(b.Env["LAMBDA_TASK_ROOT"], "planted"),
		filepath.Join(e.opts.DataDir, stateFile),
		filepath.Join(e.opts.DataDir, "planted"),
	} {
		if out, _ := e.invoke(t, "bob", map[string]any{"op": "write", "target": target, "body": "x"}); out.FunctionError == nil {
			t.Errorf("bob wrote %s", target)
		}
	}
	// The platform's state holds every function's environment: bob may not read it.
	if out, _ := e.invoke(t, "bob", map[string]any{"op": "read", "target": filepath.Join(e.opts.DataDir, stateFile)}); out.FunctionError == nil {
		t.Errorf("bob read the platform's state: %.200s", out.Payload)
	}
	// An instance's tmp directory goes with it.
	if err := e.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Env["TMPDIR"]); !os.IsNotExist(err) {
		t.Errorf("bob's tmp directory outlived his instance: %v", err)
	}
}

// processUID reads the real uid of a process.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	for _, line := range strings.Split(readFile(t, "/proc/"+strconv.Itoa(pid)+"/status"), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return -1
}

// TestIsolationStatus checks that the platform says what isolation holds when functions cannot
// run as users of their own.
func TestIsolationStatus(t *testing.T) {
	off := newTestEnv(t, Options{Isolation: IsolationOff}).p.Status().Isolation
	if off.Enabled || !strings.Contains(off.Reason, "Runtime API token") {
		t.Errorf("Isolation off: %+v, want disabled with what that means", off)
	}
	closed := closedTempDir(t)
	st := newTestEnv(t, Options{DataDir: filepath.Join(closed, "data"), RunDir: filepath.Join(closed, "run")}).p.Status().Isolation
	if os.Geteuid() != 0 {
		if st.Enabled || !strings.Contains(st.Reason, "does not run as root") {
			t.Errorf("as a user: %+v, want disabled because not root", st)
		}
		return
	}
	if st.Enabled || !strings.Contains(st.Reason, "may not be searched") {
		t.Errorf("run dir under a 0700 directory: %+v, want disabled with the directory named", st)
	}
}

// TestIsolatedUnderClosedDataDir: the default data directory of root is under /root (mode
// 0700), where the functions' users cannot reach their code; isolation was then off by default.
// Now the code and tmp directories go to a root-owned searchable run directory, functions run as
// users of their own, and code a platform unpacked under the data directory before moves there
// on the next start.
func TestIsolatedUnderClosedDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("functions run as users of their own only when the platform runs as root")
	}
	data := filepath.Join(closedTempDir(t), "data")
	// An earlier platform (as before this change) kept the code under the data directory.
	old := newTestEnv(t, Options{DataDir: data, RunDir: data})
	old.create(t, "alice")
	if err := old.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, Options{DataDir: data})
	run := e.p.opts.RunDir
	t.Cleanup(func() { os.RemoveAll(run) })
	if st := e.p.Status().Isolation; !st.Enabled {
		t.Fatalf("isolation is off under a closed data directory: %s", st.Reason)
	}
	if !strings.HasPrefix(run, DefaultIsolatedRunDir+"/") {
		t.Errorf("run dir %s, want one under %s", run, DefaultIsolatedRunDir)
	}
	if _, err := os.Stat(filepath.Join(data, "code")); !os.IsNotExist(err) {
		t.Errorf("code left under the data directory: %v", err)
	}
	_, r := e.invoke(t, "alice", map[string]any{"op": "env"})
	if !strings.HasPrefix(r.Env["LAMBDA_TASK_ROOT"], run) || !strings.HasPrefix(r.Env["TMPDIR"], run) {
		t.Errorf("alice's code %q and tmp %q, want both under %s", r.Env["LAMBDA_TASK_ROOT"], r.Env["TMPDIR"], run)
	}
	if uid := processUID(t, e.instanceOf(t, "alice").cmd.Process.Pid); uid == 0 {
		t.Errorf("alice runs as root")
	}
	// A second data directory gets a run directory of its own.
	other := newTestEnv(t, Options{DataDir: filepath.Join(closedTempDir(t), "data")})
	t.Cleanup(func() { os.RemoveAll(other.p.opts.RunDir) })
	if other.p.opts.RunDir == run {
		t.Errorf("two data directories share the run directory %s", run)
	}
	// Once its data directory is gone, the next platform to start removes a run directory.
	if err := e.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	newTestEnv(t, Options{DataDir: filepath.Join(closedTempDir(t), "data")})
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Errorf("run directory %s of a deleted data directory is still there: %v", run, err)
	}
}

// closedTempDir returns a temporary directory other users may not search.
func closedTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestProcNetAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:9001", "0100007F:2329"},
		{"[::1]:80", "00000000000000000000000001000000:0050"},
		{"[::ffff:127.0.0.1]:80", "0000000000000000FFFF00000100007F:0050"},
	} {
		if got := procNetAddr(mustAddrPort(t, c.in)); got != c.want {
			t.Errorf("procNetAddr(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestIsolatedInstancesOnEveryListener: the Runtime API finds the owner of an instance's
// connection on IPv6 and on a dual-stack listener too (else isolated instances could not poll).
func TestIsolatedInstancesOnEveryListener(t *testing.T) {
	for _, o := range []Options{{Addr: "[::1]:0"}, {Addr: "0.0.0.0:0", AllowRemote: true}} {
		e := newTestEnv(t, o)
		e.create(t, "fn")
		if out, resp := e.invoke(t, "fn", map[string]any{}); out.FunctionError != nil || resp.Variant != "v1" {
			t.Errorf("on %s (isolated: %v): %s", e.p.Endpoint(), e.p.Status().Isolation.Enabled, out.Payload)
		}
		// A client reaching the dual-stack listener by IPv4 is found in tcp6 as ::ffff:127.0.0.1.
		if o.AllowRemote {
			conn, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(e.p.ln.Addr().(*net.TCPAddr).Port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			eventually(t, 5*time.Second, "the accepted IPv4 connection in tcp6", func() bool {
				return socketOwner(conn.RemoteAddr(), conn.LocalAddr()) == os.Geteuid()
			})
		}
	}
}
