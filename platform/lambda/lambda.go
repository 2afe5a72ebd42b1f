// Package lambda is Fusionize's adapter to AWS Lambda and CloudWatch Logs through
// aws-sdk-go-v2: it deploys setups, routes live traffic between them for canaries, retires
// them, and reads their trace and REPORT lines. It satisfies activities.Deployer,
// activities.TraceSource and activities.Inventory (checked in its tests, so that this
// package, and `fusionize deploy` with it, does not depend on Temporal), and works unchanged against AWS and against platform/local (point
// the SDK at it with AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, or
// Options.Endpoint).
//
// # Naming
//
// For an app "tree" whose entry task is "A":
//
//   - every group of every setup is its own function named by runtime's function pattern,
//     by default "{app}-{setup}-{root}" (e.g. "tree-3f2a9c1e0b7d-B"), all from the same
//     bundle zip, configured by runtime.Config.Env for its group, so a request stays inside
//     one setup and setups can run side by side during a canary;
//   - the stable entry function is named "{app}" (EntryFunction): each setup publishes one
//     version of it that runs the setup's entry group, with the description
//     "fusionize setup <id>" by which a retried deploy finds it again;
//   - the alias "live" (Alias) of the entry function is what clients invoke
//     ("tree:live"): its primary version is the current setup's, and during a canary
//     RoutingConfig.AdditionalVersionWeights sends a share of requests to the candidate's
//     version. Promoting points the alias at the candidate alone; rolling back points it at
//     the current setup alone.
//
// Every function of an app logs to one log group, "/fusionize/{app}" by default
// (Options.LogGroup, through LoggingConfig.LogGroup), so that Traces reads a whole app with
// one FilterLogEvents call per poll however many functions its setups have.
//
// Retiring a setup deletes its group functions and its version of the entry function (never
// one the alias routes to). Code is sent inline (ZipFile, up to 50 MB zipped) or, with
// Bundle.S3Bucket and S3Key, from S3 (the zip must already be uploaded there: this package
// does not upload to S3); against platform/local, S3Bucket "local" and S3Key the zip's
// absolute path avoid sending the zip at all.
package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
)

// Defaults for Options.
const (
	DefaultAlias          = "live"
	DefaultEntryFunction  = "{app}"
	DefaultRuntime        = "provided.al2023"
	DefaultHandler        = "bootstrap"
	DefaultTimeoutSeconds = 30
	DefaultWaitTimeout    = 5 * time.Minute
	// DefaultLogGroup is the one log group every function of an app logs to
	// (LoggingConfig.LogGroup), so that one FilterLogEvents call per poll reads the whole
	// app: FilterLogEvents has a quota of 5 requests per second per account and Region,
	// which cannot be raised (AWS re:Post, "How do I determine throttling in my CloudWatch
	// logs?", https://repost.aws/knowledge-center/cloudwatch-logs-throttling). Custom
	// groups may not begin with "aws/" (Lambda Developer Guide, "Configuring CloudWatch
	// log groups").
	DefaultLogGroup = "/fusionize/{app}"
)

// Bundle is the zip of an app's bundle (see runtime/bundle).
type Bundle struct {
	// Zip is the path of the zip on this machine; it gives the code's SHA-256, and the
	// code itself unless S3Bucket is set.
	Zip string
	// Arch is the GOARCH ("amd64", "arm64") or Lambda architecture ("x86_64", "arm64");
	// default x86_64.
	Arch string
	// S3Bucket and S3Key locate the same zip already uploaded to S3 (or, for
	// platform/local, bucket "local" with the zip's absolute path as key).
	S3Bucket string
	S3Key    string
}

