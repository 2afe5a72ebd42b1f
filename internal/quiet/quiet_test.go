package quiet

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The tests run the other side of a turn in a child process (this test binary again, with
// quietChild naming what it does), as the packages of `go test ./...` are processes.
const quietChild = "QUIET_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(quietChild) {
	case "":
		os.Exit(m.Run())
	case "share":
		// Take a shared turn, say so, and hold it until stdin closes.
		if err := Share(); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("shared\n")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

// child starts the test binary as a child doing what, with the lock files in dir; it
// returns the child's stdin (closing it ends the child's turn) and its lines, and ends the
// child when owner ends.
func child(t, owner *testing.T, what, dir string) (io.WriteCloser, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), quietChild+"="+what, "TMPDIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	owner.Cleanup(func() {
		cmd.Process.Kill() // it may be waiting for a turn
		cmd.Wait()
	})
	lines := make(chan string, 4)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	return stdin, lines
}

func await(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case l := <-lines:
		if l != want {
			t.Fatalf("child said %q, want %q", l, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not say %q in 30 s", want)
	}
}

// An Alone test waits for the package that holds a shared turn to end it.
func TestAloneWaitsForSharers(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	stdin, lines := child(t, t, "share", dir)
	await(t, lines, "shared")
	const hold = 300 * time.Millisecond
	released := time.Now().Add(hold)
	time.AfterFunc(hold, func() { stdin.Close() })
	t.Run("alone", func(t *testing.T) {
		Alone(t)
		if now := time.Now(); now.Before(released) {
			t.Errorf("alone %v before the other package's turn ended", released.Sub(now))
		}
	})
}

// A package that starts while a test is alone waits for it to end.
func TestShareWaitsWhileAlone(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	var lines <-chan string
	outer := t
	t.Run("alone", func(t *testing.T) {
		Alone(t)
		_, lines = child(t, outer, "share", dir) // outlives the subtest
		select {
		case l := <-lines:
			t.Errorf("child said %q while a test was alone", l)
		case <-time.After(500 * time.Millisecond):
		}
	})
	await(t, lines, "shared")
}

// This process's own shared turn (its package's TestMain) does not keep its Alone test
// waiting, and is shared again afterwards: a child can share while this process does.
func TestAloneInASharingPackage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if err := Share(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		shared.Close()
		shared = nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.Run("alone", func(t *testing.T) { Alone(t) })
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Alone waited on its own process's shared turn")
	}
	_, lines := child(t, t, "share", dir)
	await(t, lines, "shared")
}
