package bundle

import (
	"archive/zip"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestBuildRejectsNonApps(t *testing.T) {
	tests := []struct{ pkg, want string }{
		{"../../fusion", "is not runnable (package fusion, not main)"},
		{"./testdata/notapp", "does not use github.com/fusionize/fusionize/runtime"},
		{"./testdata/missing", "go list"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			_, err := Build(context.Background(), Options{Package: tt.pkg, OutDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Build(context.Background(), Options{Package: "../../samples/cmd/tree", Archs: []string{"s390x"}}); err == nil {
		t.Fatal("unsupported architecture accepted")
	}
}

func TestBuildSample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bundle")
	}
	out := t.TempDir()
	arts, err := Build(context.Background(), Options{Package: "../../samples/cmd/tree", OutDir: out, Archs: []string{runtime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 || arts[0].Zip != filepath.Join(out, "tree-"+runtime.GOARCH+".zip") || arts[0].CodeSHA256 == "" {
		t.Fatalf("artifacts %+v", arts)
	}
	zr, err := zip.OpenReader(arts[0].Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip holds %v", zr.File)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// The bootstrap describes itself outside Lambda.
	dir := t.TempDir()
	f, _ := zr.File[0].Open()
	defer f.Close()
	bin := filepath.Join(dir, "bootstrap")
	if err := extract(f, bin); err != nil {
		t.Fatal(err)
	}
	desc, err := exec.Command(bin, "describe").Output()
	if err != nil || !strings.Contains(string(desc), `"app":"tree"`) {
		t.Fatalf("describe: %s, %v", desc, err)
	}
}
