package fusion_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion/fusiontest"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/apps"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	fusiontest.Golden(t, filepath.Join("testdata", name), got)
}

func TestParseSetup(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"I+CW+SE@256,CT@1024,CS+CSL+CSA@128", "CS+CSA+CSL@128,CT@1024,I+CW+SE@256"},
		{" A @128 , B+ C@256", "A@128,B+C@256"},
		{"a_1-x@10240", "a_1-x@10240"},
	}
	for _, tt := range tests {
		s, err := fusion.ParseSetup(tt.text)
		if err != nil {
			t.Errorf("ParseSetup(%q): %v", tt.text, err)
			continue
		}
		if got := s.String(); got != tt.want {
			t.Errorf("ParseSetup(%q).String() = %q, want %q", tt.text, got, tt.want)
		}
		if id := s.ID(); len(id) != fusion.IDLength || id != fusion.MustParseSetup(tt.want).ID() {
			t.Errorf("ParseSetup(%q).ID() = %q, not stable", tt.text, id)
		}
	}
}

// TestParseSetupErrors renders the errors of bad setup texts (one per line of
// testdata/setup_errors.txt) against testdata/setup_errors.golden.
func TestParseSetupErrors(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "setup_errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, text := range strings.Split(strings.TrimRight(string(in), "\n"), "\n") {
		_, err := fusion.ParseSetup(text)
		if err == nil {
			t.Errorf("ParseSetup(%q) succeeded, want an error", text)
			continue
		}
		if _, ok := err.(*fusion.Issues); !ok {
			t.Errorf("ParseSetup(%q) error is %T, want *fusion.Issues", text, err)
		}
		b.WriteString("== " + text + "\n" + err.Error() + "\n")
	}
	golden(t, "setup_errors.golden", b.String())
}

// TestParseSetupForErrors renders the errors of setups that parse but do not fit the IoT app
// (one per line of testdata/setup_iot_errors.txt; the second is valid) against
// testdata/setup_iot_errors.golden: each problem at the group or task it names, so a
// ParseSetupFor that placed them all at column 1 (as Validate's plain errors were) differs.
func TestParseSetupForErrors(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "setup_iot_errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, text := range strings.Split(strings.TrimRight(string(in), "\n"), "\n") {
		s, err := fusion.ParseSetupFor(text, apps.IoTGraph())
		b.WriteString("== " + text + "\n")
		if err != nil {
			b.WriteString(err.Error() + "\n")
			continue
		}
		b.WriteString("ok " + s.String() + "\n")
	}
	golden(t, "setup_iot_errors.golden", b.String())
}

func FuzzParseSetup(f *testing.F) {
	for _, s := range []string{"I+CW+SE@256,CT@1024,CS+CSL+CSA@128", "A@128", "A@", "+@,", "A+A@128", " B @ 3008 ,A@128", "ä@128"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := fusion.ParseSetup(text)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseSetup(%q): empty error", text)
			}
			return
		}
		again, err := fusion.ParseSetup(s.String())
		if err != nil {
			t.Fatalf("ParseSetup(%q) = %q, which does not parse: %v", text, s, err)
		}
		if again.String() != s.String() || again.ID() != s.ID() {
			t.Fatalf("round trip %q → %q → %q", text, s, again)
		}
	})
}

// TestSetupJSON catches a Setup that crosses JSON as anything but its canonical text (a
// MarshalText that is not String), an UnmarshalJSON that no longer reads the object form of
// recorded histories, one that turns "" or null into something deployable, and one that
// swallows a text that does not parse.
func TestSetupJSON(t *testing.T) {
	type wrap struct {
		Setup fusion.Setup `json:"setup"`
	}
	s := fusion.MustParseSetup("C@128, A+B@256")
	b, err := json.Marshal(wrap{s})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"setup":"A+B@256,C@128"}`; string(b) != want {
		t.Errorf("marshal: %s, want %s", b, want)
	}
	for _, in := range []string{string(b), `{"setup":{"groups":[{"root":"C","memoryMB":128},{"root":"A","inlined":["B"],"memoryMB":256}]}}`} {
		var w wrap
		if err := json.Unmarshal([]byte(in), &w); err != nil {
			t.Fatalf("unmarshal %s: %v", in, err)
		}
		if !w.Setup.Equal(s) || w.Setup.ID() != s.ID() {
			t.Errorf("unmarshal %s: %v, want %v", in, w.Setup, s)
		}
	}
	for _, in := range []string{`{"setup":""}`, `{"setup":null}`, `{}`} {
		var w wrap
		if err := json.Unmarshal([]byte(in), &w); err != nil || !w.Setup.IsZero() {
			t.Errorf("unmarshal %s: %v %v, want the zero setup", in, w.Setup, err)
		}
	}
	var w wrap
	err = json.Unmarshal([]byte(`{"setup":"A@128,B@"}`), &w)
	if err == nil || !strings.Contains(err.Error(), "setup:1:9: expected memory") {
		t.Errorf("unmarshal a bad text: %v, want a positioned error", err)
	}
}
