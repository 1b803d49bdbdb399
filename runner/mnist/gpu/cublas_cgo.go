//go:build cgo

package gpu

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// cuBLAS's v2 API, declared here so that building needs no CUDA headers:
// handles and streams are pointers, enums ints, status an int.
typedef int (*tune_cublas_create_fn)(void **);
typedef int (*tune_cublas_destroy_fn)(void *);
typedef int (*tune_cublas_set_stream_fn)(void *, void *);
typedef int (*tune_cublas_sgemm_fn)(void *, int, int, int, int, int, const float *, const float *, int,
	const float *, int, const float *, float *, int);
typedef int (*tune_cublas_dgemm_fn)(void *, int, int, int, int, int, const double *, const double *, int,
	const double *, int, const double *, double *, int);
typedef const char *(*tune_cublas_status_fn)(int);

static tune_cublas_create_fn tune_cublas_create;
static tune_cublas_destroy_fn tune_cublas_destroy;
static tune_cublas_set_stream_fn tune_cublas_set_stream;
static tune_cublas_sgemm_fn tune_cublas_sgemm;
static tune_cublas_dgemm_fn tune_cublas_dgemm;
static tune_cublas_status_fn tune_cublas_status;

// tune_cublas_open loads name and resolves the functions tune uses. It
// returns NULL on success, else what failed (dlerror's text or the
// missing symbol's name; static strings or dlerror's buffer).
static const char *tune_cublas_open(const char *name, int *missing) {
	*missing = 0;
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		return e ? e : "dlopen failed";
	}
	static const char *names[] = {"cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2",
		"cublasSgemm_v2", "cublasDgemm_v2"};
	void *fns[5];
	for (int i = 0; i < 5; i++) {
		fns[i] = dlsym(h, names[i]);
		if (fns[i] == NULL) {
			dlclose(h);
			*missing = 1;
			return names[i];
		}
	}
	tune_cublas_create = (tune_cublas_create_fn)fns[0];
	tune_cublas_destroy = (tune_cublas_destroy_fn)fns[1];
	tune_cublas_set_stream = (tune_cublas_set_stream_fn)fns[2];
	tune_cublas_sgemm = (tune_cublas_sgemm_fn)fns[3];
	tune_cublas_dgemm = (tune_cublas_dgemm_fn)fns[4];
	// Since CUDA 11.4; optional.
	tune_cublas_status = (tune_cublas_status_fn)dlsym(h, "cublasGetStatusString");
	return NULL;
}

static int tune_cublas_new(uintptr_t *handle) {
	void *h = NULL;
	int s = tune_cublas_create(&h);
	*handle = (uintptr_t)h;
	return s;
}
static int tune_cublas_free(uintptr_t h) { return tune_cublas_destroy((void *)h); }
static int tune_cublas_stream(uintptr_t h, uintptr_t stream) {
	return tune_cublas_set_stream((void *)h, (void *)stream);
}
static const char *tune_cublas_status_string(int s) {
	return tune_cublas_status ? tune_cublas_status(s) : NULL;
}

// Column-major gemm on device pointers, alpha and beta on the host.
static int tune_cublas_sgemm_dev(uintptr_t h, int ta, int tb, int m, int n, int k, float alpha,
	uintptr_t a, int lda, uintptr_t b, int ldb, float beta, uintptr_t c, int ldc) {
	return tune_cublas_sgemm((void *)h, ta, tb, m, n, k, &alpha, (const float *)a, lda,
		(const float *)b, ldb, &beta, (float *)c, ldc);
}
static int tune_cublas_dgemm_dev(uintptr_t h, int ta, int tb, int m, int n, int k, double alpha,
	uintptr_t a, int lda, uintptr_t b, int ldb, double beta, uintptr_t c, int ldc) {
	return tune_cublas_dgemm((void *)h, ta, tb, m, n, k, &alpha, (const double *)a, lda,
		(const double *)b, ldb, &beta, (double *)c, ldc);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// dlopenCuBLAS loads cuBLAS from the first of names that has every
// function tune needs; the error names each one tried and why it failed.
func dlopenCuBLAS(names []string) (string, error) {
	var tried []string
	for _, name := range names {
		cs := C.CString(name)
		var missing C.int
		msg := C.tune_cublas_open(cs, &missing)
		C.free(unsafe.Pointer(cs))
		if msg == nil {
			return name, nil
		}
		why := C.GoString(msg)
		if missing != 0 {
			why = "loads but has no " + why
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", name, why))
	}
	return "", &cuBLASMissing{tried: tried}
}

// cublasHandle is a cuBLAS context, bound to the CUDA context current
// when it was made.
type cublasHandle uintptr

func newCuBLASHandle() (cublasHandle, error) {
	var h C.uintptr_t
	if s := C.tune_cublas_new(&h); s != 0 {
		return 0, cublasError("cublasCreate", int(s))
	}
	return cublasHandle(h), nil
}

func (h cublasHandle) destroy() error {
	if s := C.tune_cublas_free(C.uintptr_t(h)); s != 0 {
		return cublasError("cublasDestroy", int(s))
	}
	return nil
}

// setStream makes the handle's work go to stream (0: the default stream).
func (h cublasHandle) setStream(stream uintptr) error {
	if s := C.tune_cublas_stream(C.uintptr_t(h), C.uintptr_t(stream)); s != 0 {
		return cublasError("cublasSetStream", int(s))
	}
	return nil
}

// gemm computes the row-major c (m×n) = alpha·op(a)·op(b) + beta·c on
// device pointers. cuBLAS is column-major, and a row-major matrix is its
// transpose in column-major order, so it computes cᵀ = op(b)ᵀ·op(a)ᵀ:
// the operands swap, the sizes m and n swap, the transposes stay.
func (h cublasHandle) gemm(double, tA, tB bool, m, n, k int, alpha float64, a uintptr, lda int, b uintptr, ldb int, beta float64, c uintptr, ldc int) error {
	op := func(t bool) C.int {
		if t {
			return 1 // CUBLAS_OP_T
		}
		return 0 // CUBLAS_OP_N
	}
	var s C.int
	if double {
		s = C.tune_cublas_dgemm_dev(C.uintptr_t(h), op(tB), op(tA), C.int(n), C.int(m), C.int(k), C.double(alpha),
			C.uintptr_t(b), C.int(ldb), C.uintptr_t(a), C.int(lda), C.double(beta), C.uintptr_t(c), C.int(ldc))
	} else {
		s = C.tune_cublas_sgemm_dev(C.uintptr_t(h), op(tB), op(tA), C.int(n), C.int(m), C.int(k), C.float(alpha),
			C.uintptr_t(b), C.int(ldb), C.uintptr_t(a), C.int(lda), C.float(beta), C.uintptr_t(c), C.int(ldc))
	}
	if s != 0 {
		return cublasError("cublasGemm", int(s))
	}
	return nil
}

// cublasError names a failed call and its status, in cuBLAS's words
// where the library has cublasGetStatusString.
func cublasError(call string, status int) error {
	if p := C.tune_cublas_status_string(C.int(status)); p != nil {
		return fmt.Errorf("%s: %s (status %d)", call, C.GoString(p), status)
	}
	return fmt.Errorf("%s: %s (status %d)", call, cublasStatusName(status), status)
}
