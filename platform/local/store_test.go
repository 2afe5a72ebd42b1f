package local

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// zipEntry is one entry of a zip built by makeZip: a file, a directory (name ending in /) or,
// with a symlink mode, a link whose content is its target.
type zipEntry struct {
	name, content string
	mode          fs.FileMode
}

func makeZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Store}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func link(name, target string) zipEntry { return zipEntry{name, target, fs.ModeSymlink | 0o777} }

// TestZipCannotEscapeTheCodeDirectory deploys zips an attacker would send. Each must be refused
// with InvalidParameterValueException and leave nothing outside the code directory; before the
// fix, the first created "pwned" in a directory outside the data directory during
// CreateFunction alone (an absolute link target joined to a directory passes filepath.IsLocal),
// and a bootstrap linked to /bin/true was accepted and run.
func TestZipCannotEscapeTheCodeDirectory(t *testing.T) {
	e := newTestEnv(t, Options{})
	outside := t.TempDir()
	boot := func(mode fs.FileMode) zipEntry { return zipEntry{"bootstrap", "#!/bin/sh\n", mode} }
	attacks := []struct {
		name  string
		zip   []byte
		wants string
	}{
		{"absolute link, then an entry through it",
			makeZip(t, link("link", outside), zipEntry{"link/pwned", "owned", 0o644}), "points outside"},
		{"relative link out, then an entry through it",
			makeZip(t, link("link", "../../../../../../../../"+outside), zipEntry{"link/pwned", "owned", 0o644}), "points outside"},
		{"link inside, then an entry through it",
			makeZip(t, zipEntry{"sub/", "", fs.ModeDir | 0o755}, link("link", "sub"), zipEntry{"link/x", "x", 0o644}), `written through the link "link"`},
		{"bootstrap linked to a host binary", makeZip(t, link("bootstrap", "/bin/true")), "points outside"},
		{"a chain of links that leaves through another link",
			makeZip(t, link("here", "."), link("out", "here/..")), `link "out" points outside`},
		{"dot-dot entry", makeZip(t, zipEntry{"../../../../../../" + outside + "/pwned", "owned", 0o644}), "outside the code directory"},
	}
	for i, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			name := "evil" + string(rune('a'+i))
			_, err := e.lc.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
				FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/x"),
				Runtime: types.RuntimeProvidedal2023, Code: &types.FunctionCode{ZipFile: a.zip},
			})
			var invalid *types.InvalidParameterValueException
			if !errors.As(err, &invalid) || !strings.Contains(err.Error(), a.wants) {
				t.Errorf("CreateFunction = %v, want InvalidParameterValueException saying %q", err, a.wants)
			}
			if entries, _ := os.ReadDir(outside); len(entries) > 0 {
				t.Errorf("the zip wrote %s outside the data directory", entries[0].Name())
			}
			if _, err := e.lc.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}); err == nil {
				t.Errorf("the refused function %s exists", name)
			}
		})
	}
	code, _ := os.ReadDir(filepath.Join(e.opts.DataDir, "code"))
	for _, c := range code {
		t.Errorf("refused zips left %s in the code directory", c.Name())
	}

	// Links that stay inside are fine, and the bootstrap may be one.
	ok := makeZip(t, zipEntry{"bin/", "", fs.ModeDir | 0o755}, zipEntry{"bin/real", string(zipBootstrapBytes(t)), 0o755},
		link("bootstrap", "bin/real"), link("bin/same", "../bin/real"), boot(0o644))
	_, err := e.lc.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("linked"), Role: aws.String("arn:aws:iam::000000000000:role/x"),
		Runtime: types.RuntimeProvidedal2023, Code: &types.FunctionCode{ZipFile: ok},
	})
	if err == nil || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("a zip with bootstrap twice (link and file) = %v, want refused", err)
	}
	ok = makeZip(t, zipEntry{"bin/", "", fs.ModeDir | 0o755}, zipEntry{"bin/real", string(zipBootstrapBytes(t)), 0o755},
		link("bootstrap", "bin/real"), link("bin/same", "../bin/real"))
	e.create(t, "linked", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = ok })
	if out, resp := e.invoke(t, "linked", map[string]any{}); out.FunctionError != nil || resp.Variant != "v1" {
		t.Errorf("bootstrap through an inside link: %s", out.Payload)
	}
}

// zipBootstrapBytes is the v1 test function's executable.
func zipBootstrapBytes(t *testing.T) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipV1), int64(len(zipV1)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return []byte(readAll(t, rc))
}
