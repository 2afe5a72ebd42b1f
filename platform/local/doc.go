// Package local is Fusionize's embedded, Docker-free platform that speaks the AWS Lambda and
// CloudWatch Logs wire APIs, so that the same bundle and the same aws-sdk-go-v2 code run
// unchanged on one machine and on AWS Lambda.
//
// platform/lambda deploys setups, publishes versions, sets alias routing weights for canaries and
// reads REPORT and trace lines. Pointed at AWS it talks to Lambda; pointed at a Platform's
// Endpoint (AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, or the SDK's
// BaseEndpoint) it talks to this package, which serves on one listener:
//
//   - the Lambda REST API (/2015-03-31/functions/...): CreateFunction, UpdateFunctionCode,
//     UpdateFunctionConfiguration, GetFunction, GetFunctionConfiguration, ListFunctions,
//     DeleteFunction, PublishVersion, ListVersionsByFunction, Create/Update/Get/Delete/ListAliases
//     with weighted routing (RoutingConfig.AdditionalVersionWeights), Put/Get/DeleteFunctionConcurrency
//     and Invoke (RequestResponse; Event with an in-memory queue and two retries; DryRun), with
//     errors in the shape the SDK decodes into its typed errors;
//   - the Lambda Runtime API that aws-lambda-go bootstraps poll, under /runtime/<instance token>/
//     (each instance gets AWS_LAMBDA_RUNTIME_API=host:port/runtime/<token>);
//   - CloudWatch Logs (awsJson1_1 at POST /): FilterLogEvents, GetLogEvents, DescribeLogGroups
//     and DescribeLogStreams over each function's log group: /aws/lambda/<name>, or the group
//     its LoggingConfig.LogGroup names, which functions may share (streams there are named
//     YYYY/MM/DD/<name>[<version>]<id>, as on Lambda; Text format only);
//   - Prometheus metrics at GET /metrics.
//
// New validates the Options, loads the state kept in Options.DataDir and starts serving at once;
// Close stops every instance and the listener. Functions, versions, aliases and unpacked code
// live under DataDir (state.json and code/<sha256>/), so a restart with the same directory loses
// no deployment; one platform at a time may use a directory. Logs (bounded per group and in
// total) and the asynchronous queues (bounded in bytes) are kept in memory.
//
// Code comes inline (Code.ZipFile, up to 50 MB as on Lambda) or, for big bundles, by path:
// Code.S3Bucket = CodeBucket ("local") and Code.S3Key = the absolute path of a zip on the
// platform's machine. The zip holds an executable bootstrap (runtime provided.al2023 or
// provided.al2), e.g. an aws-lambda-go program built with -tags lambda.norpc and CGO_ENABLED=0.
//
// Each instance is one OS process of the bootstrap, serving one request at a time, with the
// Lambda environment: AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE,
// AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME, AWS_LAMBDA_INITIALIZATION_TYPE,
// AWS_REGION, AWS_DEFAULT_REGION, _HANDLER, LAMBDA_TASK_ROOT, TZ=:UTC, LANG, PATH, fake
// credentials (AWS_ACCESS_KEY_ID, its own per instance; AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the function's own
// variables, and AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS pointing at this
// platform unless the function sets them, so functions that invoke functions stay local.
//
// A request without an idle instance starts one (a cold start; its REPORT line carries the Init
// Duration from process start to the runtime's first poll). Idle instances are reused, newest
// first, and stopped after Options.IdleTimeout. Concurrency is accounted as on Lambda: one
// limit, Options.ConcurrencyLimit (Lambda's account-wide 1,000 by default, lowered to what the
// machine's memory and open-file limit hold, see DefaultConcurrencyLimit), is shared by all
// functions; a function with reserved concurrency (PutFunctionConcurrency) runs at most that
// many requests at once, the others share the unreserved rest, and no function has a cap of its
// own. A synchronous request beyond its limit gets 429 TooManyRequestsException with Lambda's
// reason (ReservedFunctionConcurrentInvocationLimitExceeded or
// ConcurrentInvocationLimitExceeded); an event waits in its function's queue until a slot frees,
// also one freed by another function. Every request that finds no idle instance starts one at
// once: unlike Lambda, which adds up to 1,000 instances per function every 10 seconds (since
// November 2023, "Lambda scaling behavior" in the Lambda developer guide), the local
// platform has no scaling rate, only the limit (and the machine's speed at starting
// processes); a caller waits for its instance's start. A request that exceeds the timeout
// kills its instance and answers Sandbox.Timedout ("Task timed out after 3.00 seconds"); an
// instance that exits answers its request with Runtime.ExitError and is replaced. Instances of
// a configuration that an update replaced are never reused.
//
// The output of an instance goes, one event per line, to its own log stream
// (2006/01/02/[$LATEST]<32 hex>) between the platform's START, END and REPORT lines, in Lambda's
// format; messages end with a newline as on CloudWatch. Billed Duration is the duration rounded
// up to 1 ms (init is not billed). Max Memory Used is the instance's peak: the cgroup's on v2,
// else the process's VmHWM (re-read at most every 100 ms for requests under 10 ms).
//
// Memory sizes are enforced as on Lambda where the machine allows: every instance gets its own
// cgroup with a CPU quota of memory/1769 MB of one core (at least 1 ms per 100 ms) and a memory
// limit of its size, on cgroup v2 (cpu.max, memory.max; the process starts inside it) or v1
// (cpu.cfs_quota_us, memory.limit_in_bytes; the process joins while its runtime initializes and
// its first request waits until it has). Where neither is writable the platform runs instances
// unthrottled, logs a warning once, and says why in Status. Cgroups are removed when instances
// exit and on Close. Package platform/local/cgroups does the cgroup work.
//
// On Lambda each instance has CPUs of its own; here every instance shares the host's cores.
// While an instance serves an asynchronous event it runs in the background: its cgroup is
// SCHED_IDLE (cpu.idle, Linux 5.15 and later; else 1/32 of the default CPU weight), and its quota
// is unchanged. The CPU bursts of async work a request started then do not hold up the
// request's response path, which on Lambda they would not: contention on the host's cores goes
// to the async invocations' durations instead (measured on the IoT sample at 10 requests/s: its
// median latency 3.6-3.7 ms against 4.2-5.0 at equal weights, the async functions' durations up
// to 8 % longer). A request made by an instance serving a background invocation is in the
// background too (the platform knows the caller by its access key). The platform's own process
// moves into a cgroup next to its instances' (at the default weight), so that the
// kernel weighs its routing against the instances at one level, where a background instance
// yields to it at once instead of at the next scheduler tick; it moves back on Close.
//
// The files follow the concerns: api.go (the Lambda control plane), invoke.go (Invoke and the
// async queue), pool.go (instances per function: acquire, release, eviction, execution),
// instance.go (an instance's process), runtimeapi.go (the Runtime API its bootstrap polls),
// instancelog.go (its log stream and REPORT lines), store.go (persistence), sandbox.go and
// guard.go (isolation and request checks). Package platform/local/cwlogs is the CloudWatch
// Logs store and API.
//
// Options.LatencyProfile (off by default; LatencyProfileAWS is AWS Lambda's, from cited
// measurements) adds the time Lambda's own machinery takes and a loopback platform does not: a
// delay on every Invoke API call, on every event's way through its queue and on every cold
// start's sandbox creation. Calls from functions to functions go through the same Invoke API and
// get the same delays. Status, GET /fusionize/info (Info, FetchInfo) and the metric
// fusionize_platform_latency_profile_info say which profile is on, so results can record it.
//
// Usage reports the instances' memory and CPU time. The platform watches the machine's CPU and,
// while it is saturated (busy at least 90 % over ten seconds), logs a warning and sets the
// metric fusionize_platform_cpu_saturated: offered CPU demand beyond the machine makes
// latencies the machine's, not Lambda-like. Throttling, in contrast, happens only at a
// concurrency limit.
//
// The platform runs whatever its callers deploy, so it keeps strangers out and bounds what it
// holds. New refuses an Addr that is not loopback unless Options.AllowRemote. Every request must
// name the platform in its Host (a loopback name, its address, or Options.AllowedHosts) and carry
// no browser Origin (Options.AllowedOrigins) nor cross-site Sec-Fetch-Site; Lambda and CloudWatch
// Logs calls need the SigV4 Authorization header (its signature is not checked) and control-plane
// bodies a JSON content type (guard.go). Zip entries and links may not land or point outside the
// code directory, nor be written through a link; permissions stay as the zip has them. Where the
// platform runs as root (Options.Isolation auto) each function's instances run as a user of its
// own with a private TMPDIR, and the Runtime API serves an instance only on connections that
// user owns (the code and tmp directories live in Options.RunDir, which defaults to a
// searchable directory of root's when other users may not reach DataDir); elsewhere every instance runs as the platform's user, which Status.Isolation and
// the log say (sandbox.go). Asynchronous events hold at most Options.AsyncQueueBytes across all
// functions and logs at most Options.LogBytes; a throttled Invoke is refused before its payload
// is read (bounds.go).
//
// Where it matches Lambda beyond the wire: Event payloads up to 1 MB, RequestResponse 6 MB; a
// bootstrap without its exec bit fails with Runtime.InvalidEntrypoint naming
// /var/task/bootstrap; an instance its memory limit kills answers Runtime.OutOfMemory.
//
// Bench and the command "fusionize platform bench" measure cold starts and warm invocations
// through the real SDK client; the command also runs the paper's load on the samples.
package local
