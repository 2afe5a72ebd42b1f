package local

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fusionize/fusionize/fusion"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// BenchOptions configure Bench. Zero values take the defaults in brackets.
type BenchOptions struct {
	ColdStarts  int           // cold starts measured [5]
	Invocations int           // upper bound of warm invocations per phase [5000]
	Duration    time.Duration // upper bound of time per warm phase [3s]
	Clients     int           // concurrent clients in the concurrent phase [8]
	MemorySize  int           // of the benchmark function [1769, one full vCPU]
	Cgroups     string        // Options.Cgroups of the embedded platform [auto]
	Addr        string        // Options.Addr of the embedded platform [127.0.0.1:0]
	// Zip is the function to benchmark; nil builds a no-op aws-lambda-go function with the go
	// command (which needs github.com/aws/aws-lambda-go in the module cache or from the proxy).
	Zip []byte
	// Progress receives a line per phase; nil is silent.
	Progress io.Writer
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Cgroups      CgroupStatus
	MemorySize   int
	ColdStarts   []time.Duration // client-observed latency of each cold invocation
	InitDuration []time.Duration // Init Duration of each cold start, from the REPORT line
	Sequential   Phase
	Concurrent   Phase
}

// Phase is one warm measurement.
type Phase struct {
	Clients     int
	Invocations int
	Elapsed     time.Duration
	Latencies   []time.Duration // sorted
}

// Percentile returns the q-quantile (0..1) of the phase's latencies.
func (ph Phase) Percentile(q float64) time.Duration { return fusion.QuantileDuration(ph.Latencies, q) }

// Throughput is invocations per second.
func (ph Phase) Throughput() float64 {
	if ph.Elapsed <= 0 {
		return 0
	}
	return float64(ph.Invocations) / ph.Elapsed.Seconds()
}

// Bench starts an embedded platform in a temporary directory, deploys a no-op function and
// measures, through the real aws-sdk-go-v2 Lambda client, cold starts and warm invocations
// (sequential, then with concurrent clients), bounded in count and time.
func Bench(ctx context.Context, opts BenchOptions) (*BenchResult, error) {
	opts.withDefaults()
	progress := opts.Progress
	dir, err := os.MkdirTemp("", "fusionize-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	zipped := opts.Zip
	if zipped == nil {
		fmt.Fprintln(progress, "building the no-op function ...")
		if zipped, err = BuildNoopFunction(ctx, filepath.Join(dir, "build")); err != nil {
			return nil, err
		}
	}
	p, err := New(Options{DataDir: filepath.Join(dir, "data"), Cgroups: opts.Cgroups, Addr: opts.Addr})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(cctx)
	}()
	client := newBenchClient(p.Endpoint())
	res := &BenchResult{Cgroups: p.Status().Cgroups, MemorySize: opts.MemorySize}

	create := func(name string) error {
		_, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/bench"),
			Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
			Code: &types.FunctionCode{ZipFile: zipped}, MemorySize: aws.Int32(int32(opts.MemorySize)), Timeout: aws.Int32(10),
		})
		return err
	}
	fmt.Fprintf(progress, "measuring %d cold starts ...\n", opts.ColdStarts)
	if err := measureColdStarts(ctx, client, create, opts.ColdStarts, res); err != nil {
		return nil, err
	}

	if err := create("bench-warm"); err != nil {
		return nil, fmt.Errorf("bench: create bench-warm: %w", err)
	}
	// Start every instance the concurrent phase needs, so both phases measure warm invocations.
	if _, err := runPhase(ctx, client, "bench-warm", opts.Clients, 4*opts.Clients, time.Minute); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "measuring sequential warm invocations (up to %d or %v) ...\n", opts.Invocations, opts.Duration)
	if res.Sequential, err = runPhase(ctx, client, "bench-warm", 1, opts.Invocations, opts.Duration); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "measuring warm invocations from %d concurrent clients ...\n", opts.Clients)
	if res.Concurrent, err = runPhase(ctx, client, "bench-warm", opts.Clients, opts.Invocations, opts.Duration); err != nil {
		return nil, err
	}
	return res, nil
}

