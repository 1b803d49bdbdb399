//go:build cgo && !tune_purego

package mnist

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef void (*tune_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
	const float *, int, float, float *, int);
typedef void (*tune_dgemm_fn)(int, int, int, int, int, int, double, const double *, int,
	const double *, int, double, double *, int);

typedef void (*tune_set_threads_fn)(int);
typedef int (*tune_get_threads_fn)(void);

static tune_sgemm_fn tune_sgemm;
static tune_dgemm_fn tune_dgemm;
static tune_set_threads_fn tune_set_threads;
static tune_get_threads_fn tune_get_threads;

// tune_blas_open loads name and finds its CBLAS gemm; 1 on success.
static int tune_blas_open(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return 0;
	}
	tune_sgemm = (tune_sgemm_fn)dlsym(h, "cblas_sgemm");
	tune_dgemm = (tune_dgemm_fn)dlsym(h, "cblas_dgemm");
	if (tune_sgemm == NULL || tune_dgemm == NULL) {
		tune_sgemm = NULL;
		tune_dgemm = NULL;
		dlclose(h);
		return 0;
	}
	tune_set_threads = (tune_set_threads_fn)dlsym(h, "openblas_set_num_threads");
	tune_get_threads = (tune_get_threads_fn)dlsym(h, "openblas_get_num_threads");
	return 1;
}

// tune_blas_threads sets OpenBLAS's thread count when n > 0 and returns
// the count before, or -1 when the library cannot tell.
static int tune_blas_threads(int n) {
	if (tune_get_threads == NULL || tune_set_threads == NULL) {
		return -1;
	}
	int before = tune_get_threads();
	if (n > 0) {
		tune_set_threads(n);
	}
	return before;
}

static void tune_blas_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	const float *b, int ldb, float beta, float *c, int ldc) {
	tune_sgemm(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); // 101: CblasRowMajor
}

static void tune_blas_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
	const double *b, int ldb, double beta, double *c, int ldc) {
	tune_dgemm(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
*/
import "C"

import (
	"os"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// openBLASNames are tried in order after $TUNE_OPENBLAS_LIB.
var openBLASNames = []string{
	"libopenblas.so.0", "libopenblas.so",
	"libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
	"/usr/local/opt/openblas/lib/libopenblas.dylib",
}

// openBLAS loads OpenBLAS at run time (dlopen), so the binary builds and
// runs where it is not installed. Only gemm, where an MLP spends its
// time, goes to OpenBLAS; every other routine stays gonum's.
func openBLAS() (G.BLAS, string, bool) {
	names := openBLASNames
	if p := os.Getenv(EnvOpenBLASLib); p != "" {
		names = append([]string{p}, names...)
	}
	for _, name := range names {
		cs := C.CString(name)
		ok := C.tune_blas_open(cs) == 1
		C.free(unsafe.Pointer(cs))
		if ok {
			return cblas{}, name, true
		}
	}
	return nil, "", false
}

// setBLASThreads sets OpenBLAS's thread count (n > 0) and returns the
// previous one, or -1 where it cannot.
func setBLASThreads(n int) int { return int(C.tune_blas_threads(C.int(n))) }

// cblas is gonum's BLAS with gemm replaced by OpenBLAS's.
type cblas struct{ gonum.Implementation }

func cblasTrans(t blas.Transpose) C.int {
	if t == blas.NoTrans {
		return 111 // CblasNoTrans
	}
	return 112 // CblasTrans
}

// gemmOK says whether the arguments are ones OpenBLAS can take safely;
// anything else (empty or inconsistent) goes to gonum, which handles
// degenerate sizes and panics with a useful message on bad ones.
func gemmOK(tA, tB blas.Transpose, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) bool {
	if m <= 0 || n <= 0 || k <= 0 {
		return false
	}
	if tA != blas.NoTrans && tA != blas.Trans || tB != blas.NoTrans && tB != blas.Trans {
		return false
	}
	rowsA, colsA := m, k
	if tA == blas.Trans {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if tB == blas.Trans {
		rowsB, colsB = n, k
	}
	return lda >= max(1, colsA) && ldb >= max(1, colsB) && ldc >= max(1, n) &&
		lenA >= lda*(rowsA-1)+colsA && lenB >= ldb*(rowsB-1)+colsB && lenC >= ldc*(m-1)+n
}

func (b cblas) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int,
	bm []float32, ldb int, beta float32, c []float32, ldc int) {
	if !gemmOK(tA, tB, m, n, k, len(a), lda, len(bm), ldb, len(c), ldc) {
		b.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
		return
	}
	C.tune_blas_sgemm(cblasTrans(tA), cblasTrans(tB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&bm[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func (b cblas) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int,
	bm []float64, ldb int, beta float64, c []float64, ldc int) {
	if !gemmOK(tA, tB, m, n, k, len(a), lda, len(bm), ldb, len(c), ldc) {
		b.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
		return
	}
	C.tune_blas_dgemm(cblasTrans(tA), cblasTrans(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&bm[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}
