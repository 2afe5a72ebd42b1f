package local

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestFunctionLifecycle(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()

	created := e.create(t, "life", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"GREETING": "hello"}}
	})
	if got, want := aws.ToString(created.FunctionArn), "arn:aws:lambda:us-east-1:000000000000:function:life"; got != want {
		t.Errorf("FunctionArn = %q, want %q", got, want)
	}
	if created.State != types.StateActive || created.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Errorf("State %q LastUpdateStatus %q, want Active and Successful", created.State, created.LastUpdateStatus)
	}
	if aws.ToString(created.Version) != "$LATEST" || aws.ToInt32(created.MemorySize) != 256 || aws.ToInt32(created.Timeout) != 10 {
		t.Errorf("created = version %q memory %d timeout %d", aws.ToString(created.Version), aws.ToInt32(created.MemorySize), aws.ToInt32(created.Timeout))
	}
	waiter := lambda.NewFunctionActiveV2Waiter(e.lc)
	if err := waiter.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("life")}, 10*time.Second); err != nil {
		t.Fatalf("FunctionActiveV2 waiter: %v", err)
	}

	_, resp := e.invoke(t, "life", map[string]any{"op": "env"})
	if resp.Variant != "v1" || resp.Env["GREETING"] != "hello" || resp.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != "256" {
		t.Fatalf("first invoke: variant %q GREETING %q memory %q", resp.Variant, resp.Env["GREETING"], resp.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
	}

	// New code by path: the old instance must not serve any more.
	upd, err := e.lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
		FunctionName: aws.String("life"), S3Bucket: aws.String(CodeBucket), S3Key: aws.String(zipV2Path),
	})
	if err != nil {
		t.Fatalf("UpdateFunctionCode by path: %v", err)
	}
	if aws.ToString(upd.CodeSha256) == aws.ToString(created.CodeSha256) {
		t.Errorf("CodeSha256 unchanged after new code")
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(e.lc).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("life")}, 10*time.Second); err != nil {
		t.Fatalf("FunctionUpdatedV2 waiter: %v", err)
	}
	if _, resp := e.invoke(t, "life", map[string]any{"op": "echo"}); resp.Variant != "v2" {
		t.Fatalf("after UpdateFunctionCode variant = %q, want v2", resp.Variant)
	}

	// New configuration: memory and environment reach the next instance.
	_, err = e.lc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("life"), MemorySize: aws.Int32(512),
		Environment: &types.Environment{Variables: map[string]string{"GREETING": "bye"}},
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration: %v", err)
	}
	_, resp = e.invoke(t, "life", map[string]any{"op": "env"})
	if resp.Env["GREETING"] != "bye" || resp.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != "512" || resp.Variant != "v2" {
		t.Fatalf("after UpdateFunctionConfiguration: GREETING %q memory %q variant %q", resp.Env["GREETING"], resp.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], resp.Variant)
	}

	got, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("life")})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if c := got.Configuration; aws.ToInt32(c.MemorySize) != 512 || c.Environment.Variables["GREETING"] != "bye" || aws.ToString(c.CodeSha256) != aws.ToString(upd.CodeSha256) {
		t.Errorf("GetFunction configuration = %+v", c)
	}
	cfg, err := e.lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:life")})
	if err != nil || aws.ToInt32(cfg.MemorySize) != 512 {
		t.Errorf("GetFunctionConfiguration by ARN: %v, memory %d", err, aws.ToInt32(cfg.MemorySize))
	}
	list, err := e.lc.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 {
		t.Errorf("ListFunctions = %v, %v", list, err)
	}

	if _, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("life")}); err != nil {
		t.Fatalf("DeleteFunction: %v", err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("life")}); !errors.As(err, &nf) {
		t.Fatalf("GetFunction after delete: %v, want ResourceNotFoundException", err)
	}
	eventually(t, 5*time.Second, "instances of the deleted function to stop", func() bool { return e.p.Status().Instances == 0 })
}

