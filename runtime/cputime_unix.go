//go:build unix

package runtime

import "syscall"

// processCPU returns the CPU time (user + system) the process has used, in microseconds, or
// 0 when it cannot be read.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000
}
