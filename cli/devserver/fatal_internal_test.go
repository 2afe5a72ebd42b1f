package devserver

import (
	"log/slog"
	"net"
	"strings"
	"testing"
)

// A port taken between the check and the bind reaches the server, which
// logs Fatal; Start must return that as an error, not crash.
func TestTakenInternalPortIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	s, err := New(Options{DataDir: t.TempDir(), UIPort: NoUI, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.pickPorts()
	if err != nil {
		t.Fatal(err)
	}
	p.internal[0] = taken // the history service's gRPC port
	s.srvLog = slog.New(slog.DiscardHandler)
	cfg := s.serverConfig(p)
	if err := setupDatabase(cfg.Persistence.DataStores["sqlite"].SQL, s.opts); err != nil {
		t.Fatal(err)
	}
	srv, err := s.newTemporalServer(cfg)
	if err == nil {
		err = startTemporal(srv)
		defer srv.Stop()
	}
	if err == nil || !strings.Contains(err.Error(), "Failed to start gRPC listener") {
		t.Errorf("server on a taken port: %v, want the listener error", err)
	} else {
		t.Log(err)
	}
}
