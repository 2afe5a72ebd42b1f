// Package quiet gives the tests that measure latency live the machine to themselves.
//
// `go test ./...` runs several packages' test binaries at once. Most only share the CPU,
// but a test that checks measured milliseconds against a prediction (the model's live
// accuracy) sees every burst of another package's Temporal server, platform and load in
// its numbers. So the packages whose tests load the machine hold a shared turn while they
// run ([Share], in their TestMain), and a latency-measuring test takes the turn alone
// ([Alone]): it waits for the packages running to finish, and the packages that start
// meanwhile wait for it. The turns are file locks (flock) in the temporary directory, so
// they hold across the test processes on the machine and end with them, however they end.
//
// Only test binaries take turns: compiling and linking the next test binaries still goes on
// beside an [Alone] test.
package quiet

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The two lock files: holding gate exclusively stops new shared turns, so that a test that
// waits to be alone is not overtaken by every package that starts after it; turn is the
// turn itself.
const (
	gateName = "fusionize-tests.gate"
	turnName = "fusionize-tests.turn"
)

var (
	mu     sync.Mutex
	shared *os.File // this process's shared turn, if it holds one
)

// Share takes a shared turn for the rest of the process (a package's TestMain calls it
// before its tests, and before building what they need). It waits while a test is alone.
// It returns an error only when the lock files cannot be used.
func Share() error {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		return nil
	}
	gate, err := open(gateName)
	if err != nil {
		return err
	}
	defer gate.Close()
	if err := lock(gate, exclusive); err != nil {
		return err
	}
	f, err := open(turnName)
	if err != nil {
		return err
	}
	if err := lock(f, sharedLock); err != nil {
		f.Close()
		return err
	}
	shared = f
	return nil
}

// Alone waits until no other package's tests run, and keeps them from starting until t and
// its subtests end. It logs how long it waited.
func Alone(t testing.TB) {
	t.Helper()
	mu.Lock()
	gate, err := open(gateName)
	if err != nil {
		mu.Unlock()
		t.Fatal(err)
	}
	turn := shared
	if turn == nil {
		if turn, err = open(turnName); err != nil {
			gate.Close()
			mu.Unlock()
			t.Fatal(err)
		}
	}
	start := time.Now()
	err = lock(gate, exclusive)
	if err == nil {
		// Converting this process's shared turn to exclusive waits for the other holders.
		err = lock(turn, exclusive)
	}
	if err != nil {
		gate.Close()
		mu.Unlock()
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %v for the other packages' tests to end", waited.Round(time.Second))
	}
	t.Cleanup(func() {
		defer mu.Unlock()
		defer gate.Close()
		if turn == shared {
			if err := lock(turn, sharedLock); err != nil {
				t.Error(err)
			}
			return
		}
		turn.Close()
	})
}

func open(name string) (*os.File, error) {
	path := filepath.Join(os.TempDir(), name)
	// Read-only is enough for flock, and opens a lock file another user created (0644).
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("quiet: open the test lock %s: %w", path, err)
	}
	return f, nil
}

// Main runs a package's tests in a shared turn: its TestMain, for a package whose tests
// load the machine (servers, the platform's instances, load, long simulations).
func Main(m *testing.M) {
	if err := Share(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
