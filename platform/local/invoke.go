package local

import (
	"context"
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
	attempt   int   // retries done so far
	size      int64 // bytes counted against Platform.asyncBytes until the event is done for good
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

// invokeRequest is an Invoke as its headers describe it, before its payload is read.
type invokeRequest struct {
	name, qualifier, invType, logType, clientCtx, trace string
	limit                                               int64 // largest payload for invType
}

// parseInvoke checks an Invoke's path and headers.
func parseInvoke(r *http.Request, fnParam string) (*invokeRequest, error) {
	name, derived, err := parseFunctionName(fnParam)
	if err != nil {
		return nil, err
	}
	in := &invokeRequest{name: name, invType: r.Header.Get("X-Amz-Invocation-Type"), logType: r.Header.Get("X-Amz-Log-Type")}
	if in.qualifier, err = qualify(derived, r.URL.Query().Get("Qualifier")); err != nil {
		return nil, err
	}
	switch in.invType {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", in.invType)
	}
	switch in.logType {
	case "", "None", "Tail":
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]", in.logType)
	}
	in.limit = maxSyncPayload
	if in.invType == "Event" {
		in.limit = maxAsyncPayload
	}
	if r.ContentLength > in.limit {
		return nil, in.tooLarge()
	}
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		b, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || !json.Valid(b) {
			return nil, invalidParam("Client context must be a valid Base64-encoded JSON object.")
		}
		in.clientCtx = string(b)
	}
	in.trace = traceID(r)
	return in, nil
}

func (in *invokeRequest) tooLarge() error {
	op := "Invoke"
	if in.invType == "Event" {
		op = "InvokeAsync"
	}
	return tooLarge("Request must be smaller than %d bytes for the %s operation", in.limit, op)
}

// readPayload reads an Invoke's payload, at most in.limit bytes of JSON; empty is {}.
func (in *invokeRequest) readPayload(r *http.Request) ([]byte, error) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, in.limit+1))
	if err != nil {
		return nil, invalidParam("read request payload: %v", err)
	}
	if int64(len(payload)) > in.limit {
		return nil, in.tooLarge()
	}
	if len(payload) == 0 {
		return []byte("{}"), nil
	}
	if !json.Valid(payload) {
		return nil, &apiError{status: http.StatusBadRequest, typ: errInvalidRequest, msg: "Could not parse request body into json: Could not parse payload into json"}
	}
	return payload, nil
}

// serveInvoke answers Invoke: RequestResponse runs the request and returns its result, Event
// queues it (202), DryRun only checks the function (204). A request the function's concurrency
// or the event budget cannot take is refused before its payload is read.
func (p *Platform) serveInvoke(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	in, err := parseInvoke(r, fnParam)
	if err != nil {
		closeUnread(w)
		return err
	}
	delay := p.opts.LatencyProfile.Invoke.Draw()
	before := delay / 2
	if in.invType == "Event" {
		before = delay // the caller waits for the 202 only
	}
	if !p.pause(r.Context(), before) {
		closeUnread(w)
		return serviceError("the invocation was abandoned")
	}
	p.mu.Lock()
	f, version, cfg, err := p.resolveLocked(in.name, in.qualifier, region)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	arn := f.arn()
	if in.qualifier != "" {
		arn += ":" + in.qualifier
	}
	switch in.invType {
	case "DryRun":
		p.mu.Unlock()
		w.Header().Set("X-Amzn-RequestId", reqID)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "Event":
		rt := p.runtimeFor(in.name)
		full := len(rt.queue)+rt.delayed >= p.opts.AsyncQueueSize || p.closed
		p.mu.Unlock()
		if full || p.asyncBytes.inUse()+eventSize(nil, in.clientCtx)+max(r.ContentLength, 0) > p.asyncBytes.limit {
			closeUnread(w)
			return asyncThrottled()
		}
		return p.enqueue(w, r, in, reqID, version, arn)
	}
	rt := p.runtimeFor(in.name)
	if p.closed {
		p.mu.Unlock()
		closeUnread(w)
		return serviceError("the local platform is shutting down")
	}
	if ok, reason := p.takeSlotLocked(f, rt); !ok {
		p.mu.Unlock()
		p.metrics.throttles.WithLabelValues(in.name).Inc()
		closeUnread(w)
		return throttled(reason)
	}
	p.mu.Unlock()

	payload, err := in.readPayload(r)
	if err != nil {
		p.release(in.name, nil, true)
		return err
	}
	inv := newInvocation(reqID, payload)
	inv.arn, inv.trace, inv.clientCtx, inv.tail = arn, in.trace, in.clientCtx, in.logType == "Tail"
	inv.background = p.callerInBackground(r)
	inv = p.execute(f, version, cfg, inv)
	if !p.pause(r.Context(), delay-before) {
		return nil // the caller is gone
	}
	writeInvokeResult(w, p, inv, reqID, version)
	return nil
}