// Options configure a Platform.
type Options struct {
	// Lambda and Logs are the SDK clients; when nil they are made from AWSConfig (or the
	// SDK's default configuration chain: region, credentials, AWS_ENDPOINT_URL_LAMBDA,
	// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS) with Endpoint as their BaseEndpoint if set.
	Lambda    *awslambda.Client
	Logs      *cloudwatchlogs.Client
	AWSConfig *aws.Config
	Endpoint  string
	// Bundles by app name; deploying an app without one fails. A Platform without bundles
	// still routes, reads traces and retires (as `fusionize cleanup` does).
	Bundles map[string]Bundle
	// Role is the functions' execution role ARN. Required (any ARN-shaped string for
	// platform/local).
	Role string
	// Alias clients invoke on the entry function; default "live".
	Alias string
	// EntryFunction names the stable entry function; "{app}" is replaced. Default "{app}".
	EntryFunction string
	// LogGroup names the log group all functions of an app log to; "{app}" is replaced.
	// Default DefaultLogGroup.
	LogGroup string
	// FunctionPattern names group functions (runtime.Config.FunctionPattern); default
	// runtime.DefaultFunctionPattern.
	FunctionPattern string
	Runtime         string // default provided.al2023
	Handler         string // default bootstrap
	TimeoutSeconds  int32  // default 30
	// Environment is added to every function's environment (e.g. FUSIONIZE_WORK_SCALE).
	Environment map[string]string
	// WaitTimeout bounds each wait for a function to become active or updated; default 5 min.
	WaitTimeout time.Duration
	// WaitMinDelay is the waiters' first polling delay; default the SDK's.
	WaitMinDelay time.Duration
	Logger       *slog.Logger
}

// Platform deploys and observes setups on Lambda.
type Platform struct {
	opts   Options
	lambda *awslambda.Client
	logs   *cloudwatchlogs.Client
	shas   map[string]string // app → code SHA-256 (base64)
	log    *slog.Logger
}

