package devserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	uiassets "github.com/temporalio/ui-server/v2/ui"
)

// The Web UI keeps the columns of its workflow list per namespace in the browser's local
// storage, under this key, as {"namespace": [{"label": "Status"}, ...]}; a search attribute's
// column is labelled with its name. The UI's default list shows no search attribute.
const uiColumnsKey = "namespace-workflow-table-columns"

// uiAssetsPrefix names the directories under DataDir holding the Web UI's assets with an
// index page that sets Options.UIColumns.
const uiAssetsPrefix = "ui-assets-"

// cspScriptSrc finds the script-src list of the index page's content security policy, which
// allows inline scripts by their hash ('strict-dynamic' lets the allowed ones load the rest).
var cspScriptSrc = regexp.MustCompile(`(<meta http-equiv="content-security-policy" content="script-src )([^"]*">)`)

// uiAssetDir returns a directory under DataDir holding the Web UI's assets whose index page
// sets UIColumns as the list's columns for Namespace unless the browser already has columns
// for it (a person's own choice stays). It writes the directory once per UI build and column
// list and removes the ones an earlier version wrote.
func (s *Server) uiAssetDir() (string, error) {
	embedded, err := uiassets.Assets()
	if err != nil {
		return "", err
	}
	local, err := fs.Sub(embedded, "local")
	if err != nil {
		return "", err
	}
	index, err := fs.ReadFile(local, "index.html")
	if err != nil {
		return "", err
	}
	patched, err := withDefaultColumns(index, s.opts.Namespace, s.opts.UIColumns)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(patched)
	name := uiAssetsPrefix + hex.EncodeToString(sum[:6])
	dir := filepath.Join(s.opts.DataDir, name)
	if have, err := os.ReadFile(filepath.Join(dir, "index.html")); err == nil && bytes.Equal(have, patched) {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(s.opts.DataDir, ".ui-assets-")
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(tmp, local); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("copy the Web UI's assets: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "index.html"), patched, 0o644); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	os.RemoveAll(dir) // a partial copy from an interrupted start
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(s.opts.DataDir, uiAssetsPrefix+"*"))
	for _, o := range old {
		if filepath.Base(o) != name {
			os.RemoveAll(o)
		}
	}
	return dir, nil
}

// withDefaultColumns returns the UI's index page with an inline script that stores columns
// for namespace in the browser when it has none for it, and that script's hash added to the
// page's content security policy.
func withDefaultColumns(index []byte, namespace string, columns []string) ([]byte, error) {
	type column struct {
		Label string `json:"label"`
	}
	cols := make([]column, len(columns))
	for i, c := range columns {
		cols[i] = column{c}
	}
	ns, err := json.Marshal(namespace) // json escapes <, > and &: nothing can end the script
	if err != nil {
		return nil, err
	}
	list, err := json.Marshal(cols)
	if err != nil {
		return nil, err
	}
	script := fmt.Sprintf(`try{var k=%q,s=JSON.parse(localStorage.getItem(k)||"{}");if(!s[%s]){s[%s]=%s;localStorage.setItem(k,JSON.stringify(s))}}catch(e){}`,
		uiColumnsKey, ns, ns, list)
	m := cspScriptSrc.FindSubmatchIndex(index)
	if m == nil {
		return nil, errors.New("the Web UI's index page has no script-src policy where expected")
	}
	sum := sha256.Sum256([]byte(script))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "' "
	var b strings.Builder
	b.Write(index[:m[3]])                                  // up to and with "script-src "
	b.WriteString(hash)                                    // our script's hash
	b.Write(index[m[4]:m[5]])                              // the rest of the policy and the tag's end
	b.WriteString("\n    <script>" + script + "</script>") // before the app's modules load
	b.Write(index[m[5]:])
	return []byte(b.String()), nil
}
