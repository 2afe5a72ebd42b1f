//go:build !unix

package devserver

// lockDataDir does nothing where flock(2) is missing: there, running two dev
// servers on one data directory is the user's mistake to avoid.
func lockDataDir(string) (unlock func(), err error) {
	return func() {}, nil
}
