// Package bundle turns a Fusionize app into a Lambda function bundle: the app's main package
// compiled as a static `bootstrap` (linux, CGO_ENABLED=0, -tags lambda.norpc, runtime
// provided.al2023) and zipped, for amd64 and arm64. Every group of every setup runs the same
// bundle; the setup comes from configuration (see package runtime).
package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RuntimeImportPath is the package every bundle's main must use.
const RuntimeImportPath = "github.com/fusionize/fusionize/runtime"

// Archs are the Lambda architectures a bundle can be built for, by GOARCH.
var Archs = []string{"amd64", "arm64"}

// LambdaArchitecture maps a GOARCH to Lambda's architecture name.
func LambdaArchitecture(goarch string) string {
	if goarch == "amd64" {
		return "x86_64"
	}
	return goarch
}

// Options say what to bundle.
type Options struct {
	Package string   // the app's main package, as `go build` takes it (e.g. ./samples/cmd/iot)
	Dir     string   // directory to run the go tool in (the app's module); "" is the current one
	OutDir  string   // where zips go; "" is "dist"
	Archs   []string // GOARCHs; nil is both amd64 and arm64
	Name    string   // zip base name; "" is the package's last path element
	Log     io.Writer
}

// Artifact is one built bundle.
type Artifact struct {
	Arch       string // GOARCH
	Zip        string // path of the zip
	Size       int64  // zip size in bytes
	CodeSHA256 string // base64 SHA-256 of the zip, as Lambda reports CodeSha256
}

// Build checks that the package is a runnable Fusionize app and builds one zip per
// architecture.
func Build(ctx context.Context, opts Options) ([]Artifact, error) {
	if opts.Package == "" {
		return nil, errors.New("bundle: no package given (e.g. ./samples/cmd/iot)")
	}
	archs := opts.Archs
	if len(archs) == 0 {
		archs = Archs
	}
	for _, a := range archs {
		if !slices.Contains(Archs, a) {
			return nil, fmt.Errorf("bundle: architecture %q is not one of %v", a, Archs)
		}
	}
	name, err := check(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Name != "" {
		name = opts.Name
	}
	out := opts.OutDir
	if out == "" {
		out = "dist"
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	var arts []Artifact
	for _, arch := range archs {
		a, err := build(ctx, opts, name, out, arch)
		if err != nil {
			return nil, err
		}
		arts = append(arts, a)
	}
	return arts, nil
}

// check returns the package's name for the zip, or why it is not a runnable app.
func check(ctx context.Context, opts Options) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-json=ImportPath,Name,Deps,Incomplete,Error", opts.Package)
	cmd.Dir = opts.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("bundle %s: go list: %s", opts.Package, strings.TrimSpace(stderr.String()))
	}
	var pkg struct {
		ImportPath string
		Name       string
		Deps       []string
		Error      *struct{ Err string }
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("bundle %s: go list: %w", opts.Package, err)
	}
	if pkg.Error != nil {
		return "", fmt.Errorf("bundle %s: %s", opts.Package, pkg.Error.Err)
	}
	if pkg.Name != "main" {
		return "", fmt.Errorf("bundle %s: package %s is not runnable (package %s, not main): a bundle is a main package whose main calls app.Main() of a runtime.App", opts.Package, pkg.ImportPath, pkg.Name)
	}
	if !slices.Contains(pkg.Deps, RuntimeImportPath) {
		return "", fmt.Errorf("bundle %s: package %s does not use %s: a bundle's main registers tasks on a runtime.App and calls app.Main()", opts.Package, pkg.ImportPath, RuntimeImportPath)
	}
	return filepath.Base(pkg.ImportPath), nil
}

func build(ctx context.Context, opts Options, name, out, arch string) (Artifact, error) {
	tmp, err := os.MkdirTemp("", "fusionize-bundle-")
	if err != nil {
		return Artifact{}, fmt.Errorf("bundle: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bin, opts.Package)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "building %s for linux/%s\n", opts.Package, arch)
	}
	if err := cmd.Run(); err != nil {
		return Artifact{}, fmt.Errorf("bundle %s for %s: go build: %v\n%s", opts.Package, arch, err, stderr.String())
	}
	zipPath, err := filepath.Abs(filepath.Join(out, fmt.Sprintf("%s-%s.zip", name, arch)))
	if err != nil {
		return Artifact{}, err
	}
	if err := writeZip(zipPath, bin); err != nil {
		return Artifact{}, fmt.Errorf("bundle %s for %s: %w", opts.Package, arch, err)
	}
	data, err := os.ReadFile(zipPath)
	if err != nil {
		return Artifact{}, err
	}
	sum := sha256.Sum256(data)
	return Artifact{Arch: arch, Zip: zipPath, Size: int64(len(data)), CodeSHA256: base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// writeZip writes a zip holding the executable as "bootstrap", with a fixed time so equal
// builds give equal zips.
func writeZip(path, bin string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".bundle-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
