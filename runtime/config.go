package runtime

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fusionize/fusionize/fusion"
)

// Environment variables that configure a function of a bundle. The deployer sets them per
// group; Config.Env produces them and ConfigFromEnv reads them.
const (
	EnvApp             = "FUSIONIZE_APP"              // app name (defaults to the bundle's)
	EnvSetup           = "FUSIONIZE_SETUP"            // setup text form, or "z1:" + base64(deflate(text)) when large
	EnvSetupFile       = "FUSIONIZE_SETUP_FILE"       // alternatively a file holding the setup text (relative to LAMBDA_TASK_ROOT)
	EnvGroup           = "FUSIONIZE_GROUP"            // root task of the group this function runs
	EnvFunctionPattern = "FUSIONIZE_FUNCTION_PATTERN" // how a group's function is named, see Config.FunctionPattern
	EnvFunctions       = "FUSIONIZE_FUNCTIONS"        // explicit names: "root=function[:qualifier],…"
)

// DefaultFunctionPattern names a group's function after the app, the setup ID and the
// group's root, e.g. "iot-3f2a9c1e0b7d-CT", so that every setup has its own functions and a
// request stays inside one setup during a canary.
const DefaultFunctionPattern = "{app}-{setup}-{root}"

// setupEnvLimit is the length above which Env compresses the setup text. Lambda allows 4 KB
// for all environment variables of a function together.
const setupEnvLimit = 1024

// Config is the setup as one function of a bundle sees it.
type Config struct {
	App   string       // app name
	Setup fusion.Setup // the whole current setup
	Group string       // root of the group this function runs

	// FunctionPattern names the function of the group rooted at a task; "{app}", "{setup}"
	// (the setup ID) and "{root}" are replaced. Empty means DefaultFunctionPattern.
	FunctionPattern string
	// Functions overrides the pattern for some roots; a value may carry a ":qualifier"
	// (version or alias), e.g. {"I": "iot-entry:7"}.
	Functions map[string]string
}

// FunctionName returns the function that runs the group rooted at root.
func (c Config) FunctionName(root string) string {
	if fn, ok := c.Functions[root]; ok {
		return fn
	}
	p := c.FunctionPattern
	if p == "" {
		p = DefaultFunctionPattern
	}
	return strings.NewReplacer("{app}", c.App, "{setup}", c.Setup.ID(), "{root}", root).Replace(p)
}

// Validate checks the configuration against the app's tasks, reporting every problem.
func (c Config) Validate(tasks []string) error {
	var errs []error
	if c.App == "" {
		errs = append(errs, errors.New("no app name"))
	}
	if len(c.Setup.Groups) == 0 {
		errs = append(errs, fmt.Errorf("no setup: set %s to the setup text, e.g. \"A+B@256,C@128\"", EnvSetup))
	}
	if _, ok := c.Setup.Group(c.Group); !ok {
		errs = append(errs, fmt.Errorf("group %q (%s) is not the root of a group of setup %s", c.Group, EnvGroup, c.Setup))
	}
	for _, g := range c.Setup.Groups {
		for _, t := range g.Tasks() {
			if !slices.Contains(tasks, t) {
				errs = append(errs, fmt.Errorf("setup group %q: task %q is not registered in the bundle (tasks: %s)", g.Root, t, strings.Join(tasks, ", ")))
			}
		}
	}
	for root := range c.Functions {
		if _, ok := c.Setup.Group(root); !ok {
			errs = append(errs, fmt.Errorf("%s names a function for %q, which is not the root of a group", EnvFunctions, root))
		}
	}
	return errors.Join(errs...)
}

// Env returns the environment variables that give a function this configuration. A setup
// whose text is long is compressed so large setups stay within Lambda's 4 KB limit.
func (c Config) Env() map[string]string {
	env := map[string]string{
		EnvApp:   c.App,
		EnvSetup: CompactEnv(c.Setup.String()),
		EnvGroup: c.Group,
	}
	if c.FunctionPattern != "" {
		env[EnvFunctionPattern] = c.FunctionPattern
	}
	if len(c.Functions) > 0 {
		var parts []string
		for _, root := range slices.Sorted(maps.Keys(c.Functions)) {
			parts = append(parts, root+"="+c.Functions[root])
		}
		env[EnvFunctions] = strings.Join(parts, ",")
	}
	return env
}

// CompactEnv returns text for an environment variable: as it is when short, else "z1:" and
// its deflated base64 form, so large values fit Lambda's 4 KB environment. ExpandEnv undoes
// it.
func CompactEnv(text string) string {
	if len(text) <= setupEnvLimit {
		return text
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write([]byte(text))
	_ = w.Close()
	return "z1:" + base64.RawStdEncoding.EncodeToString(buf.Bytes())
}

// maxExpanded bounds what a compressed value may expand to (1 MB).
const maxExpanded = 1 << 20

// ExpandEnv returns the text of a value made by CompactEnv (or a plain value unchanged). A
// value that would expand past 1 MB is an error.
func ExpandEnv(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, "z1:")
	if !ok {
		return v, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("compressed value: %w", err)
	}
	text, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxExpanded+1))
	if err != nil {
		return "", fmt.Errorf("compressed value: %w", err)
	}
	if len(text) > maxExpanded {
		return "", fmt.Errorf("compressed value expands past %d bytes", maxExpanded)
	}
	return string(text), nil
}

// ConfigFromEnv reads the configuration from environment variables through getenv (os.Getenv
// in a function). defaultApp is used when FUSIONIZE_APP is unset.
func ConfigFromEnv(getenv func(string) string, defaultApp string) (Config, error) {
	c := Config{
		App:             getenv(EnvApp),
		Group:           getenv(EnvGroup),
		FunctionPattern: getenv(EnvFunctionPattern),
	}
	if c.App == "" {
		c.App = defaultApp
	}
	text := getenv(EnvSetup)
	if text == "" {
		if file := getenv(EnvSetupFile); file != "" {
			if !filepath.IsAbs(file) {
				file = filepath.Join(getenv("LAMBDA_TASK_ROOT"), file)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return Config{}, fmt.Errorf("read %s: %w", EnvSetupFile, err)
			}
			text = strings.TrimSpace(string(b))
		}
	}
	if text == "" {
		return Config{}, fmt.Errorf("no setup: set %s (or %s) to the setup text, e.g. \"A+B@256,C@128\"", EnvSetup, EnvSetupFile)
	}
	text, err := ExpandEnv(text)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvSetup, err)
	}
	if c.Setup, err = fusion.ParseSetup(text); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvSetup, err)
	}
	if c.Group == "" {
		return Config{}, fmt.Errorf("no group: set %s to the root task of this function's group", EnvGroup)
	}
	if v := getenv(EnvFunctions); v != "" {
		c.Functions = map[string]string{}
		for _, part := range strings.Split(v, ",") {
			root, fn, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || root == "" || fn == "" {
				return Config{}, fmt.Errorf("%s: %q is not root=function", EnvFunctions, part)
			}
			if prev, dup := c.Functions[root]; dup {
				return Config{}, fmt.Errorf("%s names two functions for %q: %q and %q", EnvFunctions, root, prev, fn)
			}
			c.Functions[root] = fn
		}
	}
	return c, nil
}

// memoryFromEnv returns the function's memory as Lambda reports it, or fallback.
func memoryFromEnv(getenv func(string) string, fallback int) int {
	if n, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && n > 0 {
		return n
	}
	return fallback
}
