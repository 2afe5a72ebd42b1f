//go:build unix

package quiet

import (
	"fmt"
	"os"
	"syscall"
)

type mode int

const (
	sharedLock mode = syscall.LOCK_SH
	exclusive  mode = syscall.LOCK_EX
)

// lock takes (or converts to) the lock of mode on f, waiting for it.
func lock(f *os.File, m mode) error {
	for {
		err := syscall.Flock(int(f.Fd()), int(m))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("quiet: lock %s: %w", f.Name(), err)
		}
		return nil
	}
}
