package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// fakeSigV4 is the Authorization header of a SigV4-signed request, as every AWS SDK sends one;
// the platform checks its shape, not its signature.
const fakeSigV4 = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"

// rawRequest is one HTTP request to the platform as a browser or curl would send it.
type rawRequest struct {
	method, path, host, contentType, origin, auth, fetchSite string
	body                                                     []byte
}

func (e *testEnv) do(t *testing.T, rr rawRequest) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(rr.method, e.p.Endpoint()+rr.path, bytes.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	if rr.host != "" {
		req.Host = rr.host
	}
	for k, v := range map[string]string{"Content-Type": rr.contentType, "Origin": rr.origin, "Authorization": rr.auth, "Sec-Fetch-Site": rr.fetchSite} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestBrowsersCannotDeployOrInvoke sends what a web page can make a browser send, one defect at
// a time, to CreateFunction and Invoke. Before the guard, CreateFunction with Content-Type
// text/plain, a foreign Origin and a foreign Host answered 201, and Invoke then ran the code.
// Each request must be refused, create nothing and run nothing; the same requests with the
// SDK's headers succeed, so the test also catches a guard that refuses everything.
func TestBrowsersCannotDeployOrInvoke(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "victim")
	create := func(name string) []byte {
		b, err := json.Marshal(map[string]any{
			"FunctionName": name, "Role": "arn:aws:iam::000000000000:role/x", "Runtime": "provided.al2023",
			"Code": map[string]any{"ZipFile": zipV1},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	port := e.p.ln.Addr().(*net.TCPAddr).Port
	sdk := rawRequest{method: http.MethodPost, contentType: "application/json", auth: fakeSigV4}
	attacks := []struct {
		name   string
		change func(*rawRequest)
		status int
		typ    string
	}{
		{"text/plain body (a no-preflight fetch)", func(r *rawRequest) { r.contentType = "text/plain" }, 415, "UnsupportedMediaTypeException"},
		{"form body", func(r *rawRequest) { r.contentType = "application/x-www-form-urlencoded" }, 415, "UnsupportedMediaTypeException"},
		{"foreign Origin", func(r *rawRequest) { r.origin = "https://evil.example" }, 403, "AccessDeniedException"},
		{"cross-site fetch", func(r *rawRequest) { r.fetchSite = "cross-site" }, 403, "AccessDeniedException"},
		{"DNS rebinding Host", func(r *rawRequest) { r.host = "rebind.evil.example:" + strconv.Itoa(port) }, 403, "AccessDeniedException"},
		{"no Authorization", func(r *rawRequest) { r.auth = "" }, 403, "MissingAuthenticationTokenException"},
		{"Authorization that is no SigV4", func(r *rawRequest) { r.auth = "Basic YTpi" }, 403, "IncompleteSignatureException"},
	}
	for i, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			name := "drive" + strconv.Itoa(i)
			rr := sdk
			rr.path, rr.body = "/2015-03-31/functions", create(name)
			a.change(&rr)
			resp, body := e.do(t, rr)
			if resp.StatusCode != a.status || resp.Header.Get("X-Amzn-ErrorType") != a.typ {
				t.Errorf("CreateFunction: %d %s %s, want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, a.status, a.typ)
			}
			if _, err := e.lc.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}); err == nil {
				t.Errorf("the refused CreateFunction created %s", name)
			}
			if a.typ == "UnsupportedMediaTypeException" {
				return // Invoke takes any payload type; what guards it is checked below
			}
			rr = sdk
			rr.path, rr.body = "/2015-03-31/functions/victim/invocations", []byte(`{"op":"log","lines":["ran-`+name+`"]}`)
			a.change(&rr)
			resp, body = e.do(t, rr)
			if resp.StatusCode != a.status || resp.Header.Get("X-Amzn-ErrorType") != a.typ {
				t.Errorf("Invoke: %d %s %s, want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, a.status, a.typ)
			}
			if got := e.logMessages(t, "victim", `"ran-`+name+`"`); len(got) != 0 {
				t.Errorf("the refused Invoke ran the function: %q", got)
			}
		})
	}

	// What the SDK sends passes, with every name of the loopback interface.
	for _, host := range []string{"", "localhost:" + strconv.Itoa(port), "[::1]:" + strconv.Itoa(port)} {
		rr := sdk
		rr.host, rr.path, rr.body = host, "/2015-03-31/functions/victim/invocations", []byte(`{}`)
		if resp, body := e.do(t, rr); resp.StatusCode != 200 {
			t.Errorf("Invoke with Host %q: %d %s", host, resp.StatusCode, body)
		}
	}
	if resp, body := e.do(t, rawRequest{method: http.MethodGet, path: "/metrics"}); resp.StatusCode != 200 {
		t.Errorf("/metrics from a loopback client without a signature: %d %s", resp.StatusCode, body)
	}
	// CloudWatch Logs refuses a browser the same way (the SDK client works in every logs test).
	resp, body := e.do(t, rawRequest{method: http.MethodPost, path: "/", contentType: "text/plain", auth: fakeSigV4,
		body: []byte(`{"logGroupName":"/aws/lambda/victim"}`)})
	if resp.StatusCode != 415 {
		t.Errorf("FilterLogEvents as text/plain: %d %s", resp.StatusCode, body)
	}
}

// TestRuntimeAPIRefusesForeignHosts: the Runtime API needs no signature (bootstraps send none,
// every test's function is proof) but still refuses a rebinding Host and a browser Origin.
func TestRuntimeAPIRefusesForeignHosts(t *testing.T) {
	e := newTestEnv(t, Options{})
	for _, rr := range []rawRequest{
		{method: http.MethodGet, path: "/runtime/0000/2018-06-01/runtime/invocation/next", host: "evil.example"},
		{method: http.MethodGet, path: "/runtime/0000/2018-06-01/runtime/invocation/next", origin: "https://evil.example"},
	} {
		if resp, body := e.do(t, rr); resp.StatusCode != 403 || !strings.Contains(body, "AccessDenied") {
			t.Errorf("runtime API with host %q origin %q: %d %s", rr.host, rr.origin, resp.StatusCode, body)
		}
	}
	resp, body := e.do(t, rawRequest{method: http.MethodGet, path: "/runtime/0000/2018-06-01/runtime/invocation/next"})
	if resp.StatusCode != 403 || !strings.Contains(body, "Runtime.UnknownInstance") {
		t.Errorf("runtime API with an unknown token: %d %s", resp.StatusCode, body)
	}
}

// TestNonLoopbackAddressNeedsAllowRemote: New refuses to serve other machines unless told, and
// then says so. Before, Addr 0.0.0.0 bound every interface without a word.
func TestNonLoopbackAddressNeedsAllowRemote(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		p, err := New(Options{DataDir: t.TempDir(), Addr: addr})
		if err == nil {
			p.Close(context.Background())
			t.Fatalf("New(Addr %s) served without AllowRemote", addr)
		}
		if !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "AllowRemote") {
			t.Errorf("New(Addr %s) = %v, want it to say why and how to allow it", addr, err)
		}
	}
	var logs bytes.Buffer
	p, err := New(Options{DataDir: t.TempDir(), Addr: "0.0.0.0:0", AllowRemote: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("New with AllowRemote: %v", err)
	}
	defer p.Close(context.Background())
	if !strings.Contains(logs.String(), "non-loopback address") {
		t.Errorf("serving on 0.0.0.0 logged no warning:\n%s", logs.String())
	}
}
