package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/platform/local"
)

// TestDeployAndLoadOnLocalPlatform deploys the Tree sample to a real local platform with a
// given setup, then drives load at its live alias, all through the CLI.
func TestDeployAndLoadOnLocalPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bundle and runs function processes")
	}
	home := t.TempDir()
	t.Setenv("FUSIONIZE_HOME", home)
	p, err := local.New(local.Options{DataDir: filepath.Join(home, "platform")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	cfg := filepath.Join(home, "tree.yaml")
	if err := os.WriteFile(cfg, []byte("name: tree\nsample: tree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Before any deploy: every request is a 404, counted as one kind, not one per request ID.
	out, _, err := run(t, ctx, "load", "--platform", p.Endpoint(), "--wait", "0", "--sample", "tree", "--rate", "100", "--requests", "30", "tree:live")
	if err == nil || !strings.Contains(out, "errors    30× 404 ResourceNotFoundException\n") {
		t.Fatalf("load before deploy: %v\n%s", err, out)
	}
	// Load started before the deploy waits for the alias, saying so, instead of failing.
	var loadErr lockedBuffer
	loadDone := make(chan string, 1)
	go func() {
		var loadOut bytes.Buffer
		err := New(&loadOut, &loadErr).RunContext(ctx, []string{"fusionize", "load", "--platform", p.Endpoint(), "--wait", "5m",
			"--sample", "tree", "--rate", "50", "--requests", "20", "tree:live"})
		loadDone <- fmt.Sprint(loadOut.String(), err)
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(loadErr.String(), "waiting up to 5m0s for tree:live"); {
		if time.Now().After(deadline) {
			t.Fatalf("load did not say it waits:\n%s", loadErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	_, _, err = run(t, ctx, "deploy", "--platform", p.Endpoint(), "--setup", "A+B+D+E@128,C@128", cfg)
	if err == nil || !strings.Contains(err.Error(), `no group is rooted at "F"`) {
		t.Fatalf("a setup missing groups: got %v", err)
	}

	out, _, err = run(t, ctx, "deploy", "--platform", p.Endpoint(), "--env", "FUSIONIZE_WORK_SCALE=0.01",
		"--setup", "A+B+D+E@128,C@256,F@256,G@256", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "entry:     tree:live → version") {
		t.Fatalf("deploy output:\n%s", out)
	}
	if out := <-loadDone; !strings.Contains(out, "20 ok, 0 errors") || !strings.HasSuffix(out, "<nil>") {
		t.Fatalf("load that waited for the deploy: %s", out)
	}
	// Deploying the same setup again changes nothing.
	again, _, err := run(t, ctx, "deploy", "--platform", p.Endpoint(), "--env", "FUSIONIZE_WORK_SCALE=0.01",
		"--setup", "A+B+D+E@128,C@256,F@256,G@256", cfg)
	if err != nil || !strings.Contains(again, "version 1") {
		t.Fatalf("redeploy: %v\n%s", err, again)
	}
}

// lockedBuffer is a bytes.Buffer safe to write and read from two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
