package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

// clusterName is the name of the one-node cluster stored in the database.
const clusterName = "active"

// FrontendAddress returns the frontend's host:port, e.g. "127.0.0.1:7233".
// With FrontendPort 0 it is known only after Start.
func (s *Server) FrontendAddress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frontendAddr != "" {
		return s.frontendAddr
	}
	return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.FrontendPort))
}

// UIURL returns the Web UI's base URL, e.g. "http://127.0.0.1:8233", or ""
// when the UI is disabled. With UIPort 0 it is known only after Start.
func (s *Server) UIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.UIPort == NoUI {
		return ""
	}
	if s.uiURL != "" {
		return s.uiURL
	}
	return "http://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.UIPort))
}

// Namespace returns the namespace the server makes sure exists.
func (s *Server) Namespace() string { return s.opts.Namespace }

// Start starts the Temporal server and the Web UI and returns once the
// frontend answers for the namespace, the search attributes are registered
// and the UI answers. It fails when ctx ends first (or after a minute), and
// stops whatever it had started. A Server can be started again after Stop.
func (s *Server) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("devserver: already started")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	defer func() {
		if err != nil {
			s.stopLocked()
			err = fmt.Errorf("start Temporal dev server in %s: %w", s.opts.DataDir, err)
		}
	}()
	s.running = true // so that stopLocked cleans up a partial start
	s.muted = new(atomic.Bool)
	s.srvLog = slog.New(serverHandler{min: slog.LevelWarn, muted: s.muted, next: s.log.Handler()}).With("component", "temporal")

	if err := os.MkdirAll(s.opts.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	s.unlock, err = lockDataDir(filepath.Join(s.opts.DataDir, LockFile))
	if err != nil {
		return err
	}

	ports, err := s.pickPorts()
	if err != nil {
		return err
	}
	s.frontendAddr = net.JoinHostPort(s.opts.Host, strconv.Itoa(ports.frontend))

	cfg := s.serverConfig(ports)
	sqlCfg := cfg.Persistence.DataStores[sqliteplugin.PluginName].SQL
	if err := setupDatabase(sqlCfg, s.opts); err != nil {
		return err
	}

	s.temporal, err = s.newTemporalServer(cfg)
	if err != nil {
		return err
	}
	if err := startTemporal(s.temporal); err != nil {
		return fmt.Errorf("start Temporal services: %w", err)
	}

	if err := s.awaitFrontend(ctx); err != nil {
		return err
	}

	if ports.ui > 0 {
		s.uiURL = "http://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(ports.ui))
		if err := s.startUI(ctx, ports.ui); err != nil {
			return err
		}
	}
	s.log.Info("Temporal dev server started",
		"frontend", s.frontendAddr, "ui", s.uiURL, "namespace", s.opts.Namespace,
		"db", filepath.Join(s.opts.DataDir, DBFile))
	return nil
}

// Stop stops the Web UI and the Temporal server and releases the data
// directory. It is safe to call more than once and on a stopped Server.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if !s.running {
		return nil
	}
	s.running = false
	if s.muted != nil {
		s.muted.Store(true)
	}
	var errs []error
	if s.ui != nil {
		s.ui.Stop()
		<-s.uiDone
		s.ui, s.uiDone = nil, nil
	}
	if s.temporal != nil {
		if err := s.temporal.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop Temporal server: %w", err))
		}
		s.temporal = nil
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
	s.frontendAddr, s.uiURL = "", ""
	return errors.Join(errs...)
}

// ports are the ports of one run.
type ports struct {
	frontend, ui int // ui is 0 without UI
	// history, matching, worker gRPC; then frontend, history, matching,
	// worker membership.
	internal [7]int
}

