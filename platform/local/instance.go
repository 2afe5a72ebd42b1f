package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// fnRuntime is the execution state of one function: its instances, the invocations holding a
// concurrency slot and the asynchronous queue. Guarded by Platform.mu.
type fnRuntime struct {
	delayed         int // events in their queueing delay, not yet in queue
	inflight        int // invocations holding a concurrency slot
	unreservedSlots int // of those, slots taken from the platform's unreserved pool
	instances       map[*instance]struct{}
	idle            map[string][]*instance // by version; the most recently used last
	queue           []*asyncEvent
}

// result is what an invocation returns to its caller.
type result struct {
	payload       []byte
	functionError bool   // X-Amz-Function-Error: Unhandled
	outcome       string // outcome* constant, for metrics and REPORT
	undispatched  bool   // the instance died before the request reached it
}

// invocation is one request on its way through an instance.
type invocation struct {
	id         string
	payload    []byte
	arn        string // invoked ARN, with qualifier if one was given
	trace      string
	clientCtx  string
	tail       bool
	tailCh     chan []byte
	cold       bool
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
	p        *Platform
	token    string
	fn       string
	version  string
	cfg      *config
	region   string
	group    string
	stream   string
	secret   string // marks the platform's own lines in the log pipe
	codeDir  string
	cg       *cgroup
	started  time.Time
	cmd      *exec.Cmd
	work     chan *invocation
	dead     chan struct{}
	cgJoined chan struct{} // closed once the process is in its cgroup (or has none)
	exitErr  error
	oom      bool   // the kernel killed the process for exceeding its memory limit; set before dead closes
	uid      int    // the user the process runs as when isolated, else -1
	tmp      string // the instance's private tmp directory when isolated
	killOnce sync.Once
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
		"AWS_ACCESS_KEY_ID=AKIALOCALPLATFORM000",
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
		cg, err := p.cgroups.create(inst.token, inst.cfg.MemorySize)
		if err != nil {
			p.log.Warn("local platform: instance runs without cgroup limits", "function", inst.fn, "err", err)
		} else {
			inst.mu.Lock()
			inst.cg = cg
			inst.mu.Unlock()
			if cg.procsV2 != nil {
				cmd.SysProcAttr.UseCgroupFD = true
				cmd.SysProcAttr.CgroupFD = int(cg.procsV2.Fd())
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
			_ = inst.cg.remove()
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
	if inst.cg != nil && inst.cg.procsV2 == nil {
		// On cgroup v1 the process joins after it started, and the kernel takes milliseconds to
		// move it: let the runtime initialize meanwhile; the first request waits for the move.
		go func() {
			defer close(inst.cgJoined)
			if err := inst.cg.addProcess(cmd.Process.Pid); err != nil && !inst.isDead() {
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
	inst.oom = inst.cg != nil && inst.cg.oomKilled()
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
		if err := inst.cg.remove(); err != nil {
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

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " seconds"
}

// report writes END and REPORT for a finished request and records its metrics.
func (inst *instance) report(inv *invocation, outcome string, d time.Duration, suffix string) {
	billed := time.Duration(math.Ceil(float64(d)/float64(time.Millisecond))) * time.Millisecond
	if billed < time.Millisecond {
		billed = time.Millisecond
	}
	mem := inst.peakMemory(d)
	var b strings.Builder
	b.Grow(200)
	b.WriteString("REPORT RequestId: ")
	b.WriteString(inv.id)
	b.WriteString("\tDuration: ")
	b.WriteString(strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64))
	b.WriteString(" ms\tBilled Duration: ")
	b.WriteString(strconv.FormatInt(billed.Milliseconds(), 10))
	b.WriteString(" ms\tMemory Size: ")
	b.WriteString(strconv.Itoa(inst.cfg.MemorySize))
	b.WriteString(" MB\tMax Memory Used: ")
	b.WriteString(strconv.FormatInt((mem+(1<<20)-1)>>20, 10))
	b.WriteString(" MB\t")
	if inv.cold {
		inst.mu.Lock()
		initD := inst.initDuration
		if !inst.ready {
			initD = time.Since(inst.started) // the runtime died or timed out during init
		}
		inst.mu.Unlock()
		b.WriteString("Init Duration: ")
		b.WriteString(strconv.FormatFloat(float64(initD)/float64(time.Millisecond), 'f', 2, 64))
		b.WriteString(" ms\t")
	}
	if suffix != "" {
		b.WriteString(strings.TrimPrefix(suffix, "\t"))
	}
	inst.writeLog(logLine{'L', "", "END RequestId: " + inv.id}, logLine{'E', inv.id, b.String()})
	inst.p.metrics.observe(inst.fn, outcome, inv.cold, d, billed, inst.cfg.MemorySize)
}

// peakMemory is the instance's highest memory use so far: the peak of its cgroup on v2 (where
// the process starts inside it), else the process's peak resident set (VmHWM). Both only grow,
// so after a short request a reading younger than memoryReadEvery is reused: generating
// /proc/<pid>/status is the costliest part of a warm invocation. The file stays open.
func (inst *instance) peakMemory(d time.Duration) int64 {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	now := time.Now()
	if d < 10*time.Millisecond && now.Sub(inst.memReadAt) < memoryReadEvery && inst.maxMemory > 0 {
		return inst.maxMemory
	}
	inst.memReadAt = now
	if inst.memFile == nil && inst.cmd != nil {
		if inst.cg != nil && inst.cg.peak != "" {
			if inst.memFile, _ = os.Open(inst.cg.peak); inst.memFile == nil {
				inst.cg.peak = "" // no memory.peak before Linux 5.19: use VmHWM
			}
		}
		if inst.memFile == nil {
			inst.memFile, _ = os.Open("/proc/" + strconv.Itoa(inst.cmd.Process.Pid) + "/status")
		}
	}
	if inst.memFile != nil {
		var buf [2048]byte
		n, _ := inst.memFile.ReadAt(buf[:], 0)
		var v int64
		var ok bool
		if inst.cg != nil && inst.cg.peak != "" {
			v, ok = parseInt(string(buf[:n]))
		} else {
			v, ok = parseVmHWM(string(buf[:n]))
		}
		if ok {
			inst.maxMemory = max(inst.maxMemory, v)
		}
	}
	return inst.maxMemory
}

func (inst *instance) closeMemFile() {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.memFile != nil {
		inst.memFile.Close()
		inst.memFile = nil
	}
}

// logLine is one of the platform's own lines for an instance's log: kind 'S' (START, begins a
// tail), 'L' (a line) or 'E' (REPORT, ends a tail); id names the request for 'S' and 'E'.
type logLine struct {
	kind     byte
	id, text string
}

// writeLog puts the platform's own lines into the instance's log pipe in one write, so that
// they are ordered after everything the function wrote before.
func (inst *instance) writeLog(lines ...logLine) {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(inst.secret)
		b.WriteByte(l.kind)
		b.WriteString(l.id)
		b.WriteByte(0x1f)
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	inst.logMu.Lock()
	defer inst.logMu.Unlock()
	if !inst.logClosed {
		_, _ = inst.logW.Write(b.Bytes())
	}
}

func (inst *instance) dropTail(inv *invocation) {
	inst.mu.Lock()
	delete(inst.tails, inv.id)
	inst.mu.Unlock()
}

// readLogs turns the process's output into log events, one per line, and collects the lines
// of requests that asked for a tail.
func (inst *instance) readLogs(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 4096) // hundreds of instances each hold one: lines grow in scratch
	var scratch []byte
	var tail *bytes.Buffer
	var tailID string
	for {
		var line []byte
		var err error
		line, scratch, err = nextLine(br, scratch)
		if len(line) > 0 {
			text := string(line)
			if !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			kind, id := byte(0), ""
			if rest, ok := strings.CutPrefix(text, inst.secret); ok && len(rest) > 1 {
				kind = rest[0]
				id, text, _ = strings.Cut(rest[1:], "\x1f")
			}
			now := time.Now()
			inst.p.logs.appendEvents(inst.group, inst.stream, now, text)
			switch kind {
			case 'S':
				inst.mu.Lock()
				_, want := inst.tails[id]
				inst.mu.Unlock()
				tail, tailID = nil, ""
				if want {
					tail, tailID = &bytes.Buffer{}, id
				}
			}
			if tail != nil {
				tail.WriteString(text)
				if tail.Len() > 4*tailBytes {
					tail.Next(tail.Len() - tailBytes)
				}
			}
			if kind == 'E' && id == tailID && tail != nil {
				b := tail.Bytes()
				if len(b) > tailBytes {
					b = b[len(b)-tailBytes:]
				}
				inst.mu.Lock()
				ch := inst.tails[id]
				delete(inst.tails, id)
				inst.mu.Unlock()
				if ch != nil {
					ch <- bytes.Clone(b)
				}
				tail, tailID = nil, ""
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// nextLine returns the next line of br, at most about maxLogLine bytes (a longer line comes in
// pieces, as Lambda splits it), using scratch for lines longer than br's buffer. The line is
// valid until the next call.
func nextLine(br *bufio.Reader, scratch []byte) (line, scratchOut []byte, err error) {
	scratch = scratch[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(scratch) == 0 {
				return frag, scratch, err
			}
			scratch = append(scratch, frag...)
			return scratch, scratch, err
		}
		scratch = append(scratch, frag...)
		if len(scratch) >= maxLogLine {
			return scratch, scratch, nil
		}
	}
}

// owner is the user the instance's process runs as when isolated, else -1.
func (inst *instance) owner() int {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.uid
}

// serveRuntime answers the Lambda Runtime API (and the part of the Extensions API that
// aws-lambda-go's SIGTERM support uses) for the instance named by the path's token.
func (p *Platform) serveRuntime(w http.ResponseWriter, r *http.Request, rest string) {
	token, sub, _ := strings.Cut(rest, "/")
	p.mu.Lock()
	inst := p.instances[token]
	p.mu.Unlock()
	if inst == nil {
		runtimeError(w, http.StatusForbidden, "Runtime.UnknownInstance", "no such instance")
		return
	}
	if uid := inst.owner(); uid >= 0 && peerUID(r.Context()) != uid {
		// Isolated instances run as users of their own: a token in another user's hands is stolen.
		runtimeError(w, http.StatusForbidden, "Runtime.UnknownInstance", "no such instance")
		return
	}
	switch {
	case sub == "2018-06-01/runtime/invocation/next" && r.Method == http.MethodGet:
		inst.next(w, r)
	case strings.HasPrefix(sub, "2018-06-01/runtime/invocation/") && r.Method == http.MethodPost:
		id, action, _ := strings.Cut(strings.TrimPrefix(sub, "2018-06-01/runtime/invocation/"), "/")
		switch action {
		case "response":
			inst.respond(w, r, id, false)
		case "error":
			inst.respond(w, r, id, true)
		default:
			runtimeError(w, http.StatusNotFound, "InvalidRequest", "unknown runtime action "+action)
		}
	case sub == "2018-06-01/runtime/init/error" && r.Method == http.MethodPost:
		inst.initError(w, r)
	case sub == "2020-01-01/extension/register" && r.Method == http.MethodPost:
		inst.mu.Lock()
		inst.extension = true
		inst.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", inst.token)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"functionName":%q,"functionVersion":%q,"handler":%q}`, inst.fn, inst.version, inst.cfg.Handler)
	case sub == "2020-01-01/extension/event/next" && r.Method == http.MethodGet:
		select { // no lifecycle events are offered: block until the instance ends
		case <-inst.dead:
		case <-r.Context().Done():
		}
		runtimeError(w, http.StatusGone, "Extension.Shutdown", "instance is shutting down")
	default:
		runtimeError(w, http.StatusNotFound, "InvalidRequest", "unknown runtime API path "+sub)
	}
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorPayload(typ, msg))
}

// next hands the instance's next request to the runtime, blocking until there is one.
func (inst *instance) next(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	inst.mu.Lock()
	if !inst.ready {
		inst.ready = true
		inst.initDuration = now.Sub(inst.started)
	}
	inst.mu.Unlock()
	inst.endStart()
	select { // requests run under the instance's limits
	case <-inst.cgJoined:
	case <-inst.dead:
	case <-r.Context().Done():
		return
	}
	for {
		select {
		case inv := <-inst.work:
			if inv.finished() {
				continue // timed out waiting for this instance's init
			}
			inst.dispatch(w, inv)
			return
		case <-inst.dead:
			runtimeError(w, http.StatusGone, "Runtime.Shutdown", "instance is shutting down")
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (inst *instance) dispatch(w http.ResponseWriter, inv *invocation) {
	start := time.Now()
	deadline := start.Add(time.Duration(inst.cfg.Timeout) * time.Second)
	inst.mu.Lock()
	inv.start = start
	inst.mu.Unlock()
	inst.reportMu.Lock()
	inst.writeLog(logLine{'S', inv.id, "START RequestId: " + inv.id + " Version: " + inst.version})
	inst.reportMu.Unlock()
	close(inv.dispatched)
	h := w.Header()
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.id}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(deadline.UnixMilli(), 10)}
	h["Lambda-Runtime-Invoked-Function-Arn"] = []string{inv.arn}
	h["Lambda-Runtime-Trace-Id"] = []string{inv.trace}
	if inv.clientCtx != "" {
		h["Lambda-Runtime-Client-Context"] = []string{inv.clientCtx}
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// respond takes the runtime's response or error for request id.
func (inst *instance) respond(w http.ResponseWriter, r *http.Request, id string, isError bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSyncPayload+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	now := time.Now()
	inst.mu.Lock()
	inv := inst.cur
	if inv == nil || inv.id != id || inv.start.IsZero() {
		inst.mu.Unlock()
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "request "+id+" is not in flight on this instance")
		return
	}
	d := now.Sub(inv.start)
	inst.mu.Unlock()

	res := result{payload: body, outcome: outcomeSuccess}
	suffix := ""
	switch {
	case len(body) > maxSyncPayload:
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxSyncPayload)
		res = result{payload: errorPayload("Function.ResponseSizeTooLarge", msg), functionError: true, outcome: outcomeFunctionError}
		suffix = "\tStatus: error\tError Type: Function.ResponseSizeTooLarge"
	case isError:
		if len(body) == 0 || !json.Valid(body) {
			typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
			if typ == "" {
				typ = "Unhandled"
			}
			body = errorPayload(typ, string(body))
		}
		res = result{payload: body, functionError: true, outcome: outcomeFunctionError}
	}
	if !inv.finish(res) {
		// Timed out meanwhile; the instance is being stopped and logs the timeout.
		runtimeError(w, http.StatusGone, "Runtime.Timeout", "request "+id+" timed out")
		return
	}
	inst.mu.Lock()
	if inst.cur == inv {
		inst.cur = nil
	}
	inst.mu.Unlock()
	// Answer the runtime first so that it polls for the next request while END and REPORT are
	// produced; dispatch waits for reportMu before it writes the next START.
	inst.reportMu.Lock()
	defer inst.reportMu.Unlock()
	w.Header()["Content-Length"] = []string{"15"} // unchunked: one write for the whole answer
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	inst.report(inv, res.outcome, d, suffix)
}

// initError takes an initialization error reported by the runtime before its first request.
func (inst *instance) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	inst.writeLog(logLine{'L', "", "INIT_REPORT Phase: init\tStatus: error\tError Type: " +
		cmpOr(r.Header.Get("Lambda-Runtime-Function-Error-Type"), "Runtime.Unknown")})
	if len(body) > 0 {
		inst.writeLog(logLine{'L', "", strings.TrimSpace(string(body))})
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	go inst.stop() // the runtime is expected to exit; make sure it does
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runtimeFor returns the execution state of a function, creating it; call with p.mu held.
func (p *Platform) runtimeFor(name string) *fnRuntime {
	rt := p.rt[name]
	if rt == nil {
		rt = &fnRuntime{instances: map[*instance]struct{}{}, idle: map[string][]*instance{}}
		p.rt[name] = rt
	}
	return rt
}

// acquire returns an idle instance running cfg, or a new one (cold). The caller holds a
// concurrency slot of the function.
func (p *Platform) acquire(f *function, version string, cfg *config) (*instance, bool, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, serviceError("the local platform is shutting down")
	}
	rt := p.runtimeFor(f.Name)
	for {
		if inst := p.takeIdleLocked(rt, version, cfg); inst != nil {
			p.mu.Unlock()
			return inst, false, nil
		}
		if p.closed {
			p.mu.Unlock()
			return nil, false, serviceError("the local platform is shutting down")
		}
		if p.starting < p.opts.MaxStarting {
			break
		}
		p.metrics.startWaits.Inc()
		p.startable.Wait() // a start ends, or an instance comes free: look again
	}
	p.starting++
	switch {
	case f.Reserved != nil && len(rt.instances) >= *f.Reserved:
		p.evictIdleLocked(rt) // idle instances of its other versions
	case len(p.instances) >= p.opts.ConcurrencyLimit:
		p.evictIdleAnyLocked() // the limit bounds instances too, busy or idle
	}
	now := time.Now()
	inst := &instance{
		p:        p,
		token:    randomHex(16),
		fn:       f.Name,
		version:  version,
		cfg:      cfg,
		region:   f.Region,
		group:    cfg.logGroup(f.Name),
		stream:   cfg.logStream(f.Name, version, now),
		secret:   "\x00fz" + randomHex(8),
		codeDir:  filepath.Join(p.opts.RunDir, cfg.codeDir()),
		work:     make(chan *invocation, 1),
		dead:     make(chan struct{}),
		cgJoined: make(chan struct{}),
		tails:    map[string]chan []byte{},
		busy:     true,
		uid:      -1,
	}
	p.instances[inst.token] = inst
	rt.instances[inst] = struct{}{}
	p.procs.Add(1) // under p.mu and before Close, so Close waits for this process
	p.mu.Unlock()

	var err error = serviceError("the local platform is shutting down")
	if p.pause(context.Background(), p.opts.LatencyProfile.ColdStart.Draw()) { // sandbox creation
		err = inst.start()
	}
	if err != nil {
		inst.endStart()
		p.mu.Lock()
		delete(p.instances, inst.token)
		delete(rt.instances, inst)
		p.mu.Unlock()
		p.procs.Done()
		return nil, true, err
	}
	p.metrics.instances.WithLabelValues(f.Name).Inc()
	return inst, true, nil
}

// endStart frees the instance's start slot (Options.MaxStarting), once.
func (inst *instance) endStart() {
	inst.startOnce.Do(func() {
		p := inst.p
		p.mu.Lock()
		p.starting--
		p.startable.Broadcast()
		p.mu.Unlock()
	})
}

// takeIdleLocked returns an idle instance of version running cfg, marked busy, or nil; it stops
// idle instances of the version that are dead or run an older configuration.
func (p *Platform) takeIdleLocked(rt *fnRuntime, version string, cfg *config) *instance {
	idle := rt.idle[version]
	defer func() { rt.idle[version] = idle }()
	for len(idle) > 0 {
		inst := idle[len(idle)-1]
		idle = idle[:len(idle)-1]
		if inst.cfg != cfg || inst.isDead() {
			inst.stop()
			continue
		}
		inst.busy = true
		return inst
	}
	return nil
}

// evictIdleLocked stops the least recently used idle instance of any version to make room.
func (p *Platform) evictIdleLocked(rt *fnRuntime) {
	var victim *instance
	var vkey string
	for v, list := range rt.idle {
		if len(list) > 0 && (victim == nil || list[0].lastUsed.Before(victim.lastUsed)) {
			victim, vkey = list[0], v
		}
	}
	if victim != nil {
		rt.idle[vkey] = rt.idle[vkey][1:]
		victim.stop()
	}
}

// evictIdleAnyLocked stops the least recently used idle instance of any function.
func (p *Platform) evictIdleAnyLocked() {
	var victim *fnRuntime
	var oldest time.Time
	for _, rt := range p.rt {
		for _, list := range rt.idle {
			if len(list) > 0 && (victim == nil || list[0].lastUsed.Before(oldest)) {
				victim, oldest = rt, list[0].lastUsed
			}
		}
	}
	if victim != nil {
		p.evictIdleLocked(victim)
	}
}

// release returns an instance after a request: to the idle pool if it still runs the current
// configuration of its version, else it is stopped. It frees the caller's concurrency slot.
func (p *Platform) release(name string, inst *instance, freeSlot bool) {
	p.mu.Lock()
	rt := p.runtimeFor(name)
	if freeSlot {
		p.freeSlotLocked(name, rt)
	}
	if inst != nil {
		inst.busy = false
		f := p.fns[name]
		current := f != nil && f.version(inst.version) == inst.cfg
		if _, alive := rt.instances[inst]; alive && current && !inst.isDead() && !p.closed {
			inst.lastUsed = time.Now()
			rt.idle[inst.version] = append(rt.idle[inst.version], inst)
			p.startable.Broadcast() // a request waiting to start an instance may take this one
		} else {
			inst.stop()
		}
	}
	p.pumpLocked(name, rt)
	p.mu.Unlock()
}

// forgetInstance removes an exited instance from every index.
func (p *Platform) forgetInstance(inst *instance) {
	p.mu.Lock()
	delete(p.instances, inst.token)
	if rt := p.rt[inst.fn]; rt != nil {
		delete(rt.instances, inst)
		if list := rt.idle[inst.version]; len(list) > 0 {
			rt.idle[inst.version] = slices.DeleteFunc(list, func(i *instance) bool { return i == inst })
		}
	}
	p.mu.Unlock()
	p.metrics.instances.WithLabelValues(inst.fn).Dec()
}

// stopStaleLocked stops the idle instances of a function whose configuration for their version
// changed or went away; busy ones stop when released. Call with p.mu held.
func (p *Platform) stopStaleLocked(name string) {
	rt := p.rt[name]
	if rt == nil {
		return
	}
	f := p.fns[name]
	for v, list := range rt.idle {
		keep := list[:0]
		for _, inst := range list {
			if f != nil && f.version(v) == inst.cfg {
				keep = append(keep, inst)
			} else {
				inst.stop()
			}
		}
		rt.idle[v] = keep
	}
}

// reapIdle stops instances idle for longer than IdleTimeout.
func (p *Platform) reapIdle() {
	defer p.bg.Done()
	every := min(max(p.opts.IdleTimeout/4, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.closing:
			return
		case now := <-t.C:
			p.mu.Lock()
			for _, rt := range p.rt {
				for v, list := range rt.idle {
					keep := list[:0]
					for _, inst := range list {
						if now.Sub(inst.lastUsed) > p.opts.IdleTimeout {
							inst.stop()
						} else {
							keep = append(keep, inst)
						}
					}
					rt.idle[v] = keep
				}
			}
			p.mu.Unlock()
		}
	}
}

// execute runs inv on an instance of the function's version and returns the invocation that
// ran (a warm instance that died before taking the request is replaced, with a new invocation
// of the same request ID). The caller holds a concurrency slot, which execute releases.
func (p *Platform) execute(f *function, version string, cfg *config, inv *invocation) *invocation {
	if retry := p.executeOnce(f, version, cfg, inv, false); !retry {
		return inv
	}
	fresh := newInvocation(inv.id, inv.payload)
	fresh.arn, fresh.trace, fresh.clientCtx, fresh.tail = inv.arn, inv.trace, inv.clientCtx, inv.tail
	p.executeOnce(f, version, cfg, fresh, true)
	return fresh
}

// executeOnce runs inv on one instance. It reports retry, keeping the concurrency slot, when a
// warm instance died before taking the request and lastTry is false.
func (p *Platform) executeOnce(f *function, version string, cfg *config, inv *invocation, lastTry bool) (retry bool) {
	inst, cold, err := p.acquire(f, version, cfg)
	if err != nil {
		p.release(f.Name, nil, true)
		if ae, ok := err.(*apiError); ok {
			inv.finish(result{payload: errorPayload(ae.typ, ae.msg), functionError: true, outcome: outcomeCrash})
			return false
		}
		p.log.Warn("local platform: bootstrap does not start", "function", f.Name, "err", err)
		msg := entrypointError(inv.id, err)
		now := time.Now()
		p.logs.appendEvents(cfg.logGroup(f.Name), cfg.logStream(f.Name, version, now), now, msg+"\n", "Runtime.InvalidEntrypoint\n")
		p.metrics.observe(f.Name, outcomeCrash, cold, 0, 0, cfg.MemorySize)
		inv.finish(result{payload: errorPayload("Runtime.InvalidEntrypoint", msg), functionError: true, outcome: outcomeCrash})
		return false
	}
	inv.cold = cold
	if inv.tail {
		inv.tailCh = make(chan []byte, 1)
	}
	inst.mu.Lock()
	inst.cur = inv
	if inv.tail {
		inst.tails[inv.id] = inv.tailCh
	}
	inst.mu.Unlock()
	if inst.isDead() {
		inst.mu.Lock()
		if inst.cur == inv {
			inst.cur = nil
		}
		inst.mu.Unlock()
		inst.failInFlight(inv, inst.exitErr)
	}
	inst.work <- inv

	initTimer := time.NewTimer(initTimeout)
	select {
	case <-inv.dispatched:
	case <-inv.done:
	case <-initTimer.C:
		msg := "RequestId: " + inv.id + " Error: Task timed out after " + formatSeconds(initTimeout) + " during init"
		if inv.finish(result{payload: errorPayload("Sandbox.Timedout", msg), functionError: true, outcome: outcomeTimeout}) {
			inst.stop()
		}
	case <-p.closing:
		inv.finish(result{payload: errorPayload("ServiceException", "the local platform is shutting down"), functionError: true, outcome: outcomeCrash})
	}
	initTimer.Stop()
	if !inv.finished() {
		timeout := time.Duration(cfg.Timeout) * time.Second
		t := time.NewTimer(timeout)
		select {
		case <-inv.done:
		case <-t.C:
			msg := "RequestId: " + inv.id + " Error: Task timed out after " + formatSeconds(timeout)
			if inv.finish(result{payload: errorPayload("Sandbox.Timedout", msg), functionError: true, outcome: outcomeTimeout}) {
				inst.stop()
			}
		case <-p.closing:
			inv.finish(result{payload: errorPayload("ServiceException", "the local platform is shutting down"), functionError: true, outcome: outcomeCrash})
		}
		t.Stop()
	}
	<-inv.done
	retry = inv.res.undispatched && !cold && !lastTry
	p.release(f.Name, inst, !retry)
	return retry
}

// awaitTail returns the base64 tail of the invocation's log once its REPORT line is written.
func (p *Platform) awaitTail(inv *invocation) string {
	if inv.tailCh == nil {
		return ""
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case b := <-inv.tailCh:
		return base64.StdEncoding.EncodeToString(b)
	case <-t.C:
		return ""
	}
}
