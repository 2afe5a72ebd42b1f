package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/urfave/cli/v2"

	"github.com/fusionize/fusionize/cli/loadgen"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/samples"
)

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "send an open-loop load (constant arrival rate) to a function and report latency percentiles",
		ArgsUsage: "<function[:alias]>",
		Description: "Starts requests at --rate per second whether or not earlier ones finished, for --duration or\n" +
			"--requests (at least one bound is required), and prints progress every second and then p50/p90/p95/p99\n" +
			"latency and every kind of error with its count (by error code and HTTP status). Latency counts from each\n" +
			"request's scheduled start. It first waits up to --wait for the function (and alias) to exist, so it can be\n" +
			"started right after `optimize start`. Ctrl-C stops it and prints the summary so far. Example:\n" +
			"  fusionize load --platform http://127.0.0.1:9001 --sample iot --rate 10 --duration 30s iot:live",
		Flags: []cli.Flag{
			platformFlag,
			&cli.Float64Flag{Name: "rate", Value: 10, Usage: "requests per second"},
			&cli.DurationFlag{Name: "duration", Value: 30 * time.Second, Usage: "how long to start requests (0: bounded by --requests only)"},
			&cli.IntFlag{Name: "requests", Usage: "stop after this many requests (0: bounded by --duration only)"},
			&cli.IntFlag{Name: "max-in-flight", Value: 256, Usage: "requests in flight at most; due requests beyond are skipped and counted"},
			&cli.DurationFlag{Name: "wait", Value: 2 * time.Minute, Usage: "wait this long for the function or alias to exist (0: do not wait)"},
			&cli.StringFlag{Name: "payload", Usage: "request payload (JSON)"},
			&cli.StringFlag{Name: "payload-file", Usage: "file holding the request payload"},
			&cli.StringFlag{Name: "sample", Usage: "use this sample's request payload (" + fmt.Sprint(samples.Names()) + ")"},
		},
		Action: runLoad,
	}
}

func runLoad(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("load needs the function to invoke, e.g. `fusionize load iot:live`")
	}
	payload, err := loadPayload(c.String("payload"), c.String("payload-file"), c.String("sample"))
	if err != nil {
		return err
	}
	// Ctrl-C ends the run with its summary; a second Ctrl-C ends the process at once.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	cfg, err := loadAWSConfig(ctx, c.String("platform"))
	if err != nil {
		return err
	}
	opts := loadgen.Options{
		Rate: c.Float64("rate"), Duration: c.Duration("duration"), Requests: c.Int("requests"),
		MaxInFlight: c.Int("max-in-flight"), Drain: 5 * time.Second, Classify: LambdaErrorKind,
		Progress: func(s loadgen.Snapshot) {
			fmt.Fprintf(c.App.ErrWriter, "%6.1fs  started %d  ok %d  errors %d  skipped %d  in flight %d  p50 %s\n",
				s.Elapsed.Seconds(), s.Started, s.OK, s.Errors, s.Skipped, s.InFlight, fmtMS(s.P50))
		},
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	// No retries: a throttle (429) or an error is counted as what it is, not hidden by the
	// SDK's retryer behind a slower success.
	lam := awslambda.NewFromConfig(cfg, func(o *awslambda.Options) { o.RetryMaxAttempts = 1 })
	function := c.Args().First()
	if err := waitForFunction(ctx, lam, function, c.Duration("wait"), c.App.ErrWriter); err != nil {
		return err
	}
	res, err := loadgen.Run(ctx, LambdaTarget(lam, function, payload), opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, platformNote(c.Context, c.String("platform"))) // after Ctrl-C too
	printLoadResult(c.App.Writer, res)
	if res.OK == 0 && res.Errors > 0 {
		return fmt.Errorf("every request to %s failed", function)
	}
	return nil
}

