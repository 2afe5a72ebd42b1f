package synthetic

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fusionize/fusionize/runtime"
)

// FromEnv reads the spec a deployment gives the synthetic bundle: FUSIONIZE_SYNTHETIC_SPEC
// (the YAML text, or runtime.CompactEnv of it) or the file named by
// FUSIONIZE_SYNTHETIC_SPEC_FILE (relative paths are inside LAMBDA_TASK_ROOT).
func FromEnv(getenv func(string) string) (Spec, error) {
	if v := getenv(EnvSpec); v != "" {
		text, err := runtime.ExpandEnv(v)
		if err != nil {
			return Spec{}, fmt.Errorf("%s: %w", EnvSpec, err)
		}
		return Parse(EnvSpec, []byte(text))
	}
	if file := getenv(EnvSpecFile); file != "" {
		if !filepath.IsAbs(file) {
			file = filepath.Join(getenv("LAMBDA_TASK_ROOT"), file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return Spec{}, fmt.Errorf("read synthetic spec: %w", err)
		}
		return Parse(file, b)
	}
	return Spec{}, fmt.Errorf("no synthetic app spec: set %s to the spec text or %s to a spec file", EnvSpec, EnvSpecFile)
}
