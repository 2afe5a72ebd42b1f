//go:build !unix

package runtime

func processCPU() int64 { return 0 }
