package mnist

import (
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// gemmNanos is the time this process spent in matrix products (gemm), in
// nanoseconds summed over the threads that called them; gemmTiming turns
// the count off (the profiling-overhead benchmark's "off" side). Timing a
// gemm call costs two clock readings against the microseconds to
// milliseconds the MLP's products take.
var (
	gemmNanos  atomic.Int64
	gemmTiming atomic.Bool
)

func init() { gemmTiming.Store(true) }

// timedBLAS is the BLAS gorgonia uses: the selected one, with its gemm
// calls counted in gemmNanos.
type timedBLAS struct{ G.BLAS }

func (b timedBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int,
	bm []float32, ldb int, beta float32, c []float32, ldc int) {
	if !gemmTiming.Load() {
		b.BLAS.Sgemm(tA, tB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
		return
	}
	start := time.Now()
	b.BLAS.Sgemm(tA, tB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
	gemmNanos.Add(int64(time.Since(start)))
}

func (b timedBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int,
	bm []float64, ldb int, beta float64, c []float64, ldc int) {
	if !gemmTiming.Load() {
		b.BLAS.Dgemm(tA, tB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
		return
	}
	start := time.Now()
	b.BLAS.Dgemm(tA, tB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
	gemmNanos.Add(int64(time.Since(start)))
}
