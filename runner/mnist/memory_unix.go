//go:build unix

package mnist

import (
	"runtime"
	"syscall"
)

// maxRSS is the process's peak resident set size, from getrusage.
func maxRSS() (uint64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil || ru.Maxrss <= 0 {
		return 0, false
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return uint64(ru.Maxrss), true // bytes there
	}
	return uint64(ru.Maxrss) * 1024, true // kilobytes on Linux and the BSDs
}
