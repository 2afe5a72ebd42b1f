package appconfig

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/fusiontest"
)

func TestFullExampleLoads(t *testing.T) {
	c, err := LoadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "iot" || c.Entry != "I" || c.Canary.Window != 30*time.Second || len(c.Constraints) != 2 || c.Policy == nil || c.Load.Rate != 10 ||
		c.Collect != (Collect{Requests: 200, Window: 4 * time.Minute}) {
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
	if c.Entry != "A" || c.Planner != d.Planner || c.Canary.MinSamples != 50 || c.Target != "local" || c.Policy == nil ||
		c.Collect != (Collect{Requests: 300, Window: 5 * time.Minute}) {
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

// FuzzParse: no input panics; every problem is placed inside the file (a line of it, a
// column of at least 1); a config that loads prints back as YAML that loads to the same
// config, so nothing was accepted that the decoder read differently from the checks.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/syntax/*.yaml")
	samples, _ := filepath.Glob("../../samples/configs/*.yaml")
	for _, p := range slices.Concat(seeds, more, samples) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := Parse("fuzz.yaml", text)
		if err != nil {
			var is *fusion.Issues
			if !errors.As(err, &is) || len(is.List) == 0 {
				t.Fatalf("error %T %v is not a list of issues", err, err)
			}
			// YAML breaks lines at \n, \r\n and a lone \r.
			lines := strings.Count(strings.ReplaceAll(string(text), "\r\n", "\n"), "\r") + strings.Count(string(text), "\n") + 1
			for _, it := range is.List {
				if it.Pos.Line < 1 || it.Pos.Line > lines || it.Pos.Column < 1 {
					t.Fatalf("issue %q at %d:%d, outside the %d lines of %q", it.Message, it.Pos.Line, it.Pos.Column, lines, text)
				}
			}
			return
		}
		if c.Policy == nil {
			t.Fatalf("config of %q without a policy", text)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %+v: %v", c, err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("%q loads, but not as printed:\n%s\n%v", text, out, err)
		}
		c.Policy, again.Policy = nil, nil
		for _, x := range []*Config{&c, &again} { // empty and nil print alike ({} and [])
			if len(x.Environment) == 0 {
				x.Environment = nil
			}
			if len(x.Constraints) == 0 {
				x.Constraints = nil
			}
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", text, c, again)
		}
	})
}

// TestCanaryMustReachItsSamples: the shipped web shop config had a 45 s window at 10 % of 10
// requests/s with min_samples 60 and on_inconclusive pause, so every step ended inconclusive
// (about 45 samples) and paused. It catches a check that ignores the load, the weight or the
// extensions an extend policy allows.
func TestCanaryMustReachItsSamples(t *testing.T) {
	base := "name: webshop\nsample: webshop\nload: {rate: 10}\ncanary:\n  weights: [0.1, 0.5]\n  min_samples: 60\n"
	for _, c := range []struct {
		canary string
		ok     bool
	}{
		{"  window: 45s\n  on_inconclusive: pause\n", false},
		{"  window: 45s\n  on_inconclusive: extend\n  max_extensions: 0\n", false},
		{"  window: 45s\n  on_inconclusive: extend\n  max_extensions: 1\n", true}, // 90 samples over two windows
		{"  window: 2m\n  on_inconclusive: pause\n", true},
	} {
		_, err := Parse("c.yaml", []byte(base+c.canary))
		if c.ok && err != nil {
			t.Errorf("%q: %v, want ok", c.canary, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "every step would end inconclusive")) {
			t.Errorf("%q: %v, want the samples problem", c.canary, err)
		}
	}
}