func (s *Server) pickPorts() (ports, error) {
	var p ports
	if s.opts.FrontendPort > 0 {
		if err := checkPortFree(serviceFrontend, s.opts.Host, s.opts.FrontendPort); err != nil {
			return p, err
		}
		p.frontend = s.opts.FrontendPort
	}
	if s.opts.UIPort > 0 {
		if err := checkPortFree(serviceUI, s.opts.Host, s.opts.UIPort); err != nil {
			return p, err
		}
		p.ui = s.opts.UIPort
	}
	free, err := freePorts(s.opts.Host, len(p.internal)+2)
	if err != nil {
		return p, err
	}
	copy(p.internal[:], free)
	if p.frontend == 0 {
		p.frontend = free[len(p.internal)]
	}
	if p.ui == 0 && s.opts.UIPort != NoUI {
		p.ui = free[len(p.internal)+1]
	}
	return p, nil
}

// serverConfig is the static configuration of a one-node server on SQLite.
func (s *Server) serverConfig(p ports) *config.Config {
	host := s.opts.Host
	frontend := net.JoinHostPort(host, strconv.Itoa(p.frontend))
	service := func(grpcPort, membershipPort int) config.Service {
		return config.Service{RPC: config.RPC{
			GRPCPort:       grpcPort,
			MembershipPort: membershipPort,
			BindOnIP:       host,
		}}
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{
				MaxJoinDuration:  30 * time.Second,
				BroadcastAddress: host,
			},
			// Metrics nil: no Prometheus listener. PProf port 0: none.
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores: map[string]config.DataStore{
				sqliteplugin.PluginName: {SQL: &config.SQL{
					PluginName:   sqliteplugin.PluginName,
					DatabaseName: filepath.Join(s.opts.DataDir, DBFile),
					ConnectAttributes: map[string]string{
						"mode": "rwc",
						// Write-ahead log: readers do not block the writer;
						// with synchronous=NORMAL a crash of the process
						// loses no committed transaction.
						"journal_mode": "wal",
						"synchronous":  "1",
						"busy_timeout": "10000",
					},
				}},
			},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             frontend,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": service(p.frontend, p.internal[3]),
			"history":  service(p.internal[0], p.internal[4]),
			"matching": service(p.internal[1], p.internal[5]),
			"worker":   service(p.internal[2], p.internal[6]),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The worker service reaches the frontend through this client.
		PublicClient: config.PublicClient{HostPort: frontend},
	}
}

// newNamespaceConfig is the stored form of opts.Namespace with its retention
// and search attributes.
func newNamespaceConfig(opts Options) (*sqlite.NamespaceConfig, error) {
	ns, err := sqlite.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, err
	}
	ns.Detail.Config.Retention = durationpb.New(opts.Retention)
	return ns, nil
}

// setupDatabase creates the schema when the database file is new, and the
// namespace when it is missing. An existing database is left as it is.
func setupDatabase(cfg *config.SQL, opts Options) error {
	path := cfg.DatabaseName
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := sqlite.SetupSchema(cfg); err != nil {
			// Leave no half-made database for the next start to trust.
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				_ = os.Remove(path + suffix)
			}
			return fmt.Errorf("create SQLite schema in %s: %w", path, err)
		}
	} else if err != nil {
		return fmt.Errorf("check database %s: %w", path, err)
	}
	ns, err := newNamespaceConfig(opts)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", opts.Namespace, err)
	}
	if err := sqlite.CreateNamespaces(cfg, ns); err != nil {
		return fmt.Errorf("create namespace %q in %s: %w", opts.Namespace, path, err)
	}
	return forgetMembers(cfg)
}

// forgetMembers deletes the cluster membership rows of earlier runs. Each
// service records its ringpop address there and, at start, tries to join
// every address heard from in the last 20 seconds; after a quick restart
// those are the dead ports of the previous run, and joining them stalls the
// start for up to Membership.MaxJoinDuration. The data directory lock makes
// every stored member a dead one.
func forgetMembers(cfg *config.SQL) error {
	db, err := sql.NewSQLDB(sqlplugin.DbKindUnknown, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg.DatabaseName, err)
	}
	defer func() { _ = db.Close() }()
	// Rows expire 48 hours after their last heartbeat; anything expiring
	// before next year is every row.
	_, err = db.PruneClusterMembership(context.Background(), &sqlplugin.PruneClusterMembershipFilter{
		PruneRecordsBefore: time.Now().AddDate(1, 0, 0),
	})
	if err != nil {
		return fmt.Errorf("forget cluster members of earlier runs in %s: %w", cfg.DatabaseName, err)
	}
	return nil
}

