package lambda_test

import (
	"archive/zip"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/plan"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
)

// idleZip writes a bundle that is never invoked: the inventory needs deployed functions only.
func idleZip(t *testing.T) string {
	t.Helper()
	return zipBootstrap(t, []byte("#!/bin/sh\nexit 1\n"))
}

// zipBootstrap writes a zip holding bootstrap with the given content.
func zipBootstrap(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "idle.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	fw, err := w.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAdoptAndRetireOrphans leaves the local platform as a crashed optimizer would: three
// setups of tree deployed, one live, another with a canary share, and one half-deployed
// (group functions without an entry version). Adopt must find the live
// one from the platform alone and route the canary share back to it; RetireOrphans must leave
// exactly the live setup's functions and version. It catches Serving reading the wrong
// version or setup, an Adopt that leaves the canary share routed, and a RetireOrphans that
// keeps an orphan (one known only by its functions, too) or deletes what serves.
func TestAdoptAndRetireOrphans(t *testing.T) {
	ctx := context.Background()
	plat, cfg := idlePlatform(t)
	p, err := plambda.New(ctx, plambda.Options{AWSConfig: &cfg, Endpoint: plat.Endpoint(),
		Bundles: map[string]plambda.Bundle{"tree": {Zip: idleZip(t)}}, Role: "arn:aws:iam::000000000000:role/test",
		WaitMinDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := activities.New(activities.Options{Deployer: p, Traces: p, Planners: map[string]plan.Planner{"fusionizepp": plan.FusionizePP{}}})
	if err != nil {
		t.Fatal(err)
	}
	graph := fusion.Graph{Entry: "A", Tasks: []string{"A", "B", "C", "D", "E", "F", "G"}, Edges: []fusion.Edge{
		{Caller: "A", Callee: "B", Mode: fusion.Sync}, {Caller: "A", Callee: "C", Mode: fusion.Async}, {Caller: "B", Callee: "D", Mode: fusion.Sync},
		{Caller: "D", Callee: "E", Mode: fusion.Sync}, {Caller: "C", Callee: "F", Mode: fusion.Async}, {Caller: "C", Callee: "G", Mode: fusion.Async}}}

	res, err := acts.Adopt(ctx, activities.AdoptInput{App: "tree", Graph: graph})
	if err != nil || res.Found {
		t.Fatalf("adopt with nothing deployed: %+v %v", res, err)
	}
	var deps []activities.Deployment
	for _, text := range []string{"A@128,B@128,C@128,D@128,E@128,F@128,G@128", "A+B+D+E@256,C+F+G@512", "A+B+D+E@512,C@128,F@128,G@128"} {
		d, err := p.Deploy(ctx, activities.DeployRequest{App: "tree", Setup: fusion.MustParseSetup(text), Entry: "A"})
		if err != nil {
			t.Fatal(err)
		}
		deps = append(deps, d)
	}
	// deps[0] as a deploy that failed half-way leaves it: group functions, no entry version.
	lc := awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(plat.Endpoint()), Credentials: cfg.Credentials})
	if _, err := lc.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("tree"), Qualifier: aws.String(deps[0].Version)}); err != nil {
		t.Fatal(err)
	}
	live, canary := deps[1], deps[2]
	if err := p.Route(ctx, live, canary, 0.2); err != nil {
		t.Fatal(err)
	}

	res, err = acts.Adopt(ctx, activities.AdoptInput{App: "tree", Graph: graph})
	if err != nil || !res.Found || res.Live.Setup.ID() != live.Setup.ID() || res.Live.Version != live.Version || res.Live.Entry != "A" ||
		!slices.Equal(res.Live.Functions, live.Functions) {
		t.Fatalf("adopt: %+v %v, want %+v", res, err, live)
	}
	if primary, weights, _, err := p.Live(ctx, "tree"); err != nil || primary != live.Version || len(weights) != 0 {
		t.Errorf("after adopt the alias routes to %s %v (%v), want %s alone", primary, weights, err, live.Version)
	}
	retired, err := acts.RetireOrphans(ctx, res.Live)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{deps[0].Setup.ID(), deps[2].Setup.ID()}; !sameSet(retired, want) {
		t.Errorf("retired %v, want %v", retired, want)
	}
	wantOnly(t, plat, live)
	if again, err := acts.RetireOrphans(ctx, res.Live); err != nil || len(again) != 0 {
		t.Errorf("retire orphans again: %v %v, want nothing", again, err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// wantOnly checks that the platform holds exactly d's functions, the entry function "tree"
// and d's version of it.
func wantOnly(t *testing.T, plat *local.Platform, d activities.Deployment) {
	t.Helper()
	var names []string
	for _, f := range plat.Status().Functions {
		names = append(names, f.Name)
		if f.Name == "tree" && !slices.Equal(f.Versions, []string{d.Version}) {
			t.Errorf("entry versions %v, want [%s]", f.Versions, d.Version)
		}
	}
	want := append([]string{"tree"}, d.Functions...)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("functions %v, want %v", names, want)
	}
}

// TestArchitectureMismatch catches a bundle deployed for an architecture it was not built
// for: a config saying arm64 against an x86_64 bundle, and a bundle declared arm64 whose
// bootstrap is an x86-64 executable.
func TestArchitectureMismatch(t *testing.T) {
	ctx := context.Background()
	plat, cfg := idlePlatform(t)
	opts := plambda.Options{AWSConfig: &cfg, Endpoint: plat.Endpoint(), Role: "arn:aws:iam::000000000000:role/test",
		Bundles: map[string]plambda.Bundle{"tree": {Zip: idleZip(t), Arch: "x86_64"}}}
	p, err := plambda.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Deploy(ctx, activities.DeployRequest{App: "tree", Setup: fusion.MustParseSetup("A+B+C+D+E+F+G@128"), Entry: "A", Arch: fusion.ARM64})
	var perm *activities.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "configured for arm64") {
		t.Errorf("deploy for arm64 with an x86_64 bundle: %v, want a permanent error saying so", err)
	}
	if len(plat.Status().Functions) != 0 {
		t.Errorf("a refused deploy left functions: %+v", plat.Status().Functions)
	}
	elf := make([]byte, 64)
	copy(elf, "\x7fELF")
	elf[18] = 0x3e // EM_X86_64
	opts.Bundles = map[string]plambda.Bundle{"tree": {Zip: zipBootstrap(t, elf), Arch: "arm64"}}
	if _, err := plambda.New(ctx, opts); err == nil || !strings.Contains(err.Error(), "built for x86_64, not arm64") {
		t.Errorf("an x86-64 bootstrap declared arm64: %v, want refused", err)
	}
}

// idlePlatform starts a local platform for tests that deploy but never invoke.
func idlePlatform(t *testing.T) (*local.Platform, aws.Config) {
	t.Helper()
	plat, err := local.New(local.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plat.Close(context.Background()) })
	return plat, aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")}
}
