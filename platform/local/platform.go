package local

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fusionize/fusionize/platform/local/cgroups"
	"github.com/fusionize/fusionize/platform/local/cwlogs"
)

// Defaults for Options.
const (
	DefaultAddr              = "127.0.0.1:0"
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultLogRetentionBytes = 16 << 20
	DefaultAsyncQueueSize    = 10000
	DefaultAsyncQueueBytes   = 64 << 20
	DefaultLogBytes          = 64 << 20
)

// DefaultAsyncRetryDelays are the waits before the two retries of a failed asynchronous
// invocation: Lambda's one and two minutes scaled down to seconds for a local platform.
var DefaultAsyncRetryDelays = []time.Duration{time.Second, 2 * time.Second}

// Options configure a Platform. Only DataDir is required.
type Options struct {
	// Addr is the TCP address of the one listener serving every API; default 127.0.0.1:0 (a
	// free port, see Endpoint).
	Addr string
	// DataDir holds the persisted functions, versions, aliases and unpacked code. Required.
	DataDir string
	// RunDir holds the unpacked code (RunDir/code) and the isolated instances' tmp directories
	// (RunDir/tmp). Default DataDir; but where functions run as users of their own (the
	// platform runs as root) and other users may not search DataDir's parents (say, under
	// /root), the default is DefaultIsolatedRunDir/<hash of DataDir>, root's and searchable,
	// so that the functions' users reach their code. Code already unpacked elsewhere moves.
	RunDir string
	// Registerer receives the platform's Prometheus collectors; nil registers them nowhere.
	// GET /metrics serves them from a private registry either way.
	Registerer prometheus.Registerer
	// Logger receives the platform's own logs (not the functions'); nil discards them.
	Logger *slog.Logger
	// IdleTimeout stops instances idle for longer; default 10 minutes.
	IdleTimeout time.Duration
	// ConcurrencyLimit is the platform's concurrency limit, shared by all functions as Lambda's
	// account-wide limit per region is: requests running at once, and instances running at
	// once. A function with reserved concurrency (PutFunctionConcurrency) runs at most that
	// many requests; the others share the rest. Synchronous invocations beyond a limit are
	// throttled (429 TooManyRequestsException), asynchronous ones wait in their queue (up to
	// AsyncQueueSize events). Default DefaultConcurrencyLimit(): Lambda's 1,000, or less where
	// the machine's memory or open-file limit cannot hold that many instances.
	ConcurrencyLimit int
	// MaxStarting bounds the instances starting (cold starts in progress) at once across the
	// platform; a request that needs a new instance beyond it waits for a start to finish or
	// for a warm instance of its version to come free, whichever is first. Lambda starts
	// instances on hosts of their own; on one machine every start costs the CPU the running
	// requests need, and unbounded starts under load turn into hundreds of processes that slow
	// each other down. Default DefaultMaxStarting().
	MaxStarting int
	// LatencyProfile adds AWS Lambda's own overheads (Invoke round trip, event queueing,
	// sandbox creation) to every invocation; the zero value adds none. See LatencyProfileAWS.
	LatencyProfile LatencyProfile
	// LogRetentionBytes bounds each log group in memory (message bytes plus 26 per event, as
	// CloudWatch counts); the oldest events are dropped first. Default 16 MiB.
	LogRetentionBytes int
	// Cgroups is CgroupsAuto (default: enforce memory sizes where the machine allows) or
	// CgroupsOff.
	Cgroups string
	// AsyncRetryDelays are the waits before each retry of an asynchronous invocation that
	// failed; default DefaultAsyncRetryDelays (two retries, as Lambda). An empty non-nil slice
	// disables retries.
	AsyncRetryDelays []time.Duration
	// AsyncQueueSize bounds the queued asynchronous events per function; default 10000.
	AsyncQueueSize int
	// AsyncQueueBytes bounds the payload bytes of asynchronous events held across all functions
	// (queued, running or waiting for a retry); beyond it Invoke answers
	// TooManyRequestsException. Default 64 MiB. DeleteFunction frees its function's events.
	AsyncQueueBytes int64
	// LogBytes bounds the logs kept in memory across all log groups (counted as
	// LogRetentionBytes is); the oldest events of any group go first. Default 64 MiB.
	LogBytes int64
	// Region is used for ARNs when a request does not name one in its signature; default
	// us-east-1.
	Region string
	// Isolation is IsolationAuto (default: where the platform runs as root, each function's
	// instances run as an unprivileged user of their own) or IsolationOff. Status says what
	// holds.
	Isolation string
	// FirstUID is the first user ID given to functions when isolated; each function gets one
	// of the 2^24 IDs from there (without /etc/passwd entries). Default DefaultFirstUID.
	FirstUID uint32
	// AllowRemote lets Addr be an address other machines reach (0.0.0.0, a LAN address). The
	// platform runs whatever code its callers deploy and checks no signature, so by default New
	// refuses any address that is not loopback; with AllowRemote it serves and logs a warning,
	// and requests may name the platform by any IP address in their Host header.
	AllowRemote bool
	// AllowedHosts are further host names a request's Host header may give (besides localhost,
	// loopback addresses and the listener's own address), e.g. a name the machine has on its
	// network when AllowRemote is set. Any other Host is refused, which keeps DNS rebinding
	// pages out.
	AllowedHosts []string
	// AllowedOrigins are web origins (scheme://host[:port]) whose browser requests are served;
	// by default a request carrying any Origin header is refused.
	AllowedOrigins []string
}

