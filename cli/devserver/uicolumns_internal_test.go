package devserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	uiassets "github.com/temporalio/ui-server/v2/ui"
)

func embeddedIndex(t *testing.T) []byte {
	t.Helper()
	a, err := uiassets.Assets()
	if err != nil {
		t.Fatal(err)
	}
	index, err := fs.ReadFile(a, "local/index.html")
	if err != nil {
		t.Fatal(err)
	}
	return index
}

var inlineScript = regexp.MustCompile(`\n    <script>([^<]*)</script>`)

// The page runs the script only when the policy lists the hash of exactly that script's text
// (a browser blocks it otherwise and the list keeps the UI's columns), and the page is
// otherwise the UI's own.
func TestDefaultColumnsPage(t *testing.T) {
	index := embeddedIndex(t)
	page, err := withDefaultColumns(index, "default", []string{"Status", "FusionizeSetup"})
	if err != nil {
		t.Fatal(err)
	}
	m := inlineScript.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no inline script in the page:\n%.2000s", page)
	}
	script := m[1]
	sum := sha256.Sum256(script)
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	csp := cspScriptSrc.FindSubmatch(page)
	if csp == nil || !strings.HasPrefix(string(csp[2]), hash+" ") {
		t.Fatalf("the policy does not allow the script by its hash %s: %q", hash, csp)
	}
	if !strings.Contains(string(csp[2]), "'strict-dynamic'") {
		t.Errorf("the policy lost the UI's own sources: %s", csp[2])
	}
	restored := strings.Replace(strings.Replace(string(page), string(m[0]), "", 1), hash+" ", "", 1)
	if restored != string(index) {
		t.Errorf("the page differs from the UI's beyond the script and its hash")
	}
	if !strings.Contains(string(script), `[{"label":"Status"},{"label":"FusionizeSetup"}]`) {
		t.Errorf("the script does not hold the columns: %s", script)
	}

	// A namespace cannot end the script or break out of its string.
	page, err = withDefaultColumns(index, `</script><script>alert(1)//"`, []string{"Status"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(page), "</script>") != strings.Count(string(index), "</script>")+1 {
		t.Errorf("a namespace's text ended the script:\n%s", inlineScript.Find(page))
	}

	if _, err := withDefaultColumns([]byte("<html><head></head></html>"), "default", []string{"Status"}); err == nil {
		t.Error("a page without the expected policy: no error")
	}
}

// The script, run by Node against a stand-in for the browser's storage: it sets the columns
// where the browser has none for the namespace, keeps the columns a person chose, and keeps
// other namespaces' columns.
func TestDefaultColumnsScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI installs Node (.ci/run) to run the Web UI's column script; it is missing")
		}
		t.Skip("node is not installed: the script's behaviour is not checked here")
	}
	page, err := withDefaultColumns(embeddedIndex(t), "default", []string{"Status", "FusionizeApp"})
	if err != nil {
		t.Fatal(err)
	}
	script := string(inlineScript.FindSubmatch(page)[1])
	mine := `{"label":"Status"},{"label":"FusionizeApp"}`
	for _, tc := range []struct{ stored, want string }{
		{``, `{"default":[` + mine + `]}`},
		{`{"default":[{"label":"Type"}]}`, `{"default":[{"label":"Type"}]}`},
		{`{"other":[{"label":"Type"}]}`, `{"other":[{"label":"Type"}],"default":[` + mine + `]}`},
		{`not json`, `not json`},
	} {
		prog := `var store={};` +
			`var localStorage={getItem:function(k){return k in store?store[k]:null},setItem:function(k,v){store[k]=String(v)}};`
		if tc.stored != "" {
			stored, _ := json.Marshal(tc.stored)
			prog += `store["` + uiColumnsKey + `"]=` + string(stored) + `;`
		}
		prog += script + `;process.stdout.write(store["` + uiColumnsKey + `"]||"")`
		file := filepath.Join(t.TempDir(), "columns.js")
		if err := os.WriteFile(file, []byte(prog), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(node, file).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v: %s", err, out)
		}
		if string(out) != tc.want {
			t.Errorf("stored %q: after the script %s, want %s", tc.stored, out, tc.want)
		}
	}
}
