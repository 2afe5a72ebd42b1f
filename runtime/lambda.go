package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// LambdaInvokeAPI is the part of the aws-sdk-go-v2 Lambda client that remote calls use.
type LambdaInvokeAPI interface {
	Invoke(ctx context.Context, in *awslambda.InvokeInput, optFns ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error)
}

// LambdaInvoker makes remote calls with the aws-sdk-go-v2 Lambda client.
type LambdaInvoker struct {
	Client LambdaInvokeAPI
}

var _ Invoker = (*LambdaInvoker)(nil)

// NewLambdaInvoker returns an invoker configured by the SDK's default chain: region,
// credentials and endpoint (AWS_ENDPOINT_URL_LAMBDA points it at the local platform).
func NewLambdaInvoker(ctx context.Context) (*LambdaInvoker, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &LambdaInvoker{Client: awslambda.NewFromConfig(cfg)}, nil
}

// Invoke calls function with RequestResponse (sync) or Event (async).
func (l *LambdaInvoker) Invoke(ctx context.Context, function string, payload []byte, async bool) ([]byte, error) {
	in := &awslambda.InvokeInput{FunctionName: aws.String(function), Payload: payload}
	if async {
		in.InvocationType = types.InvocationTypeEvent
	}
	out, err := l.Client.Invoke(ctx, in)
	if err != nil {
		return nil, err
	}
	if out.FunctionError != nil {
		return nil, functionError(*out.FunctionError, out.Payload)
	}
	return out.Payload, nil
}

// functionError decodes Lambda's error payload {"errorMessage":…,"errorType":…}.
func functionError(kind string, payload []byte) error {
	var body struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	msg := string(payload)
	if json.Unmarshal(payload, &body) == nil && body.Message != "" {
		msg = body.Message
		if body.Type != "" && body.Type != "errorString" && body.Type != "wrapError" {
			msg = body.Type + ": " + msg
		}
	}
	return &FunctionError{Type: kind, Message: msg}
}

// Main is the entry point of a bundle's bootstrap: it reads the configuration from the
// environment, connects remote calls to Lambda through the SDK's default configuration and
// serves invocations with aws-lambda-go. It does not return.
//
// Run outside Lambda with the argument "describe", it prints the app's name and tasks as JSON
// (the bundle command uses this to check that a package is a Fusionize app).
func (a *App) Main() {
	if len(os.Args) > 1 && os.Args[1] == "describe" {
		_ = json.NewEncoder(os.Stdout).Encode(a.Describe())
		os.Exit(0)
	}
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		fmt.Fprintf(os.Stderr, "%s is a Fusionize function bundle (app %q, tasks %v).\n"+
			"It runs inside AWS Lambda or the Fusionize local platform; deploy it with `fusionize deploy`.\n"+
			"`%s describe` prints the app as JSON.\n", os.Args[0], a.name, a.order, os.Args[0])
		os.Exit(2)
	}
	rt, err := a.lambdaRuntime(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "fusionize runtime: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(rt)
}

func (a *App) lambdaRuntime(ctx context.Context) (*Runtime, error) {
	cfg, err := ConfigFromEnv(os.Getenv, a.name)
	if err != nil {
		return nil, err
	}
	opts := Options{Config: cfg}
	if len(cfg.Setup.Groups) > 1 {
		if opts.Invoker, err = NewLambdaInvoker(ctx); err != nil {
			return nil, err
		}
	}
	if g, ok := cfg.Setup.Group(cfg.Group); ok {
		opts.MemoryMB = memoryFromEnv(os.Getenv, g.MemoryMB)
	}
	return a.NewRuntime(opts)
}

// Description is what `bootstrap describe` prints.
type Description struct {
	App   string   `json:"app"`
	Tasks []string `json:"tasks"`
}

// Describe returns the app's name and tasks.
func (a *App) Describe() Description { return Description{App: a.name, Tasks: a.Tasks()} }

// IsFunctionError reports whether err comes from a remote function's error.
func IsFunctionError(err error) bool {
	var fe *FunctionError
	return errors.As(err, &fe)
}
