package lambda

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
)

// Serving returns the deployment whose entry version the app's live alias routes its primary
// traffic to, read from the platform: the setup comes from that version's own configuration
// (runtime.EnvSetup), so it is known even when no workflow remembers it. ok is false when the
// app has no live alias. Canary lists the versions the alias sends a share of requests to.
func (p *Platform) Serving(ctx context.Context, app string) (d fusion.Deployment, canary []string, ok bool, err error) {
	primary, weights, ok, err := p.Live(ctx, app)
	if err != nil || !ok {
		return fusion.Deployment{}, nil, ok, err
	}
	fn := p.EntryFunction(app)
	out, err := p.lambda.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(fn), Qualifier: aws.String(primary)})
	if err != nil {
		return fusion.Deployment{}, nil, false, fmt.Errorf("read version %s of %s served by alias %s: %w", primary, fn, p.opts.Alias, classify(err))
	}
	d, err = p.deploymentOf(app, out.Configuration)
	if err != nil {
		return fusion.Deployment{}, nil, false, fmt.Errorf("version %s of %s served by alias %s: %w", primary, fn, p.opts.Alias, err)
	}
	d.Version, d.Entry = primary, out.Configuration.Environment.Variables[runtime.EnvGroup]
	return d, slices.Sorted(maps.Keys(weights)), true, nil
}

// deploymentOf rebuilds the deployment a function of the app belongs to from its
// configuration (its setup and group environment variables).
func (p *Platform) deploymentOf(app string, c *types.FunctionConfiguration) (fusion.Deployment, error) {
	var env map[string]string
	if c != nil && c.Environment != nil {
		env = c.Environment.Variables
	}
	if env[runtime.EnvSetup] == "" {
		return fusion.Deployment{}, fmt.Errorf("no %s in its configuration: not deployed by Fusionize", runtime.EnvSetup)
	}
	text, err := runtime.ExpandEnv(env[runtime.EnvSetup])
	if err != nil {
		return fusion.Deployment{}, fmt.Errorf("%s: %w", runtime.EnvSetup, err)
	}
	s, err := fusion.ParseSetup(text)
	if err != nil {
		return fusion.Deployment{}, fmt.Errorf("%s: %w", runtime.EnvSetup, err)
	}
	s = s.Canonical()
	d := fusion.Deployment{App: app, Setup: s}
	for _, g := range s.Groups {
		d.Functions = append(d.Functions, p.FunctionName(app, s, g.Root))
	}
	slices.Sort(d.Functions)
	return d, nil
}

// Deployments lists every setup of the app that has something on the platform: an entry
// version published for it, or group functions configured for it (found by their
// runtime.EnvApp). Functions lists only the group functions that exist.
func (p *Platform) Deployments(ctx context.Context, app string) ([]fusion.Deployment, error) {
	byID := map[string]*fusion.Deployment{}
	add := func(c *types.FunctionConfiguration) (*fusion.Deployment, error) {
		d, err := p.deploymentOf(app, c)
		if err != nil {
			return nil, err
		}
		if have, ok := byID[d.Setup.ID()]; ok {
			return have, nil
		}
		d.Functions = nil
		byID[d.Setup.ID()] = &d
		return &d, nil
	}
	fn := p.EntryFunction(app)
	versions := awslambda.NewListVersionsByFunctionPaginator(p.lambda, &awslambda.ListVersionsByFunctionInput{FunctionName: aws.String(fn)})
	for versions.HasMorePages() {
		page, err := versions.NextPage(ctx)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", fn, classify(err))
		}
		for i := range page.Versions {
			v := &page.Versions[i]
			if aws.ToString(v.Version) == "$LATEST" || !strings.HasPrefix(aws.ToString(v.Description), versionDescription("")) {
				continue
			}
			d, err := add(v)
			if err != nil {
				return nil, fmt.Errorf("version %s of %s: %w", aws.ToString(v.Version), fn, err)
			}
			d.Version = aws.ToString(v.Version)
		}
	}
	fns := awslambda.NewListFunctionsPaginator(p.lambda, &awslambda.ListFunctionsInput{})
	for fns.HasMorePages() {
		page, err := fns.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list functions: %w", classify(err))
		}
		for i := range page.Functions {
			c := &page.Functions[i]
			name := aws.ToString(c.FunctionName)
			if name == fn || c.Environment == nil || c.Environment.Variables[runtime.EnvApp] != app {
				continue
			}
			d, err := add(c)
			if err != nil {
				return nil, fmt.Errorf("function %s: %w", name, err)
			}
			d.Functions = append(d.Functions, name)
		}
	}
	out := make([]fusion.Deployment, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		d := *byID[id]
		slices.Sort(d.Functions)
		out = append(out, d)
	}
	return out, nil
}
