package local

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// asyncEvent is an Event invocation waiting in a function's queue.
type asyncEvent struct {
	fn        string
	version   string
	arn       string
	id        string
	payload   []byte
	trace     string
	clientCtx string
	attempt   int // retries done so far
}

// parseFunctionName splits a FunctionName path value, which may be a name, name:qualifier, a
// partial ARN (account:function:name[:qualifier]) or a full ARN
// (arn:aws:lambda:region:account:function:name[:qualifier]).
func parseFunctionName(s string) (name, qualifier string, err error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" && len(parts) <= 8:
		name = parts[6]
		if len(parts) == 8 {
			qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function" && len(parts) <= 4:
		name = parts[2]
		if len(parts) == 4 {
			qualifier = parts[3]
		}
	case len(parts) <= 2:
		name = parts[0]
		if len(parts) == 2 {
			qualifier = parts[1]
		}
	default:
		return "", "", invalidParam("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", s)
	}
	if !functionNameRE.MatchString(name) {
		return "", "", invalidParam("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64 and contain only letters, digits, hyphens and underscores", s)
	}
	if parts := strings.Split(s, ":"); len(parts) == 2 && qualifier == "" {
		return "", "", invalidParam("Invalid qualifier in function name '%s'", s)
	}
	return name, qualifier, nil
}

