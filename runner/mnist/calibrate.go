package mnist

import (
	"maps"
	"sync"
	"time"

	"gonum.org/v1/gonum/blas"
)

// The peak a trial's achieved matrix-product rate is read against: a
// short gemm benchmark on this process's BLAS, once per process, per
// precision. It multiplies square matrices of calibrationSize (large
// enough for the BLAS to reach its speed, small enough to stay in cache
// as the MLP's products do) for about calibrationTime each and keeps the
// best call, so a moment of contention on a shared machine lowers it
// less. It runs with the BLAS's thread setting, one thread unless
// OPENBLAS_NUM_THREADS says otherwise, as the trials' products do.
const (
	calibrationSize = 256
	calibrationTime = 80 * time.Millisecond
)

var (
	peakOnce sync.Once
	peak     map[string]float64
)

// PeakFLOPS is the matrix-product rate, FLOP/s per precision ("float32",
// "float64"), measured on the BLAS trials use; the first call measures
// (about 0.2 s), later ones return the same figures.
func PeakFLOPS() map[string]float64 {
	selectBLAS()
	peakOnce.Do(func() {
		peak = map[string]float64{
			"float32": calibrate(func(a, b, c []float32, n int) {
				rawBLAS.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, b, n, 0, c, n)
			}),
			"float64": calibrate(func(a, b, c []float64, n int) {
				rawBLAS.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, b, n, 0, c, n)
			}),
		}
	})
	return maps.Clone(peak)
}

// PeakFLOPS is the package's PeakFLOPS: the runner reports it with its
// CPU device.
func (w *Workload) PeakFLOPS() map[string]float64 { return PeakFLOPS() }

func calibrate[T float32 | float64](gemm func(a, b, c []T, n int)) float64 {
	n := calibrationSize
	a, b, c := make([]T, n*n), make([]T, n*n), make([]T, n*n)
	for i := range a {
		a[i] = T(i%7) / 7
		b[i] = T(i%5) / 5
	}
	gemm(a, b, c, n) // warm up: the BLAS's buffers, the caches
	best := time.Duration(1<<63 - 1)
	for start := time.Now(); time.Since(start) < calibrationTime; {
		t := time.Now()
		gemm(a, b, c, n)
		best = min(best, time.Since(t))
	}
	if best <= 0 {
		return 0
	}
	return 2 * float64(n) * float64(n) * float64(n) / best.Seconds()
}