// New validates opts and makes the clients.
func New(ctx context.Context, opts Options) (*Platform, error) {
	var problems []string
	if opts.Role == "" {
		problems = append(problems, "Role is required (the functions' execution role ARN; any ARN for platform/local)")
	}
	p := &Platform{opts: opts.withDefaults(), shas: map[string]string{}, log: opts.Logger}
	for _, app := range slices.Sorted(maps.Keys(opts.Bundles)) {
		sha, err := checkBundle(opts.Bundles[app])
		if err != nil {
			problems = append(problems, fmt.Sprintf("bundle of %s: %v", app, err))
			continue
		}
		p.shas[app] = sha
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("lambda platform: %s", strings.Join(problems, "; "))
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if err := p.clients(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// withDefaults returns the options with every unset default filled in.
func (o Options) withDefaults() Options {
	set := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	set(&o.Alias, DefaultAlias)
	set(&o.EntryFunction, DefaultEntryFunction)
	set(&o.LogGroup, DefaultLogGroup)
	set(&o.Runtime, DefaultRuntime)
	set(&o.Handler, DefaultHandler)
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	return o
}

// checkBundle reads a bundle's zip and checks it against the bundle's settings; it returns
// the zip's SHA-256 as Lambda reports it (base64).
func checkBundle(b Bundle) (string, error) {
	if b.Zip == "" {
		return "", errors.New("no zip path")
	}
	data, err := os.ReadFile(b.Zip)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	var problems []string
	if (b.S3Bucket == "") != (b.S3Key == "") {
		problems = append(problems, "give both S3Bucket and S3Key, or neither")
	}
	if arch := lambdaArch(b.Arch); arch != types.ArchitectureX8664 && arch != types.ArchitectureArm64 {
		problems = append(problems, fmt.Sprintf("architecture %q is not amd64/x86_64 or arm64", b.Arch))
	} else if built, err := bootstrapArch(data); err != nil {
		problems = append(problems, err.Error())
	} else if built != "" && built != arch {
		problems = append(problems, fmt.Sprintf("%s holds a bootstrap built for %s, not %s (give --arch %s)", b.Zip, built, arch, built))
	}
	if len(problems) > 0 {
		return "", errors.New(strings.Join(problems, "; "))
	}
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// clients makes the SDK clients Options does not give, from Options.AWSConfig or the SDK's
// default configuration chain.
func (p *Platform) clients(ctx context.Context) error {
	opts := p.opts
	p.lambda, p.logs = opts.Lambda, opts.Logs
	if p.lambda != nil && p.logs != nil {
		return nil
	}
	var cfg aws.Config
	if opts.AWSConfig != nil {
		cfg = *opts.AWSConfig
	} else {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return fmt.Errorf("lambda platform: AWS configuration: %w", err)
		}
	}
	if p.lambda == nil {
		p.lambda = awslambda.NewFromConfig(cfg, func(o *awslambda.Options) {
			if opts.Endpoint != "" {
				o.BaseEndpoint = aws.String(opts.Endpoint)
			}
		})
	}
	if p.logs == nil {
		p.logs = cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
			if opts.Endpoint != "" {
				o.BaseEndpoint = aws.String(opts.Endpoint)
			}
		})
	}
	return nil
}

func lambdaArch(a string) types.Architecture {
	switch a {
	case "", "amd64", "x86_64":
		return types.ArchitectureX8664
	case "arm64":
		return types.ArchitectureArm64
	}
	return types.Architecture(a)
}

// EntryFunction returns the name of an app's stable entry function.
func (p *Platform) EntryFunction(app string) string {
	return strings.ReplaceAll(p.opts.EntryFunction, "{app}", app)
}

// AppLogGroup returns the log group every function of an app logs to.
func (p *Platform) AppLogGroup(app string) string {
	return strings.ReplaceAll(p.opts.LogGroup, "{app}", app)
}

// Alias returns the alias clients invoke.
func (p *Platform) Alias() string { return p.opts.Alias }

// FunctionName returns the function of group root in setup s of app.
func (p *Platform) FunctionName(app string, s fusion.Setup, root string) string {
	return runtime.Config{App: app, Setup: s, FunctionPattern: p.opts.FunctionPattern}.FunctionName(root)
}

// versionDescription marks the entry function's version of a setup.
func versionDescription(setupID string) string { return "fusionize setup " + setupID }

// functionConfig is what a function of a group should have.
type functionConfig struct {
	name     string
	memory   int32
	env      map[string]string
	logGroup string
}

func (p *Platform) config(app string, s fusion.Setup, g fusion.Group, name string) functionConfig {
	env := runtime.Config{App: app, Setup: s, Group: g.Root, FunctionPattern: p.opts.FunctionPattern}.Env()
	for k, v := range p.opts.Environment {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	return functionConfig{name: name, memory: int32(g.MemoryMB), env: env, logGroup: p.AppLogGroup(app)}
}

// Deploy deploys every group function of the setup and publishes (or finds) the entry
// function's version of it. It is idempotent.
func (p *Platform) Deploy(ctx context.Context, req fusion.DeployRequest) (fusion.Deployment, error) {
	b, ok := p.opts.Bundles[req.App]
	if !ok {
		return fusion.Deployment{}, &fusion.PermanentError{Err: fmt.Errorf("no bundle for app %q", req.App)}
	}
	if req.Arch != "" && lambdaArch(string(req.Arch)) != lambdaArch(b.Arch) {
		return fusion.Deployment{}, &fusion.PermanentError{Err: fmt.Errorf("app %s is configured for %s, but its bundle %s is built for %s: "+
			"give the worker the %s bundle (--bundle %s=… --arch %s) or change the config's architecture", req.App, req.Arch, b.Zip, lambdaArch(b.Arch), req.Arch, req.App, req.Arch)}
	}
	s := req.Setup.Canonical()
	entry, ok := s.Group(req.Entry)
	if !ok {
		return fusion.Deployment{}, &fusion.PermanentError{Err: fmt.Errorf("setup %s has no group rooted at the entry %q", s, req.Entry)}
	}
	id := s.ID()
	d := fusion.Deployment{App: req.App, Setup: s, Entry: req.Entry}
	for _, g := range s.Groups {
		name := p.FunctionName(req.App, s, g.Root)
		if _, err := p.ensureFunction(ctx, req.App, p.config(req.App, s, g, name)); err != nil {
			return fusion.Deployment{}, fmt.Errorf("deploy group %q of setup %s: %w", g.Root, id, err)
		}
		d.Functions = append(d.Functions, name)
	}
	slices.Sort(d.Functions)
	fn := p.EntryFunction(req.App)
	if v, group, err := p.findVersion(ctx, fn, id); err != nil {
		return fusion.Deployment{}, err
	} else if v != "" {
		d.Version = v
		if group == p.AppLogGroup(req.App) {
			d.LogGroup = group // else published before the app had one group: read its functions' own
		}
		return d, nil
	}
	rev, err := p.ensureFunction(ctx, req.App, p.config(req.App, s, entry, fn))
	if err != nil {
		return fusion.Deployment{}, fmt.Errorf("deploy entry function %s for setup %s: %w", fn, id, err)
	}
	out, err := p.lambda.PublishVersion(ctx, &awslambda.PublishVersionInput{
		FunctionName: aws.String(fn), Description: aws.String(versionDescription(id)), RevisionId: rev,
	})
	if err != nil {
		return fusion.Deployment{}, fmt.Errorf("publish version of %s for setup %s: %w", fn, id, classify(err))
	}
	d.Version = aws.ToString(out.Version)
	d.LogGroup = p.AppLogGroup(req.App)
	p.log.Info("deployed setup", "app", req.App, "setup", id, "entry", fn, "version", d.Version)
	return d, nil
}

// findVersion returns the entry function's version published for a setup, or "", and the
// log group the version logs to.
func (p *Platform) findVersion(ctx context.Context, fn, setupID string) (version, logGroup string, err error) {
	pages := awslambda.NewListVersionsByFunctionPaginator(p.lambda, &awslambda.ListVersionsByFunctionInput{FunctionName: aws.String(fn)})
	want := versionDescription(setupID)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if isNotFound(err) {
			return "", "", nil
		}
		if err != nil {
			return "", "", fmt.Errorf("list versions of %s: %w", fn, classify(err))
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Version) != "$LATEST" && aws.ToString(v.Description) == want {
				return aws.ToString(v.Version), logGroupOf(fn, v.LoggingConfig), nil
			}
		}
	}
	return "", "", nil
}

