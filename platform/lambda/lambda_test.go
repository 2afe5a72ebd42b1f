package lambda_test

import (
	"context"
	"log/slog"
	"os"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/activities"
	"github.com/fusionize/fusionize/fusion"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/runtime/bundle"
)

// sampleOnLocalPlatform bundles a sample for this machine and starts a local platform, both
// gone with the test; it skips under -short.
func sampleOnLocalPlatform(t *testing.T, sample string) (zip string, plat *local.Platform) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the " + sample + " bundle and runs the local platform")
	}
	arts, err := bundle.Build(context.Background(), bundle.Options{Package: "./samples/cmd/" + sample, Dir: "../..", OutDir: t.TempDir(), Archs: []string{goruntime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	plat, err = local.New(local.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plat.Close(context.Background()) })
	return arts[0].Zip, plat
}

// TestAgainstLocalPlatform deploys two setups of the tree sample on the local platform,
// canaries one against the other, reads their traces and retires one.
func TestAgainstLocalPlatform(t *testing.T) {
	ctx := context.Background()
	zip, plat := sampleOnLocalPlatform(t, "tree")
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")}
	p, err := plambda.New(ctx, plambda.Options{AWSConfig: &cfg, Endpoint: plat.Endpoint(),
		Bundles:      map[string]plambda.Bundle{"tree": {Zip: zip, Arch: goruntime.GOARCH}},
		Role:         "arn:aws:iam::000000000000:role/test",
		Environment:  map[string]string{"FUSIONIZE_WORK_SCALE": "0.02"},
		WaitMinDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	client := awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(plat.Endpoint()), Credentials: cfg.Credentials})
	start := time.Now()

	remote := fusion.MustParseSetup("A@128,B@128,C@128,D@128,E@128,F@128,G@128")
	fused := fusion.MustParseSetup("A+B+D+E@256,C+F+G@512")
	d1, err := p.Deploy(ctx, activities.DeployRequest{App: "tree", Setup: remote, Entry: "A"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Deploy(ctx, activities.DeployRequest{App: "tree", Setup: remote, Entry: "A"})
	if err != nil || again.Version != d1.Version || !slices.Equal(again.Functions, d1.Functions) {
		t.Fatalf("deploy again: %+v %v, first %+v", again, err, d1)
	}
	if err := p.Promote(ctx, d1); err != nil {
		t.Fatal(err)
	}
	d2, err := p.Deploy(ctx, activities.DeployRequest{App: "tree", Setup: fused, Entry: "A"})
	if err != nil || d2.Version == d1.Version || len(d2.Functions) != 2 {
		t.Fatalf("deploy fused: %+v %v", d2, err)
	}
	if err := p.Route(ctx, d1, d2, 0.5); err != nil {
		t.Fatal(err)
	}
	versions := map[string]int{}
	for range 30 {
		out, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("tree"), Qualifier: aws.String("live"), Payload: []byte(`{"n":1}`)})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke: %v %s", err, out.Payload)
		}
		versions[aws.ToString(out.ExecutedVersion)]++
	}
	if versions[d1.Version] == 0 || versions[d2.Version] == 0 {
		t.Errorf("executed versions %v, want both %s and %s", versions, d1.Version, d2.Version)
	}
	var tr activities.Traces
	deadline := time.Now().Add(20 * time.Second)
	for {
		tr, err = p.Traces(ctx, activities.TraceQuery{App: "tree", Deployments: []activities.Deployment{d1, d2}, Start: start, End: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		prof := fusion.BuildProfile(fusion.Graph{}, tr.Records, tr.Reports)
		s1, _ := prof.Setup(d1.Setup.ID())
		s2, _ := prof.Setup(d2.Setup.ID())
		if s1.Requests+s2.Requests == 30 && len(tr.Reports) >= len(tr.Records) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traces: %d + %d requests, %d records, %d reports", s1.Requests, s2.Requests, len(tr.Records), len(tr.Reports))
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := p.Retire(ctx, d2); err == nil {
		t.Fatal("retired a setup that takes live traffic")
	}
	if err := p.Promote(ctx, d1); err != nil {
		t.Fatal(err)
	}
	for range 2 { // retiring twice is harmless
		if err := p.Retire(ctx, d2); err != nil {
			t.Fatal(err)
		}
	}
	wantOnly(t, plat, d1)
	_ = os.Remove(zip)
}