// callerInBackground reports whether r comes from an instance serving a background invocation
// (an asynchronous event, or a request one made): the request it makes is off every response
// path too. The instance is known by the access key of r's SigV4 credential.
func (p *Platform) callerInBackground(r *http.Request) bool {
	scope := credentialScope(r)
	if len(scope) == 0 {
		return false
	}
	p.mu.Lock()
	inst := p.byKey[scope[0]]
	p.mu.Unlock()
	if inst == nil {
		return false
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.cur != nil && inst.cur.background
}

// closeUnread ends the connection after an answer given without reading the request's body:
// else net/http would first read up to 256 KB of it to keep the connection alive.
func closeUnread(w http.ResponseWriter) { w.Header().Set("Connection", "close") }

func asyncThrottled() error {
	return &apiError{status: http.StatusTooManyRequests, typ: errTooManyRequests, msg: "Rate Exceeded.", reason: "CallerRateLimitExceeded"}
}

// enqueue reads an Event's payload and queues it if the function's queue and the platform's
// event budget have room.
func (p *Platform) enqueue(w http.ResponseWriter, r *http.Request, in *invokeRequest, reqID, version, arn string) error {
	payload, err := in.readPayload(r)
	if err != nil {
		return err
	}
	ev := &asyncEvent{fn: in.name, version: version, arn: arn, id: reqID, payload: payload, trace: in.trace,
		clientCtx: in.clientCtx, size: eventSize(payload, in.clientCtx)}
	if !p.asyncBytes.take(ev.size) {
		return asyncThrottled()
	}
	p.mu.Lock()
	rt := p.runtimeFor(in.name)
	gone := p.fns[in.name] == nil // deleted while the payload was read
	if gone || len(rt.queue)+rt.delayed >= p.opts.AsyncQueueSize || p.closed {
		p.mu.Unlock()
		p.asyncBytes.give(ev.size)
		if gone {
			return notFound("Function not found: %s", arn)
		}
		return asyncThrottled()
	}
	p.enqueueLocked(rt, ev, p.opts.LatencyProfile.EventQueue.Draw())
	p.mu.Unlock()
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// writeInvokeResult answers a RequestResponse invocation with what the function returned.
func writeInvokeResult(w http.ResponseWriter, p *Platform, inv *invocation, reqID, version string) {
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
}

// pumpLocked starts queued asynchronous events while the function has free concurrency. Call
// with p.mu held.
func (p *Platform) pumpLocked(name string, rt *fnRuntime) {
	if len(rt.queue) == 0 || p.closed {
		return
	}
	f := p.fns[name]
	if f == nil {
		p.dropQueueLocked(rt)
		return
	}
	for len(rt.queue) > 0 {
		ok, reason := p.takeSlotLocked(f, rt)
		if !ok {
			if reason == reasonAccountExceeded {
				p.waiting[name] = struct{}{} // a slot freed by another function pumps this queue
			}
			return
		}
		ev := rt.queue[0]
		rt.queue[0] = nil
		rt.queue = rt.queue[1:]
		p.bg.Add(1)
		go p.runAsync(ev)
	}
	delete(p.waiting, name)
}

// enqueueLocked puts ev in the function's queue after wait, Lambda's queueing delay of the
// latency profile; call with p.mu held.
func (p *Platform) enqueueLocked(rt *fnRuntime, ev *asyncEvent, wait time.Duration) {
	if wait <= 0 {
		rt.queue = append(rt.queue, ev)
		p.pumpLocked(ev.fn, rt)
		return
	}
	rt.delayed++
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		p.pause(context.Background(), wait)
		p.mu.Lock()
		defer p.mu.Unlock()
		rt.delayed--
		if p.closed || p.fns[ev.fn] == nil {
			p.asyncBytes.give(ev.size)
			return
		}
		rt.queue = append(rt.queue, ev)
		p.pumpLocked(ev.fn, rt)
	}()
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
		p.asyncBytes.give(ev.size)
		p.release(ev.fn, nil, true)
		p.log.Warn("local platform: dropping asynchronous event of a deleted function", "function", ev.fn,
			"version", ev.version, "requestId", ev.id)
		return
	}
	inv := newInvocation(ev.id, ev.payload)
	inv.arn, inv.trace, inv.clientCtx, inv.background = ev.arn, ev.trace, ev.clientCtx, true
	inv = p.execute(f, ev.version, cfg, inv)
	if !inv.res.functionError {
		p.asyncBytes.give(ev.size)
		return
	}
	if ev.attempt >= len(p.opts.AsyncRetryDelays) {
		p.asyncBytes.give(ev.size)
		p.log.Warn("local platform: asynchronous event failed after retries", "function", ev.fn,
			"requestId", ev.id, "attempts", ev.attempt+1)
		return
	}
	delay := p.opts.AsyncRetryDelays[ev.attempt]
	ev.attempt++
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.asyncBytes.give(ev.size)
		return
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go p.retryAsync(ev, delay)
}

// retryAsync queues a failed event again after delay; its bytes stay counted meanwhile.
func (p *Platform) retryAsync(ev *asyncEvent, delay time.Duration) {
	defer p.bg.Done()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.closing:
		p.asyncBytes.give(ev.size)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.fns[ev.fn] == nil {
		p.asyncBytes.give(ev.size)
		return
	}
	rt := p.runtimeFor(ev.fn)
	rt.queue = append(rt.queue, ev)
	p.pumpLocked(ev.fn, rt)
}