// logGroupOf returns the log group a function configured with lc logs to.
func logGroupOf(fn string, lc *types.LoggingConfig) string {
	if lc != nil && aws.ToString(lc.LogGroup) != "" {
		return aws.ToString(lc.LogGroup)
	}
	return LogGroup(fn)
}

// ensureFunction makes function c.name exist with the app's code and c's configuration,
// and returns the revision of its $LATEST.
func (p *Platform) ensureFunction(ctx context.Context, app string, c functionConfig) (*string, error) {
	got, err := p.lambda.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(c.name)})
	if isNotFound(err) {
		got, err = p.createFunction(ctx, app, c)
	} else if err != nil {
		err = fmt.Errorf("get function %s: %w", c.name, classify(err))
	}
	if err != nil {
		return nil, err
	}
	cfg := got.Configuration
	if cfg.LastUpdateStatus == types.LastUpdateStatusInProgress || cfg.State == types.StatePending {
		if err := p.waitUpdated(ctx, c.name, cfg.State == types.StatePending); err != nil {
			return nil, err
		}
	}
	rev := cfg.RevisionId
	if aws.ToString(cfg.CodeSha256) != p.shas[app] {
		if rev, err = p.updateCode(ctx, app, c.name); err != nil {
			return nil, err
		}
	}
	if !p.configured(cfg, c) {
		if rev, err = p.updateConfig(ctx, c); err != nil {
			return nil, err
		}
	}
	return rev, nil
}

// code is where the app's bundle comes from: S3, or the zip read here.
func (p *Platform) code(app string) (bucket, key *string, zip []byte, err error) {
	b := p.opts.Bundles[app]
	if b.S3Bucket != "" {
		return aws.String(b.S3Bucket), aws.String(b.S3Key), nil, nil
	}
	if zip, err = os.ReadFile(b.Zip); err != nil {
		return nil, nil, nil, &fusion.PermanentError{Err: fmt.Errorf("read bundle of %s: %w", app, err)}
	}
	return nil, nil, zip, nil
}

// createFunction creates function c.name, waits until it is active and returns it.
func (p *Platform) createFunction(ctx context.Context, app string, c functionConfig) (*awslambda.GetFunctionOutput, error) {
	code := &types.FunctionCode{}
	var err error
	if code.S3Bucket, code.S3Key, code.ZipFile, err = p.code(app); err != nil {
		return nil, err
	}
	_, err = p.lambda.CreateFunction(ctx, &awslambda.CreateFunctionInput{
		FunctionName:  aws.String(c.name),
		Code:          code,
		Role:          aws.String(p.opts.Role),
		Runtime:       types.Runtime(p.opts.Runtime),
		Handler:       aws.String(p.opts.Handler),
		MemorySize:    aws.Int32(c.memory),
		Timeout:       aws.Int32(p.opts.TimeoutSeconds),
		Architectures: []types.Architecture{lambdaArch(p.opts.Bundles[app].Arch)},
		Environment:   &types.Environment{Variables: c.env},
		Description:   aws.String("Fusionize function of " + app),
		LoggingConfig: &types.LoggingConfig{LogGroup: aws.String(c.logGroup), LogFormat: types.LogFormatText},
	})
	var conflict *types.ResourceConflictException
	if err != nil && !errors.As(err, &conflict) {
		return nil, fmt.Errorf("create function %s: %w", c.name, classify(err))
	}
	if err = p.waitUpdated(ctx, c.name, true); err != nil {
		return nil, err
	}
	got, err := p.lambda.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(c.name)})
	if err != nil {
		return nil, fmt.Errorf("get function %s: %w", c.name, classify(err))
	}
	return got, nil
}