// qualify combines the qualifier derived from the function name with the Qualifier parameter,
// which must agree, as Lambda requires.
func qualify(derived, param string) (string, error) {
	if derived != "" && param != "" && derived != param {
		return "", invalidParam("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if derived != "" {
		return derived, nil
	}
	return param, nil
}

// resolveLocked finds the version a qualifier ($LATEST, a number or an alias) invokes, choosing
// an alias's additional version by its weight. Call with p.mu held.
func (p *Platform) resolveLocked(name, qualifier, region string) (*function, string, *config, error) {
	f := p.fns[name]
	if f == nil {
		return nil, "", nil, notFound("Function not found: %s", functionARN(region, name, qualifier))
	}
	switch {
	case qualifier == "" || qualifier == latest:
		return f, latest, f.Latest, nil
	case versionRE.MatchString(qualifier):
		if c := f.Versions[qualifier]; c != nil {
			return f, qualifier, c, nil
		}
	default:
		if a := f.Aliases[qualifier]; a != nil {
			v := a.Version
			for extra, w := range a.Weights {
				if rand.Float64() < w {
					v = extra
				}
			}
			if c := f.version(v); c != nil {
				return f, v, c, nil
			}
		}
	}
	return nil, "", nil, notFound("Function not found: %s", functionARN(f.Region, name, qualifier))
}

func functionARN(region, name, qualifier string) string {
	arn := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return arn
}

// traceID is the X-Ray trace header handed to the runtime: the caller's, or a new root.
func traceID(r *http.Request) string {
	if t := r.Header.Get("X-Amzn-Trace-Id"); t != "" {
		return t
	}
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + fastHex(12) + ";Parent=" + fastHex(8) + ";Sampled=0"
}

// serveInvoke answers Invoke: RequestResponse runs the request and returns its result, Event
// queues it (202), DryRun only checks the function (204).
func (p *Platform) serveInvoke(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	name, derived, err := parseFunctionName(fnParam)
	if err != nil {
		return err
	}
	qualifier, err := qualify(derived, r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	invType := r.Header.Get("X-Amz-Invocation-Type")
	switch invType {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		return invalidParam("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invType)
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	switch logType {
	case "", "None", "Tail":
	default:
		return invalidParam("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]", logType)
	}
	limit := int64(maxSyncPayload)
	if invType == "Event" {
		limit = maxAsyncPayload
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return invalidParam("read request payload: %v", err)
	}
	if int64(len(payload)) > limit {
		return tooLarge("Request must be smaller than %d bytes for the %s operation", limit, map[bool]string{true: "InvokeAsync", false: "Invoke"}[invType == "Event"])
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	} else if !json.Valid(payload) {
		return &apiError{status: http.StatusBadRequest, typ: errInvalidRequest, msg: "Could not parse request body into json: Could not parse payload into json"}
	}
	clientCtx := ""
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		b, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || !json.Valid(b) {
			return invalidParam("Client context must be a valid Base64-encoded JSON object.")
		}
		clientCtx = string(b)
	}

	p.mu.Lock()
	f, version, cfg, err := p.resolveLocked(name, qualifier, region)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	arn := f.arn()
	if qualifier != "" {
		arn += ":" + qualifier
	}
	switch invType {
	case "DryRun":
		p.mu.Unlock()
		w.Header().Set("X-Amzn-RequestId", reqID)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "Event":
		rt := p.runtimeFor(name)
		if len(rt.queue) >= p.opts.AsyncQueueSize || p.closed {
			p.mu.Unlock()
			return &apiError{status: http.StatusTooManyRequests, typ: errTooManyRequests, msg: "Rate Exceeded.", reason: "CallerRateLimitExceeded"}
		}
		rt.queue = append(rt.queue, &asyncEvent{
			fn: name, version: version, arn: arn, id: reqID, payload: payload, trace: traceID(r), clientCtx: clientCtx,
		})
		p.pumpLocked(name, rt)
		p.mu.Unlock()
		w.Header().Set("X-Amzn-RequestId", reqID)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	rt := p.runtimeFor(name)
	if rt.inflight >= p.limitLocked(f) || p.closed {
		p.mu.Unlock()
		p.metrics.throttles.WithLabelValues(name).Inc()
		return throttled()
	}
	rt.inflight++
	p.mu.Unlock()

	inv := newInvocation(reqID, payload)
	inv.arn, inv.trace, inv.clientCtx, inv.tail = arn, traceID(r), clientCtx, logType == "Tail"
	inv = p.execute(f, version, cfg, inv)
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{reqID}
	h["X-Amz-Executed-Version"] = []string{version}
	h["Content-Type"] = []string{"application/json"}
	if inv.res.functionError {
		h["X-Amz-Function-Error"] = []string{"Unhandled"}
	}
	if inv.tail {
		h["X-Amz-Log-Result"] = []string{p.awaitTail(inv)}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.res.payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.res.payload)
	return nil
}

// pumpLocked starts queued asynchronous events while the function has free concurrency. Call
// with p.mu held.
func (p *Platform) pumpLocked(name string, rt *fnRuntime) {
	if len(rt.queue) == 0 || p.closed {
		return
	}
	f := p.fns[name]
	if f == nil {
		rt.queue = nil
		return
	}
	for len(rt.queue) > 0 && rt.inflight < p.limitLocked(f) {
		ev := rt.queue[0]
		rt.queue[0] = nil
		rt.queue = rt.queue[1:]
		rt.inflight++
		p.bg.Add(1)
		go p.runAsync(ev)
	}
}

// runAsync runs one queued event on a concurrency slot the pump took for it, and schedules a
// retry after a function error while retries remain, as Lambda does.
func (p *Platform) runAsync(ev *asyncEvent) {
	defer p.bg.Done()
	p.mu.Lock()
	f := p.fns[ev.fn]
	var cfg *config
	if f != nil {
		cfg = f.version(ev.version)
	}
	p.mu.Unlock()
	if cfg == nil {
		p.release(ev.fn, nil, true)
		p.log.Warn("local platform: dropping asynchronous event of a deleted function", "function", ev.fn,
			"version", ev.version, "requestId", ev.id)
		return
	}
	inv := newInvocation(ev.id, ev.payload)
	inv.arn, inv.trace, inv.clientCtx = ev.arn, ev.trace, ev.clientCtx
	inv = p.execute(f, ev.version, cfg, inv)
	if !inv.res.functionError {
		return
	}
	if ev.attempt >= len(p.opts.AsyncRetryDelays) {
		p.log.Warn("local platform: asynchronous event failed after retries", "function", ev.fn,
			"requestId", ev.id, "attempts", ev.attempt+1)
		return
	}
	delay := p.opts.AsyncRetryDelays[ev.attempt]
	ev.attempt++
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.closing:
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		rt := p.runtimeFor(ev.fn)
		rt.queue = append(rt.queue, ev)
		p.pumpLocked(ev.fn, rt)
	}()
}