func TestInstanceEnvironment(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "envfn", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"APP": "x", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://elsewhere"}}
	})
	_, resp := e.invoke(t, "envfn", map[string]any{"op": "env"})
	env := resp.Env
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":         "envfn",
		"AWS_LAMBDA_FUNCTION_VERSION":      "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE":  "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":        "/aws/lambda/envfn",
		"AWS_REGION":                       "us-east-1",
		"AWS_DEFAULT_REGION":               "us-east-1",
		"_HANDLER":                         "bootstrap",
		"TZ":                               ":UTC",
		"APP":                              "x",
		"AWS_ENDPOINT_URL_LAMBDA":          e.p.Endpoint(),
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://elsewhere",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API"} {
		if env[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
	if !regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`).MatchString(env["AWS_LAMBDA_LOG_STREAM_NAME"]) {
		t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME = %q, not Lambda's form", env["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
	if resp.ARN != "arn:aws:lambda:us-east-1:000000000000:function:envfn" {
		t.Errorf("invoked ARN = %q", resp.ARN)
	}
	if d := time.Until(time.UnixMilli(resp.Deadline)); d < 8*time.Second || d > 10*time.Second {
		t.Errorf("deadline %v from now, want about the 10 s timeout", d)
	}
}

func TestInvokeOtherFunction(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "caller")
	e.create(t, "callee", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zipV2 })
	_, resp := e.invoke(t, "caller", map[string]any{"op": "invoke", "target": "callee", "body": `{"op":"echo"}`})
	var inner fnResponse
	if err := json.Unmarshal([]byte(resp.Body), &inner); err != nil || inner.Variant != "v2" {
		t.Fatalf("callee answered %q (%v), want its v2 echo", resp.Body, err)
	}
}

func TestVersionsAndAliases(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	e.create(t, "ver", func(in *lambda.CreateFunctionInput) { in.Publish = true })

	if _, err := e.lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("ver"), ZipFile: zipV2}); err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	v2, err := e.lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("ver"), Description: aws.String("second")})
	if err != nil || aws.ToString(v2.Version) != "2" {
		t.Fatalf("PublishVersion = %v, %v; want version 2", v2, err)
	}
	if got := aws.ToString(v2.FunctionArn); got != "arn:aws:lambda:us-east-1:000000000000:function:ver:2" {
		t.Errorf("version ARN = %q", got)
	}
	again, err := e.lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("ver")})
	if err != nil || aws.ToString(again.Version) != "2" {
		t.Errorf("publishing unchanged $LATEST = %v, %v; want version 2 again", again, err)
	}
	vs, err := e.lc.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("ver")})
	if err != nil {
		t.Fatalf("ListVersionsByFunction: %v", err)
	}
	var names []string
	for _, v := range vs.Versions {
		names = append(names, aws.ToString(v.Version))
	}
	if strings.Join(names, ",") != "$LATEST,1,2" {
		t.Errorf("versions = %v, want $LATEST,1,2", names)
	}

	// Every way of naming a version reaches it.
	for _, tc := range []struct {
		name, qualifier, variant, version string
	}{
		{"ver", "", "v2", "$LATEST"},
		{"ver", "1", "v1", "1"},
		{"ver:1", "", "v1", "1"},
		{"arn:aws:lambda:us-east-1:000000000000:function:ver:2", "", "v2", "2"},
		{"arn:aws:lambda:us-east-1:000000000000:function:ver", "1", "v1", "1"},
		{"000000000000:function:ver:1", "", "v1", "1"},
	} {
		out, resp := e.invoke(t, tc.name, map[string]any{}, func(in *lambda.InvokeInput) {
			if tc.qualifier != "" {
				in.Qualifier = aws.String(tc.qualifier)
			}
		})
		if resp.Variant != tc.variant || aws.ToString(out.ExecutedVersion) != tc.version || resp.Version != tc.version {
			t.Errorf("invoke %s qualifier %q: variant %q executed %q env version %q; want %s and %s",
				tc.name, tc.qualifier, resp.Variant, aws.ToString(out.ExecutedVersion), resp.Version, tc.variant, tc.version)
		}
	}

	// Aliases.
	a, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	if aws.ToString(a.AliasArn) != "arn:aws:lambda:us-east-1:000000000000:function:ver:live" {
		t.Errorf("AliasArn = %q", aws.ToString(a.AliasArn))
	}
	if out, resp := e.invoke(t, "ver:live", map[string]any{}); resp.Variant != "v1" || aws.ToString(out.ExecutedVersion) != "1" {
		t.Errorf("invoke alias: variant %q executed %q", resp.Variant, aws.ToString(out.ExecutedVersion))
	}
	if resp := func() fnResponse { _, r := e.invoke(t, "ver:live", map[string]any{}); return r }(); resp.ARN != "arn:aws:lambda:us-east-1:000000000000:function:ver:live" {
		t.Errorf("invoked ARN through alias = %q", resp.ARN)
	}
	if _, err := e.lc.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatalf("UpdateAlias: %v", err)
	}
	if _, resp := e.invoke(t, "ver", map[string]any{}, func(in *lambda.InvokeInput) { in.Qualifier = aws.String("live") }); resp.Variant != "v2" {
		t.Errorf("invoke alias after update: variant %q", resp.Variant)
	}
	got, err := e.lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live")})
	if err != nil || aws.ToString(got.FunctionVersion) != "2" {
		t.Errorf("GetAlias = %v, %v", got, err)
	}
	if _, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("beta"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		t.Fatalf("CreateAlias beta: %v", err)
	}
	list, err := e.lc.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String("ver")})
	if err != nil || len(list.Aliases) != 2 || aws.ToString(list.Aliases[0].Name) != "beta" {
		t.Errorf("ListAliases = %+v, %v", list, err)
	}
	if _, err := e.lc.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String("ver"), Name: aws.String("beta")}); err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := e.lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("ver"), Name: aws.String("beta")}); !errors.As(err, &nf) {
		t.Errorf("GetAlias after delete: %v, want ResourceNotFoundException", err)
	}

	// Deleting a version: refused while an alias uses it, allowed after.
	var rc *types.ResourceConflictException
	if _, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("ver"), Qualifier: aws.String("2")}); !errors.As(err, &rc) {
		t.Errorf("deleting version used by an alias: %v, want ResourceConflictException", err)
	}
	if _, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("ver"), Qualifier: aws.String("1")}); err != nil {
		t.Errorf("deleting unused version 1: %v", err)
	}
	if _, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("ver:1")}); !errors.As(err, &nf) {
		t.Errorf("invoking deleted version: %v, want ResourceNotFoundException", err)
	}
	if _, err := e.lc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("ver"), Description: aws.String("changed")}); err != nil {
		t.Fatalf("UpdateFunctionConfiguration: %v", err)
	}
	v3, err := e.lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("ver")})
	if err != nil || aws.ToString(v3.Version) != "3" {
		t.Errorf("version numbers are never reused: got %v, %v", v3, err)
	}
}

func TestCanaryWeights(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	e.create(t, "canary", func(in *lambda.CreateFunctionInput) { in.Publish = true })
	if _, err := e.lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("canary"), ZipFile: zipV2, Publish: true}); err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	_, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{
		FunctionName: aws.String("canary"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}},
	})
	if err != nil {
		t.Fatalf("CreateAlias with routing: %v", err)
	}
	got, err := e.lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("canary"), Name: aws.String("live")})
	if err != nil || got.RoutingConfig == nil || got.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 {
		t.Fatalf("GetAlias routing = %+v, %v", got.RoutingConfig, err)
	}

	const n, clients = 1000, 4
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/clients; i++ {
				out, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("canary"), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
				if err != nil {
					t.Errorf("Invoke: %v", err)
					return
				}
				var resp fnResponse
				_ = json.Unmarshal(out.Payload, &resp)
				mu.Lock()
				counts[aws.ToString(out.ExecutedVersion)+"/"+resp.Variant]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The executed version and the code that ran must agree; 10 % ± 3 % went to version 2.
	if counts["1/v1"]+counts["2/v2"] != n {
		t.Fatalf("executed version and code disagree: %v", counts)
	}
	if c := counts["2/v2"]; c < 70 || c > 130 {
		t.Errorf("version 2 got %d of %d invocations, want 10 %% ± 3 %%", c, n)
	}
	t.Logf("canary split: %v", counts)

	// Promotion: weights cleared, everything to version 2.
	if _, err := e.lc.UpdateAlias(ctx, &lambda.UpdateAliasInput{
		FunctionName: aws.String("canary"), Name: aws.String("live"), FunctionVersion: aws.String("2"),
		RoutingConfig: &types.AliasRoutingConfiguration{},
	}); err != nil {
		t.Fatalf("UpdateAlias promote: %v", err)
	}
	for i := 0; i < 20; i++ {
		if out, _ := e.invoke(t, "canary:live", map[string]any{}); aws.ToString(out.ExecutedVersion) != "2" {
			t.Fatalf("after promotion executed version %q", aws.ToString(out.ExecutedVersion))
		}
	}
}
