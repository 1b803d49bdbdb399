//go:build !cgo

package gpu

// dlopenCuBLAS cannot load anything without cgo.
func dlopenCuBLAS(names []string) (string, error) {
	tried := make([]string, len(names))
	for i, n := range names {
		tried[i] = n + " (this binary was built without cgo)"
	}
	return "", &cuBLASMissing{tried: tried}
}
