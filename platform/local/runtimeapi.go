package local

// The Lambda Runtime API that an instance's bootstrap polls (aws-lambda-go): next
// invocation, response, error and init error, under /runtime/<instance token>/.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveRuntime answers the Lambda Runtime API (and the part of the Extensions API that
// aws-lambda-go's SIGTERM support uses) for the instance named by the path's token.
func (p *Platform) serveRuntime(w http.ResponseWriter, r *http.Request, rest string) {
	token, sub, _ := strings.Cut(rest, "/")
	p.mu.Lock()
	inst := p.instances[token]
	p.mu.Unlock()
	if inst == nil {
		runtimeError(w, http.StatusForbidden, "Runtime.UnknownInstance", "no such instance")
		return
	}
	if uid := inst.owner(); uid >= 0 && peerUID(r.Context()) != uid {
		// Isolated instances run as users of their own: a token in another user's hands is stolen.
		runtimeError(w, http.StatusForbidden, "Runtime.UnknownInstance", "no such instance")
		return
	}
	switch {
	case sub == "2018-06-01/runtime/invocation/next" && r.Method == http.MethodGet:
		inst.next(w, r)
	case strings.HasPrefix(sub, "2018-06-01/runtime/invocation/") && r.Method == http.MethodPost:
		id, action, _ := strings.Cut(strings.TrimPrefix(sub, "2018-06-01/runtime/invocation/"), "/")
		switch action {
		case "response":
			inst.respond(w, r, id, false)
		case "error":
			inst.respond(w, r, id, true)
		default:
			runtimeError(w, http.StatusNotFound, "InvalidRequest", "unknown runtime action "+action)
		}
	case sub == "2018-06-01/runtime/init/error" && r.Method == http.MethodPost:
		inst.initError(w, r)
	case sub == "2020-01-01/extension/register" && r.Method == http.MethodPost:
		inst.mu.Lock()
		inst.extension = true
		inst.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", inst.token)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"functionName":%q,"functionVersion":%q,"handler":%q}`, inst.fn, inst.version, inst.cfg.Handler)
	case sub == "2020-01-01/extension/event/next" && r.Method == http.MethodGet:
		select { // no lifecycle events are offered: block until the instance ends
		case <-inst.dead:
		case <-r.Context().Done():
		}
		runtimeError(w, http.StatusGone, "Extension.Shutdown", "instance is shutting down")
	default:
		runtimeError(w, http.StatusNotFound, "InvalidRequest", "unknown runtime API path "+sub)
	}
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorPayload(typ, msg))
}

// next hands the instance's next request to the runtime, blocking until there is one.
func (inst *instance) next(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	inst.mu.Lock()
	if !inst.ready {
		inst.ready = true
		inst.initDuration = now.Sub(inst.started)
	}
	inst.mu.Unlock()
	inst.endStart()
	select { // requests run under the instance's limits
	case <-inst.cgJoined:
	case <-inst.dead:
	case <-r.Context().Done():
		return
	}
	for {
		select {
		case inv := <-inst.work:
			if inv.finished() {
				continue // timed out waiting for this instance's init
			}
			inst.dispatch(w, inv)
			return
		case <-inst.dead:
			runtimeError(w, http.StatusGone, "Runtime.Shutdown", "instance is shutting down")
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (inst *instance) dispatch(w http.ResponseWriter, inv *invocation) {
	start := time.Now()
	deadline := start.Add(time.Duration(inst.cfg.Timeout) * time.Second)
	inst.mu.Lock()
	inv.start = start
	inst.mu.Unlock()
	inst.reportMu.Lock()
	inst.writeLog(logLine{'S', inv.id, "START RequestId: " + inv.id + " Version: " + inst.version})
	inst.reportMu.Unlock()
	close(inv.dispatched)
	h := w.Header()
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.id}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(deadline.UnixMilli(), 10)}
	h["Lambda-Runtime-Invoked-Function-Arn"] = []string{inv.arn}
	h["Lambda-Runtime-Trace-Id"] = []string{inv.trace}
	if inv.clientCtx != "" {
		h["Lambda-Runtime-Client-Context"] = []string{inv.clientCtx}
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// respond takes the runtime's response or error for request id.
func (inst *instance) respond(w http.ResponseWriter, r *http.Request, id string, isError bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSyncPayload+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	now := time.Now()
	inst.mu.Lock()
	inv := inst.cur
	if inv == nil || inv.id != id || inv.start.IsZero() {
		inst.mu.Unlock()
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "request "+id+" is not in flight on this instance")
		return
	}
	d := now.Sub(inv.start)
	inst.mu.Unlock()

	res := result{payload: body, outcome: outcomeSuccess}
	suffix := ""
	switch {
	case len(body) > maxSyncPayload:
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxSyncPayload)
		res = result{payload: errorPayload("Function.ResponseSizeTooLarge", msg), functionError: true, outcome: outcomeFunctionError}
		suffix = "\tStatus: error\tError Type: Function.ResponseSizeTooLarge"
	case isError:
		if len(body) == 0 || !json.Valid(body) {
			typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
			if typ == "" {
				typ = "Unhandled"
			}
			body = errorPayload(typ, string(body))
		}
		res = result{payload: body, functionError: true, outcome: outcomeFunctionError}
	}
	if !inv.finish(res) {
		// Timed out meanwhile; the instance is being stopped and logs the timeout.
		runtimeError(w, http.StatusGone, "Runtime.Timeout", "request "+id+" timed out")
		return
	}
	inst.mu.Lock()
	if inst.cur == inv {
		inst.cur = nil
	}
	inst.mu.Unlock()
	// Answer the runtime first so that it polls for the next request while END and REPORT are
	// produced; dispatch waits for reportMu before it writes the next START.
	inst.reportMu.Lock()
	defer inst.reportMu.Unlock()
	w.Header()["Content-Length"] = []string{"15"} // unchunked: one write for the whole answer
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	inst.report(inv, res.outcome, d, suffix)
}

// initError takes an initialization error reported by the runtime before its first request.
func (inst *instance) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	inst.writeLog(logLine{'L', "", "INIT_REPORT Phase: init\tStatus: error\tError Type: " +
		cmpOr(r.Header.Get("Lambda-Runtime-Function-Error-Type"), "Runtime.Unknown")})
	if len(body) > 0 {
		inst.writeLog(logLine{'L', "", strings.TrimSpace(string(body))})
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	go inst.stop() // the runtime is expected to exit; make sure it does
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
