package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CodeBucket is the S3Bucket value that makes Code.S3Key the absolute path of a zip file on the
// platform's machine, for bundles too big to send inline:
//
//	Code: &types.FunctionCode{S3Bucket: aws.String(local.CodeBucket), S3Key: aws.String("/abs/path/bundle.zip")}
const CodeBucket = "local"

const (
	maxControlBody    = 70 << 20 // a 50 MB zip, base64-encoded, plus JSON
	maxEnvBytes       = 4096
	maxReserved       = 1000
	defaultTimeout    = 3
	defaultMemory     = 128
	defaultEphemeral  = 512
	minMemory         = 128
	maxMemory         = 10240
	maxTimeout        = 900
	maxDescriptionLen = 256
)

// Wire shapes of the Lambda REST-JSON API (only the members this platform uses).
type (
	codeIn struct {
		ZipFile         []byte `json:"ZipFile"`
		S3Bucket        string `json:"S3Bucket"`
		S3Key           string `json:"S3Key"`
		S3ObjectVersion string `json:"S3ObjectVersion"`
		ImageURI        string `json:"ImageUri"`
	}
	envIn struct {
		Variables map[string]string `json:"Variables"`
	}
	storageIn struct {
		Size int `json:"Size"`
	}
	createIn struct {
		FunctionName     string     `json:"FunctionName"`
		Runtime          string     `json:"Runtime"`
		Role             string     `json:"Role"`
		Handler          string     `json:"Handler"`
		Description      string     `json:"Description"`
		Timeout          *int       `json:"Timeout"`
		MemorySize       *int       `json:"MemorySize"`
		Publish          bool       `json:"Publish"`
		Code             *codeIn    `json:"Code"`
		Environment      *envIn     `json:"Environment"`
		PackageType      string     `json:"PackageType"`
		Architectures    []string   `json:"Architectures"`
		EphemeralStorage *storageIn `json:"EphemeralStorage"`
		LoggingConfig    *loggingIn `json:"LoggingConfig"`
		Layers           []string   `json:"Layers"`
	}
	// loggingIn is Lambda's LoggingConfig: the local platform writes text logs to the
	// function's log group, its own by default or one that functions share.
	loggingIn struct {
		LogGroup            *string `json:"LogGroup"`
		LogFormat           string  `json:"LogFormat"`
		ApplicationLogLevel string  `json:"ApplicationLogLevel"`
		SystemLogLevel      string  `json:"SystemLogLevel"`
	}
	updateCodeIn struct {
		codeIn
		Publish       bool     `json:"Publish"`
		DryRun        bool     `json:"DryRun"`
		RevisionID    string   `json:"RevisionId"`
		Architectures []string `json:"Architectures"`
	}
	updateConfigIn struct {
		Runtime          *string    `json:"Runtime"`
		Role             *string    `json:"Role"`
		Handler          *string    `json:"Handler"`
		Description      *string    `json:"Description"`
		Timeout          *int       `json:"Timeout"`
		MemorySize       *int       `json:"MemorySize"`
		Environment      *envIn     `json:"Environment"`
		EphemeralStorage *storageIn `json:"EphemeralStorage"`
		LoggingConfig    *loggingIn `json:"LoggingConfig"`
		RevisionID       string     `json:"RevisionId"`
		Layers           []string   `json:"Layers"`
	}
	publishIn struct {
		CodeSha256  string `json:"CodeSha256"`
		Description string `json:"Description"`
		RevisionID  string `json:"RevisionId"`
	}
	routingIn struct {
		AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
	}
	aliasIn struct {
		Name            string     `json:"Name"`
		FunctionVersion *string    `json:"FunctionVersion"`
		Description     *string    `json:"Description"`
		RoutingConfig   *routingIn `json:"RoutingConfig"`
		RevisionID      string     `json:"RevisionId"`
	}
	concurrencyIn struct {
		ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
	}
)

type (
	envOut struct {
		Variables map[string]string `json:"Variables"`
	}
	configOut struct {
		FunctionName     string            `json:"FunctionName"`
		FunctionArn      string            `json:"FunctionArn"`
		Runtime          string            `json:"Runtime"`
		Role             string            `json:"Role"`
		Handler          string            `json:"Handler,omitempty"`
		CodeSize         int64             `json:"CodeSize"`
		Description      string            `json:"Description"`
		Timeout          int               `json:"Timeout"`
		MemorySize       int               `json:"MemorySize"`
		LastModified     string            `json:"LastModified"`
		CodeSha256       string            `json:"CodeSha256"`
		Version          string            `json:"Version"`
		Environment      *envOut           `json:"Environment,omitempty"`
		TracingConfig    map[string]string `json:"TracingConfig"`
		RevisionID       string            `json:"RevisionId"`
		State            string            `json:"State"`
		LastUpdateStatus string            `json:"LastUpdateStatus"`
		PackageType      string            `json:"PackageType"`
		Architectures    []string          `json:"Architectures"`
		EphemeralStorage map[string]int    `json:"EphemeralStorage"`
		LoggingConfig    map[string]string `json:"LoggingConfig"`
		SnapStart        map[string]string `json:"SnapStart"`
	}
	aliasOut struct {
		AliasArn        string     `json:"AliasArn"`
		Name            string     `json:"Name"`
		FunctionVersion string     `json:"FunctionVersion"`
		Description     string     `json:"Description"`
		RoutingConfig   *routingIn `json:"RoutingConfig,omitempty"`
		RevisionID      string     `json:"RevisionId"`
	}
)

