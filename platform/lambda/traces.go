package lambda

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/fusionize/fusionize/fusion"
)

// LogGroup returns the CloudWatch Logs group of a function, as Lambda names it.
func LogGroup(function string) string { return "/aws/lambda/" + function }

// Traces reads the trace lines and REPORT lines that the deployments' functions logged in
// the query's window through FilterLogEvents: one paginated call over the app's log group
// for the deployments whose functions all log there (Deployment.LogGroup), and one per
// function's own /aws/lambda/<function> group, the entry function's included, for
// deployments made before apps had one group. Trace records are kept only for the queried
// setups. Log groups that do not exist yet (nothing logged) are skipped.
func (p *Platform) Traces(ctx context.Context, q fusion.TraceQuery) (fusion.Traces, error) {
	setups := map[string]bool{}
	var groups []string
	for _, d := range q.Deployments {
		setups[d.Setup.ID()] = true
		groups = append(groups, p.logGroups(q.App, d)...)
	}
	slices.Sort(groups)
	groups = slices.Compact(groups)
	var out fusion.Traces
	for _, g := range groups {
		if err := p.readGroup(ctx, g, q, setups, &out); err != nil {
			return fusion.Traces{}, err
		}
	}
	return out, nil
}

// logGroups returns the log groups a deployment's functions log to.
func (p *Platform) logGroups(app string, d fusion.Deployment) []string {
	if d.LogGroup != "" {
		return []string{d.LogGroup}
	}
	groups := []string{LogGroup(p.EntryFunction(app))}
	names := d.Functions
	if len(names) == 0 {
		for _, g := range d.Setup.Groups {
			names = append(names, p.FunctionName(app, d.Setup, g.Root))
		}
	}
	for _, n := range names {
		groups = append(groups, LogGroup(n))
	}
	return groups
}

func (p *Platform) readGroup(ctx context.Context, group string, q fusion.TraceQuery, setups map[string]bool, out *fusion.Traces) error {
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)}
	if !q.Start.IsZero() {
		in.StartTime = aws.Int64(q.Start.UnixMilli())
	}
	if !q.End.IsZero() {
		in.EndTime = aws.Int64(q.End.UnixMilli())
	}
	pages := cloudwatchlogs.NewFilterLogEventsPaginator(p.logs, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var nf *logtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("filter log events of %s: %w", group, classify(err))
		}
		for _, e := range page.Events {
			// A CloudWatch event may hold several lines when a function writes them at once.
			for line := range strings.SplitSeq(aws.ToString(e.Message), "\n") {
				if fusion.IsTraceLine([]byte(line)) {
					r, err := fusion.ParseTraceLine([]byte(line))
					if err != nil {
						p.log.Warn("skipping a malformed trace line", "group", group, "error", err)
						continue
					}
					if setups[r.Setup] {
						out.Records = append(out.Records, r)
					}
					continue
				}
				if r, err := fusion.ParseReport(line); err == nil {
					out.Reports = append(out.Reports, r)
				}
			}
		}
	}
	return nil
}
