package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// TestTypedErrors checks that every error the platform answers decodes into the SDK's typed
// error, and that a refused request changes nothing.
func TestTypedErrors(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	e.create(t, "fn", func(in *lambda.CreateFunctionInput) { in.Publish = true })
	if _, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	before, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	create := func(change func(*lambda.CreateFunctionInput)) func() error {
		return func() error {
			in := &lambda.CreateFunctionInput{
				FunctionName: aws.String("fresh"), Role: aws.String("arn:aws:iam::000000000000:role/x"),
				Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: zipV1},
			}
			change(in)
			_, err := e.lc.CreateFunction(ctx, in)
			return err
		}
	}
	updateConfig := func(change func(*lambda.UpdateFunctionConfigurationInput)) func() error {
		return func() error {
			in := &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn")}
			change(in)
			_, err := e.lc.UpdateFunctionConfiguration(ctx, in)
			return err
		}
	}
	var (
		notFound  *types.ResourceNotFoundException
		invalid   *types.InvalidParameterValueException
		conflict  *types.ResourceConflictException
		throttled *types.TooManyRequestsException
		tooLarge  *types.RequestTooLargeException
		precond   *types.PreconditionFailedException
		badJSON   *types.InvalidRequestContentException
	)
	tests := []struct {
		name   string
		call   func() error
		target any
		status int
	}{
		{"get missing function", func() error {
			_, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
			return err
		}, &notFound, 404},
		{"invoke missing function", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope")})
			return err
		}, &notFound, 404},
		{"invoke missing version", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("9")})
			return err
		}, &notFound, 404},
		{"invoke missing alias", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn:nope")})
			return err
		}, &notFound, 404},
		{"get missing alias", func() error {
			_, err := e.lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("nope")})
			return err
		}, &notFound, 404},
		{"alias to missing version", func() error {
			_, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("x"), FunctionVersion: aws.String("7")})
			return err
		}, &notFound, 404},
		{"memory too small", create(func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }), &invalid, 400},
		{"memory too large", create(func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }), &invalid, 400},
		{"timeout too long", create(func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }), &invalid, 400},
		{"timeout zero", create(func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(0) }), &invalid, 400},
		{"unsupported runtime", create(func(in *lambda.CreateFunctionInput) { in.Runtime = types.RuntimePython312 }), &invalid, 400},
		{"bad function name", create(func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("no spaces") }), &invalid, 400},
		{"handler with space", create(func(in *lambda.CreateFunctionInput) { in.Handler = aws.String("a b") }), &invalid, 400},
		{"reserved environment key", create(func(in *lambda.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "eu-west-1"}}
		}), &invalid, 400},
		{"not a zip", create(func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = []byte("not a zip") }), &invalid, 400},
		{"code from a real S3 bucket", create(func(in *lambda.CreateFunctionInput) {
			in.Code = &types.FunctionCode{S3Bucket: aws.String("my-bucket"), S3Key: aws.String("code.zip")}
		}), &invalid, 400},
		{"code by relative path", create(func(in *lambda.CreateFunctionInput) {
			in.Code = &types.FunctionCode{S3Bucket: aws.String(CodeBucket), S3Key: aws.String("code.zip")}
		}), &invalid, 400},
		{"code by missing path", create(func(in *lambda.CreateFunctionInput) {
			in.Code = &types.FunctionCode{S3Bucket: aws.String(CodeBucket), S3Key: aws.String("/nonexistent/code.zip")}
		}), &invalid, 400},
		{"update memory out of range", updateConfig(func(in *lambda.UpdateFunctionConfigurationInput) { in.MemorySize = aws.Int32(100) }), &invalid, 400},
		{"update with reserved key", updateConfig(func(in *lambda.UpdateFunctionConfigurationInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"OK": "1", "_HANDLER": "x"}}
		}), &invalid, 400},
		{"routing to two extra versions", func() error {
			_, err := e.lc.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
				RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 0.1, "$LATEST": 0.1}}})
			return err
		}, &invalid, 400},
		{"routing weight above 1", func() error {
			_, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("w"), FunctionVersion: aws.String("$LATEST"),
				RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 1.5}}})
			return err
		}, &invalid, 400},
		{"numeric alias name", func() error {
			_, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("12"), FunctionVersion: aws.String("1")})
			return err
		}, &invalid, 400},
		{"delete $LATEST", func() error {
			_, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST")})
			return err
		}, &invalid, 400},
		{"invocation type", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: "Sometimes"})
			return err
		}, &invalid, 400},
		{"qualifier mismatch", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn:1"), Qualifier: aws.String("live")})
			return err
		}, &invalid, 400},
		{"create existing function", create(func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("fn") }), &conflict, 409},
		{"create existing alias", func() error {
			_, err := e.lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
			return err
		}, &conflict, 409},
		{"delete version an alias uses", func() error {
			_, err := e.lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
			return err
		}, &conflict, 409},
		{"sync payload over 6 MB", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: bigJSON(6<<20 + 1)})
			return err
		}, &tooLarge, 413},
		{"async payload over 1 MB", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: bigJSON(1<<20 + 1)})
			return err
		}, &tooLarge, 413},
		{"payload not JSON", func() error {
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte("{not json")})
			return err
		}, &badJSON, 400},
		{"stale revision", updateConfig(func(in *lambda.UpdateFunctionConfigurationInput) {
			in.RevisionId = aws.String("00000000-0000-0000-0000-000000000000")
			in.MemorySize = aws.Int32(1024)
		}), &precond, 412},
		{"throttled", func() error {
			if _, err := e.lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
				return err
			}
			defer e.lc.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("fn")})
			_, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn")})
			return err
		}, &throttled, 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			if !errors.As(err, tc.target) {
				t.Fatalf("error %v (%T), want %v", err, err, reflect.TypeOf(tc.target).Elem().Elem())
			}
			var re interface{ HTTPStatusCode() int }
			if errors.As(err, &re) && re.HTTPStatusCode() != tc.status {
				t.Errorf("HTTP status %d, want %d", re.HTTPStatusCode(), tc.status)
			}
			var api smithy.APIError
			if errors.As(err, &api) && api.ErrorMessage() == "" {
				t.Errorf("error without message: %v", err)
			}
		})
	}

	after, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Configuration, after.Configuration) {
		t.Errorf("refused requests changed the function:\nbefore %+v\nafter  %+v", before.Configuration, after.Configuration)
	}
	if _, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fresh")}); !errors.As(err, &notFound) {
		t.Errorf("a refused CreateFunction left a function behind: %v", err)
	}
	alias, err := e.lc.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	if err != nil || alias.RoutingConfig != nil {
		t.Errorf("refused UpdateAlias changed the alias: %+v, %v", alias, err)
	}
}

func bigJSON(n int) []byte {
	b := bytes.Repeat([]byte("a"), n)
	b[0], b[len(b)-1] = '"', '"'
	return b
}

// TestErrorWireShape checks the raw error response that SDKs in other languages decode too.
func TestErrorWireShape(t *testing.T) {
	e := newTestEnv(t, Options{})
	req, err := http.NewRequest(http.MethodGet, e.p.Endpoint()+"/2015-03-31/functions/missing", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", fakeSigV4)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" ||
		resp.Header.Get("X-Amzn-RequestId") == "" || body["Type"] != "User" ||
		!strings.Contains(body["message"], "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing") {
		t.Errorf("status %d headers %v body %v", resp.StatusCode, resp.Header, body)
	}
}
