package local

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Isolation modes for Options.Isolation.
const (
	// IsolationAuto runs each function's instances as an unprivileged user of its own where
	// the platform runs as root, and says what isolation holds where it cannot.
	IsolationAuto = "auto"
	// IsolationOff runs every instance as the platform's own user.
	IsolationOff = "off"
)

// DefaultFirstUID is the first of the user IDs given to functions: far above the users and
// subordinate-ID ranges systems hand out, and without entries in /etc/passwd.
const DefaultFirstUID = 1_900_000_000

const uidPoolSize = 1 << 24

// IsolationStatus says whether functions run as users of their own, and what holds if not.
type IsolationStatus struct {
	Enabled bool   // each function's instances run as an unprivileged user of its own
	Reason  string // what isolation holds when not enabled
}

// sandbox gives each function an unprivileged user and each instance a private tmp directory
// when the platform runs as root. Such an instance reads the code (root's files, readable by
// all) and writes only its own tmp directory (TMPDIR) and what any user may write (/tmp,
// /dev/shm). Other functions cannot read its /proc/<pid>/environ (which holds its Runtime API
// token), its memory or its tmp, nor signal it; the Runtime API also checks that each request's
// connection belongs to the instance's user, so a leaked token alone takes no request.
type sandbox struct {
	status   IsolationStatus
	firstUID uint32
	seed     string // the data directory: two platforms on one machine pick different users
	tmpRoot  string

	mu   sync.Mutex
	uids map[string]uint32 // function name → uid (also its gid)
	used map[uint32]bool
}

// newSandbox decides whether instances can run as users of their own.
func newSandbox(o Options) *sandbox {
	sb := &sandbox{firstUID: o.FirstUID, seed: o.DataDir, tmpRoot: filepath.Join(o.RunDir, "tmp"),
		uids: map[string]uint32{}, used: map[uint32]bool{}}
	shared := "every instance runs as the platform's own user: any function can read another's environment " +
		"(its Runtime API token), memory and files, and the platform's data directory"
	switch {
	case o.Isolation == IsolationOff:
		sb.status.Reason = "isolation is off (Options.Isolation): " + shared
	case os.Geteuid() != 0:
		sb.status.Reason = "the platform does not run as root, so it cannot run functions as users of their own: " + shared
	default:
		if err := unsearchableAncestor(filepath.Join(o.RunDir, "code")); err != nil {
			sb.status.Reason = fmt.Sprintf("%v, so functions running as users of their own could not reach their code "+
				"(choose a data directory whose parents others may search, e.g. under /var/lib or /tmp): %s", err, shared)
		} else if err := os.MkdirAll(sb.tmpRoot, 0o711); err != nil {
			sb.status.Reason = fmt.Sprintf("cannot create %s: %v: %s", sb.tmpRoot, err, shared)
		} else {
			_ = os.Chmod(sb.tmpRoot, 0o711)
			sb.status.Enabled = true
		}
	}
	return sb
}

// unsearchableAncestor names the first directory on the way to dir that other users may not
// search (no execute bit for others), or returns nil.
func unsearchableAncestor(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("directory %s (mode %04o) may not be searched by other users", d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// uid returns the user ID of a function, choosing one on first use.
func (sb *sandbox) uid(fn string) uint32 {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if u, ok := sb.uids[fn]; ok {
		return u
	}
	h := fnv.New64a()
	h.Write([]byte(sb.seed))
	h.Write([]byte{0})
	h.Write([]byte(fn))
	off := uint32(h.Sum64() % uidPoolSize)
	u := sb.firstUID + off
	for sb.used[u] {
		off = (off + 1) % uidPoolSize
		u = sb.firstUID + off
	}
	sb.uids[fn], sb.used[u] = u, true
	return u
}

// prepare sets up an instance's process to run as its function's user with a private tmp
// directory, and returns that directory ("" without isolation).
func (sb *sandbox) prepare(inst *instance, attr *syscall.SysProcAttr) (string, error) {
	if !sb.status.Enabled {
		return "", nil
	}
	u := sb.uid(inst.fn)
	tmp := filepath.Join(sb.tmpRoot, inst.token)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", fmt.Errorf("create tmp directory of an instance of %s: %w", inst.fn, err)
	}
	if err := os.Chown(tmp, int(u), int(u)); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("hand tmp directory %s to uid %d: %w", tmp, u, err)
	}
	attr.Credential = &syscall.Credential{Uid: u, Gid: u, Groups: []uint32{}}
	inst.mu.Lock() // the Runtime API reads it from its own goroutines (instance.owner)
	inst.uid = int(u)
	inst.mu.Unlock()
	return tmp, nil
}

// entrypointError is Lambda's message for a bootstrap that does not start. It names the
// bootstrap where Lambda has it (/var/task), not in the platform's data directory.
func entrypointError(reqID string, err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "RequestId: " + reqID + " Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "RequestId: " + reqID + " Error: " + pe.Op + " /var/task/bootstrap: " + pe.Err.Error()
	}
	return "RequestId: " + reqID + " Error: Runtime failed to start"
}

// connKey is the context key of a connection's connInfo.
type connKey struct{}

// connInfo remembers a connection's addresses and, once asked, the user that owns the peer's
// socket.
type connInfo struct {
	local, remote net.Addr
	once          sync.Once
	uid           int // -1 when unknown
}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connInfo{local: c.LocalAddr(), remote: c.RemoteAddr(), uid: -1})
}