func (o *Options) withDefaults() (Options, error) {
	out := *o
	var problems []string
	if out.DataDir == "" {
		problems = append(problems, "DataDir is required")
	}
	if out.Addr == "" {
		out.Addr = DefaultAddr
	}
	if out.IdleTimeout == 0 {
		out.IdleTimeout = DefaultIdleTimeout
	} else if out.IdleTimeout < 0 {
		problems = append(problems, fmt.Sprintf("IdleTimeout %v is negative", out.IdleTimeout))
	}
	problems = out.concurrencyDefaults(problems)
	if out.LogRetentionBytes == 0 {
		out.LogRetentionBytes = DefaultLogRetentionBytes
	} else if out.LogRetentionBytes < 4096 {
		problems = append(problems, fmt.Sprintf("LogRetentionBytes %d is below 4096", out.LogRetentionBytes))
	}
	switch out.Cgroups {
	case "":
		out.Cgroups = CgroupsAuto
	case CgroupsAuto, CgroupsOff:
	default:
		problems = append(problems, fmt.Sprintf("Cgroups %q is neither %q nor %q", out.Cgroups, CgroupsAuto, CgroupsOff))
	}
	if out.AsyncRetryDelays == nil {
		out.AsyncRetryDelays = DefaultAsyncRetryDelays
	}
	for _, d := range out.AsyncRetryDelays {
		if d < 0 {
			problems = append(problems, fmt.Sprintf("AsyncRetryDelays has negative delay %v", d))
		}
	}
	if out.AsyncQueueSize == 0 {
		out.AsyncQueueSize = DefaultAsyncQueueSize
	} else if out.AsyncQueueSize < 0 {
		problems = append(problems, fmt.Sprintf("AsyncQueueSize %d is negative", out.AsyncQueueSize))
	}
	if out.AsyncQueueBytes == 0 {
		out.AsyncQueueBytes = DefaultAsyncQueueBytes
	} else if out.AsyncQueueBytes < maxAsyncPayload+eventOverheadBytes {
		problems = append(problems, fmt.Sprintf("AsyncQueueBytes %d is below one largest event (%d)", out.AsyncQueueBytes, maxAsyncPayload+eventOverheadBytes))
	}
	if out.LogBytes == 0 {
		out.LogBytes = DefaultLogBytes
	} else if out.LogBytes < 4096 {
		problems = append(problems, fmt.Sprintf("LogBytes %d is below 4096", out.LogBytes))
	}
	switch out.Isolation {
	case "":
		out.Isolation = IsolationAuto
	case IsolationAuto, IsolationOff:
	default:
		problems = append(problems, fmt.Sprintf("Isolation %q is neither %q nor %q", out.Isolation, IsolationAuto, IsolationOff))
	}
	if out.FirstUID == 0 {
		out.FirstUID = DefaultFirstUID
	} else if out.FirstUID < 65536 || uint64(out.FirstUID)+uidPoolSize > 1<<31 {
		problems = append(problems, fmt.Sprintf("FirstUID %d is not between 65536 and %d", out.FirstUID, 1<<31-uidPoolSize))
	}
	if out.Region == "" {
		out.Region = defaultRegion
	} else if !regionRE.MatchString(out.Region) {
		problems = append(problems, fmt.Sprintf("Region %q is not a region name", out.Region))
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("local platform options: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

// concurrencyDefaults fills in the concurrency limit and checks it and the latency profile,
// adding what is wrong to problems.
func (o *Options) concurrencyDefaults(problems []string) []string {
	if o.ConcurrencyLimit == 0 {
		o.ConcurrencyLimit = DefaultConcurrencyLimit()
	} else if o.ConcurrencyLimit < 0 {
		problems = append(problems, fmt.Sprintf("ConcurrencyLimit %d is negative", o.ConcurrencyLimit))
	}
	if o.MaxStarting == 0 {
		o.MaxStarting = DefaultMaxStarting()
	} else if o.MaxStarting < 0 {
		problems = append(problems, fmt.Sprintf("MaxStarting %d is negative", o.MaxStarting))
	}
	if err := o.LatencyProfile.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// Platform is a running local Lambda-compatible platform. Create it with New; it serves until
// Close.
type Platform struct {
	opts     Options
	log      *slog.Logger
	ln       net.Listener
	srv      *http.Server
	endpoint string
	runtime  string // host:port/runtime, the base of AWS_LAMBDA_RUNTIME_API
	metrics  *metrics
	registry *prometheus.Registry
	metricsH http.Handler
	guard    *requestGuard
	// asyncBytes counts the asynchronous events' bytes against AsyncQueueBytes.
	asyncBytes *byteBudget
	logs       *cwlogs.Store
	sandbox    *sandbox
	cgroups    *cgroups.Manager
	cgStatus   CgroupStatus
	closing    chan struct{}
	served     chan struct{}
	lock       *os.File // flock on DataDir/lock: one platform per data directory

	persistMu sync.Mutex   // orders state writes
	codeMu    sync.RWMutex // deployments (read) against garbage collection of code (write)

	mu        sync.Mutex
	fns       map[string]*function  // persisted state
	rt        map[string]*fnRuntime // instances and queues per function name
	instances map[string]*instance  // by runtime token
	byKey     map[string]*instance  // by access key (instance.accessKey)
	closed    bool
	starting  int        // instances starting now, bounded by Options.MaxStarting
	startable *sync.Cond // on p.mu: signalled when a start ends or an instance comes free

	reserved           int                 // concurrency reserved by all functions
	unreservedInflight int                 // slots taken from the unreserved pool
	waiting            map[string]struct{} // functions whose events wait for the unreserved pool

	exitedCPU atomic.Int64 // CPU time of exited instances, ns
	cpu       cpuMonitor

	bg    sync.WaitGroup // async invocations, retry timers, the reaper
	procs sync.WaitGroup // instance processes
}

// Cgroup modes for Options.Cgroups.
const (
	CgroupsAuto = "auto" // enforce memory sizes with cgroups where writable, else run unthrottled
	CgroupsOff  = "off"  // never use cgroups
)

// CgroupStatus says whether memory sizes are enforced with cgroups, and why not.
type CgroupStatus struct {
	Enforced bool   // CPU quota and memory limit are applied to every instance
	Version  string // "v1" or "v2" when enforced
	Reason   string // why limits are not enforced
}

// FunctionStatus describes one function in Status.
type FunctionStatus struct {
	Name             string
	Versions         []string // published versions, ascending
	Aliases          []string
	Instances        int // running processes
	Busy             int // instances serving a request
	InFlight         int // invocations holding a concurrency slot
	Queued           int // asynchronous events waiting
	ConcurrencyLimit int
}

// Status is a snapshot of the platform.
type Status struct {
	Endpoint  string
	Functions []FunctionStatus // sorted by name
	Instances int
	Cgroups   CgroupStatus
	Isolation IsolationStatus
	// AsyncBytes is what asynchronous events hold (bounded by Options.AsyncQueueBytes), LogBytes
	// what the logs hold (bounded by Options.LogBytes).
	AsyncBytes, LogBytes int64
	// ConcurrencyLimit is shared by all functions; Reserved of it is set aside by functions
	// with reserved concurrency, and InFlight invocations hold a slot now.
	ConcurrencyLimit int
	Reserved         int
	InFlight         int
	// LatencyProfile is the name of the latency profile in force ("none" or "aws").
	LatencyProfile string
}

// New validates opts, loads the state persisted in opts.DataDir, and starts serving on
// opts.Addr: the platform is usable as soon as New returns, at Endpoint. Close stops it.
func New(opts Options) (*Platform, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	lock, fns, err := openDataDir(&o)
	if err != nil {
		return nil, err
	}
	p := &Platform{
		opts:       o,
		log:        o.Logger,
		registry:   prometheus.NewRegistry(),
		logs:       cwlogs.New(o.LogRetentionBytes, o.LogBytes),
		asyncBytes: newByteBudget(o.AsyncQueueBytes),
		closing:    make(chan struct{}),
		served:     make(chan struct{}),
		lock:       lock,
		fns:        fns,
		rt:         map[string]*fnRuntime{},
		instances:  map[string]*instance{},
		byKey:      map[string]*instance{},
		waiting:    map[string]struct{}{},
	}
	p.startable = sync.NewCond(&p.mu)
	p.recountReservedLocked()
	if left := o.ConcurrencyLimit - p.reserved; left < p.minUnreserved() {
		p.log.Warn("local platform: reserved concurrency leaves too little for functions without a reservation",
			"concurrencyLimit", o.ConcurrencyLimit, "reserved", p.reserved, "unreserved", left)
	}
	if err := p.setupMetrics(); err != nil {
		lock.Close()
		return nil, err
	}
	p.sandbox = newSandbox(o)
	if !p.sandbox.status.Enabled {
		p.log.Warn("local platform: functions are not isolated from each other", "reason", p.sandbox.status.Reason)
	}

	p.setupCgroups()

	if err := p.serve(); err != nil {
		p.shutdownSetup()
		return nil, err
	}
	p.bg.Add(2)
	go p.reapIdle()
	go p.watchCPU()
	p.log.Info("local platform: serving", "endpoint", p.endpoint, "dataDir", o.DataDir,
		"functions", len(fns), "cgroups", p.cgStatus.Enforced, "concurrencyLimit", o.ConcurrencyLimit,
		"latencyProfile", o.LatencyProfile.String())
	if o.LatencyProfile.On() {
		p.log.Warn("local platform: " + o.LatencyProfile.Describe())
	}
	return p, nil
}

// openDataDir makes the data directory, locks it for this platform alone, loads the
// functions persisted there and prepares the run directory.
func openDataDir(o *Options) (*os.File, map[string]*function, error) {
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("local platform data dir: %w", err)
	}
	lock, err := lockDataDir(o.DataDir)
	if err != nil {
		return nil, nil, err
	}
	fns, err := loadState(o.DataDir)
	if err == nil {
		err = prepareRunDir(o, fns)
	}
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return lock, fns, nil
}

// serve listens on the platform's address and serves every API there.
func (p *Platform) serve() error {
	ln, err := listen(p.opts, p.log)
	if err != nil {
		return err
	}
	p.ln = ln
	p.guard = newRequestGuard(ln.Addr(), p.opts)
	p.endpoint = "http://" + ln.Addr().String()
	p.runtime = ln.Addr().String() + "/runtime"
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		ConnContext:       withConn,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(p.served)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("local platform: serve", "err", err)
		}
	}()
	return nil
}

// setupMetrics registers the platform's collectors in its own registry, served at /metrics,
// and in Options.Registerer.
func (p *Platform) setupMetrics() error {
	p.metrics = newMetrics(func() float64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return float64(len(p.fns))
	})
	if err := p.metrics.register(p.registry); err != nil {
		return fmt.Errorf("local platform metrics: %w", err)
	}
	if p.opts.Registerer != nil {
		if err := p.metrics.register(p.opts.Registerer); err != nil {
			p.metrics.unregister(p.opts.Registerer)
			return fmt.Errorf("local platform metrics: %w", err)
		}
	}
	p.metrics.profile.WithLabelValues(p.opts.LatencyProfile.String()).Set(1)
	p.metricsH = promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{})
	return nil
}

