// Package fusiontest holds test helpers shared by Fusionize's packages, the way net/http has
// httptest: golden files for parsers and error messages.
package fusiontest

import (
	"flag"
	"os"
	"testing"
)

// Update rewrites golden files instead of comparing them: go test ./... -update.
var Update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Golden compares got with the file at path, or rewrites the file with -update.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *Update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