func (opts *BenchOptions) withDefaults() {
	if opts.ColdStarts <= 0 {
		opts.ColdStarts = 5
	}
	if opts.Invocations <= 0 {
		opts.Invocations = 5000
	}
	if opts.Duration <= 0 {
		opts.Duration = 3 * time.Second
	}
	if opts.Clients <= 0 {
		opts.Clients = 8
	}
	if opts.MemorySize == 0 {
		opts.MemorySize = fusion.MBPerVCPU
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
}

// measureColdStarts creates n functions with create and invokes each once, recording the
// client's latency and the REPORT line's Init Duration.
func measureColdStarts(ctx context.Context, client *lambda.Client, create func(string) error, n int, res *BenchResult) error {
	for i := 0; i < n; i++ {
		name := "bench-cold-" + strconv.Itoa(i)
		if err := create(name); err != nil {
			return fmt.Errorf("bench: create %s: %w", name, err)
		}
		start := time.Now()
		out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`), LogType: types.LogTypeTail})
		if err != nil {
			return fmt.Errorf("bench: cold invoke %s: %w", name, err)
		}
		res.ColdStarts = append(res.ColdStarts, time.Since(start))
		if out.FunctionError != nil {
			return fmt.Errorf("bench: cold invoke %s failed: %s", name, out.Payload)
		}
		if d, ok := initDurationFromTail(aws.ToString(out.LogResult)); ok {
			res.InitDuration = append(res.InitDuration, d)
		}
	}
	slices.Sort(res.ColdStarts)
	slices.Sort(res.InitDuration)
	return nil
}

// newBenchClient is a Lambda client as an application would configure it: signed requests,
// default HTTP transport, no retries (a failure should fail the benchmark).
func newBenchClient(endpoint string) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           defaultRegion,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
		RetryMaxAttempts: 1,
	})
}

// runPhase invokes fn from clients goroutines until n invocations or d elapsed.
func runPhase(ctx context.Context, client *lambda.Client, fn string, clients, n int, d time.Duration) (Phase, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, n)
		firstErr  error
		issued    int
	)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if issued >= n || firstErr != nil || time.Now().After(deadline) {
					mu.Unlock()
					return
				}
				issued++
				mu.Unlock()
				t0 := time.Now()
				out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{}`)})
				lat := time.Since(t0)
				if err == nil && out.FunctionError != nil {
					err = fmt.Errorf("function error: %s", out.Payload)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("bench: invoke %s: %w", fn, err)
				}
				latencies = append(latencies, lat)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Phase{}, firstErr
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return Phase{Clients: clients, Invocations: len(latencies), Elapsed: time.Since(start), Latencies: latencies}, nil
}

// initDurationFromTail finds "Init Duration: 12.34 ms" in a base64 log tail.
func initDurationFromTail(b64 string) (time.Duration, bool) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 0, false
	}
	_, rest, ok := strings.Cut(string(raw), "Init Duration: ")
	if !ok {
		return 0, false
	}
	ms, _, _ := strings.Cut(rest, " ms")
	f, err := strconv.ParseFloat(ms, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

// WriteTable prints the result as an aligned table.
func (r *BenchResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + " ms"
	}
	cg := "enforced (" + r.Cgroups.Version + ")"
	if !r.Cgroups.Enforced {
		cg = "not enforced: " + r.Cgroups.Reason
	}
	fmt.Fprintf(tw, "local platform benchmark\tmemory %d MB, cgroup limits %s\n", r.MemorySize, cg)
	fmt.Fprintf(tw, "measure\tp50\tp99\tthroughput\tsamples\n")
	fmt.Fprintf(tw, "cold start (client latency)\t%s\t%s\t-\t%d\n", ms(fusion.QuantileDuration(r.ColdStarts, 0.5)), ms(fusion.QuantileDuration(r.ColdStarts, 0.99)), len(r.ColdStarts))
	if len(r.InitDuration) > 0 {
		fmt.Fprintf(tw, "cold start (Init Duration)\t%s\t%s\t-\t%d\n", ms(fusion.QuantileDuration(r.InitDuration, 0.5)), ms(fusion.QuantileDuration(r.InitDuration, 0.99)), len(r.InitDuration))
	}
	for _, ph := range []Phase{r.Sequential, r.Concurrent} {
		fmt.Fprintf(tw, "warm invoke, %d client(s)\t%s\t%s\t%.0f/s\t%d\n", ph.Clients, ms(ph.Percentile(0.5)), ms(ph.Percentile(0.99)), ph.Throughput(), ph.Invocations)
	}
	return tw.Flush()
}

// noopSource is the benchmark function: an aws-lambda-go handler that returns at once.
const noopSource = `package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
}
`

// The aws-lambda-go release the no-op function builds with, and its go.sum lines.
const (
	noopLambdaGo = "v1.55.1"
	noopGoSum    = "github.com/aws/aws-lambda-go v1.55.1 h1:We2cCp4BwqqH/JW+bEEo1FhgG71rslvjfi4y7KmlrR0=\n" +
		"github.com/aws/aws-lambda-go v1.55.1/go.mod h1:V+NzkHNR6vBC8C1PDloqSLE+7jYWFiPvJJFiCiTm8nE=\n"
)

// BuildNoopFunction writes the no-op function's module into dir, builds it as a Lambda
// bootstrap (CGO_ENABLED=0, -tags lambda.norpc) and returns the zip.
func BuildNoopFunction(ctx context.Context, dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("build no-op function: %w", err)
	}
	files := map[string]string{
		"main.go": noopSource,
		"go.mod":  "module fusionize.local/noop\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go " + noopLambdaGo + "\n",
		"go.sum":  noopGoSum,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("build no-op function: %w", err)
		}
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("build no-op function: the go command is needed: %w", err)
		}
		return nil, fmt.Errorf("build no-op function: %w\n%s", err, b)
	}
	return ZipBootstrap(out)
}

// ZipBootstrap zips the executable at path as "bootstrap", ready for CreateFunction.
func ZipBootstrap(path string) ([]byte, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("zip bootstrap: %w", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(bin)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("zip bootstrap: %w", err)
	}
	return buf.Bytes(), nil
}
