package appconfig

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/fusion/fusiontest"
)

func TestFullExampleLoads(t *testing.T) {
	c, err := LoadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "iot" || c.Entry != "I" || c.Canary.Window != 30*time.Second || len(c.Constraints) != 2 || c.Policy == nil || c.Load.Rate != 10 {
		t.Fatalf("config %+v", c)
	}
	if got := c.Policy.Names(); len(got) < 2 {
		t.Fatalf("policy rules %v", got)
	}
}

func TestMinimalConfigGetsDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte("name: tree\nsample: tree\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	if c.Entry != "A" || c.Planner != d.Planner || c.Canary.MinSamples != 50 || c.Target != "local" || c.Policy == nil {
		t.Fatalf("config %+v", c)
	}
}

func TestErrorsGolden(t *testing.T) {
	for _, name := range []string{"bad", "types"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".yaml")
			_, err := LoadFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			fusiontest.Golden(t, filepath.Join("testdata", name+".errors"), err.Error()+"\n")
		})
	}
}

// TestSyntaxGolden places each kind of YAML syntax error on the line it is on (yaml.v3's
// parser counts from 0, one line early) and at the unclosed bracket it is about: a Parse
// that passes yaml.v3's line through, or puts every caret at column 1, differs.
func TestSyntaxGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/syntax/*.yaml")
	if err != nil || len(paths) < 9 {
		t.Fatalf("syntax cases: %v %v", paths, err)
	}
	var b strings.Builder
	for _, p := range paths {
		_, err := LoadFile(p)
		if err == nil {
			t.Errorf("%s: no error", p)
			continue
		}
		b.WriteString(err.Error() + "\n\n")
	}
	fusiontest.Golden(t, "testdata/syntax.errors", b.String())
}

func TestEmptyAndMissing(t *testing.T) {
	if _, err := Parse("e.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("got %v", err)
	}
	if _, err := LoadFile("testdata/none.yaml"); err == nil || !strings.Contains(err.Error(), "read app config") {
		t.Fatalf("got %v", err)
	}
}

// TestSampleConfigs keeps the documented example of every sample valid.
func TestSampleConfigs(t *testing.T) {
	paths, _ := filepath.Glob("../../samples/configs/*.yaml")
	if len(paths) != 3 {
		t.Fatalf("sample configs: %v", paths)
	}
	for _, p := range paths {
		if _, err := LoadFile(p); err != nil {
			t.Error(err)
		}
	}
}