// setupCgroups enforces memory sizes with cgroups where the options and the machine allow.
func (p *Platform) setupCgroups() {
	if p.opts.Cgroups == CgroupsOff {
		p.cgStatus = CgroupStatus{Reason: "disabled by option (cgroups off)"}
		return
	}
	var reason string
	p.cgroups, reason = cgroups.New()
	if p.cgroups == nil {
		p.cgStatus = CgroupStatus{Reason: reason}
		p.log.Warn("local platform: memory sizes are NOT enforced, instances run without CPU quota or memory limit",
			"reason", reason)
		return
	}
	p.cgStatus = CgroupStatus{Enforced: true, Version: "v1"}
	if p.cgroups.V2 {
		p.cgStatus.Version = "v2"
	}
	if err := p.cgroups.JoinPlatform(); err != nil {
		p.log.Warn("local platform: the platform's process stays in its cgroup; instances' async work may delay its routing",
			"reason", err)
	}
}

// LatencyProfile is the latency profile the platform adds to invocations.
func (p *Platform) LatencyProfile() LatencyProfile { return p.opts.LatencyProfile }

func (p *Platform) shutdownSetup() {
	if p.opts.Registerer != nil {
		p.metrics.unregister(p.opts.Registerer)
	}
	if p.cgroups != nil {
		p.cgroups.Close()
	}
	p.lock.Close() // releases the flock
}

