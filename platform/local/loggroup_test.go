package local

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// TestSharedLogGroup: functions configured with LoggingConfig.LogGroup log to that one group
// (streams named YYYY/MM/DD/<function>[<version>]<id>, as Lambda names them there), report it
// from GetFunctionConfiguration and their versions, and one FilterLogEvents reads them all.
// It catches a platform that ignores LoggingConfig (REPORT lines stay in /aws/lambda/<name>),
// forgets it on UpdateFunctionConfiguration or publishing, or names streams without the
// function.
func TestSharedLogGroup(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	const group = "/fusionize/shop"
	shared := func(in *lambda.CreateFunctionInput) {
		in.LoggingConfig = &types.LoggingConfig{LogGroup: aws.String(group), LogFormat: types.LogFormatText}
	}
	e.create(t, "shop-a", shared)
	e.create(t, "shop-b")
	got, err := e.lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("shop-b")})
	if err != nil || aws.ToString(got.LoggingConfig.LogGroup) != "/aws/lambda/shop-b" {
		t.Fatalf("shop-b's log group before the update: %+v %v", got.LoggingConfig, err)
	}
	up, err := e.lc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("shop-b"),
		LoggingConfig: &types.LoggingConfig{LogGroup: aws.String(group)}})
	if err != nil || aws.ToString(up.LoggingConfig.LogGroup) != group {
		t.Fatalf("UpdateFunctionConfiguration: log group %q %v, want %q", aws.ToString(up.LoggingConfig.LogGroup), err, group)
	}
	v, err := e.lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("shop-b")})
	if err != nil || aws.ToString(v.LoggingConfig.LogGroup) != group {
		t.Fatalf("PublishVersion: %+v %v", v, err)
	}
	for _, name := range []string{"shop-a", "shop-b"} {
		got, err := e.lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil || aws.ToString(got.LoggingConfig.LogGroup) != group || got.LoggingConfig.LogFormat != types.LogFormatText {
			t.Fatalf("GetFunctionConfiguration %s: %+v %v", name, got.LoggingConfig, err)
		}
		e.invoke(t, name, map[string]any{"op": "log", "lines": []string{"hello from " + name}})
	}
	e.invoke(t, "shop-b:"+aws.ToString(v.Version), map[string]any{"op": "log", "lines": []string{"hello from the version"}})

	streamRE := regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/(shop-[ab])\[(\$LATEST|1)\][0-9a-f]{32}$`)
	reports := map[string]int{}
	eventually(t, 10*time.Second, "three REPORT lines in the shared group", func() bool {
		out, err := e.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String("REPORT")})
		if err != nil {
			t.Fatalf("FilterLogEvents %s: %v", group, err)
		}
		clear(reports)
		for _, ev := range out.Events {
			m := streamRE.FindStringSubmatch(aws.ToString(ev.LogStreamName))
			if m == nil {
				t.Fatalf("stream %q is not named YYYY/MM/DD/<function>[<version>]<id>", aws.ToString(ev.LogStreamName))
			}
			reports[m[1]+"["+m[2]+"]"]++
		}
		return len(out.Events) == 3
	})
	if reports["shop-a[$LATEST]"] != 1 || reports["shop-b[$LATEST]"] != 1 || reports["shop-b[1]"] != 1 {
		t.Errorf("REPORT lines by stream = %v, want one each of shop-a[$LATEST], shop-b[$LATEST], shop-b[1]", reports)
	}
	for _, name := range []string{"shop-a", "shop-b"} {
		if msgs := e.logMessages(t, name, "REPORT"); len(msgs) > 0 {
			t.Errorf("%s still logs to /aws/lambda/%s: %q", name, name, msgs)
		}
	}
}

// TestLoggingConfigRefused: a log group name CloudWatch refuses, one beginning with aws/, or
// the JSON log format (which would wrap the trace lines) is refused with
// InvalidParameterValueException naming it, and changes nothing.
func TestLoggingConfigRefused(t *testing.T) {
	e := newTestEnv(t, Options{})
	ctx := context.Background()
	e.create(t, "keep")
	for _, tc := range []struct {
		lc   types.LoggingConfig
		want string
	}{
		{types.LoggingConfig{LogGroup: aws.String("has space")}, "loggingConfig.logGroup"},
		{types.LoggingConfig{LogGroup: aws.String(strings.Repeat("g", 513))}, "loggingConfig.logGroup"},
		{types.LoggingConfig{LogGroup: aws.String("aws/mine")}, "may not begin with aws/"},
		{types.LoggingConfig{LogFormat: types.LogFormatJson}, `LogFormat "JSON"`},
	} {
		lc := tc.lc
		_, err := e.lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("refused"),
			Role: aws.String("arn:aws:iam::000000000000:role/lambda"), Runtime: types.RuntimeProvidedal2023,
			Code: &types.FunctionCode{ZipFile: zipV1}, LoggingConfig: &lc})
		checkInvalid(t, err, tc.want)
		_, err = e.lc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("keep"), LoggingConfig: &lc})
		checkInvalid(t, err, tc.want)
	}
	if _, err := e.lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("refused")}); err == nil {
		t.Error("a refused CreateFunction created the function")
	}
	got, err := e.lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("keep")})
	if err != nil || aws.ToString(got.LoggingConfig.LogGroup) != "/aws/lambda/keep" {
		t.Errorf("a refused update changed the log group: %+v %v", got.LoggingConfig, err)
	}
}

func checkInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValueException" || !strings.Contains(api.ErrorMessage(), want) {
		t.Errorf("error %v, want InvalidParameterValueException mentioning %q", err, want)
	}
}
