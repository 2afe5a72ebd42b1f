// Package local is Fusionize's embedded, Docker-free platform that speaks the AWS Lambda and
// CloudWatch Logs wire APIs, so that the same bundle and the same aws-sdk-go-v2 code run
// unchanged on one machine and on AWS Lambda.
//
// platform/lambda deploys setups, publishes versions, sets alias routing weights for canaries and
// reads REPORT and trace lines. Pointed at AWS it talks to Lambda; pointed at a Platform's
// Endpoint (AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS) it talks to this
// package, which serves on one loopback listener:
//
//   - the Lambda REST API (/2015-03-31/functions/...): functions, code, configuration, versions,
//     aliases with weighted routing, reserved concurrency and Invoke (RequestResponse, Event with
//     an in-memory retrying queue, DryRun), with errors in the shape the SDK decodes into typed
//     errors;
//   - the Lambda Runtime API that aws-lambda-go bootstraps poll, under /runtime/<instance token>/
//     (each instance gets AWS_LAMBDA_RUNTIME_API=host:port/runtime/<token>);
//   - CloudWatch Logs (awsJson1_1 at POST /): FilterLogEvents, GetLogEvents, DescribeLogGroups
//     and DescribeLogStreams over bounded in-memory log groups /aws/lambda/<name>;
//   - Prometheus metrics at GET /metrics.
//
// Each instance is one OS process running the zip's bootstrap with the Lambda environment; it
// serves one request at a time. A new instance is a cold start, idle instances are reused and
// stopped after Options.IdleTimeout, timeouts kill the instance, a crashed instance is replaced.
// Memory sizes are enforced as on Lambda (a CPU quota of memory/1769 MB of one core and a memory
// limit) with cgroup v1 or v2 where the machine allows, and Status reports why not otherwise.
// Functions, versions, aliases and unpacked code live under Options.DataDir, so a restart with
// the same directory loses no deployment; logs and async queues are in memory.
package local
