package gpu

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// EnvCuBLASLib names a cuBLAS shared library to try before the usual
// names.
const EnvCuBLASLib = "TUNE_CUBLAS_LIB"

// cublasNames are tried in order after $TUNE_CUBLAS_LIB: the newest CUDA
// first, so one binary uses whatever cuBLAS the GPU machine has rather
// than the version the build machine had; by name (the loader's search
// path), then in /usr/local/cuda/lib64, where NVIDIA's installer puts it
// without always adding it to the search path.
var cublasNames = []string{
	"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so",
	"/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.12",
	"/usr/local/cuda/lib64/libcublas.so.11", "/usr/local/cuda/lib64/libcublas.so",
}

// cublasCandidates is the search order given $TUNE_CUBLAS_LIB's value.
func cublasCandidates(override string) []string {
	if override == "" {
		return cublasNames
	}
	return append([]string{override}, cublasNames...)
}

// cuBLASMissing says no candidate loaded, and why for each.
type cuBLASMissing struct{ tried []string }

func (e *cuBLASMissing) Error() string {
	return fmt.Sprintf("cuBLAS not found: tried %s; install cuBLAS (e.g. the CUDA toolkit's libcublas) or set %s to its path",
		strings.Join(e.tried, ", "), EnvCuBLASLib)
}

var cublasLoad = sync.OnceValues(func() (string, error) {
	return dlopenCuBLAS(cublasCandidates(os.Getenv(EnvCuBLASLib)))
})

// LoadCuBLAS loads cuBLAS once per process and says which library.
func LoadCuBLAS() (string, error) { return cublasLoad() }

// cublasStatusName is cublasStatus_t's name, for libraries without
// cublasGetStatusString.
func cublasStatusName(s int) string {
	names := map[int]string{
		0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
		7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
		13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
		16: "CUBLAS_STATUS_LICENSE_ERROR",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return "unknown cuBLAS status"
}