// updateCode gives function name the app's code and returns its new revision.
func (p *Platform) updateCode(ctx context.Context, app, name string) (*string, error) {
	in := &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String(name)}
	var err error
	if in.S3Bucket, in.S3Key, in.ZipFile, err = p.code(app); err != nil {
		return nil, err
	}
	out, err := p.lambda.UpdateFunctionCode(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("update code of %s: %w", name, classify(err))
	}
	return out.RevisionId, p.waitUpdated(ctx, name, false)
}

// configured reports whether a function's configuration is c's.
func (p *Platform) configured(cfg *types.FunctionConfiguration, c functionConfig) bool {
	var env map[string]string
	if cfg.Environment != nil {
		env = cfg.Environment.Variables
	}
	return aws.ToInt32(cfg.MemorySize) == c.memory && maps.Equal(env, c.env) && aws.ToInt32(cfg.Timeout) == p.opts.TimeoutSeconds &&
		logGroupOf(c.name, cfg.LoggingConfig) == c.logGroup
}

// updateConfig gives function c.name c's configuration and returns its new revision.
func (p *Platform) updateConfig(ctx context.Context, c functionConfig) (*string, error) {
	out, err := p.lambda.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{
		FunctionName:  aws.String(c.name),
		MemorySize:    aws.Int32(c.memory),
		Timeout:       aws.Int32(p.opts.TimeoutSeconds),
		Environment:   &types.Environment{Variables: c.env},
		LoggingConfig: &types.LoggingConfig{LogGroup: aws.String(c.logGroup), LogFormat: types.LogFormatText},
	})
	if err != nil {
		return nil, fmt.Errorf("update configuration of %s: %w", c.name, classify(err))
	}
	return out.RevisionId, p.waitUpdated(ctx, c.name, false)
}

// waitUpdated waits until the function is active (after a create) or its last update
// succeeded.
func (p *Platform) waitUpdated(ctx context.Context, name string, created bool) error {
	in := &awslambda.GetFunctionInput{FunctionName: aws.String(name)}
	var err error
	if created {
		err = awslambda.NewFunctionActiveV2Waiter(p.lambda, func(o *awslambda.FunctionActiveV2WaiterOptions) {
			if p.opts.WaitMinDelay > 0 {
				o.MinDelay = p.opts.WaitMinDelay
			}
		}).Wait(ctx, in, p.opts.WaitTimeout)
	} else {
		err = awslambda.NewFunctionUpdatedV2Waiter(p.lambda, func(o *awslambda.FunctionUpdatedV2WaiterOptions) {
			if p.opts.WaitMinDelay > 0 {
				o.MinDelay = p.opts.WaitMinDelay
			}
		}).Wait(ctx, in, p.opts.WaitTimeout)
	}
	if err != nil {
		return fmt.Errorf("wait for function %s: %w", name, classify(err))
	}
	return nil
}

// Route sends the share weight of the entry alias's requests to canary's version.
func (p *Platform) Route(ctx context.Context, stable, canary fusion.Deployment, weight float64) error {
	routing := &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}
	if weight > 0 && canary.Version != stable.Version {
		routing.AdditionalVersionWeights[canary.Version] = weight
	}
	return p.setAlias(ctx, stable.App, stable.Version, routing)
}

// Promote points the entry alias at d's version alone, creating the alias if needed.
func (p *Platform) Promote(ctx context.Context, d fusion.Deployment) error {
	return p.setAlias(ctx, d.App, d.Version, &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}})
}

