package local

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
)

// The platform deploys and runs code on whoever's behalf asks, so the one listener refuses what
// no SDK sends but a web page can: a request naming a host other than the platform's (DNS
// rebinding), a browser's cross-origin request, a control-plane body that is not JSON (an HTML
// form or a text/plain fetch needs no CORS preflight), and a Lambda or CloudWatch Logs call
// without the SigV4 Authorization header every AWS SDK sends (a page cannot set it without a
// preflight, which the platform never grants). The signature itself is not checked: the
// credentials are the developer's own and the platform has no secret to check them against.

// apiKind names what a request on the listener is for.
type apiKind int

const (
	apiLambda  apiKind = iota // the Lambda REST API
	apiLogs                   // CloudWatch Logs (awsJson1_1 at POST /)
	apiRuntime                // the Runtime API of the instances, authorized by their token
	apiMetrics                // Prometheus /metrics
)

// requestGuard holds what the listener accepts in Host and Origin.
type requestGuard struct {
	hosts   map[string]bool // host names and addresses (lower case, without port) besides loopback
	anyIP   bool            // any IP address in Host (AllowRemote: a rebinding needs a name)
	origins map[string]bool // browser origins allowed to call the APIs
}

func newRequestGuard(ln net.Addr, o Options) *requestGuard {
	g := &requestGuard{hosts: map[string]bool{}, anyIP: o.AllowRemote, origins: map[string]bool{}}
	if a, ok := ln.(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		g.hosts[strings.ToLower(a.IP.String())] = true
	}
	for _, h := range o.AllowedHosts {
		g.hosts[strings.ToLower(h)] = true
	}
	for _, origin := range o.AllowedOrigins {
		g.origins[strings.TrimSuffix(origin, "/")] = true
	}
	return g
}

// allowedHost reports whether a Host header names this platform: a loopback name or address,
// the listener's address, a configured host, or (with AllowRemote) any IP address.
func (g *requestGuard) allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || g.hosts[host] {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || g.anyIP)
}

// check returns why the request must be refused, or nil.
func (g *requestGuard) check(r *http.Request, kind apiKind) *apiError {
	if !g.allowedHost(r.Host) {
		return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException",
			msg: fmt.Sprintf("Host %q does not name the local platform: call it at a loopback address or its own address (Options.AllowedHosts lists others)", r.Host)}
	}
	if origin := r.Header.Get("Origin"); origin != "" && !g.origins[origin] {
		return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException",
			msg: fmt.Sprintf("requests from the web origin %q are refused (Options.AllowedOrigins lists allowed ones)", origin)}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException",
			msg: "cross-site requests from a browser are refused"}
	}
	switch kind {
	case apiLambda:
		if err := requireSigV4(r); err != nil {
			return err
		}
		if !isInvoke(r) {
			return requireContentType(r, "application/json")
		}
	case apiLogs:
		if err := requireSigV4(r); err != nil {
			return err
		}
		return requireContentType(r, "application/x-amz-json-1.1")
	}
	return nil
}

// requireSigV4 insists on the Authorization header of a SigV4-signed request.
func requireSigV4(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &apiError{status: http.StatusForbidden, typ: "MissingAuthenticationTokenException",
			msg: "Missing Authentication Token: sign requests with SigV4 as every AWS SDK does"}
	}
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, "Credential=") {
		return &apiError{status: http.StatusForbidden, typ: "IncompleteSignatureException",
			msg: "Authorization header requires a SigV4 signature (AWS4-HMAC-SHA256 Credential=...)"}
	}
	return nil
}

// requireContentType insists on a media type for a request that has a body.
func requireContentType(r *http.Request, want string) *apiError {
	if r.ContentLength == 0 || r.Method == http.MethodGet || r.Method == http.MethodDelete || r.Method == http.MethodHead {
		return nil
	}
	got, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || got != want {
		return &apiError{status: http.StatusUnsupportedMediaType, typ: errUnsupportedMedia,
			msg: fmt.Sprintf("Content-Type %q is not supported: send %s", r.Header.Get("Content-Type"), want)}
	}
	return nil
}

// isInvoke reports whether r is an Invoke, whose body is the function's payload in any type.
func isInvoke(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/invocations")
}