// waitForFunction waits up to wait for function (name[:qualifier]) to exist, saying so once.
// Other errors (access denied, no endpoint) end the wait at once.
func waitForFunction(ctx context.Context, lam *awslambda.Client, function string, wait time.Duration, w io.Writer) error {
	name, qualifier, _ := strings.Cut(function, ":")
	if wait <= 0 || strings.HasPrefix(function, "arn:") {
		return nil // let the first request say what is wrong
	}
	in := &awslambda.GetFunctionInput{FunctionName: aws.String(name)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	deadline := time.Now().Add(wait)
	for said := false; ; said = true {
		_, err := lam.GetFunction(ctx, in)
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &nf):
			return fmt.Errorf("look up %s before sending load: %w", function, err)
		case !time.Now().Before(deadline):
			return fmt.Errorf("%s does not exist (waited %s; has the optimizer or `fusionize deploy` deployed it? --wait waits longer): %w", function, wait, err)
		case !said:
			fmt.Fprintf(w, "waiting up to %s for %s to exist (the optimizer deploys it before its first cycle) ...\n", wait, function)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", function, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// LambdaErrorKind names an Invoke error's kind without what differs per request: the HTTP
// status and error code of an API error (429 TooManyRequestsException), the type of a
// function error, a timeout, or the network error.
func LambdaErrorKind(err error) string {
	var fe *runtime.FunctionError
	var api smithy.APIError
	var resp *awshttp.ResponseError
	var op *net.OpError
	switch {
	case errors.As(err, &fe):
		typ, _, _ := strings.Cut(fe.Message, ":")
		if len(typ) > 60 || strings.Contains(typ, " ") {
			typ = "error"
		}
		return "function error (" + fe.Type + ", " + typ + ")"
	case errors.As(err, &api):
		if errors.As(err, &resp) {
			return fmt.Sprintf("%d %s", resp.HTTPStatusCode(), api.ErrorCode())
		}
		return api.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &op):
		return "network: " + op.Op + " " + op.Err.Error()
	case errors.As(err, &resp):
		return fmt.Sprintf("HTTP %d", resp.HTTPStatusCode())
	}
	return err.Error()
}

func loadPayload(payload, file, sample string) ([]byte, error) {
	n := 0
	for _, s := range []string{payload, file, sample} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("give one of --payload, --payload-file and --sample")
	}
	switch {
	case file != "":
		return os.ReadFile(file)
	case sample != "":
		s, err := samples.ByName(sample)
		if err != nil {
			return nil, err
		}
		return s.Request, nil
	case payload != "":
		return []byte(payload), nil
	}
	return []byte("{}"), nil
}

// LambdaTarget invokes function (name, ARN or name:qualifier) synchronously with payload; a
// function error counts as a failed request.
func LambdaTarget(client runtime.LambdaInvokeAPI, function string, payload []byte) loadgen.Target {
	inv := &runtime.LambdaInvoker{Client: client}
	return loadgen.TargetFunc(func(ctx context.Context) error {
		_, err := inv.Invoke(ctx, function, payload, false)
		return err
	})
}

func printLoadResult(w io.Writer, r loadgen.Result) {
	fmt.Fprintf(w, "requests  %d started, %d ok, %d errors, %d skipped in %.1fs (%.1f ok/s)\n",
		r.Started, r.OK, r.Errors, r.Skipped, r.Elapsed.Seconds(), r.Throughput())
	if r.OK == 0 {
		fmt.Fprintln(w, "latency   none: no request succeeded")
	} else {
		fmt.Fprintf(w, "latency   p50 %s  p90 %s  p95 %s  p99 %s  max %s\n",
			fmtMS(r.Percentile(50)), fmtMS(r.Percentile(90)), fmtMS(r.Percentile(95)), fmtMS(r.Percentile(99)), fmtMS(r.Percentile(100)))
	}
	if r.Interrupted {
		fmt.Fprintf(w, "interrupted: the figures cover the requests until Ctrl-C")
		if r.Abandoned > 0 {
			fmt.Fprintf(w, "; %d still in flight were abandoned", r.Abandoned)
		}
		fmt.Fprintln(w)
	}
	for _, k := range r.ErrorKinds() {
		fmt.Fprintf(w, "errors    %d× %s\n          e.g. %s\n", r.ErrorCounts[k], k, r.ErrorExamples[k])
	}
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
