package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

	_, _, err = run(t, ctx, "deploy", "--platform", p.Endpoint(), "--setup", "A+B+D+E@128,C@128", cfg)
	if err == nil || !strings.Contains(err.Error(), `no group is rooted at "F"`) {
		t.Fatalf("a setup missing groups: got %v", err)
	}

	out, _, err := run(t, ctx, "deploy", "--platform", p.Endpoint(), "--env", "FUSIONIZE_WORK_SCALE=0.01",
		"--setup", "A+B+D+E@128,C@256,F@256,G@256", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "entry:     tree:live → version") {
		t.Fatalf("deploy output:\n%s", out)
	}
	out, _, err = run(t, ctx, "load", "--platform", p.Endpoint(), "--sample", "tree", "--rate", "50", "--requests", "20", "tree:live")
	if err != nil || !strings.Contains(out, "20 ok, 0 errors") {
		t.Fatalf("load: %v\n%s", err, out)
	}
	// Deploying the same setup again changes nothing.
	again, _, err := run(t, ctx, "deploy", "--platform", p.Endpoint(), "--env", "FUSIONIZE_WORK_SCALE=0.01",
		"--setup", "A+B+D+E@128,C@256,F@256,G@256", cfg)
	if err != nil || !strings.Contains(again, "version 1") {
		t.Fatalf("redeploy: %v\n%s", err, again)
	}
}
