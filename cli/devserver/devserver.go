// Package devserver runs a persistent, single-node Temporal server and the
// Temporal Web UI inside the current process, for `fusionize dev`.
//
// The server is the real one (go.temporal.io/server/temporal) with all four
// services (frontend, history, matching, worker) in one process, storing
// everything in one SQLite file under Options.DataDir, so namespaces and
// workflow histories survive a restart. The Web UI is the real ui-server
// (github.com/temporalio/ui-server/v2/server) with its embedded assets,
// talking to the frontend over gRPC. Nothing is downloaded and nothing
// needs Docker or cgo.
//
// Usage:
//
//	srv, err := devserver.New(devserver.Options{DataDir: ".fusionize/temporal"})
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... }
//	defer srv.Stop()
//	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress()})
//
// # Files
//
// DataDir holds temporal.db (the SQLite database, with its WAL files
// temporal.db-wal and temporal.db-shm while running) and devserver.lock,
// which a running server holds with flock(2) so that a second dev server on
// the same directory fails fast instead of sharing the database. The schema
// is created only when temporal.db does not exist yet; later starts reuse
// the stored namespaces and histories.
//
// # Ports
//
// Everything listens on Options.Host (127.0.0.1 by default):
//   - the frontend gRPC port, Options.FrontendPort (DefaultFrontendPort 7233
//     for the CLI; 0 = a free port);
//   - the Web UI HTTP port, Options.UIPort (DefaultUIPort 8233 for the CLI;
//     0 = a free port; NoUI = -1 runs without the UI);
//   - seven internal ports: the gRPC ports of the history, matching and
//     worker services and the four membership (ringpop) ports. These are
//     free ports chosen by the kernel at each start, so they never collide
//     with a fixed port of another program. Clients only ever need the
//     frontend port.
//
// The frontend's HTTP API, metrics and pprof listeners are disabled. Each
// service records its membership address in the database; Start deletes
// the records of earlier runs (the lock proves them dead), otherwise a
// quick restart would try to join the previous run's ports and stall.
//
// # Namespace and search attributes
//
// Options.Namespace (default "default") is created with Options.Retention
// when missing. Options.SearchAttributes are registered on it at every
// start: missing ones are added, existing ones with the same type are kept,
// an existing one with another type is an error.
//
// # Logs
//
// The Temporal server's own logs go to Options.Logger, but only at warn
// level and above (at info level the server logs many lines per second),
// and not while it stops, when its services log every peer that went away.
//
// # Limits
//
//   - Start checks that the ports are free just before binding them. A
//     program that takes a server port in that instant makes Start fail
//     with the server's listener error; one that takes the UI port makes
//     the ui-server end the process (it exits on a failed bind).
//   - ctx bounds the wait for the frontend and the UI; the Temporal
//     services' own start is bounded by the server (about a minute).
//   - The ui-server does not close its gRPC connection on Stop: a Server
//     started and stopped many times in one process leaks one idle
//     connection per run.
package devserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/temporal"
)

// Defaults. New applies DefaultHost, DefaultNamespace and DefaultRetention
// to zero fields. The port defaults are for the caller (the CLI's flag
// defaults): a zero port means "pick a free port", as in net.Listen.
const (
	DefaultHost         = "127.0.0.1"
	DefaultFrontendPort = 7233
	DefaultUIPort       = 8233
	DefaultNamespace    = "default"
	DefaultRetention    = 7 * 24 * time.Hour

	// NoUI as Options.UIPort runs the Temporal server without the Web UI.
	NoUI = -1

	// DBFile and LockFile are the names of the files kept in Options.DataDir.
	DBFile   = "temporal.db"
	LockFile = "devserver.lock"

	// startTimeout bounds Start when ctx has no earlier deadline.
	startTimeout = 60 * time.Second
	// pollInterval is the pause between readiness probes.
	pollInterval = 50 * time.Millisecond
)

// ErrDataDirInUse is returned (wrapped) by Start when another dev server is
// running on the same DataDir.
var ErrDataDirInUse = errors.New("another dev server is using this data directory")

