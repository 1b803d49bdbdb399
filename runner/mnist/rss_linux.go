package mnist

import (
	"bytes"
	"os"
	"strconv"
)

var pageSize = uint64(os.Getpagesize())

// currentRSS is the process's resident set now: the second field of
// /proc/self/statm, in pages.
func currentRSS() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * pageSize, true
}
