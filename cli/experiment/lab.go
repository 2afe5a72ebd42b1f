package experiment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go/logging"

	"github.com/fusionize/fusionize/cli/loadgen"
	plambda "github.com/fusionize/fusionize/platform/lambda"
	"github.com/fusionize/fusionize/platform/local"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/samples"
	"github.com/fusionize/fusionize/samples/work"
)

// LocalLab runs the experiments on the embedded local platform (platform/local), one
// platform per app and latency profile, deploying through platform/lambda and invoking
// through the aws-sdk-go-v2 Lambda client, as users do.
type LocalLab struct {
	// Addr is the platform's listen address; default 127.0.0.1:0 (a free port).
	Addr string
	// Bundle builds (or finds) the sample's bundle for this machine.
	Bundle func(ctx context.Context, app string) (plambda.Bundle, error)
	// WorkScale is given to every function as samples/work's scale.
	WorkScale float64
	Logger    *slog.Logger
}

var _ Lab = LocalLab{}

// Open implements Lab.
func (l LocalLab) Open(ctx context.Context, app, profile, dataDir string) (Site, error) {
	sample, err := samples.ByName(app)
	if err != nil {
		return Site{}, err
	}
	b, err := l.Bundle(ctx, app)
	if err != nil {
		return Site{}, fmt.Errorf("bundle %s: %w", app, err)
	}
	lo := local.Options{Addr: l.Addr, DataDir: dataDir, Logger: l.Logger}
	if lo.Addr == "" {
		lo.Addr = "127.0.0.1:0"
	}
	if err := withLatencyProfile(&lo, profile); err != nil {
		return Site{}, err
	}
	pl, err := local.New(lo)
	if err != nil {
		return Site{}, fmt.Errorf("start the local platform in %s: %w", dataDir, err)
	}
	closePlatform := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return pl.Close(cctx)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(pl.Endpoint()), Logger: logging.Nop{}}
	dep, err := plambda.New(ctx, plambda.Options{AWSConfig: &cfg, Bundles: map[string]plambda.Bundle{app: b},
		Role: "arn:aws:iam::000000000000:role/fusionize", WaitMinDelay: 100 * time.Millisecond, Logger: l.Logger,
		Environment: map[string]string{work.EnvScale: strconv.FormatFloat(l.WorkScale, 'g', -1, 64)}})
	if err != nil {
		return Site{}, errors.Join(fmt.Errorf("deployer for %s: %w", app, err), closePlatform())
	}
	inv := &runtime.LambdaInvoker{Client: awslambda.NewFromConfig(cfg)}
	target := dep.EntryFunction(app) + ":" + dep.Alias()
	st := pl.Status()
	desc := "platform/local, memory sizes enforced through cgroups (CPU share = memory / 1,769 MB of a vCPU)"
	if !st.Cgroups.Enforced {
		desc = "platform/local, memory sizes NOT enforced: " + st.Cgroups.Reason
	}
	if lo.LatencyProfile.On() {
		desc += "; " + lo.LatencyProfile.Describe()
	}
	return Site{
		Deployer: dep, Entry: sample.Graph.Entry, Platform: desc, Close: closePlatform,
		Target: loadgen.TargetFunc(func(ctx context.Context) error {
			_, err := inv.Invoke(ctx, target, sample.Request, false)
			return err
		}),
	}, nil
}

// withLatencyProfile sets the platform's latency profile (platform/local's, by name).
func withLatencyProfile(o *local.Options, profile string) error {
	lp, err := local.ParseLatencyProfile(profile)
	if err != nil {
		return err
	}
	o.LatencyProfile = lp
	return nil
}
