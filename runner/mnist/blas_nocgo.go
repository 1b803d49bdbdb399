//go:build !cgo || tune_purego

package mnist

import G "gorgonia.org/gorgonia"

// openBLAS is unavailable without cgo: gonum's pure-Go BLAS it is.
func openBLAS() (G.BLAS, string, bool) { return nil, "", false }

func setBLASThreads(int) int { return -1 }