// peerUID returns the user owning the other end of the request's connection, for a peer on
// this machine (read from /proc/net/tcp{,6}), or -1.
func peerUID(ctx context.Context) int {
	ci, _ := ctx.Value(connKey{}).(*connInfo)
	if ci == nil {
		return -1
	}
	ci.once.Do(func() { ci.uid = socketOwner(ci.remote, ci.local) })
	return ci.uid
}

// socketOwner finds the uid of the local TCP socket bound to local and connected to remote. An
// IPv4 connection to a dual-stack listener is listed in tcp6 with IPv4-mapped addresses.
func socketOwner(local, remote net.Addr) int {
	l, err1 := netip.ParseAddrPort(local.String())
	r, err2 := netip.ParseAddrPort(remote.String())
	if err1 != nil || err2 != nil {
		return -1
	}
	if l.Addr().Unmap().Is4() {
		if uid := findSocketOwner("/proc/net/tcp", procNetAddr(l)+" "+procNetAddr(r)); uid >= 0 {
			return uid
		}
		l = netip.AddrPortFrom(netip.AddrFrom16(l.Addr().As16()), l.Port())
		r = netip.AddrPortFrom(netip.AddrFrom16(r.Addr().As16()), r.Port())
	}
	return findSocketOwner("/proc/net/tcp6", procNetAddr(l)+" "+procNetAddr(r))
}

// findSocketOwner returns the uid column of the line of file whose local and remote addresses
// are want, or -1.
func findSocketOwner(file, want string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 7 && f[1]+" "+f[2] == want {
			if uid, err := strconv.Atoi(f[7]); err == nil {
				return uid
			}
		}
	}
	return -1
}

// procNetAddr writes an address as /proc/net/tcp does: the IP's 32-bit words in host (little
// endian) order, in hex, a colon and the port in hex.
func procNetAddr(a netip.AddrPort) string {
	var b strings.Builder
	raw := a.Addr().AsSlice()
	for i := 0; i < len(raw); i += 4 {
		fmt.Fprintf(&b, "%02X%02X%02X%02X", raw[i+3], raw[i+2], raw[i+1], raw[i])
	}
	fmt.Fprintf(&b, ":%04X", a.Port())
	return b.String()
}

// DefaultIsolatedRunDir is where a platform that isolates functions keeps their code and tmp
// directories when other users may not search its data directory's parents.
const DefaultIsolatedRunDir = "/var/lib/fusionize/run"

// prepareRunDir chooses o.RunDir (see Options.RunDir), creates RunDir/code and moves there
// any code of fns unpacked under the data directory by an earlier platform.
func prepareRunDir(o *Options, fns map[string]*function) error {
	if o.RunDir == "" {
		o.RunDir = o.DataDir
		if isolating(*o) && unsearchableAncestor(o.DataDir) != nil {
			abs, _ := filepath.Abs(o.DataDir)
			h := fnv.New64a()
			h.Write([]byte(abs))
			dir := filepath.Join(DefaultIsolatedRunDir, strconv.FormatUint(h.Sum64(), 16))
			if err := mkdirSearchable(dir); err == nil {
				o.RunDir = dir
				removeOrphanRunDirs()
				_ = os.WriteFile(filepath.Join(dir, runDirOwner), []byte(abs), 0o600)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(o.RunDir, "code"), 0o755); err != nil {
		return fmt.Errorf("local platform run dir: %w", err)
	}
	if o.RunDir == o.DataDir {
		return nil
	}
	for _, f := range fns {
		cfgs := []*config{f.Latest}
		for _, v := range f.Versions {
			cfgs = append(cfgs, v)
		}
		for _, c := range cfgs {
			if err := moveCode(filepath.Join(o.DataDir, c.codeDir()), filepath.Join(o.RunDir, c.codeDir())); err != nil {
				return fmt.Errorf("local platform: move code of %s to %s: %w", f.Name, o.RunDir, err)
			}
		}
	}
	_ = os.RemoveAll(filepath.Join(o.DataDir, "code"))
	return nil
}

// runDirOwner names the file in a run directory under DefaultIsolatedRunDir that holds the
// data directory it serves.
const runDirOwner = "datadir"

// removeOrphanRunDirs deletes the run directories under DefaultIsolatedRunDir whose data
// directory is gone (deleted by its user, or a test's temporary directory), so that code does
// not pile up there.
func removeOrphanRunDirs() {
	entries, err := os.ReadDir(DefaultIsolatedRunDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(DefaultIsolatedRunDir, e.Name())
		owner, err := os.ReadFile(filepath.Join(dir, runDirOwner))
		if err != nil || len(owner) == 0 {
			continue
		}
		if _, err := os.Stat(string(owner)); errors.Is(err, fs.ErrNotExist) {
			_ = os.RemoveAll(dir)
		}
	}
}

// isolating says whether instances will run as users of their own (if their code is reachable).
func isolating(o Options) bool {
	return o.Isolation != IsolationOff && os.Geteuid() == 0
}

// mkdirSearchable creates dir and its missing parents, and lets every user search dir and
// its parents up to DefaultIsolatedRunDir's parent (directories Fusionize owns); it changes
// nothing above those and fails if other users still may not search the whole path.
func mkdirSearchable(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	for d := dir; strings.HasPrefix(d, filepath.Dir(DefaultIsolatedRunDir)); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	return unsearchableAncestor(dir)
}

// moveCode moves unpacked code from src to dst unless dst has it already.
func moveCode(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return nil // lost before; Invoke reports it as Lambda reports broken code
	}
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	tmp := dst + ".moving"
	_ = os.RemoveAll(tmp)
	if err := os.CopyFS(tmp, os.DirFS(src)); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
