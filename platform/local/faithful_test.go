package local

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestEntrypointFailuresAsOnLambda: a bootstrap without its exec bit does not run (before, the
// platform added the bit and ran it), and the errors name /var/task/bootstrap as Lambda does,
// never the platform's data directory (before: "Couldn't find valid bootstrap(s):
// [<data dir>/code/<sha>/bootstrap]: ...").
func TestEntrypointFailuresAsOnLambda(t *testing.T) {
	e := newTestEnv(t, Options{})
	noExec := makeZip(t, zipEntry{"bootstrap", string(zipBootstrapBytes(t)), 0o644})
	e.create(t, "noexec", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = noExec })
	out, _ := e.invoke(t, "noexec", map[string]any{})
	fe := decodeError(t, out)
	if fe.Type != "Runtime.InvalidEntrypoint" || !strings.Contains(fe.Message, "fork/exec /var/task/bootstrap: permission denied") {
		t.Errorf("bootstrap without exec bit: %+v, want Runtime.InvalidEntrypoint, permission denied", fe)
	}
	noBoot := makeZip(t, zipEntry{"README", "no bootstrap here", 0o644})
	e.create(t, "noboot", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = noBoot })
	out, _ = e.invoke(t, "noboot", map[string]any{})
	fe2 := decodeError(t, out)
	if fe2.Type != "Runtime.InvalidEntrypoint" || !strings.Contains(fe2.Message, "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]") {
		t.Errorf("missing bootstrap: %+v", fe2)
	}
	for _, msg := range append([]string{fe.Message, fe2.Message}, append(e.logMessages(t, "noexec", ""), e.logMessages(t, "noboot", "")...)...) {
		if strings.Contains(msg, e.opts.DataDir) {
			t.Errorf("an error shows the host's data path: %q", msg)
		}
	}
}

// TestEventPayloadLimitIsLambdas: Lambda takes Event payloads up to 1 MB since 2025; before, the
// platform refused anything over 256 KB.
func TestEventPayloadLimitIsLambdas(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "ev")
	ctx := context.Background()
	out, err := e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("ev"), InvocationType: types.InvocationTypeEvent, Payload: bigJSON(1 << 20)})
	if err != nil || out.StatusCode != 202 {
		t.Errorf("Event of exactly 1 MB: %v, %v; want 202", out, err)
	}
	_, err = e.lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("ev"), InvocationType: types.InvocationTypeEvent, Payload: bigJSON(1<<20 + 1)})
	var tooLarge *types.RequestTooLargeException
	if !errors.As(err, &tooLarge) {
		t.Errorf("Event of 1 MB + 1 byte: %v, want RequestTooLargeException", err)
	}
}