func configJSON(f *function, c *config) configOut {
	arn := f.arn()
	if c.Version != latest {
		arn += ":" + c.Version
	}
	out := configOut{
		FunctionName: f.Name, FunctionArn: arn, Runtime: c.Runtime, Role: c.Role, Handler: c.Handler,
		CodeSize: c.CodeSize, Description: c.Description, Timeout: c.Timeout, MemorySize: c.MemorySize,
		LastModified: c.LastModified.UTC().Format(timeLayout), CodeSha256: c.CodeSha256, Version: c.Version,
		TracingConfig: map[string]string{"Mode": "PassThrough"}, RevisionID: c.RevisionID,
		State: "Active", LastUpdateStatus: "Successful", PackageType: "Zip", Architectures: []string{c.Arch},
		EphemeralStorage: map[string]int{"Size": c.Ephemeral},
		LoggingConfig:    map[string]string{"LogFormat": "Text", "LogGroup": c.logGroup(f.Name)},
		SnapStart:        map[string]string{"ApplyOn": "None", "OptimizationStatus": "Off"},
	}
	if len(c.Env) > 0 {
		out.Environment = &envOut{Variables: c.Env}
	}
	return out
}

func aliasJSON(f *function, a *alias) aliasOut {
	out := aliasOut{
		AliasArn: f.arn() + ":" + a.Name, Name: a.Name, FunctionVersion: a.Version,
		Description: a.Description, RevisionID: a.RevisionID,
	}
	if len(a.Weights) > 0 {
		out.RoutingConfig = &routingIn{AdditionalVersionWeights: maps.Clone(a.Weights)}
	}
	return out
}

// credentialScope splits the SigV4 credential of r's Authorization header: access key, date,
// region, service, "aws4_request"; nil without one.
func credentialScope(r *http.Request) []string {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return nil
	}
	scope := auth[i+len("Credential="):]
	if j := strings.IndexAny(scope, ", "); j >= 0 {
		scope = scope[:j]
	}
	return strings.Split(scope, "/")
}

// requestRegion reads the region from the SigV4 credential scope, else the default.
func requestRegion(r *http.Request, def string) string {
	if parts := credentialScope(r); len(parts) >= 5 && regionRE.MatchString(parts[2]) {
		return parts[2]
	}
	return def
}

func writeJSON(w http.ResponseWriter, reqID string, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-RequestId", reqID)
	if v == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeLambdaError(w, reqID, serviceError("encode response: %v", err))
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func decodeBody(r *http.Request, limit int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return &apiError{status: http.StatusBadRequest, typ: errInvalidRequest, msg: "read request: " + err.Error()}
	}
	if int64(len(b)) > limit {
		return tooLarge("Request must be smaller than %d bytes for this operation", limit)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &apiError{status: http.StatusBadRequest, typ: errInvalidRequest, msg: "Could not parse request body into json: " + err.Error()}
	}
	return nil
}

// serveLambda routes the Lambda REST API.
func (p *Platform) serveLambda(w http.ResponseWriter, r *http.Request, path string) {
	reqID := newRequestID()
	region := requestRegion(r, p.opts.Region)
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	err := p.routeLambda(w, r, reqID, region, segs)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			writeLambdaError(w, reqID, ae)
			return
		}
		// The details name paths of the platform's machine: they go to the platform's log, and
		// the caller gets what Lambda answers, a ServiceException with the request ID.
		p.log.Error("local platform: request failed", "method", r.Method, "path", path, "requestId", reqID, "err", err)
		writeLambdaError(w, reqID, serviceError("The local platform failed to process request %s; its log has the details", reqID))
	}
}

