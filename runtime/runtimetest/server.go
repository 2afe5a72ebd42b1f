// Package runtimetest runs a Fusionize app's groups in-process behind a real HTTP server that
// speaks the Lambda Invoke API, the way net/http/httptest serves handlers. Remote calls go
// through the real aws-sdk-go-v2 Lambda client, so an app can be tested with any setup —
// every call inline, every call remote, or anything between — without a platform.
package runtimetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
)

// Server serves every group of one setup of an app.
type Server struct {
	URL     string
	Client  *awslambda.Client // a real SDK client pointed at the server
	setup   fusion.Setup
	entry   string
	entryFn string
	http    *httptest.Server
	byName  map[string]*runtime.Runtime
	async   sync.WaitGroup
	traceMu sync.Mutex
	traces  bytes.Buffer
}

// NewServer starts a server for app deployed as setup; entry is the task outside requests
// reach.
func NewServer(app *runtime.App, setup fusion.Setup, entry string) (*Server, error) {
	s := &Server{setup: setup, entry: entry, byName: map[string]*runtime.Runtime{}}
	s.http = httptest.NewServer(http.HandlerFunc(s.serveInvoke))
	s.URL = s.http.URL
	s.Client = awslambda.New(awslambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	invoker := &runtime.LambdaInvoker{Client: s.Client}
	for _, g := range setup.Groups {
		rt, err := app.NewRuntime(runtime.Options{
			Config:  runtime.Config{App: app.Name(), Setup: setup, Group: g.Root},
			Invoker: invoker,
			Trace:   (*traceWriter)(s),
		})
		if err != nil {
			s.http.Close()
			return nil, err
		}
		s.byName[rt.Function()] = rt
		if g.Root == entry {
			s.entryFn = rt.Function()
		}
	}
	if s.entryFn == "" {
		s.http.Close()
		return nil, fmt.Errorf("setup %s has no group rooted at entry %q", setup, entry)
	}
	return s, nil
}

type traceWriter Server

func (w *traceWriter) Write(p []byte) (int, error) {
	w.traceMu.Lock()
	defer w.traceMu.Unlock()
	return w.traces.Write(p)
}

// EntryFunction returns the name of the function outside requests invoke.
func (s *Server) EntryFunction() string { return s.entryFn }

// Invoke sends one outside request to the entry function through the SDK client and returns
// its response; a function error comes back as *runtime.FunctionError.
func (s *Server) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return (&runtime.LambdaInvoker{Client: s.Client}).Invoke(ctx, s.entryFn, payload, false)
}

// Wait waits until every async (Event) invocation has finished.
func (s *Server) Wait() { s.async.Wait() }

// Traces waits for async invocations and returns every trace line written so far, parsed.
func (s *Server) Traces() ([]fusion.TraceRecord, error) {
	s.Wait()
	s.traceMu.Lock()
	defer s.traceMu.Unlock()
	var out []fusion.TraceRecord
	for _, line := range bytes.Split(s.traces.Bytes(), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := fusion.ParseTraceLine(line)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Close waits for async invocations and stops the server.
func (s *Server) Close() {
	s.Wait()
	s.http.Close()
}

func (s *Server) serveInvoke(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || !strings.HasSuffix(r.URL.Path, suffix) {
		awsError(w, http.StatusNotFound, "ResourceNotFoundException", "unsupported path "+r.URL.Path)
		return
	}
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix), suffix)
	name, _, _ = strings.Cut(name, ":")
	rt, ok := s.byName[name]
	if !ok {
		awsError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		awsError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	reqID := newRequestID()
	ctx := lambdacontext.NewContext(context.WithoutCancel(r.Context()), &lambdacontext.LambdaContext{AwsRequestID: reqID})
	w.Header().Set("X-Amzn-RequestId", reqID)
	if r.Header.Get("X-Amz-Invocation-Type") == "Event" {
		s.async.Add(1)
		go func() {
			defer s.async.Done()
			_, _ = rt.Invoke(ctx, payload)
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	out, err := rt.Invoke(ctx, payload)
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		body, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": fmt.Sprintf("%T", err)})
		_, _ = w.Write(body)
		return
	}
	_, _ = w.Write(out)
}

func awsError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("X-Amzn-ErrorType", kind)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"Type": "User", "message": msg})
	_, _ = w.Write(body)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