func (p *Platform) setAlias(ctx context.Context, app, version string, routing *types.AliasRoutingConfiguration) error {
	fn := p.EntryFunction(app)
	_, err := p.lambda.UpdateAlias(ctx, &awslambda.UpdateAliasInput{
		FunctionName: aws.String(fn), Name: aws.String(p.opts.Alias), FunctionVersion: aws.String(version), RoutingConfig: routing,
	})
	if isNotFound(err) {
		_, err = p.lambda.CreateAlias(ctx, &awslambda.CreateAliasInput{
			FunctionName: aws.String(fn), Name: aws.String(p.opts.Alias), FunctionVersion: aws.String(version), RoutingConfig: routing,
			Description: aws.String("Fusionize: the live setup of " + app),
		})
		var conflict *types.ResourceConflictException
		if errors.As(err, &conflict) {
			return p.setAlias(ctx, app, version, routing) // created meanwhile
		}
	}
	if err != nil {
		return fmt.Errorf("set alias %s:%s to version %s %v: %w", fn, p.opts.Alias, version, routing.AdditionalVersionWeights, classify(err))
	}
	return nil
}

// Live returns the versions the entry alias routes to: the primary and the additional
// weights. ok is false when there is no alias yet.
func (p *Platform) Live(ctx context.Context, app string) (primary string, weights map[string]float64, ok bool, err error) {
	out, err := p.lambda.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: aws.String(p.EntryFunction(app)), Name: aws.String(p.opts.Alias)})
	if isNotFound(err) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, classify(err)
	}
	if out.RoutingConfig != nil {
		weights = out.RoutingConfig.AdditionalVersionWeights
	}
	return aws.ToString(out.FunctionVersion), weights, true, nil
}

// Retire deletes d's group functions and its entry version. It refuses to retire a version
// the alias routes to.
func (p *Platform) Retire(ctx context.Context, d fusion.Deployment) error {
	fn := p.EntryFunction(d.App)
	id := d.Setup.ID()
	version := d.Version
	if version == "" {
		v, _, err := p.findVersion(ctx, fn, id)
		if err != nil {
			return err
		}
		version = v
	}
	if version != "" {
		primary, weights, ok, err := p.Live(ctx, d.App)
		if err != nil {
			return fmt.Errorf("retire setup %s: %w", id, err)
		}
		if _, canary := weights[version]; ok && (primary == version || canary) {
			return fmt.Errorf("retire setup %s: version %s of %s is live on alias %s", id, version, fn, p.opts.Alias)
		}
	}
	names := d.Functions
	if len(names) == 0 {
		for _, g := range d.Setup.Groups {
			names = append(names, p.FunctionName(d.App, d.Setup, g.Root))
		}
	}
	for _, name := range names {
		if name == fn {
			continue // never delete the stable entry function itself
		}
		if _, err := p.lambda.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("retire setup %s: delete %s: %w", id, name, classify(err))
		}
	}
	if version != "" {
		_, err := p.lambda.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String(fn), Qualifier: aws.String(version)})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("retire setup %s: delete %s:%s: %w", id, fn, version, classify(err))
		}
	}
	p.log.Info("retired setup", "app", d.App, "setup", id, "version", version)
	return nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ResourceNotFoundException"
}

// classify marks errors that retrying cannot fix as fusion.PermanentError.
func classify(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDeniedException", "AccessDenied", "InvalidParameterValueException", "UnrecognizedClientException",
			"InvalidSignatureException", "CodeStorageExceededException", "RequestEntityTooLargeException", "ValidationException":
			return &fusion.PermanentError{Err: err}
		}
	}
	return err
}

// bootstrapArch returns the architecture of the ELF executable "bootstrap" in a bundle zip,
// or "" when the zip holds no bootstrap or it is not ELF (a script).
func bootstrapArch(zipData []byte) (types.Architecture, error) {
	zr, err := zip.NewReader(bytes.NewReader(zipData), int64(len(zipData)))
	if err != nil {
		return "", fmt.Errorf("read zip: %w", err)
	}
	f, err := zr.Open("bootstrap")
	if err != nil {
		return "", nil
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:4]) != "\x7fELF" {
		return "", nil
	}
	switch binary.LittleEndian.Uint16(h[18:]) {
	case 0x3e:
		return types.ArchitectureX8664, nil
	case 0xb7:
		return types.ArchitectureArm64, nil
	}
	return "", fmt.Errorf("bootstrap is an ELF executable for machine %#x, neither x86_64 nor arm64", binary.LittleEndian.Uint16(h[18:]))
}