// Options configures a Server. Only DataDir is required.
type Options struct {
	// DataDir is the directory for the SQLite database and the lock file.
	// It is created if missing.
	DataDir string
	// Host is the IP address every listener binds to. Default 127.0.0.1.
	Host string
	// FrontendPort is the frontend gRPC port clients dial, normally
	// DefaultFrontendPort (7233). 0 picks a free port at each start (read it
	// back with FrontendAddress), as in net.Listen.
	FrontendPort int
	// UIPort is the Web UI HTTP port, normally DefaultUIPort (8233). 0 picks
	// a free port at each start (see UIURL); NoUI (-1) runs without the UI.
	UIPort int
	// Namespace is created at start when missing. Default "default".
	Namespace string
	// Retention of closed workflows in a namespace created at start.
	// Default 7 days; at least one day. An existing namespace keeps its own.
	Retention time.Duration
	// SearchAttributes are registered idempotently on Namespace at start,
	// e.g. {"FusionizeApp": enumspb.INDEXED_VALUE_TYPE_KEYWORD}.
	SearchAttributes map[string]enumspb.IndexedValueType
	// UIColumns are the columns of the Web UI's workflow list for Namespace in a browser that
	// has none stored for it: the UI's own ("Status", "Workflow ID", "Run ID", "Type", "Start",
	// "End", ...) and search attribute names. A person's changes in the UI stay in their
	// browser. Empty keeps the UI's defaults, which show no search attribute. The assets with
	// this default are written once to DataDir (about 5 MB).
	UIColumns []string
	// Logger receives the server's warnings and errors and the dev server's
	// own messages. Default: text to stderr.
	Logger *slog.Logger
}

// Server is an embedded Temporal dev server with its Web UI. Create it with
// New. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger // dev server messages

	mu       sync.Mutex
	running  bool
	temporal temporal.Server
	ui       *uiserver.Server
	uiDone   chan struct{}
	unlock   func()
	// srvLog takes the Temporal server's messages of one run, warn and
	// above; muted silences it from Stop on, also for the run's goroutines
	// that outlive Stop.
	srvLog       *slog.Logger
	muted        *atomic.Bool
	frontendAddr string
	uiURL        string
}

// New validates opts, applies the defaults and returns a stopped Server.
// Every problem in opts is reported together.
func New(opts Options) (*Server, error) {
	if opts.Host == "" {
		opts.Host = DefaultHost
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	var errs []error
	if opts.DataDir == "" {
		errs = append(errs, errors.New("DataDir is required"))
	}
	if ip := net.ParseIP(opts.Host); ip == nil {
		errs = append(errs, fmt.Errorf("option Host %q is not an IP address", opts.Host))
	}
	if opts.FrontendPort < 0 || opts.FrontendPort > 65535 {
		errs = append(errs, fmt.Errorf("FrontendPort %d is not a port (0-65535, 0 for a free port)", opts.FrontendPort))
	}
	if opts.UIPort < NoUI || opts.UIPort > 65535 {
		errs = append(errs, fmt.Errorf("UIPort %d is not a port (0-65535, 0 for a free port, -1 for no UI)", opts.UIPort))
	}
	if opts.FrontendPort > 0 && opts.FrontendPort == opts.UIPort {
		errs = append(errs, fmt.Errorf("FrontendPort and UIPort are both %d", opts.UIPort))
	}
	if opts.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("option Retention %s is shorter than the server's minimum of 24h", opts.Retention))
	}
	for name, typ := range opts.SearchAttributes {
		if name == "" {
			errs = append(errs, errors.New("SearchAttributes has an empty name"))
		}
		if _, ok := enumspb.IndexedValueType_name[int32(typ)]; !ok || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			errs = append(errs, fmt.Errorf("search attribute %q has invalid type %d", name, typ))
		}
	}
	if len(errs) == 0 {
		// The SQLite visibility store has a fixed number of columns per
		// type; find out now rather than at start.
		if _, err := newNamespaceConfig(opts); err != nil {
			errs = append(errs, fmt.Errorf("SearchAttributes: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("devserver options: %w", err)
	}

	return &Server{
		opts: opts,
		log:  opts.Logger,
	}, nil
}
