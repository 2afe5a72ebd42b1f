package runtime

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fusion"
)

func TestConfigEnvRoundTrip(t *testing.T) {
	// 200 groups of long task names: far beyond Lambda's 4 KB of environment as plain text.
	var groups []string
	var tasks []string
	for i := range 200 {
		root := fmt.Sprintf("task_with_a_long_name_%03d", i)
		tasks = append(tasks, root)
		groups = append(groups, root+"@256")
	}
	big := fusion.MustParseSetup(strings.Join(groups, ","))
	for _, c := range []Config{
		{App: "iot", Setup: fusion.MustParseSetup("I+CW+SE@256,CT@1024"), Group: "CT"},
		{App: "iot", Setup: fusion.MustParseSetup("I@256,CT@1024"), Group: "I", FunctionPattern: "{app}-{root}", Functions: map[string]string{"I": "iot-entry:7"}},
		{App: "big", Setup: big, Group: tasks[7]},
	} {
		env := c.Env()
		size := 0
		for k, v := range env {
			size += len(k) + len(v)
		}
		if size > 4096 {
			t.Errorf("setup of %d groups takes %d bytes of environment, over Lambda's 4 KB", len(c.Setup.Groups), size)
		}
		got, err := ConfigFromEnv(func(k string) string { return env[k] }, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.App != c.App || got.Group != c.Group || !got.Setup.Equal(c.Setup) || got.FunctionPattern != c.FunctionPattern || fmt.Sprint(got.Functions) != fmt.Sprint(c.Functions) {
			t.Errorf("round trip: got %+v, want %+v", got, c)
		}
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "no setup"},
		{map[string]string{EnvSetup: "A@12"}, "outside Lambda's"},
		{map[string]string{EnvSetup: "A@128"}, "no group"},
		{map[string]string{EnvSetup: "z1:!!", EnvGroup: "A"}, "compressed value"},
		{map[string]string{EnvSetup: "A@128", EnvGroup: "A", EnvFunctions: "A"}, "is not root=function"},
		{map[string]string{EnvSetupFile: "/nonexistent/setup", EnvGroup: "A"}, "read FUSIONIZE_SETUP_FILE"},
		// Two names for one root: which one calls went to depended on the order written.
		{map[string]string{EnvSetup: "A@128", EnvGroup: "A", EnvFunctions: "A=f1,A=f2"}, `names two functions for "A"`},
		{map[string]string{EnvSetup: "z1:" + CompactEnv(strings.Repeat("A", maxExpanded+1))[3:], EnvGroup: "A"}, "expands past"},
	}
	for _, tt := range tests {
		_, err := ConfigFromEnv(func(k string) string { return tt.env[k] }, "app")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: got %v, want an error containing %q", tt.env, err, tt.want)
		}
	}
}

func TestFunctionNames(t *testing.T) {
	c := Config{App: "iot", Setup: fusion.MustParseSetup("I@256,CT@1024"), Functions: map[string]string{"I": "iot-entry:live"}}
	if got := c.FunctionName("CT"); got != "iot-"+c.Setup.ID()+"-CT" {
		t.Errorf("CT → %s", got)
	}
	if got := c.FunctionName("I"); got != "iot-entry:live" {
		t.Errorf("I → %s", got)
	}
}

// FuzzExpandEnv: CompactEnv and ExpandEnv undo each other for any text up to the limit, and
// no value expands past maxExpanded; before, a "z1:" value inflating past 1 MB was cut
// there silently, so a function ran with a truncated setup or spec.
func FuzzExpandEnv(f *testing.F) {
	f.Add("I+CW+SE@256,CT@1024", "")
	f.Add(strings.Repeat("task_with_a_long_name@256,", 60), "")
	f.Add("", "z1:"+CompactEnv(strings.Repeat("A", 2000))[3:])
	f.Add("", "z1:!!!")
	f.Fuzz(func(t *testing.T, text, value string) {
		if len(text) <= maxExpanded {
			got, err := ExpandEnv(CompactEnv(text))
			if err != nil || got != text {
				t.Fatalf("ExpandEnv(CompactEnv(%q)) = %q, %v", text, got, err)
			}
		}
		got, err := ExpandEnv(value)
		if err == nil && len(got) > maxExpanded {
			t.Fatalf("ExpandEnv(%q) gave %d bytes, more than %d", value, len(got), maxExpanded)
		}
	})
}

// TestExpandEnvRefusesOversize: a value inflating past the limit is an error, not cut.
func TestExpandEnvRefusesOversize(t *testing.T) {
	v := CompactEnv(strings.Repeat("A", maxExpanded+1))
	if got, err := ExpandEnv(v); err == nil {
		t.Fatalf("ExpandEnv of %d bytes gave %d bytes and no error", maxExpanded+1, len(got))
	}
}

// FuzzConfigFromEnv: whatever FUSIONIZE_SETUP, FUSIONIZE_GROUP and FUSIONIZE_FUNCTIONS hold,
// reading them does not panic, and a configuration read gives the same configuration back
// through Env (what the deployer sets). FUSIONIZE_FUNCTIONS naming a root twice is refused.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("I+CW+SE@256,CT@1024", "CT", "", "")
	f.Add("I@256,CT@1024", "I", "{app}-{root}", "I=iot-entry:7, CT=iot-ct")
	f.Add("I@256", "I", "", "I=a,I=b")
	f.Add("z1:"+CompactEnv(strings.Repeat("T@128,", 300))[3:], "T", "", "=x,")
	f.Fuzz(func(t *testing.T, setup, group, pattern, functions string) {
		env := map[string]string{EnvSetup: setup, EnvGroup: group, EnvFunctionPattern: pattern, EnvFunctions: functions}
		c, err := ConfigFromEnv(func(k string) string { return env[k] }, "app")
		if err != nil {
			return
		}
		back := c.Env()
		again, err := ConfigFromEnv(func(k string) string { return back[k] }, "other")
		if err != nil {
			t.Fatalf("config %+v read from %q, but not from its own Env %q: %v", c, env, back, err)
		}
		if again.App != c.App || !again.Setup.Equal(c.Setup) || again.Group != c.Group ||
			again.FunctionPattern != c.FunctionPattern || fmt.Sprint(again.Functions) != fmt.Sprint(c.Functions) {
			t.Fatalf("round trip %q:\n%+v\n%+v", env, c, again)
		}
	})
}
