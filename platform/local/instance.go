package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/fusionize/fusionize/platform/local/cgroups"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	maxSyncPayload = 6 << 20 // Lambda's 6 MB for synchronous requests and responses
	// Lambda's limit for asynchronous (Event) payloads, raised from 256 KB to 1 MB in 2025: "For
	// asynchronous invocations, the maximum payload size is 1 MB" (Lambda API reference, Invoke,
	// https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html; AWS Compute Blog, "More room
	// to build: serverless services now support payloads up to 1 MB").
	maxAsyncPayload = 1 << 20
	maxLogLine      = 256 << 10 // Lambda splits longer lines into several events
	tailBytes       = 4096
	initTimeout     = 10 * time.Second // Lambda's limit for the init phase
	memoryReadEvery = 100 * time.Millisecond
	shutdownGrace   = 500 * time.Millisecond
)

// result is what an invocation returns to its caller.
type result struct {
	payload       []byte
	functionError bool   // X-Amz-Function-Error: Unhandled
	outcome       string // outcome* constant, for metrics and REPORT
	undispatched  bool   // the instance died before the request reached it
}

// invocation is one request on its way through an instance.
type invocation struct {
	id        string
	payload   []byte
	arn       string // invoked ARN, with qualifier if one was given
	trace     string
	clientCtx string
	tail      bool
	tailCh    chan []byte
	cold      bool
	// background: the invocation is off every response path (an asynchronous event, or a
	// request made by an instance serving one): its instance runs at the background CPU weight.
	background bool
	dispatched chan struct{} // closed when the runtime received the request
	done       chan struct{} // closed when res is set
	state      atomic.Bool
	res        result

	// set under instance.mu
	start time.Time
}

func newInvocation(id string, payload []byte) *invocation {
	return &invocation{id: id, payload: payload, dispatched: make(chan struct{}), done: make(chan struct{})}
}

// finish sets the result once; later calls lose and return false. Read res only after done is
// closed: finished may already report true while the winner is still writing it.
func (inv *invocation) finish(r result) bool {
	if !inv.state.CompareAndSwap(false, true) {
		return false
	}
	inv.res = r
	close(inv.done)
	return true
}

func (inv *invocation) finished() bool { return inv.state.Load() }

func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	return b
}

// instance is one process running a function's bootstrap; it serves one request at a time.
type instance struct {
	p       *Platform
	token   string
	fn      string
	version string
	cfg     *config
	region  string
	group   string
	stream  string
	secret  string // marks the platform's own lines in the log pipe
	// accessKey is the instance's AWS_ACCESS_KEY_ID: the platform knows by it which instance
	// made a request (callerInBackground). Not a secret: signatures are not checked.
	accessKey string
	codeDir   string
	cg        *cgroups.Cgroup
	started   time.Time
	cmd       *exec.Cmd
	work      chan *invocation
	dead      chan struct{}
	cgJoined  chan struct{} // closed once the process is in its cgroup (or has none)
	exitErr   error
	oom       bool   // the kernel killed the process for exceeding its memory limit; set before dead closes
	uid       int    // the user the process runs as when isolated, else -1
	tmp       string // the instance's private tmp directory when isolated
	killOnce  sync.Once
	// startOnce ends the instance's start (its init, counted against Options.MaxStarting) once:
	// at its first poll of the Runtime API, or when it fails to start or exits.
	startOnce sync.Once

	// guarded by Platform.mu
	busy     bool
	lastUsed time.Time

	mu           sync.Mutex
	ready        bool
	initDuration time.Duration
	cur          *invocation
	tails        map[string]chan []byte
	extension    bool // registered through the Extensions API: stop with SIGTERM first
	maxMemory    int64
	memReadAt    time.Time
	stopping     bool // stop was requested; a process that starts afterwards is killed at once

	logMu     sync.Mutex
	logW      *os.File
	logClosed bool

	// reportMu is held while a request's END and REPORT lines are being produced, so that the
	// next request's START, written at dispatch, comes after them.
	reportMu sync.Mutex
	memFile  *os.File // the cgroup's peak memory file or /proc/<pid>/status, kept open
}

