package fusion_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion/fusiontest"

	"github.com/fusionize/fusionize/fusion"
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
