package local

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	latest          = "$LATEST"
	accountID       = "000000000000"
	defaultRegion   = "us-east-1"
	stateFile       = "state.json"
	stateVersion    = 1
	maxUnzippedSize = 262144000 // Lambda's limit for unzipped code
	maxZipFileSize  = 50 << 20  // Lambda's limit for a zip uploaded inline
	timeLayout      = "2006-01-02T15:04:05.000-0700"
)

var (
	functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	aliasNameRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	versionRE      = regexp.MustCompile(`^[0-9]{1,10}$`)
	envKeyRE       = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
	handlerRE      = regexp.MustCompile(`^[^\s]{1,128}$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// supportedRuntimes are the Lambda runtimes whose bootstrap executable this platform runs.
var supportedRuntimes = []string{"provided.al2023", "provided.al2"}

// reservedEnvKeys may not be set in a function's environment, as on Lambda.
var reservedEnvKeys = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true,
	"LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

// config is one immutable function configuration: $LATEST at some point in time or a published
// version. An update replaces $LATEST's *config, so instances compare pointers to know whether
// they still run the current configuration.
type config struct {
	Version     string            `json:"version"`
	Runtime     string            `json:"runtime"`
	Handler     string            `json:"handler,omitempty"`
	Role        string            `json:"role"`
	Description string            `json:"description,omitempty"`
	MemorySize  int               `json:"memorySize"`
	Timeout     int               `json:"timeout"`
	Env         map[string]string `json:"env,omitempty"`
	Arch        string            `json:"arch"`
	Ephemeral   int               `json:"ephemeralStorage"`
	// LogGroup is the log group the function logs to (LoggingConfig.LogGroup); "" is
	// Lambda's default, /aws/lambda/<function name>.
	LogGroup     string    `json:"logGroup,omitempty"`
	CodeSha256   string    `json:"codeSha256"` // base64 of the zip's SHA-256, as Lambda reports it
	CodeSize     int64     `json:"codeSize"`
	LastModified time.Time `json:"lastModified"`
	RevisionID   string    `json:"revisionId"`
	// FromRevision is, for a published version, the RevisionID $LATEST had when it was
	// published: publishing again without a change returns that version.
	FromRevision string `json:"fromRevision,omitempty"`
}

// logGroup is the log group the function of that name logs to.
func (c *config) logGroup(fn string) string {
	if c.LogGroup != "" {
		return c.LogGroup
	}
	return "/aws/lambda/" + fn
}

// logStream names a new log stream of an instance of version of function fn, as Lambda
// does: YYYY/MM/DD/[version]id in the function's own group, and with the function's name
// before the version in a group that functions may share.
func (c *config) logStream(fn, version string, now time.Time) string {
	day := now.UTC().Format("2006/01/02") + "/"
	if c.LogGroup != "" {
		return day + fn + "[" + version + "]" + randomHex(16)
	}
	return day + "[" + version + "]" + randomHex(16)
}

// codeDir is the directory, relative to RunDir, holding c's unpacked code.
func (c *config) codeDir() string {
	sum, _ := base64.StdEncoding.DecodeString(c.CodeSha256)
	return filepath.Join("code", hex.EncodeToString(sum))
}

// alias is a named pointer to a version with an optional weighted second version.
type alias struct {
	Name        string             `json:"name"`
	Version     string             `json:"version"`
	Description string             `json:"description,omitempty"`
	Weights     map[string]float64 `json:"weights,omitempty"`
	RevisionID  string             `json:"revisionId"`
}

// function is one deployed function with its versions and aliases.
type function struct {
	Name        string             `json:"name"`
	Region      string             `json:"region"`
	Latest      *config            `json:"latest"`
	Versions    map[string]*config `json:"versions,omitempty"`
	NextVersion int                `json:"nextVersion"`
	Aliases     map[string]*alias  `json:"aliases,omitempty"`
	Reserved    *int               `json:"reservedConcurrency,omitempty"`
}

func (f *function) arn() string {
	return "arn:aws:lambda:" + f.Region + ":" + accountID + ":function:" + f.Name
}

// version returns the configuration of a version ("$LATEST" or a number), or nil.
func (f *function) version(v string) *config {
	if v == latest {
		return f.Latest
	}
	return f.Versions[v]
}

// sortedVersions lists the published version numbers in ascending order.
func (f *function) sortedVersions() []string {
	vs := slices.Collect(maps.Keys(f.Versions))
	slices.SortFunc(vs, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return vs
}

// persisted is the JSON document kept at DataDir/state.json.
type persisted struct {
	Version   int                  `json:"version"`
	Functions map[string]*function `json:"functions"`
}

// loadState reads the functions persisted under dir; a missing file is an empty platform.
func loadState(dir string) (map[string]*function, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*function{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read platform state: %w", err)
	}
	var st persisted
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse platform state %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("platform state %s has version %d, want %d", filepath.Join(dir, stateFile), st.Version, stateVersion)
	}
	if st.Functions == nil {
		st.Functions = map[string]*function{}
	}
	for name, f := range st.Functions {
		if f.Latest == nil {
			return nil, fmt.Errorf("platform state: function %q has no $LATEST configuration", name)
		}
		if f.Versions == nil {
			f.Versions = map[string]*config{}
		}
		if f.Aliases == nil {
			f.Aliases = map[string]*alias{}
		}
	}
	return st.Functions, nil
}

// encodeState marshals the functions for saveState.
func encodeState(fns map[string]*function) ([]byte, error) {
	return json.MarshalIndent(persisted{Version: stateVersion, Functions: fns}, "", "  ")
}

// saveState atomically replaces DataDir/state.json with b.
func saveState(dir string, b []byte) error {
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("save platform state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save platform state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save platform state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save platform state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("save platform state: %w", err)
	}
	return nil
}

// unpackCode unpacks zipped code into RunDir/code/<sha256 hex> unless a previous deployment of
// the same bytes did already, and returns the Lambda CodeSha256 (base64) and the zip size.
func unpackCode(runDir string, zipped []byte) (sha string, size int64, err error) {
	sum := sha256.Sum256(zipped)
	sha = base64.StdEncoding.EncodeToString(sum[:])
	dst := filepath.Join(runDir, "code", hex.EncodeToString(sum[:]))
	if _, err := os.Stat(dst); err == nil {
		return sha, int64(len(zipped)), nil
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return "", 0, invalidParam("Could not unzip uploaded file. Please check your file, then try to upload again: %v", err)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
	}
	if total > maxUnzippedSize {
		return "", 0, invalidParam("Unzipped size must be smaller than %d bytes", maxUnzippedSize)
	}
	if err := os.MkdirAll(filepath.Join(runDir, "code"), 0o755); err != nil {
		return "", 0, fmt.Errorf("unpack code: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(runDir, "code"), ".unpack-*")
	if err != nil {
		return "", 0, fmt.Errorf("unpack code: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := extractZip(tmp, zr); err != nil {
		return "", 0, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", 0, fmt.Errorf("unpack code: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, statErr := os.Stat(dst); statErr == nil {
			return sha, int64(len(zipped)), nil // a concurrent deployment of the same code won
		}
		return "", 0, fmt.Errorf("unpack code: %w", err)
	}
	return sha, int64(len(zipped)), nil
}

// extractZip writes every entry of zr under dir. All writes go through an os.Root, so no entry
// lands outside dir whatever links earlier entries made; on top of that no entry may be written
// through a link an earlier entry made, and once everything is written every link must resolve
// to something inside dir: a link to an absolute host path, or one that leaves dir through
// another link, is refused, so neither the platform nor a bootstrap ever follows one out.
func extractZip(dir string, zr *zip.Reader) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpack code into %s: %w", dir, err)
	}
	defer root.Close()
	links := map[string]bool{}
	for _, f := range zr.File {
		if err := extractFile(root, f, links); err != nil {
			return err
		}
	}
	return checkLinks(dir, links)
}

// entryName is a zip entry's path relative to the code directory, or an error for an entry
// that would land outside it or that an earlier entry's link would redirect.
func entryName(f *zip.File, links map[string]bool) (string, error) {
	name := strings.TrimLeft(filepath.FromSlash(f.Name), string(filepath.Separator))
	if name == "" || !filepath.IsLocal(name) {
		return "", invalidParam("Could not unzip uploaded file: entry %q is outside the code directory", f.Name)
	}
	name = filepath.Clean(name)
	for p := name; p != "."; p = filepath.Dir(p) {
		if links[p] {
			return "", invalidParam("Could not unzip uploaded file: entry %q is written through the link %q", f.Name, filepath.ToSlash(p))
		}
	}
	return name, nil
}

// extractFile writes one zip entry into root and records the links it makes in links.
func extractFile(root *os.Root, f *zip.File, links map[string]bool) error {
	name, err := entryName(f, links)
	if err != nil {
		return err
	}
	mode := f.Mode()
	if mode.IsDir() || strings.HasSuffix(f.Name, "/") {
		return mkdirAll(root, name)
	}
	if err := mkdirAll(root, filepath.Dir(name)); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return invalidParam("Could not unzip uploaded file: %s: %v", f.Name, err)
	}
	defer rc.Close()
	if mode&fs.ModeSymlink != 0 {
		target, err := io.ReadAll(io.LimitReader(rc, 4096))
		if err != nil {
			return invalidParam("Could not unzip uploaded file: %s: %v", f.Name, err)
		}
		t := filepath.FromSlash(string(target))
		if filepath.IsAbs(t) || !filepath.IsLocal(filepath.Join(filepath.Dir(name), t)) {
			return invalidParam("Could not unzip uploaded file: link %q points outside the code directory", f.Name)
		}
		if err := root.Symlink(t, name); err != nil {
			return invalidParam("Could not unzip uploaded file: link %s: %v", f.Name, err)
		}
		links[name] = true
		return nil
	}
	// Permissions stay as the zip has them, as on Lambda: a bootstrap without its exec bit
	// does not run, and a file only its owner may read is unreadable for an isolated instance.
	perm := mode.Perm()
	if perm == 0 {
		perm = 0o644
	}
	perm &^= 0o022 // code is shared by every function deployed from the same zip: nobody but root writes it
	out, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return invalidParam("Could not unzip uploaded file: %s: %v", f.Name, err)
	}
	if _, err := io.Copy(out, io.LimitReader(rc, maxUnzippedSize)); err != nil {
		out.Close()
		return invalidParam("Could not unzip uploaded file: %s: %v", f.Name, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("unpack code entry %s: %w", f.Name, err)
	}
	// The umask must not take away what the zip grants (an isolated instance reads as "other").
	if err := root.Chmod(name, perm); err != nil {
		return fmt.Errorf("unpack code entry %s: %w", f.Name, err)
	}
	return nil
}

func mkdirAll(root *os.Root, name string) error {
	if name == "." {
		return nil
	}
	if err := root.MkdirAll(name, 0o755); err != nil {
		return invalidParam("Could not unzip uploaded file: directory %s: %v", filepath.ToSlash(name), err)
	}
	return nil
}

// checkLinks refuses unpacked code with a link that does not resolve to something inside dir,
// whatever links it passes through on the way.
func checkLinks(dir string, links map[string]bool) error {
	if len(links) == 0 {
		return nil
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("unpack code into %s: %w", dir, err)
	}
	for _, name := range slices.Sorted(maps.Keys(links)) {
		resolved, err := filepath.EvalSymlinks(filepath.Join(realDir, name))
		if err != nil {
			return invalidParam("Could not unzip uploaded file: link %q points to nothing inside the code directory", filepath.ToSlash(name))
		}
		rel, err := filepath.Rel(realDir, resolved)
		if err != nil || rel != "." && !filepath.IsLocal(rel) {
			return invalidParam("Could not unzip uploaded file: link %q points outside the code directory", filepath.ToSlash(name))
		}
	}
	return nil
}

// removeUnusedCode deletes unpacked code that no version of any function refers to any more.
func removeUnusedCode(runDir string, fns map[string]*function) {
	used := map[string]bool{}
	for _, f := range fns {
		used[f.Latest.codeDir()] = true
		for _, v := range f.Versions {
			used[v.codeDir()] = true
		}
	}
	entries, err := os.ReadDir(filepath.Join(runDir, "code"))
	if err != nil {
		return
	}
	for _, e := range entries {
		rel := filepath.Join("code", e.Name())
		if !used[rel] && !strings.HasPrefix(e.Name(), ".") {
			_ = os.RemoveAll(filepath.Join(runDir, rel))
		}
	}
}
