package devserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/fusionize/fusionize/cli/devserver"
)

const taskQueue = "devserver-test"

var (
	appKey   = temporal.NewSearchAttributeKeyKeyword("FusionizeApp")
	phaseKey = temporal.NewSearchAttributeKeyKeyword("FusionizePhase")
)

func searchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		"FusionizeApp":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"FusionizeSetup": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"FusionizePhase": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// greet is the tiny workflow of the test: it tags itself and answers.
func greet(ctx workflow.Context, app string) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, appKey.ValueSet(app), phaseKey.ValueSet("done")); err != nil {
		return "", err
	}
	return "hello " + app, nil
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestNewValidates(t *testing.T) {
	tooMany := map[string]enumspb.IndexedValueType{}
	for i := range 50 {
		tooMany[fmt.Sprintf("K%d", i)] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	tests := []struct {
		name string
		opts devserver.Options
		want []string
	}{
		{"no data dir", devserver.Options{}, []string{"DataDir is required"}},
		{"host name", devserver.Options{DataDir: "d", Host: "localhost"}, []string{`Host "localhost" is not an IP address`}},
		{"ports", devserver.Options{DataDir: "d", FrontendPort: 70000, UIPort: -2}, []string{"FrontendPort 70000", "UIPort -2"}},
		{"same port", devserver.Options{DataDir: "d", FrontendPort: 9000, UIPort: 9000}, []string{"both 9000"}},
		{"retention", devserver.Options{DataDir: "d", Retention: time.Hour}, []string{"Retention 1h0m0s"}},
		{"bad type", devserver.Options{DataDir: "d", SearchAttributes: map[string]enumspb.IndexedValueType{"X": 0}}, []string{`"X" has invalid type`}},
		{"too many", devserver.Options{DataDir: "d", SearchAttributes: tooMany}, []string{"cannot have more than"}},
		{"all at once", devserver.Options{Host: "x", FrontendPort: -1}, []string{"DataDir", "Host", "FrontendPort -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := devserver.New(tt.opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	s, err := devserver.New(devserver.Options{DataDir: "d", FrontendPort: devserver.DefaultFrontendPort, UIPort: devserver.DefaultUIPort})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.FrontendAddress(); got != "127.0.0.1:7233" {
		t.Errorf("FrontendAddress() = %q", got)
	}
	if got := s.UIURL(); got != "http://127.0.0.1:8233" {
		t.Errorf("UIURL() = %q", got)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
}

// TestServer runs the whole life of a dev server: start, a workflow with
// search attributes, the Web UI, the errors of a second server, stop, and a
// restart that finds the workflow again.
func TestServer(t *testing.T) {
	dir := t.TempDir()
	opts := devserver.Options{
		DataDir:          dir,
		SearchAttributes: searchAttributes(),
		UIColumns:        []string{"Status", "Workflow ID", "FusionizeApp"},
		Logger:           testLogger(),
	}
	srv := start(t, opts)

	// The database and lock file are where the documentation says.
	for _, f := range []string{devserver.DBFile, devserver.LockFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}

	t.Run("second server", func(t *testing.T) {
		_, port := splitHostPort(t, srv.FrontendAddress())
		_, uiPort := splitHostPort(t, strings.TrimPrefix(srv.UIURL(), "http://"))

		// Same data directory, other ports.
		other, err := devserver.New(devserver.Options{DataDir: dir, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Start(t.Context()); !errors.Is(err, devserver.ErrDataDirInUse) {
			t.Errorf("Start on a used data dir: %v, want ErrDataDirInUse", err)
		}

		// Other data directory, taken ports.
		for _, tt := range []struct {
			opts devserver.Options
			want string
		}{
			{devserver.Options{FrontendPort: port}, fmt.Sprintf("port %d (Temporal frontend) is in use on 127.0.0.1: is another Temporal server running?", port)},
			{devserver.Options{UIPort: uiPort}, fmt.Sprintf("port %d (Temporal Web UI) is in use on 127.0.0.1", uiPort)},
		} {
			tt.opts.DataDir = t.TempDir()
			other, err := devserver.New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = other.Start(t.Context())
			var inUse *devserver.PortInUseError
			if !errors.As(err, &inUse) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start on a taken port: %v\nwant a PortInUseError saying %q", err, tt.want)
			}
		}
	})

	c := dial(t, srv)
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "greet-x", TaskQueue: taskQueue}, greet, "x")
	if err != nil {
		t.Fatal(err)
	}
	var answer string
	if err := run.Get(t.Context(), &answer); err != nil || answer != "hello x" {
		t.Fatalf("workflow answered %q, %v", answer, err)
	}

	t.Run("search attributes", func(t *testing.T) {
		checkSearchAttributes(t, c, srv.Namespace(), searchAttributes())
		// Visibility is written asynchronously: poll until the closed run
		// shows up under its search attribute.
		awaitListed(t, c, `FusionizeApp = "x" AND FusionizePhase = "done"`, run.GetRunID())
		resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Query: `FusionizeApp = "other"`})
		if err != nil || len(resp.Executions) != 0 {
			t.Errorf("query for another app: %d executions, %v", len(resp.GetExecutions()), err)
		}
	})

	t.Run("web ui", func(t *testing.T) {
		body := get(t, srv.UIURL())
		if !strings.Contains(strings.ToLower(body), "<!doctype html>") {
			t.Errorf("GET %s is not HTML: %.200s", srv.UIURL(), body)
		}
		// The list's default columns are set by the page, which is served from DataDir with
		// the UI's own modules beside it.
		if !strings.Contains(body, `[{"label":"Status"},{"label":"Workflow ID"},{"label":"FusionizeApp"}]`) {
			t.Errorf("the Web UI's page does not set the list's columns: %.3000s", body)
		}
		module := regexp.MustCompile(`href="(/_app/immutable/entry/start[^"]*\.js)"`).FindStringSubmatch(body)
		if module == nil {
			t.Fatalf("no start module in the page: %.3000s", body)
		}
		if js := get(t, srv.UIURL()+module[1]); !strings.Contains(js, "import") {
			t.Errorf("GET %s is not the UI's module: %.200s", module[1], js)
		}
		if dirs, _ := filepath.Glob(filepath.Join(dir, "ui-assets-*", "index.html")); len(dirs) != 1 {
			t.Errorf("Web UI assets in the data directory: %v, want one", dirs)
		}
		body = get(t, srv.UIURL()+"/api/v1/namespaces")
		var list struct {
			Namespaces []struct {
				NamespaceInfo struct{ Name string }
			}
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("namespaces through the UI's API: %v: %.300s", err, body)
		}
		var names []string
		for _, ns := range list.Namespaces {
			names = append(names, ns.NamespaceInfo.Name)
		}
		if !slices.Contains(names, "default") {
			t.Errorf("namespaces through the UI's API: %v, want default among them", names)
		}
		body = get(t, srv.UIURL()+"/api/v1/namespaces/default/workflows?query="+`WorkflowId%3D%22greet-x%22`)
		if !strings.Contains(body, run.GetRunID()) {
			t.Errorf("workflows through the UI's API lack run %s: %.300s", run.GetRunID(), body)
		}
	})

	w.Stop()
	c.Close()
	frontend, uiURL := srv.FrontendAddress(), srv.UIURL()
	for i := range 2 {
		began := time.Now()
		if err := srv.Stop(); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
		t.Logf("Stop #%d took %s", i+1, time.Since(began).Round(time.Millisecond))
	}
	if conn, err := net.DialTimeout("tcp", frontend, time.Second); err == nil {
		conn.Close()
		t.Errorf("frontend %s still answers after Stop", frontend)
	}
	if resp, err := http.Get(uiURL); err == nil {
		resp.Body.Close()
		t.Errorf("Web UI %s still answers after Stop", uiURL)
	}

	// Restart on the same data directory, with one more search attribute:
	// the workflow is still there and the new attribute is added.
	opts.SearchAttributes["FusionizeExtra"] = enumspb.INDEXED_VALUE_TYPE_INT
	srv = start(t, opts)
	c = dial(t, srv)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(t.Context(), "greet-x", run.GetRunID())
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("after restart the workflow is %s", st)
	}
	var events []enumspb.EventType
	it := c.GetWorkflowHistory(t.Context(), "greet-x", run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e.GetEventType())
	}
	if len(events) == 0 || events[len(events)-1] != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
		t.Errorf("history after restart: %v", events)
	}
	awaitListed(t, c, `FusionizeApp = "x"`, run.GetRunID())
	checkSearchAttributes(t, c, srv.Namespace(), opts.SearchAttributes)

	// Restart with a search attribute of another type: a clear error.
	began := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %s", time.Since(began).Round(time.Millisecond))
	opts.SearchAttributes["FusionizeApp"] = enumspb.INDEXED_VALUE_TYPE_INT
	opts.UIPort = devserver.NoUI
	bad, err := devserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	err = bad.Start(t.Context())
	t.Logf("failed Start took %s", time.Since(began).Round(time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), `search attribute "FusionizeApp" is registered as Keyword`) {
		t.Errorf("Start with a changed search attribute type: %v", err)
	}
	if err := bad.Stop(); err != nil {
		t.Error(err)
	}
}

func start(t *testing.T, opts devserver.Options) *devserver.Server {
	t.Helper()
	srv, err := devserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	began := time.Now()
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s: frontend %s, UI %s", time.Since(began).Round(time.Millisecond), srv.FrontendAddress(), srv.UIURL())
	return srv
}

func dial(t *testing.T, srv *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkSearchAttributes(t *testing.T, c client.Client, ns string, want map[string]enumspb.IndexedValueType) {
	t.Helper()
	list, err := c.OperatorService().ListSearchAttributes(t.Context(), &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range want {
		if got := list.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s is %s, want %s", name, got, typ)
		}
	}
}

// awaitListed polls a visibility query until it returns runID.
func awaitListed(t *testing.T, c client.Client, query, runID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("query %s: %v", query, err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetRunId() == runID && e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %s: run %s not listed as completed within 10s (got %d executions)", query, runID, len(resp.GetExecutions()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %.300s", url, resp.Status, body)
	}
	return string(body)
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

func discardLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