// lockDataDir takes an exclusive lock on dir, so that two platforms never share its state.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("local platform data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("local platform data dir %s is in use by another platform: %w", dir, err)
	}
	return f, nil
}

// Endpoint is the base URL of every API, e.g. "http://127.0.0.1:43211": set it as the
// aws-sdk-go-v2 BaseEndpoint or as AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.
func (p *Platform) Endpoint() string { return p.endpoint }

// Close stops accepting requests, stops every instance, waits for them and for queued work, and
// removes the cgroups it created. Queued asynchronous events are dropped. Persisted state stays
// in DataDir for the next New.
func (p *Platform) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.startable.Broadcast()
	all := slices.Collect(maps.Values(p.instances))
	for _, rt := range p.rt {
		p.dropQueueLocked(rt)
	}
	p.mu.Unlock()

	for _, inst := range all {
		inst.stop()
	}
	var errs []error
	if err := waitGroup(ctx, &p.procs); err != nil {
		errs = append(errs, fmt.Errorf("wait for instances: %w", err))
	}
	if err := p.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop server: %w", err))
		_ = p.srv.Close()
	}
	if err := waitGroup(ctx, &p.bg); err != nil {
		errs = append(errs, fmt.Errorf("wait for background work: %w", err))
	}
	p.shutdownSetup()
	p.log.Info("local platform: closed", "endpoint", p.endpoint)
	return errors.Join(errs...)
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status reports functions, instances and whether cgroup limits are enforced.
func (p *Platform) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Endpoint: p.endpoint, Cgroups: p.cgStatus, Isolation: p.sandbox.status, Instances: len(p.instances),
		AsyncBytes: p.asyncBytes.inUse(), LogBytes: p.logs.Bytes(),
		ConcurrencyLimit: p.opts.ConcurrencyLimit, Reserved: p.reserved, LatencyProfile: p.opts.LatencyProfile.String()}
	for _, name := range slices.Sorted(maps.Keys(p.fns)) {
		f := p.fns[name]
		fs := FunctionStatus{
			Name:             name,
			Versions:         f.sortedVersions(),
			Aliases:          slices.Sorted(maps.Keys(f.Aliases)),
			ConcurrencyLimit: p.limitLocked(f),
		}
		if rt := p.rt[name]; rt != nil {
			fs.Instances = len(rt.instances)
			fs.InFlight = rt.inflight
			st.InFlight += rt.inflight
			fs.Queued = len(rt.queue)
			for inst := range rt.instances {
				if inst.busy {
					fs.Busy++
				}
			}
		}
		st.Functions = append(st.Functions, fs)
	}
	return st
}

