package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusionize/fusionize/internal/quiet"
)

// Test function zips built once by TestMain: two builds of testdata/fn that differ in the
// variant they report, and the path of the v2 zip for deployments by path.
var (
	zipV1, zipV2 []byte
	zipV2Path    string
)

// TestMain builds the test functions and runs the tests in a shared turn: they load the
// machine, and a test that measures latency live waits for them (package quiet).
func TestMain(m *testing.M) {
	if err := quiet.Share(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "fusionize-local-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		var err error
		if zipV1, err = buildFunction(dir, "v1"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if zipV2, err = buildFunction(dir, "v2"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		zipV2Path = filepath.Join(dir, "v2.zip")
		if err := os.WriteFile(zipV2Path, zipV2, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// buildFunction builds testdata/fn as a Lambda bootstrap and returns it zipped.
func buildFunction(dir, variant string) ([]byte, error) {
	out := filepath.Join(dir, variant, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath",
		"-ldflags", "-s -w -X main.variant="+variant, "-o", out, "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build test function %s: %v\n%s", variant, err, b)
	}
	return ZipBootstrap(out)
}

// testEnv is a running platform with real SDK clients pointed at it.
type testEnv struct {
	p    *Platform
	opts Options
	reg  *prometheus.Registry
	lc   *lambda.Client
	logs *cloudwatchlogs.Client
}

func newTestEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = searchableTempDir(t)
	}
	reg := prometheus.NewRegistry()
	if opts.Registerer == nil {
		opts.Registerer = reg
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := &testEnv{p: p, opts: opts, reg: reg}
	e.connect(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// connect builds SDK clients for the current platform, as any AWS program would.
func (e *testEnv) connect(t *testing.T) {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")),
		awsconfig.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	e.lc = lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(e.p.Endpoint()) })
	e.logs = cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(e.p.Endpoint()) })
}

// searchableTempDir is a temporary directory that other users may search (t.TempDir's are 0700),
// so that, as root, instances run isolated as users of their own in every test.
func searchableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// create deploys the v1 test function as name; change adjusts the request.
func (e *testEnv) create(t *testing.T, name string, change ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionOutput {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: zipV1},
		MemorySize:   aws.Int32(256),
		Timeout:      aws.Int32(10),
	}
	for _, c := range change {
		c(in)
	}
	out, err := e.lc.CreateFunction(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

// invoke calls a function synchronously with req as JSON and decodes the function's response.
func (e *testEnv) invoke(t *testing.T, name string, req any, change ...func(*lambda.InvokeInput)) (*lambda.InvokeOutput, fnResponse) {
	t.Helper()
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload}
	for _, c := range change {
		c(in)
	}
	out, err := e.lc.Invoke(context.Background(), in)
	if err != nil {
		t.Fatalf("Invoke %s: %v", name, err)
	}
	var resp fnResponse
	if out.FunctionError == nil {
		if err := json.Unmarshal(out.Payload, &resp); err != nil {
			t.Fatalf("Invoke %s: decode %q: %v", name, out.Payload, err)
		}
	}
	return out, resp
}

type cwlNotFound = cwltypes.ResourceNotFoundException

// fnResponse is testdata/fn's response.
type fnResponse struct {
	Variant   string            `json:"variant"`
	Version   string            `json:"version"`
	RequestID string            `json:"requestId"`
	ARN       string            `json:"arn"`
	Env       map[string]string `json:"env"`
	ElapsedMs float64           `json:"elapsedMs"`
	CPUMs     float64           `json:"cpuMs"`
	Body      string            `json:"body"`
	Deadline  int64             `json:"deadlineMs"`
}

// fnError is the payload of a function error.
type fnError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func decodeError(t *testing.T, out *lambda.InvokeOutput) fnError {
	t.Helper()
	if out.FunctionError == nil || *out.FunctionError != "Unhandled" {
		t.Fatalf("FunctionError = %v, want Unhandled (payload %s)", out.FunctionError, out.Payload)
	}
	var fe fnError
	if err := json.Unmarshal(out.Payload, &fe); err != nil {
		t.Fatalf("decode error payload %q: %v", out.Payload, err)
	}
	return fe
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logMessages returns the messages of a function's log group matching pattern.
func (e *testEnv) logMessages(t *testing.T, name, pattern string) []string {
	t.Helper()
	var msgs []string
	p := cloudwatchlogs.NewFilterLogEventsPaginator(e.logs, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:  aws.String("/aws/lambda/" + name),
		FilterPattern: aws.String(pattern),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
			// Seen about once in 60 runs under the race detector: the platform answered 200, and
			// the client's transport closed the connection while it read the answer, because
			// its write loop got an error after sending the request (net/http's
			// persistConn.writeLoop). The SDK retries that by default; these clients do not
			// retry (one attempt), so that the platform's own errors show. Ask once more.
			t.Logf("FilterLogEvents: %v; asking again", err)
			out, err = p.NextPage(context.Background())
		}
		var nf *cwlNotFound
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			t.Fatalf("FilterLogEvents: %v", err)
		}
		for _, ev := range out.Events {
			msgs = append(msgs, aws.ToString(ev.Message))
		}
	}
	return msgs
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
