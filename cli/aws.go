package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
	"github.com/urfave/cli/v2"
)

// platformFlag points the AWS clients at a Lambda-compatible endpoint (the local platform);
// empty means AWS itself, through the SDK's default configuration chain.
var platformFlag = &cli.StringFlag{
	Name:    "platform",
	Usage:   "Lambda endpoint URL, e.g. http://127.0.0.1:9001 for the local platform (default: AWS via the SDK's configuration)",
	EnvVars: []string{"FUSIONIZE_PLATFORM", "AWS_ENDPOINT_URL_LAMBDA"},
}

// loadAWSConfig loads the SDK's default configuration (region, credentials, endpoints). With a
// local platform endpoint it also sets the CloudWatch Logs endpoint to it, and fills in a
// region and placeholder credentials when none are configured, since the local platform does
// not check signatures.
func loadAWSConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if endpoint != "" {
		if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
			opts = append(opts, config.WithRegion("us-east-1"))
		}
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w (set AWS_REGION and credentials, or --platform for the local platform)", err)
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
		// The SDK warns on stderr each time it cannot reuse a loopback connection to the local
		// platform ("failed to discard remaining HTTP response body"); that is noise here.
		cfg.Logger = logging.Nop{}
	}
	return cfg, nil
}
