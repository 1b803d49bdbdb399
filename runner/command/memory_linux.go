package command

import (
	"os"
	"strconv"
	"strings"
)

// memorySupported says whether groupRSS can measure.
const memorySupported = true

// groupRSS sums the resident set sizes of the live processes in process
// group pgid, from /proc/<pid>/stat. Pages shared between the processes
// (a forked data loader's copy-on-write memory) count once per process,
// so it can overstate what the group holds, never understate it.
func groupRSS(pgid int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.Itoa(pgid)
	page := int64(os.Getpagesize())
	var total int64
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		// Fields from the state on: state(0) ppid(1) pgrp(2) … rss(21).
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 || f[2] != want {
			continue
		}
		if pages, err := strconv.ParseInt(f[21], 10, 64); err == nil && pages > 0 {
			total += pages * page
		}
	}
	return total
}
