//go:build !unix

package mnist

func maxRSS() (uint64, bool) { return 0, false }