func (p *Platform) routeLambda(w http.ResponseWriter, r *http.Request, reqID, region string, segs []string) error {
	unknown := &apiError{status: http.StatusNotFound, typ: errUnknownOperation,
		msg: fmt.Sprintf("%s /%s is not an operation of the local platform", r.Method, strings.Join(segs, "/"))}
	if len(segs) < 2 || segs[1] != "functions" {
		return unknown
	}
	if len(segs) == 2 || len(segs) == 3 && segs[2] == "" {
		switch r.Method {
		case http.MethodPost:
			return p.createFunction(w, r, reqID, region)
		case http.MethodGet:
			return p.listFunctions(w, r, reqID)
		}
		return unknown
	}
	fn, sub := segs[2], segs[3:]
	if len(sub) > 0 && sub[len(sub)-1] == "" {
		sub = sub[:len(sub)-1]
	}
	q := r.URL.Query()
	switch {
	case len(sub) == 0 && r.Method == http.MethodGet:
		return p.getFunction(w, reqID, region, fn, q.Get("Qualifier"), true)
	case len(sub) == 0 && r.Method == http.MethodDelete:
		return p.deleteFunction(w, reqID, region, fn, q.Get("Qualifier"))
	case len(sub) == 1 && sub[0] == "invocations" && r.Method == http.MethodPost:
		return p.serveInvoke(w, r, reqID, region, fn)
	case len(sub) == 1 && sub[0] == "configuration" && r.Method == http.MethodGet:
		return p.getFunction(w, reqID, region, fn, q.Get("Qualifier"), false)
	case len(sub) == 1 && sub[0] == "configuration" && r.Method == http.MethodPut:
		return p.updateConfiguration(w, r, reqID, region, fn)
	case len(sub) == 1 && sub[0] == "code" && r.Method == http.MethodPut:
		return p.updateCode(w, r, reqID, region, fn)
	case len(sub) == 1 && sub[0] == "versions" && r.Method == http.MethodPost:
		return p.publishVersion(w, r, reqID, region, fn)
	case len(sub) == 1 && sub[0] == "versions" && r.Method == http.MethodGet:
		return p.listVersions(w, r, reqID, region, fn)
	case len(sub) == 1 && sub[0] == "aliases" && r.Method == http.MethodPost:
		return p.createAlias(w, r, reqID, region, fn)
	case len(sub) == 1 && sub[0] == "aliases" && r.Method == http.MethodGet:
		return p.listAliases(w, r, reqID, region, fn)
	case len(sub) == 2 && sub[0] == "aliases" && r.Method == http.MethodGet:
		return p.getAlias(w, reqID, region, fn, sub[1])
	case len(sub) == 2 && sub[0] == "aliases" && r.Method == http.MethodPut:
		return p.updateAlias(w, r, reqID, region, fn, sub[1])
	case len(sub) == 2 && sub[0] == "aliases" && r.Method == http.MethodDelete:
		return p.deleteAlias(w, reqID, region, fn, sub[1])
	case len(sub) == 1 && sub[0] == "concurrency":
		return p.concurrency(w, r, reqID, region, fn)
	}
	return unknown
}

// update runs change under the state lock and persists the state if change succeeded. change
// must validate everything before it modifies anything.
func (p *Platform) update(change func() error) error {
	p.persistMu.Lock()
	defer p.persistMu.Unlock()
	p.mu.Lock()
	if err := change(); err != nil {
		p.mu.Unlock()
		return err
	}
	b, err := encodeState(p.fns)
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode platform state: %w", err)
	}
	return saveState(p.opts.DataDir, b)
}

// functionLocked parses an unqualified function name and finds it; call with p.mu held.
func (p *Platform) functionLocked(region, fnParam string) (*function, error) {
	name, q, err := parseFunctionName(fnParam)
	if err != nil {
		return nil, err
	}
	if q != "" {
		return nil, invalidParam("This operation does not accept a qualified function name: %s", fnParam)
	}
	f := p.fns[name]
	if f == nil {
		return nil, notFound("Function not found: %s", functionARN(region, name, ""))
	}
	return f, nil
}

// readCode returns the zip named by a Code structure: inline bytes, or a file on this machine
// via S3Bucket CodeBucket and S3Key its absolute path.
func readCode(c *codeIn) ([]byte, error) {
	switch {
	case c == nil:
		return nil, invalidParam("Code is required")
	case c.ImageURI != "":
		return nil, invalidParam("Container images are not supported by the local platform: deploy a .zip with a bootstrap executable")
	case len(c.ZipFile) > 0 && (c.S3Bucket != "" || c.S3Key != ""):
		return nil, invalidParam("Please provide either ZipFile or S3Bucket and S3Key, not both")
	case len(c.ZipFile) > 0:
		if len(c.ZipFile) > maxZipFileSize {
			return nil, tooLarge("Zipped code must be smaller than %d bytes when sent inline; use S3Bucket %q with S3Key the absolute path of the zip", maxZipFileSize, CodeBucket)
		}
		return c.ZipFile, nil
	case c.S3Bucket == CodeBucket:
		if !filepath.IsAbs(c.S3Key) {
			return nil, invalidParam("With S3Bucket %q, S3Key must be the absolute path of a zip file on the platform's machine, not %q", CodeBucket, c.S3Key)
		}
		st, err := os.Stat(c.S3Key)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, invalidParam("Error occurred while reading the code: %s does not exist", c.S3Key)
			}
			return nil, invalidParam("Error occurred while reading the code: %v", err)
		}
		if st.Size() > maxUnzippedSize {
			return nil, invalidParam("Zipped code %s must be smaller than %d bytes", c.S3Key, maxUnzippedSize)
		}
		b, err := os.ReadFile(c.S3Key)
		if err != nil {
			return nil, invalidParam("Error occurred while reading the code: %v", err)
		}
		return b, nil
	case c.S3Bucket != "":
		return nil, invalidParam("The local platform reads code from ZipFile, or from S3Bucket %q with S3Key the absolute path of a zip file; bucket %q is not available", CodeBucket, c.S3Bucket)
	}
	return nil, invalidParam("Code must contain ZipFile, or S3Bucket %q and S3Key", CodeBucket)
}

