package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverHandler filters the Temporal server's records before the wrapped
// handler sees them. The server logs several lines per second at info level
// even when idle, and a burst of warnings about vanished peers while it
// shuts down; a dev server should only speak when something is wrong.
type serverHandler struct {
	min   slog.Level
	muted *atomic.Bool // set while stopping
	next  slog.Handler
}

// benign are warnings that say nothing to a dev server user.
var benign = []string{
	// The frontend's HTTP API is off on purpose (one port fewer).
	"HTTP API port has not been set.",
}

func (h serverHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && !h.muted.Load() && h.next.Enabled(ctx, l)
}

func (h serverHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min || h.muted.Load() {
		return nil
	}
	for _, prefix := range benign {
		if strings.HasPrefix(r.Message, prefix) {
			return nil
		}
	}
	return h.next.Handle(ctx, r)
}

func (h serverHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return serverHandler{min: h.min, muted: h.muted, next: h.next.WithAttrs(attrs)}
}

func (h serverHandler) WithGroup(name string) slog.Handler {
	return serverHandler{min: h.min, muted: h.muted, next: h.next.WithGroup(name)}
}

// serverLogger adapts a *slog.Logger to the Temporal server's log.Logger.
type serverLogger struct {
	l *slog.Logger
}

var (
	_ log.Logger      = serverLogger{}
	_ log.WithLogger  = serverLogger{}
	_ log.SLogWrapper = serverLogger{}
	_ slog.Handler    = serverHandler{}
)

func attrs(tags []tag.Tag) []any {
	out := make([]any, 0, len(tags))
	for _, t := range tags {
		out = append(out, slog.Any(t.Key(), t.Value()))
	}
	return out
}

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.l.Debug(msg, attrs(tags)...) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.l.Info(msg, attrs(tags)...) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.l.Warn(msg, attrs(tags)...) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.l.Error(msg, attrs(tags)...) }

// DPanic logs at error level: development panics are not worth crashing a
// dev server for.
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.l.Error(msg, attrs(tags)...) }

// Panic logs and panics, as the log.Logger contract requires.
func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.l.Error(msg, attrs(tags)...)
	panic(msg)
}

// fatalError is what Fatal panics with; recoverFatal turns it back into an
// error where the server is built and started.
type fatalError struct {
	msg  string
	tags []tag.Tag
}

func (e fatalError) Error() string {
	var b strings.Builder
	b.WriteString(e.msg)
	for _, t := range e.tags {
		fmt.Fprintf(&b, " %s=%v", t.Key(), t.Value())
	}
	return b.String()
}

// Fatal logs and panics with a fatalError: the server expects Fatal not to
// return, and a library must not call os.Exit. The server calls Fatal for
// errors such as a port it cannot bind while it is being built or started;
// Start recovers those and returns them.
func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.l.Error(msg, attrs(tags)...)
	panic(fatalError{msg: msg, tags: tags})
}

// recoverFatal, deferred, turns a fatalError panic into *err and lets any
// other panic go on.
func recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if f, ok := r.(fatalError); ok {
		*err = f
		return
	}
	panic(r)
}

func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	return serverLogger{l: s.l.With(attrs(tags)...)}
}

// SLog lets the server's own slog users log through the same handler.
func (s serverLogger) SLog() *slog.Logger { return s.l }