func (inst *instance) isDead() bool {
	select {
	case <-inst.dead:
		return true
	default:
		return false
	}
}

// environment is the Lambda environment of the instance's process.
func (inst *instance) environment() []string {
	p, c := inst.p, inst.cfg
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + p.runtime + "/" + inst.token,
		"AWS_LAMBDA_FUNCTION_NAME=" + inst.fn,
		"AWS_LAMBDA_FUNCTION_VERSION=" + inst.version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(c.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME=" + inst.group,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + inst.stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + inst.region,
		"AWS_DEFAULT_REGION=" + inst.region,
		"AWS_ACCESS_KEY_ID=" + inst.accessKey,
		"AWS_SECRET_ACCESS_KEY=local-platform-secret",
		"AWS_SESSION_TOKEN=local-platform-session",
		"_HANDLER=" + c.Handler,
		"LAMBDA_TASK_ROOT=" + inst.codeDir,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=" + path,
	}
	if _, ok := c.Env["AWS_ENDPOINT_URL_LAMBDA"]; !ok {
		env = append(env, "AWS_ENDPOINT_URL_LAMBDA="+p.endpoint)
	}
	if _, ok := c.Env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"]; !ok {
		env = append(env, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS="+p.endpoint)
	}
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.Env[k])
	}
	return env
}

// start runs the bootstrap. On failure the instance is unusable and already forgotten.
func (inst *instance) start() error {
	p := inst.p
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start instance of %s: %w", inst.fn, err)
	}
	cmd := exec.Command(filepath.Join(inst.codeDir, "bootstrap"))
	cmd.Dir = inst.codeDir
	cmd.Env = inst.environment()
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if inst.tmp, err = p.sandbox.prepare(inst, cmd.SysProcAttr); err != nil {
		r.Close()
		w.Close()
		return err
	}
	if inst.tmp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+inst.tmp)
	}
	if p.cgroups != nil {
		cg, err := p.cgroups.Create(inst.token, inst.cfg.MemorySize)
		if err != nil {
			p.log.Warn("local platform: instance runs without cgroup limits", "function", inst.fn, "err", err)
		} else {
			inst.mu.Lock()
			inst.cg = cg
			inst.mu.Unlock()
			if cg.ProcsV2 != nil {
				cmd.SysProcAttr.UseCgroupFD = true
				cmd.SysProcAttr.CgroupFD = int(cg.ProcsV2.Fd())
			}
		}
	}
	inst.logMu.Lock()
	inst.logW = w
	inst.logMu.Unlock()
	inst.mu.Lock()
	inst.started = time.Now()
	inst.mu.Unlock()
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		if inst.cg != nil {
			_ = inst.cg.Remove()
		}
		inst.removeTmp()
		return err
	}
	inst.mu.Lock()
	inst.cmd = cmd
	stopping := inst.stopping
	inst.mu.Unlock()
	if stopping {
		inst.kill(cmd.Process.Pid, false)
	}
	if inst.cg != nil && inst.cg.ProcsV2 == nil {
		// On cgroup v1 the process joins after it started, and the kernel takes milliseconds to
		// move it: let the runtime initialize meanwhile; the first request waits for the move.
		go func() {
			defer close(inst.cgJoined)
			if err := inst.cg.AddProcess(cmd.Process.Pid); err != nil && !inst.isDead() {
				p.log.Warn("local platform: instance runs without cgroup limits", "function", inst.fn, "err", err)
			}
		}()
	} else {
		close(inst.cgJoined)
	}
	go inst.readLogs(r)
	go inst.wait()
	return nil
}

// stop ends the process (and its process group): SIGKILL, or SIGTERM with a grace period when
// the function asked for it through the Extensions API, as Lambda does. A stop requested while
// the process is starting takes effect as soon as it runs.
func (inst *instance) stop() {
	inst.mu.Lock()
	inst.stopping = true
	cmd, graceful := inst.cmd, inst.extension
	inst.mu.Unlock()
	if cmd != nil {
		inst.kill(cmd.Process.Pid, graceful)
	}
}

