package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
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
			"latency and errors. Latency counts from each request's scheduled start. Example:\n" +
			"  fusionize load --platform http://127.0.0.1:9001 --sample iot --rate 10 --duration 30s iot:live",
		Flags: []cli.Flag{
			platformFlag,
			&cli.Float64Flag{Name: "rate", Value: 10, Usage: "requests per second"},
			&cli.DurationFlag{Name: "duration", Value: 30 * time.Second, Usage: "how long to start requests (0: bounded by --requests only)"},
			&cli.IntFlag{Name: "requests", Usage: "stop after this many requests (0: bounded by --duration only)"},
			&cli.IntFlag{Name: "max-in-flight", Value: 256, Usage: "requests in flight at most; due requests beyond are skipped and counted"},
			&cli.StringFlag{Name: "payload", Usage: "request payload (JSON)"},
			&cli.StringFlag{Name: "payload-file", Usage: "file holding the request payload"},
			&cli.StringFlag{Name: "sample", Usage: "use this sample's request payload (" + fmt.Sprint(samples.Names()) + ")"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("load needs the function to invoke, e.g. `fusionize load iot:live`")
			}
			payload, err := loadPayload(c.String("payload"), c.String("payload-file"), c.String("sample"))
			if err != nil {
				return err
			}
			cfg, err := loadAWSConfig(c.Context, c.String("platform"))
			if err != nil {
				return err
			}
			target := LambdaTarget(awslambda.NewFromConfig(cfg), c.Args().First(), payload)
			opts := loadgen.Options{
				Rate: c.Float64("rate"), Duration: c.Duration("duration"), Requests: c.Int("requests"),
				MaxInFlight: c.Int("max-in-flight"),
				Progress: func(s loadgen.Snapshot) {
					fmt.Fprintf(c.App.ErrWriter, "%6.1fs  started %d  ok %d  errors %d  skipped %d  in flight %d  p50 %s\n",
						s.Elapsed.Seconds(), s.Started, s.OK, s.Errors, s.Skipped, s.InFlight, fmtMS(s.P50))
				},
			}
			res, err := loadgen.Run(c.Context, target, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, platformNote(c.Context, c.String("platform")))
			printLoadResult(c.App.Writer, res)
			if res.OK == 0 && res.Started > 0 {
				return fmt.Errorf("every request failed")
			}
			return nil
		},
	}
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
	fmt.Fprintf(w, "latency   p50 %s  p90 %s  p95 %s  p99 %s  max %s\n",
		fmtMS(r.Percentile(50)), fmtMS(r.Percentile(90)), fmtMS(r.Percentile(95)), fmtMS(r.Percentile(99)), fmtMS(r.Percentile(100)))
	var msgs []string
	for m := range r.ErrorCounts {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		fmt.Fprintf(w, "error     %d× %s\n", r.ErrorCounts[m], m)
	}
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
