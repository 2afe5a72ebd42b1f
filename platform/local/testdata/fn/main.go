// Command fn is the test function of platform/local: an aws-lambda-go bootstrap whose behaviour
// the request chooses, built by the package's TestMain with -tags lambda.norpc.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// variant tells builds apart; the tests set it with -ldflags "-X main.variant=v2".
var variant = "v1"

type request struct {
	Op     string   `json:"op"`
	Ms     int      `json:"ms"`
	Code   int      `json:"code"`
	MB     int      `json:"mb"`
	Rounds int      `json:"rounds"`
	Lines  []string `json:"lines"`
	Msg    string   `json:"msg"`
	Target string   `json:"target"`
	Body   string   `json:"body"`
}

type response struct {
	Variant   string            `json:"variant"`
	Version   string            `json:"version"`
	RequestID string            `json:"requestId"`
	ARN       string            `json:"arn"`
	Env       map[string]string `json:"env,omitempty"`
	ElapsedMs float64           `json:"elapsedMs,omitempty"`
	CPUMs     float64           `json:"cpuMs,omitempty"`
	Body      string            `json:"body,omitempty"`
	Deadline  int64             `json:"deadlineMs,omitempty"`
}

func handle(ctx context.Context, req request) (*response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	out := &response{Variant: variant, Version: lambdacontext.FunctionVersion}
	if lc != nil {
		out.RequestID, out.ARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	if d, ok := ctx.Deadline(); ok {
		out.Deadline = d.UnixMilli()
	}
	switch req.Op {
	case "", "echo":
	case "env":
		out.Env = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			out.Env[k] = v
		}
	case "log":
		for i, l := range req.Lines {
			if i%2 == 0 {
				fmt.Println(l)
			} else {
				fmt.Fprintln(os.Stderr, l)
			}
		}
	case "sleep":
		time.Sleep(time.Duration(req.Ms) * time.Millisecond)
	case "error":
		return nil, errors.New(req.Msg)
	case "panic":
		panic(req.Msg)
	case "exit":
		fmt.Println("exiting with", req.Code)
		os.Exit(req.Code)
	case "spin":
		start, cpu0 := time.Now(), cpuTime()
		buf := make([]byte, 64<<10)
		for i := 0; i < req.Rounds; i++ {
			sum := sha256.Sum256(buf)
			buf[0] = sum[0]
		}
		out.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
		out.CPUMs = float64((cpuTime() - cpu0).Microseconds()) / 1000
	case "big":
		out.Body = strings.Repeat("x", req.MB<<20)
	case "ctx":
		if lc != nil {
			out.Body = lc.ClientContext.Custom["who"]
		}
	case "alloc":
		b := make([]byte, req.MB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		out.Body = strconv.Itoa(len(b))
	case "read":
		b, err := os.ReadFile(req.Target)
		if err != nil {
			return nil, err
		}
		out.Body = string(b)
	case "write":
		if err := os.WriteFile(req.Target, []byte(req.Body), 0o644); err != nil {
			return nil, err
		}
	case "next":
		// Polls the Runtime API at req.Target (host:port/runtime/<token>) as a bootstrap would:
		// the isolation test hands this function another instance's token.
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		hreq, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+req.Target+"/2018-06-01/runtime/invocation/next", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out.Body = strconv.Itoa(resp.StatusCode) + " " + string(b)
	case "invoke":
		// Calls another function through the platform the environment points at, with plain HTTP
		// to keep this test binary small, and the header of a SigV4 signature as an SDK sends it.
		url := os.Getenv("AWS_ENDPOINT_URL_LAMBDA") + "/2015-03-31/functions/" + req.Target + "/invocations"
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(req.Body))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+os.Getenv("AWS_ACCESS_KEY_ID")+
			"/20260101/"+os.Getenv("AWS_REGION")+"/lambda/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out.Body = string(b)
	default:
		return nil, fmt.Errorf("unknown op %q", req.Op)
	}
	return out, nil
}

// cpuTime is the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	if ms, _ := strconv.Atoi(os.Getenv("INIT_SLEEP_MS")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if code := os.Getenv("INIT_EXIT"); code != "" {
		n, _ := strconv.Atoi(code)
		log.Printf("init failed on purpose")
		os.Exit(n)
	}
	lambda.Start(handle)
}
