package local_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fusionize/fusionize/platform/local"
)

// Example runs a platform, deploys a bundle by path with the ordinary aws-sdk-go-v2 Lambda
// client, invokes it and reads its REPORT lines through CloudWatch Logs.
func Example() {
	ctx := context.Background()
	dataDir, _ := os.MkdirTemp("", "platform-")
	defer os.RemoveAll(dataDir)

	p, err := local.New(local.Options{DataDir: dataDir})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	if st := p.Status(); !st.Cgroups.Enforced {
		fmt.Println("memory sizes not enforced:", st.Cgroups.Reason)
	}

	// The same client code runs against AWS; only the endpoint differs.
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	lc := lambda.New(lambda.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(p.Endpoint())})
	logs := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(p.Endpoint())})

	_, err = lc.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("hello"),
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		MemorySize:   aws.Int32(256),
		// A zip on this machine, too big to send inline; ZipFile works too.
		Code: &types.FunctionCode{S3Bucket: aws.String(local.CodeBucket), S3Key: aws.String("/path/to/bundle.zip")},
	})
	if err != nil {
		log.Fatal(err)
	}
	out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{"name":"world"}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (version %s)\n", out.Payload, aws.ToString(out.ExecutedVersion))

	reports, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/hello"), FilterPattern: aws.String("REPORT"),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, ev := range reports.Events {
		fmt.Print(aws.ToString(ev.Message))
	}
}