// validateEnv checks a function's environment variables as Lambda does.
func validateEnv(env map[string]string) error {
	size := 0
	var reserved []string
	for k, v := range env {
		if !envKeyRE.MatchString(k) {
			return invalidParam("Environment variable name %q is invalid: it must start with a letter and contain only letters, digits and underscores", k)
		}
		if reservedEnvKeys[k] {
			reserved = append(reserved, k)
		}
		size += len(k) + len(v)
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return invalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	if size > maxEnvBytes {
		return invalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d", size)
	}
	return nil
}

// validateConfig checks a complete configuration.
// logGroupRE is CloudWatch Logs' rule for log group names.
var logGroupRE = regexp.MustCompile(`^[\w./#-]{1,512}$`)

// applyLogging sets c's log group from a LoggingConfig. Text is the only log format: the
// platform writes what the function prints as it is, and the REPORT lines as text.
func applyLogging(c *config, in *loggingIn) error {
	if in == nil {
		return nil
	}
	if in.LogFormat != "" && in.LogFormat != "Text" {
		return invalidParam("LoggingConfig.LogFormat %q is not supported by the local platform: it writes Text logs", in.LogFormat)
	}
	if in.LogGroup == nil {
		return nil
	}
	g := *in.LogGroup
	switch {
	case g == "":
		c.LogGroup = "" // back to the function's own group
	case !logGroupRE.MatchString(g):
		return invalidParam("1 validation error detected: Value '%s' at 'loggingConfig.logGroup' failed to satisfy constraint: Member must have length between 1 and 512 and match [\\.\\-_/#A-Za-z0-9]+", g)
	case strings.HasPrefix(g, "aws/"):
		return invalidParam("LoggingConfig.LogGroup %q: a custom log group may not begin with aws/", g)
	default:
		c.LogGroup = g
	}
	return nil
}

func validateConfig(c *config) error {
	var problems []string
	if !slices.Contains(supportedRuntimes, c.Runtime) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set supported by the local platform: [%s]", c.Runtime, strings.Join(supportedRuntimes, ", ")))
	}
	if c.MemorySize < minMemory || c.MemorySize > maxMemory {
		problems = append(problems, fmt.Sprintf("Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between %d and %d", c.MemorySize, minMemory, maxMemory))
	}
	if c.Timeout < 1 || c.Timeout > maxTimeout {
		problems = append(problems, fmt.Sprintf("Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between 1 and %d", c.Timeout, maxTimeout))
	}
	if c.Handler != "" && !handlerRE.MatchString(c.Handler) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'handler' failed to satisfy constraint: Member must have length less than or equal to 128 and contain no whitespace", c.Handler))
	}
	if c.Role == "" {
		problems = append(problems, "Value null at 'role' failed to satisfy constraint: Member must not be null")
	}
	if len(c.Description) > maxDescriptionLen {
		problems = append(problems, fmt.Sprintf("Value at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescriptionLen))
	}
	if c.Arch != "x86_64" && c.Arch != "arm64" {
		problems = append(problems, fmt.Sprintf("Value '[%s]' at 'architectures' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]", c.Arch))
	}
	if c.Ephemeral < 512 || c.Ephemeral > 10240 {
		problems = append(problems, fmt.Sprintf("Value '%d' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value between 512 and 10240", c.Ephemeral))
	}
	if len(problems) > 0 {
		return invalidParam("%d validation error(s) detected: %s", len(problems), strings.Join(problems, "; "))
	}
	return validateEnv(c.Env)
}

func architecture(list []string) (string, error) {
	switch len(list) {
	case 0:
		return "x86_64", nil
	case 1:
		return list[0], nil
	}
	return "", invalidParam("Only one architecture may be given, not %q", list)
}

func (p *Platform) createFunction(w http.ResponseWriter, r *http.Request, reqID, region string) error {
	var in createIn
	if err := decodeBody(r, maxControlBody, &in); err != nil {
		return err
	}
	if !functionNameRE.MatchString(in.FunctionName) {
		return invalidParam("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length between 1 and 64 and contain only letters, digits, hyphens and underscores", in.FunctionName)
	}
	if in.PackageType != "" && in.PackageType != "Zip" {
		return invalidParam("PackageType %q is not supported by the local platform: deploy a .zip", in.PackageType)
	}
	if len(in.Layers) > 0 {
		return invalidParam("Layers are not supported by the local platform: put everything into the zip")
	}
	arch, err := architecture(in.Architectures)
	if err != nil {
		return err
	}
	c := &config{
		Version: latest, Runtime: in.Runtime, Handler: in.Handler, Role: in.Role, Description: in.Description,
		MemorySize: defaultMemory, Timeout: defaultTimeout, Arch: arch, Ephemeral: defaultEphemeral,
		LastModified: time.Now(), RevisionID: newRequestID(),
	}
	if in.MemorySize != nil {
		c.MemorySize = *in.MemorySize
	}
	if in.Timeout != nil {
		c.Timeout = *in.Timeout
	}
	if in.EphemeralStorage != nil {
		c.Ephemeral = in.EphemeralStorage.Size
	}
	if in.Environment != nil && len(in.Environment.Variables) > 0 {
		c.Env = maps.Clone(in.Environment.Variables)
	}
	if err := applyLogging(c, in.LoggingConfig); err != nil {
		return err
	}
	if err := validateConfig(c); err != nil {
		return err
	}
	zipped, err := readCode(in.Code)
	if err != nil {
		return err
	}
	p.codeMu.RLock()
	defer p.codeMu.RUnlock()
	if c.CodeSha256, c.CodeSize, err = unpackCode(p.opts.RunDir, zipped); err != nil {
		return err
	}
	var out configOut
	err = p.update(func() error {
		if f := p.fns[in.FunctionName]; f != nil {
			return conflict("Function already exist: %s", in.FunctionName)
		}
		f := &function{
			Name: in.FunctionName, Region: region, Latest: c, NextVersion: 1,
			Versions: map[string]*config{}, Aliases: map[string]*alias{},
		}
		p.fns[f.Name] = f
		out = configJSON(f, c)
		if in.Publish {
			out = configJSON(f, p.publishLocked(f, ""))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusCreated, out)
	return nil
}

func (p *Platform) listFunctions(w http.ResponseWriter, r *http.Request, reqID string) error {
	marker := r.URL.Query().Get("Marker")
	maxItems, _ := strconv.Atoi(r.URL.Query().Get("MaxItems"))
	if maxItems <= 0 || maxItems > 50 {
		maxItems = 50
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	names := slices.Sorted(maps.Keys(p.fns))
	out := struct {
		Functions  []configOut `json:"Functions"`
		NextMarker string      `json:"NextMarker,omitempty"`
	}{Functions: []configOut{}}
	for _, n := range names {
		if n < marker {
			continue
		}
		if len(out.Functions) == maxItems {
			out.NextMarker = n
			break
		}
		out.Functions = append(out.Functions, configJSON(p.fns[n], p.fns[n].Latest))
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

func (p *Platform) getFunction(w http.ResponseWriter, reqID, region, fnParam, qparam string, full bool) error {
	name, derived, err := parseFunctionName(fnParam)
	if err != nil {
		return err
	}
	qualifier, err := qualify(derived, qparam)
	if err != nil {
		return err
	}
	p.mu.Lock()
	f := p.fns[name]
	if f == nil {
		p.mu.Unlock()
		return notFound("Function not found: %s", functionARN(region, name, qualifier))
	}
	c := f.Latest
	if qualifier != "" && qualifier != latest {
		c = f.Versions[qualifier]
		if a := f.Aliases[qualifier]; a != nil {
			c = f.version(a.Version)
		}
	}
	if c == nil {
		p.mu.Unlock()
		return notFound("Function not found: %s", functionARN(f.Region, name, qualifier))
	}
	cfg := configJSON(f, c)
	reserved := f.Reserved
	p.mu.Unlock()
	if !full {
		writeJSON(w, reqID, http.StatusOK, cfg)
		return nil
	}
	out := map[string]any{
		"Configuration": cfg,
		"Code": map[string]string{
			"RepositoryType": "S3",
			"Location":       "file://" + filepath.Join(p.opts.RunDir, c.codeDir()),
		},
		"Tags": map[string]string{},
	}
	if reserved != nil {
		out["Concurrency"] = map[string]int{"ReservedConcurrentExecutions": *reserved}
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

func (p *Platform) deleteFunction(w http.ResponseWriter, reqID, region, fnParam, qparam string) error {
	name, derived, err := parseFunctionName(fnParam)
	if err != nil {
		return err
	}
	qualifier, err := qualify(derived, qparam)
	if err != nil {
		return err
	}
	err = p.update(func() error {
		f := p.fns[name]
		if f == nil {
			return notFound("Function not found: %s", functionARN(region, name, qualifier))
		}
		switch {
		case qualifier == "":
			delete(p.fns, name)
			delete(p.waiting, name)
			p.recountReservedLocked()
			if rt := p.rt[name]; rt != nil {
				p.dropQueueLocked(rt) // the events' payloads are freed with the function
			}
			p.stopStaleLocked(name)
			return nil
		case qualifier == latest:
			return invalidParam("$LATEST version cannot be deleted without deleting the function.")
		case !versionRE.MatchString(qualifier):
			return invalidParam("Deletion of aliases is not supported by DeleteFunction; use DeleteAlias for %s", qualifier)
		case f.Versions[qualifier] == nil:
			return notFound("Function not found: %s", functionARN(f.Region, name, qualifier))
		}
		var users []string
		for _, a := range f.Aliases {
			if _, extra := a.Weights[qualifier]; a.Version == qualifier || extra {
				users = append(users, a.Name)
			}
		}
		if len(users) > 0 {
			slices.Sort(users)
			return conflict("Unable to delete version because the following aliases reference it: %v", users)
		}
		delete(f.Versions, qualifier)
		p.stopStaleLocked(name)
		return nil
	})
	if err != nil {
		return err
	}
	if qualifier == "" {
		p.metrics.forget(name)
	}
	p.codeMu.Lock()
	p.mu.Lock()
	removeUnusedCode(p.opts.RunDir, p.fns)
	p.mu.Unlock()
	p.codeMu.Unlock()
	writeJSON(w, reqID, http.StatusNoContent, nil)
	return nil
}

func checkRevision(given, current string) error {
	if given != "" && given != current {
		return &apiError{status: http.StatusPreconditionFailed, typ: errPreconditionFailed,
			msg: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
	}
	return nil
}

func (p *Platform) updateCode(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	var in updateCodeIn
	if err := decodeBody(r, maxControlBody, &in); err != nil {
		return err
	}
	zipped, err := readCode(&in.codeIn)
	if err != nil {
		return err
	}
	p.mu.Lock()
	_, err = p.functionLocked(region, fnParam)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.codeMu.RLock()
	defer p.codeMu.RUnlock()
	sha, size, err := unpackCode(p.opts.RunDir, zipped)
	if err != nil {
		return err
	}
	var out configOut
	err = p.update(func() error {
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			return err
		}
		if err := checkRevision(in.RevisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		c := *f.Latest
		if len(in.Architectures) > 0 {
			if c.Arch, err = architecture(in.Architectures); err != nil {
				return err
			}
			if err := validateConfig(&c); err != nil {
				return err
			}
		}
		c.CodeSha256, c.CodeSize = sha, size
		if in.DryRun {
			out = configJSON(f, &c)
			return nil
		}
		c.LastModified, c.RevisionID = time.Now(), newRequestID()
		f.Latest = &c
		p.stopStaleLocked(f.Name)
		out = configJSON(f, f.Latest)
		if in.Publish {
			out = configJSON(f, p.publishLocked(f, ""))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

func (p *Platform) updateConfiguration(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	var in updateConfigIn
	if err := decodeBody(r, 1<<20, &in); err != nil {
		return err
	}
	if len(in.Layers) > 0 {
		return invalidParam("Layers are not supported by the local platform: put everything into the zip")
	}
	var out configOut
	err := p.update(func() error {
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			return err
		}
		if err := checkRevision(in.RevisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		c := *f.Latest
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&c.Runtime, in.Runtime)
		set(&c.Role, in.Role)
		set(&c.Handler, in.Handler)
		set(&c.Description, in.Description)
		if in.Timeout != nil {
			c.Timeout = *in.Timeout
		}
		if in.MemorySize != nil {
			c.MemorySize = *in.MemorySize
		}
		if in.EphemeralStorage != nil {
			c.Ephemeral = in.EphemeralStorage.Size
		}
		if in.Environment != nil {
			c.Env = nil
			if len(in.Environment.Variables) > 0 {
				c.Env = maps.Clone(in.Environment.Variables)
			}
		}
		if err := applyLogging(&c, in.LoggingConfig); err != nil {
			return err
		}
		if err := validateConfig(&c); err != nil {
			return err
		}
		c.LastModified, c.RevisionID = time.Now(), newRequestID()
		f.Latest = &c
		p.stopStaleLocked(f.Name)
		out = configJSON(f, f.Latest)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

// publishLocked publishes $LATEST as a new version, or returns the newest version when it
// already deploys the same code and configuration, as Lambda does. Call with p.mu held.
func (p *Platform) publishLocked(f *function, description string) *config {
	if vs := f.sortedVersions(); len(vs) > 0 {
		if last := f.Versions[vs[len(vs)-1]]; last.FromRevision == f.Latest.RevisionID {
			return last
		}
	}
	c := *f.Latest
	c.Version = strconv.Itoa(f.NextVersion)
	c.FromRevision = f.Latest.RevisionID
	c.LastModified, c.RevisionID = time.Now(), newRequestID()
	if description != "" {
		c.Description = description
	}
	f.NextVersion++
	f.Versions[c.Version] = &c
	return &c
}

func (p *Platform) publishVersion(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	var in publishIn
	if err := decodeBody(r, 1<<20, &in); err != nil {
		return err
	}
	if len(in.Description) > maxDescriptionLen {
		return invalidParam("Value at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescriptionLen)
	}
	var out configOut
	err := p.update(func() error {
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			return err
		}
		if err := checkRevision(in.RevisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		if in.CodeSha256 != "" && in.CodeSha256 != f.Latest.CodeSha256 {
			return invalidParam("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", in.CodeSha256, f.Latest.CodeSha256)
		}
		out = configJSON(f, p.publishLocked(f, in.Description))
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusCreated, out)
	return nil
}

// listMarker pages a list of names by index: the marker is the index to start at.
func listMarker(r *http.Request) (start, maxItems int, err error) {
	q := r.URL.Query()
	if m := q.Get("Marker"); m != "" {
		if start, err = strconv.Atoi(m); err != nil || start < 0 {
			return 0, 0, invalidParam("Invalid Marker %q", m)
		}
	}
	maxItems, _ = strconv.Atoi(q.Get("MaxItems"))
	if maxItems <= 0 || maxItems > 10000 {
		maxItems = 50
	}
	return start, maxItems, nil
}

func (p *Platform) listVersions(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	start, maxItems, err := listMarker(r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	f, err := p.functionLocked(region, fnParam)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	all := []configOut{configJSON(f, f.Latest)}
	for _, v := range f.sortedVersions() {
		all = append(all, configJSON(f, f.Versions[v]))
	}
	p.mu.Unlock()
	out := struct {
		Versions   []configOut `json:"Versions"`
		NextMarker string      `json:"NextMarker,omitempty"`
	}{}
	start = min(start, len(all))
	end := min(start+maxItems, len(all))
	out.Versions = all[start:end]
	if end < len(all) {
		out.NextMarker = strconv.Itoa(end)
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

// validateAlias checks an alias's target and routing against the function's versions.
func validateAlias(f *function, a *alias) error {
	if a.Version != latest && f.Versions[a.Version] == nil {
		return notFound("Function not found: %s", f.arn()+":"+a.Version)
	}
	if len(a.Weights) > 1 {
		return invalidParam("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, wt := range a.Weights {
		if wt < 0 || wt > 1 {
			return invalidParam("Value '%v' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Member must have value between 0.0 and 1.0", wt)
		}
		if !versionRE.MatchString(v) {
			return invalidParam("Invalid function version %s. Function version %s is not a published version", v, v)
		}
		if f.Versions[v] == nil {
			return notFound("Function not found: %s", f.arn()+":"+v)
		}
		if v == a.Version {
			return invalidParam("Invalid function version %s. Function version %s is already included in the primary version", v, v)
		}
		if a.Version == latest {
			return invalidParam("$LATEST is not supported for an alias pointing to more than 1 version")
		}
	}
	return nil
}

func validAliasName(name string) error {
	if !aliasNameRE.MatchString(name) || versionRE.MatchString(name) {
		return invalidParam("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", name)
	}
	return nil
}

func (p *Platform) createAlias(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	var in aliasIn
	if err := decodeBody(r, 1<<20, &in); err != nil {
		return err
	}
	if err := validAliasName(in.Name); err != nil {
		return err
	}
	if in.FunctionVersion == nil || *in.FunctionVersion == "" {
		return invalidParam("FunctionVersion is required")
	}
	a := &alias{Name: in.Name, Version: *in.FunctionVersion, RevisionID: newRequestID()}
	if in.Description != nil {
		a.Description = *in.Description
	}
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		a.Weights = maps.Clone(in.RoutingConfig.AdditionalVersionWeights)
	}
	var out aliasOut
	err := p.update(func() error {
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			return err
		}
		if f.Aliases[a.Name] != nil {
			return conflict("Alias already exists: %s", f.arn()+":"+a.Name)
		}
		if err := validateAlias(f, a); err != nil {
			return err
		}
		f.Aliases[a.Name] = a
		out = aliasJSON(f, a)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusCreated, out)
	return nil
}

func (p *Platform) getAlias(w http.ResponseWriter, reqID, region, fnParam, name string) error {
	p.mu.Lock()
	f, err := p.functionLocked(region, fnParam)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	a := f.Aliases[name]
	if a == nil {
		p.mu.Unlock()
		return notFound("Cannot find alias arn: %s", f.arn()+":"+name)
	}
	out := aliasJSON(f, a)
	p.mu.Unlock()
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

func (p *Platform) updateAlias(w http.ResponseWriter, r *http.Request, reqID, region, fnParam, name string) error {
	var in aliasIn
	if err := decodeBody(r, 1<<20, &in); err != nil {
		return err
	}
	var out aliasOut
	err := p.update(func() error {
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			return err
		}
		old := f.Aliases[name]
		if old == nil {
			return notFound("Cannot find alias arn: %s", f.arn()+":"+name)
		}
		if err := checkRevision(in.RevisionID, old.RevisionID); err != nil {
			return err
		}
		a := *old
		if in.FunctionVersion != nil {
			a.Version = *in.FunctionVersion
		}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			a.Weights = nil
			if len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
				a.Weights = maps.Clone(in.RoutingConfig.AdditionalVersionWeights)
			}
		}
		if err := validateAlias(f, &a); err != nil {
			return err
		}
		a.RevisionID = newRequestID()
		f.Aliases[name] = &a
		out = aliasJSON(f, &a)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

func (p *Platform) deleteAlias(w http.ResponseWriter, reqID, region, fnParam, name string) error {
	err := p.update(func() error {
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			return err
		}
		if f.Aliases[name] == nil {
			return notFound("Cannot find alias arn: %s", f.arn()+":"+name)
		}
		delete(f.Aliases, name)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, reqID, http.StatusNoContent, nil)
	return nil
}

func (p *Platform) listAliases(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	start, maxItems, err := listMarker(r)
	if err != nil {
		return err
	}
	version := r.URL.Query().Get("FunctionVersion")
	p.mu.Lock()
	f, err := p.functionLocked(region, fnParam)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	var all []aliasOut
	for _, n := range slices.Sorted(maps.Keys(f.Aliases)) {
		if a := f.Aliases[n]; version == "" || a.Version == version {
			all = append(all, aliasJSON(f, a))
		}
	}
	p.mu.Unlock()
	out := struct {
		Aliases    []aliasOut `json:"Aliases"`
		NextMarker string     `json:"NextMarker,omitempty"`
	}{Aliases: []aliasOut{}}
	start = min(start, len(all))
	end := min(start+maxItems, len(all))
	out.Aliases = append(out.Aliases, all[start:end]...)
	if end < len(all) {
		out.NextMarker = strconv.Itoa(end)
	}
	writeJSON(w, reqID, http.StatusOK, out)
	return nil
}

// concurrency serves PutFunctionConcurrency, GetFunctionConcurrency and
// DeleteFunctionConcurrency: the reserved concurrency is the function's concurrency limit.
func (p *Platform) concurrency(w http.ResponseWriter, r *http.Request, reqID, region, fnParam string) error {
	switch r.Method {
	case http.MethodGet:
		p.mu.Lock()
		f, err := p.functionLocked(region, fnParam)
		if err != nil {
			p.mu.Unlock()
			return err
		}
		out := map[string]int{}
		if f.Reserved != nil {
			out["ReservedConcurrentExecutions"] = *f.Reserved
		}
		p.mu.Unlock()
		writeJSON(w, reqID, http.StatusOK, out)
		return nil
	case http.MethodPut:
		var in concurrencyIn
		if err := decodeBody(r, 1<<20, &in); err != nil {
			return err
		}
		if in.ReservedConcurrentExecutions == nil {
			return invalidParam("ReservedConcurrentExecutions is required")
		}
		n := *in.ReservedConcurrentExecutions
		if n < 0 || n > maxReserved {
			return invalidParam("Value '%d' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value between 0 and %d on the local platform", n, maxReserved)
		}
		err := p.update(func() error {
			f, err := p.functionLocked(region, fnParam)
			if err != nil {
				return err
			}
			if others := p.reservedTotalLocked(f.Name); p.opts.ConcurrencyLimit-others-n < p.minUnreserved() {
				return invalidParam("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d] (the local platform's concurrency limit is %d, %d reserved by other functions).",
					p.minUnreserved(), p.opts.ConcurrencyLimit, others)
			}
			f.Reserved = &n
			p.recountReservedLocked()
			p.pumpWaitingLocked()
			if rt := p.rt[f.Name]; rt != nil {
				p.pumpLocked(f.Name, rt)
			}
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, reqID, http.StatusOK, map[string]int{"ReservedConcurrentExecutions": n})
		return nil
	case http.MethodDelete:
		err := p.update(func() error {
			f, err := p.functionLocked(region, fnParam)
			if err != nil {
				return err
			}
			f.Reserved = nil
			p.recountReservedLocked()
			if rt := p.rt[f.Name]; rt != nil {
				p.pumpLocked(f.Name, rt)
			}
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, reqID, http.StatusNoContent, nil)
		return nil
	}
	return &apiError{status: http.StatusNotFound, typ: errUnknownOperation, msg: r.Method + " concurrency is not an operation"}
}
