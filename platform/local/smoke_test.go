package local

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "smoke")
	out, resp := e.invoke(t, "smoke", map[string]any{"op": "echo"})
	t.Logf("out=%+v resp=%+v", out, resp)
	out, resp = e.invoke(t, "smoke", map[string]any{"op": "echo"})
	t.Logf("out=%+v resp=%+v", out, resp)
	t.Logf("logs: %q", e.logMessages(t, "smoke", ""))
	t.Logf("status: %+v", e.p.Status())
}
