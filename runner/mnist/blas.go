package mnist

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// EnvBLAS names the environment variable that picks the BLAS: "gonum"
// (or "go") forces gonum's pure-Go BLAS; anything else, or unset, uses
// OpenBLAS where it can be loaded. EnvOpenBLASLib may name the OpenBLAS
// shared library to load (default: the usual names on Linux and macOS).
const (
	EnvBLAS        = "TUNE_BLAS"
	EnvOpenBLASLib = "TUNE_OPENBLAS_LIB"
)

var (
	blasOnce sync.Once
	blasName = "gonum (pure Go)"
	// rawBLAS is the selected BLAS without the timing of timedBLAS, for
	// the calibration.
	rawBLAS G.BLAS
)

// selectBLAS makes gorgonia use OpenBLAS's gemm when the binary was built
// with cgo and the library loads, once per process. Unless
// OPENBLAS_NUM_THREADS says otherwise, OpenBLAS then runs each call on one
// thread.
func selectBLAS() {
	blasOnce.Do(func() {
		rawBLAS = gonum.Implementation{}
		defer func() { G.Use(timedBLAS{rawBLAS}) }()
		switch strings.ToLower(os.Getenv(EnvBLAS)) {
		case "gonum", "go", "purego", "pure-go":
			return
		}
		if impl, name, ok := openBLAS(); ok {
			rawBLAS = impl
			blasName = "openblas (" + name + ")"
			if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
				// One thread per call: parallelism comes from the
				// trial's workers. OpenBLAS's own threads spin while they
				// wait, and with several workers calling at once they
				// oversubscribe the cores (measured here on 2 cores:
				// workers=2 5× slower than workers=1); even alone they
				// gained nothing on these matrix sizes.
				setBLASThreads(1)
			}
			if n := setBLASThreads(0); n > 0 {
				blasName += fmt.Sprintf(", %d thread(s)", n)
			}
		}
	})
}

// BLAS says which BLAS gorgonia multiplies matrices with in this process,
// e.g. "openblas (libopenblas.so.0), 1 thread(s)" or "gonum (pure Go)". It
// selects one first if New has not run yet.
func BLAS() string {
	selectBLAS()
	return blasName
}