func (inst *instance) kill(pid int, graceful bool) {
	inst.killOnce.Do(func() {
		if inst.isDead() {
			return
		}
		if !graceful {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return
		}
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		go func() {
			t := time.NewTimer(shutdownGrace)
			defer t.Stop()
			select {
			case <-inst.dead:
			case <-t.C:
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}()
	})
}

// wait reaps the process, answers a request it left in flight, and cleans up.
func (inst *instance) wait() {
	p := inst.p
	pid := inst.cmd.Process.Pid
	waitExited(pid)
	// The leader is a zombie now, so its process group ID cannot be reused yet: end whatever
	// the function left running in its group, then reap.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	err := inst.cmd.Wait()
	inst.exitErr = err
	p.recordExit(inst)
	inst.oom = inst.cg != nil && inst.cg.OOMKilled()
	close(inst.dead)
	inst.endStart()

	inst.mu.Lock()
	cur := inst.cur
	inst.cur = nil
	inst.mu.Unlock()
	if cur != nil {
		inst.failInFlight(cur, err)
	}
	inst.logMu.Lock()
	inst.logClosed = true
	inst.logW.Close()
	inst.logMu.Unlock()
	inst.closeMemFile()
	inst.removeTmp()
	if inst.cg != nil {
		if err := inst.cg.Remove(); err != nil {
			p.log.Warn("local platform: remove cgroup", "function", inst.fn, "err", err)
		}
	}
	p.forgetInstance(inst)
	p.procs.Done()
}

// removeTmp deletes the instance's private tmp directory, if it has one.
func (inst *instance) removeTmp() {
	if inst.tmp == "" {
		return
	}
	if err := os.RemoveAll(inst.tmp); err != nil {
		inst.p.log.Warn("local platform: remove tmp directory of an instance", "function", inst.fn, "err", err)
	}
}

// waitExited blocks until process pid has exited, without reaping it (waitid with WNOWAIT).
func waitExited(pid int) {
	const pPID, wNoWait = 1, 0x01000000
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
			syscall.WEXITED|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			return
		}
	}
}

// failInFlight answers (or, after a timeout, logs) the request the process left behind.
func (inst *instance) failInFlight(inv *invocation, exitErr error) {
	inst.reportMu.Lock()
	defer inst.reportMu.Unlock()
	status := "exit status 0"
	if exitErr != nil {
		status = exitErr.Error()
		var ee *exec.ExitError
		if errors.As(exitErr, &ee) {
			status = ee.String()
		}
	}
	inst.mu.Lock()
	start := inv.start
	inst.mu.Unlock()
	dispatched := !start.IsZero()
	msg := "RequestId: " + inv.id + " Error: Runtime exited with error: " + status
	typ := "Runtime.ExitError"
	if inst.oom {
		typ = "Runtime.OutOfMemory" // as Lambda reports a runtime its memory limit killed
	}
	if inv.finish(result{
		payload: errorPayload(typ, msg), functionError: true, outcome: outcomeCrash,
		undispatched: !dispatched,
	}) {
		if !dispatched && !inv.cold {
			// A warm instance that died between requests: the caller retries on a new one and
			// nothing was logged for this request.
			inst.dropTail(inv)
			return
		}
		if !dispatched {
			inst.writeLog(logLine{'S', inv.id, "START RequestId: " + inv.id + " Version: " + inst.version})
		}
		inst.writeLog(logLine{'L', "", msg})
		inst.writeLog(logLine{'L', "", typ})
		d := time.Duration(0)
		if dispatched {
			d = time.Since(start)
		}
		inst.report(inv, outcomeCrash, d, "\tStatus: error\tError Type: "+typ)
		return
	}
	<-inv.done
	if inv.res.outcome == outcomeTimeout {
		if !dispatched {
			inst.writeLog(logLine{'S', inv.id, "START RequestId: " + inv.id + " Version: " + inst.version})
		}
		timeout := time.Duration(inst.cfg.Timeout) * time.Second
		if !dispatched {
			timeout = initTimeout
		}
		inst.writeLog(logLine{'L', "", time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + inv.id +
			" Task timed out after " + formatSeconds(timeout)})
		inst.report(inv, outcomeTimeout, timeout, "\tStatus: timeout")
	}
}

// owner is the user the instance's process runs as when isolated, else -1.
func (inst *instance) owner() int {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.uid
}