// listen opens the listener at o.Addr, refusing an address other machines can reach unless
// o.AllowRemote says so.
func listen(o Options, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("local platform listen on %s: %w", o.Addr, err)
	}
	a, _ := ln.Addr().(*net.TCPAddr)
	if a != nil && a.IP.IsLoopback() {
		return ln, nil
	}
	if !o.AllowRemote {
		ln.Close()
		return nil, fmt.Errorf("local platform listen on %s: %s is not a loopback address, and the platform runs "+
			"whatever code a caller deploys without checking who it is: serve on 127.0.0.1, or allow other "+
			"machines explicitly (Options.AllowRemote, fusionize platform --allow-remote)", o.Addr, ln.Addr())
	}
	log.Warn("local platform: serving on a non-loopback address: anyone who reaches it can deploy and run code as this user",
		"addr", ln.Addr().String())
	return ln, nil
}

// serveHTTP routes the one listener's requests: the Runtime API under /runtime/, Prometheus at
// /metrics, CloudWatch Logs at POST / with X-Amz-Target, and the Lambda REST API. Each is
// refused first if its guard says so (guard.go).
func (p *Platform) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(path, "/runtime/"):
		if err := p.guard.check(r, apiRuntime); err != nil {
			runtimeError(w, err.status, err.typ, err.msg)
			return
		}
		p.serveRuntime(w, r, path[len("/runtime/"):])
	case path == "/metrics" && r.Method == http.MethodGet:
		if err := p.guard.check(r, apiMetrics); err != nil {
			http.Error(w, err.msg, err.status)
			return
		}
		p.metricsH.ServeHTTP(w, r)
	case path == InfoPath && r.Method == http.MethodGet:
		if err := p.guard.check(r, apiMetrics); err != nil {
			http.Error(w, err.msg, err.status)
			return
		}
		p.serveInfo(w)
	case path == "/" && r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") != "":
		reqID := newRequestID()
		if err := p.guard.check(r, apiLogs); err != nil {
			cwlogs.WriteError(w, reqID, err.status, err.typ, err.msg)
			return
		}
		p.logs.Serve(w, r, reqID)
	default:
		if err := p.guard.check(r, apiLambda); err != nil {
			writeLambdaError(w, newRequestID(), err)
			return
		}
		p.serveLambda(w, r, path)
	}
}

// newRequestID returns a random UUID (version 4) as Lambda uses for request IDs. IDs need to be
// unique, not secret: math/rand/v2's generator is seeded from the OS and costs no system call.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// randomHex returns n random bytes in hex. Instance tokens use crypto/rand: they authorize
// calls to the Runtime API.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = cryptorand.Read(b)
	return hex.EncodeToString(b)
}

// fastHex returns n pseudo-random bytes in hex, for identifiers that only need to be unique.
func fastHex(n int) string {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return hex.EncodeToString(b[:n])
}
