package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fuzzOps are the operations FuzzRequest sends bodies to: method, path prefix (the fuzzer
// writes the rest), and the X-Amz-Target for CloudWatch Logs. Invocations are left out: no
// function exists, and the fuzzer must not start processes.
var fuzzOps = []struct{ method, path, target string }{
	{http.MethodPost, "/2015-03-31/functions", ""},
	{http.MethodPut, "/2015-03-31/functions/", ""},  // …/{name}/configuration or /code
	{http.MethodPost, "/2015-03-31/functions/", ""}, // …/{name}/versions or /aliases
	{http.MethodPut, "/2015-03-31/functions/", ""},  // …/{name}/aliases/{alias}
	{http.MethodGet, "/2015-03-31/functions", ""},
	{http.MethodPut, "/2017-10-31/functions/", ""}, // …/{name}/concurrency
	{http.MethodPost, "/", "Logs_20140328.FilterLogEvents"},
	{http.MethodPost, "/", "Logs_20140328.CreateLogGroup"},
}

// FuzzRequest sends decoded-by-the-platform requests with any body, path suffix and query to
// the platform's handler: none panics, none fails as the platform's own fault (5xx), and
// every refusal has the AWS error shape the SDK reads (X-Amzn-ErrorType or __type, and a
// JSON body with the message).
func FuzzRequest(f *testing.F) {
	p, err := New(Options{DataDir: f.TempDir(), Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	f.Add(uint8(0), "", []byte(`{"FunctionName":"f","Runtime":"provided.al2023","Handler":"bootstrap","MemorySize":256,"Timeout":30,"Architectures":["x86_64"],"Role":"arn:aws:iam::000000000000:role/fusionize","Code":{"ZipFile":"UEsDBA=="},"Environment":{"Variables":{"A":"1"}}}`))
	f.Add(uint8(0), "", []byte(`{"FunctionName":"f","MemorySize":-1,"Code":{}}`))
	f.Add(uint8(1), "f/configuration", []byte(`{"MemorySize":99999,"Timeout":0,"LoggingConfig":{"LogGroup":"aws/x","LogFormat":"Text"}}`))
	f.Add(uint8(1), "f/code", []byte(`{"ZipFile":"!!!","RevisionId":"r"}`))
	f.Add(uint8(2), "f/versions", []byte(`{"Description":"d","RevisionId":"x"}`))
	f.Add(uint8(2), "f/aliases", []byte(`{"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}}`))
	f.Add(uint8(3), "f/aliases/live", []byte(`{"FunctionVersion":"$LATEST","RoutingConfig":{"AdditionalVersionWeights":{"":-1}}}`))
	f.Add(uint8(4), "?Marker=zz&MaxItems=-3", []byte(nil))
	f.Add(uint8(5), "f/concurrency", []byte(`{"ReservedConcurrentExecutions":-5}`))
	f.Add(uint8(6), "", []byte(`{"logGroupName":"/aws/lambda/f","startTime":-1,"endTime":1e30,"limit":0,"nextToken":"@@"}`))
	f.Add(uint8(7), "", []byte(`{"logGroupName":""}`))
	f.Fuzz(func(t *testing.T, op uint8, suffix string, body []byte) {
		o := fuzzOps[int(op)%len(fuzzOps)]
		target := o.path + suffix
		if o.target != "" {
			target = o.path // CloudWatch Logs has one path
		}
		if strings.Contains(target, "invocations") || strings.ContainsAny(suffix, " \t\r\n#") {
			return
		}
		req, err := http.NewRequest(o.method, "http://127.0.0.1"+target, bytes.NewReader(body))
		if err != nil {
			return // not a URL: no client sends it
		}
		req.Host = "127.0.0.1:9001"
		// What the guard wants of every SDK request, so that bodies reach decoding.
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261130/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0")
		req.Header.Set("Content-Type", "application/json")
		if o.target != "" {
			req.Header.Set("X-Amz-Target", o.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		}
		rec := httptest.NewRecorder()
		p.serveHTTP(rec, req)
		checkFuzzResponse(t, o.method+" "+target, body, rec)
	})
}

func checkFuzzResponse(t *testing.T, what string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s with %q: %d, the platform's fault: %s", what, body, rec.Code, rec.Body)
	}
	if rec.Code < 400 {
		return
	}
	if rec.Code == http.StatusForbidden || rec.Code == http.StatusUnsupportedMediaType {
		t.Fatalf("%s: the guard refused the request (%d %s), so its body was never decoded", what, rec.Code, rec.Body)
	}
	var e map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e["message"] == nil {
		t.Fatalf("%s with %q: %d with a body the SDK cannot read: %q", what, body, rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Amzn-ErrorType") == "" && e["__type"] == nil {
		t.Fatalf("%s with %q: %d without an error type: %q", what, body, rec.Code, rec.Body)
	}
}