// startTemporal starts srv, returning a fatal log of the server as an error.
func startTemporal(srv temporal.Server) (err error) {
	defer recoverFatal(&err)
	return srv.Start()
}

func (s *Server) newTemporalServer(cfg *config.Config) (_ temporal.Server, err error) {
	defer recoverFatal(&err)
	logger := serverLogger{l: s.srvLog}
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("claim mapper: %w", err)
	}
	dc := dynamicconfig.StaticClient{
		// Search attributes added at start are usable at once.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dc),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	return srv, nil
}

// awaitFrontend polls the frontend until it serves the namespace, then
// registers the search attributes.
func (s *Server) awaitFrontend(ctx context.Context) error {
	var (
		c       client.Client
		lastErr error
	)
	for c == nil {
		c, lastErr = client.DialContext(ctx, client.Options{
			HostPort:  s.frontendAddr,
			Namespace: s.opts.Namespace,
			Logger:    sdklog.NewStructuredLogger(s.srvLog),
		})
		if lastErr == nil {
			break
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("frontend %s did not answer: %w", s.frontendAddr, lastErr)
		}
	}
	defer c.Close()

	for {
		_, lastErr = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.opts.Namespace})
		if lastErr == nil {
			break
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("namespace %q on %s not ready: %w", s.opts.Namespace, s.frontendAddr, lastErr)
		}
	}
	return s.registerSearchAttributes(ctx, c)
}

// registerSearchAttributes adds the missing search attributes. A new
// namespace already has them (setupDatabase); an older one may lack some.
func (s *Server) registerSearchAttributes(ctx context.Context, c client.Client) error {
	if len(s.opts.SearchAttributes) == 0 {
		return nil
	}
	ops := c.OperatorService()
	list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.opts.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %q: %w", s.opts.Namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, want := range s.opts.SearchAttributes {
		have, ok := list.GetCustomAttributes()[name]
		if !ok {
			have, ok = list.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = want
		case have != want:
			return fmt.Errorf("search attribute %q is registered as %s in namespace %q, want %s",
				name, have, s.opts.Namespace, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        s.opts.Namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes %v to %q: %w", missing, s.opts.Namespace, err)
	}
	s.log.Info("registered search attributes", "namespace", s.opts.Namespace, "added", len(missing))
	return nil
}

// startUI runs the Web UI on port and waits until it answers.
func (s *Server) startUI(ctx context.Context, port int) error {
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: s.frontendAddr,
		Host:                s.opts.Host,
		Port:                port,
		EnableUI:            true,
		HideLogs:            true,
		DefaultNamespace:    s.opts.Namespace,
		// Plain HTTP on loopback: the CSRF cookie must not require TLS.
		CORS: uiconfig.CORS{CookieInsecure: true},
	}
	if len(s.opts.UIColumns) > 0 {
		dir, err := s.uiAssetDir()
		if err != nil {
			// The list's columns are a convenience: the UI runs with its own defaults.
			s.log.Warn("the Web UI's workflow list keeps its default columns", "error", err)
		} else {
			cfg.UIAssetPath = dir
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configure the Web UI: %w", err)
	}
	ui := uiserver.NewServer(server_options.WithConfigProvider(cfg))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ui.Start() // returns when Stop closes it
	}()
	s.ui, s.uiDone = ui, done

	health := s.uiURL + "/healthz"
	hc := &http.Client{Timeout: time.Second}
	var lastErr error
	for {
		lastErr = getOK(ctx, hc, health)
		if lastErr == nil {
			return nil
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("the Web UI %s did not answer: %w", s.uiURL, lastErr)
		}
	}
}

func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
