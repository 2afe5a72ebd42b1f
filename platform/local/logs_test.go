package local

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var reportRE = regexp.MustCompile(`^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{2} ms\t)?\n$`)

func TestLogsAndTail(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	e.create(t, "logfn")
	start := time.Now().UnixMilli()
	out, resp := e.invoke(t, "logfn", map[string]any{"op": "log", "lines": []string{"hello from stdout", "hello from stderr", "third line"}},
		func(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail })

	tail, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatalf("LogResult is not base64: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(tail), "\n"), "\n")
	want := []string{
		"START RequestId: " + resp.RequestID + " Version: $LATEST",
		"hello from stdout", "hello from stderr", "third line",
		"END RequestId: " + resp.RequestID,
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("tail lines = %q, want %q and REPORT", lines, want)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("tail line %d = %q, want %q", i, lines[i], w)
		}
	}
	if !reportRE.MatchString(lines[len(lines)-1]+"\n") || !strings.Contains(lines[len(lines)-1], "Init Duration") {
		t.Errorf("REPORT line %q does not have Lambda's format (with Init Duration on a cold start)", lines[len(lines)-1])
	}

	// A second, warm invocation; then read everything back through FilterLogEvents.
	e.invoke(t, "logfn", map[string]any{"op": "log", "lines": []string{"second call"}})
	reports := e.waitReports(t, "logfn", 2)
	for _, r := range reports {
		if !reportRE.MatchString(r) {
			t.Errorf("REPORT %q does not have Lambda's format", r)
		}
	}
	if strings.Contains(reports[1], "Init Duration") {
		t.Errorf("warm REPORT %q has an Init Duration", reports[1])
	}

	all, err := e.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/logfn"), StartTime: aws.Int64(start - 1000), EndTime: aws.Int64(time.Now().UnixMilli() + 1000),
	})
	if err != nil {
		t.Fatalf("FilterLogEvents: %v", err)
	}
	if len(all.Events) != 10 {
		t.Errorf("events = %d, want 10 (START, 3 lines, END, REPORT, then START, 1 line, END, REPORT)", len(all.Events))
	}
	streamRE := regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`)
	for _, ev := range all.Events {
		if !streamRE.MatchString(aws.ToString(ev.LogStreamName)) || aws.ToInt64(ev.Timestamp) < start-1000 || aws.ToString(ev.EventId) == "" {
			t.Errorf("event %+v", ev)
		}
	}

	for _, tc := range []struct {
		pattern string
		want    int
	}{
		{"REPORT", 2},
		{`"hello from"`, 2},
		{"hello stdout", 1},
		{"hello -stdout", 1},
		{"?stderr ?second", 2},
		{`"RequestId: ` + resp.RequestID + `"`, 3},
		{"nothing-matches-this", 0},
	} {
		if got := len(e.logMessages(t, "logfn", tc.pattern)); got != tc.want {
			t.Errorf("filter %q matched %d events, want %d", tc.pattern, got, tc.want)
		}
	}

	// Pagination: one event per page, every event exactly once.
	seen := map[string]bool{}
	pages := 0
	p := cloudwatchlogs.NewFilterLogEventsPaginator(e.logs, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/logfn"), Limit: aws.Int32(3),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, ev := range page.Events {
			if seen[aws.ToString(ev.EventId)] {
				t.Errorf("event %s on two pages", aws.ToString(ev.EventId))
			}
			seen[aws.ToString(ev.EventId)] = true
		}
	}
	if len(seen) != 10 || pages != 4 {
		t.Errorf("paginated %d events on %d pages, want 10 on 4", len(seen), pages)
	}

	// Streams: one per instance; filtering by stream.
	streams, err := e.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/logfn")})
	if err != nil || len(streams.LogStreams) != 1 {
		t.Fatalf("DescribeLogStreams = %+v, %v", streams, err)
	}
	byStream, err := e.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/logfn"), LogStreamNames: []string{aws.ToString(streams.LogStreams[0].LogStreamName)},
	})
	if err != nil || len(byStream.Events) != 10 {
		t.Errorf("filter by stream: %d events, %v", len(byStream.Events), err)
	}
	groups, err := e.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/")})
	if err != nil || len(groups.LogGroups) != 1 || aws.ToString(groups.LogGroups[0].LogGroupName) != "/aws/lambda/logfn" {
		t.Errorf("DescribeLogGroups = %+v, %v", groups, err)
	}
	got, err := e.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/logfn"), LogStreamName: streams.LogStreams[0].LogStreamName, StartFromHead: aws.Bool(true),
	})
	if err != nil || len(got.Events) != 10 {
		t.Errorf("GetLogEvents: %d events, %v", len(got.Events), err)
	}

	var nf *cwlNotFound
	if _, err := e.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/none")}); !errors.As(err, &nf) {
		t.Errorf("FilterLogEvents on a missing group: %v, want ResourceNotFoundException", err)
	}
}
