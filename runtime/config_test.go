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
