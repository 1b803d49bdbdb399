package gpu

// elem is what a buffer holds.
type elem int

const (
	elemReal  elem = iota // the trial's precision: float32 or float64
	elemInt32             // labels of a batch, the epoch's order
	elemByte              // the dataset's pixels and labels
	elemAcc               // an accumulator: loss sum, hit count, first bad step
)

// accum is an accumulator's value (acc[0..2] in mlp.cu's softmax_xent).
type accum struct {
	Loss     float64
	Hits     int64
	FirstBad uint64 // math.MaxUint64 while every loss was finite
}

// hyper is one optimizer step's settings; C1 and C2 are Adam's bias
// corrections for this step.
type hyper struct {
	Kind                     int // index in optimizers
	Eta, Momentum, Decay     float64
	C1, C2, Beta1, Beta2, Ep float64
}

// Memory is what a backend knows about device memory.
type Memory struct {
	// Allocated and PeakAllocated count the trainer's own buffers.
	Allocated, PeakAllocated int64
	// DeviceUsed is the whole device's memory in use (total − free, all
	// processes and cuBLAS's workspace included) at the largest sample;
	// 0 where unknown.
	DeviceUsed int64
}

// backend is what the trainer needs from a device: buffers and the
// kernels of kernels/mlp.cu, one method each, plus gemm. Buffers are B
// values; sub views part of one. The reference backend implements it on
// the CPU, the CUDA backend on a GPU. Row-major throughout.
type backend[B any] interface {
	// alloc returns n zeroed elements.
	alloc(e elem, n int) (B, error)
	sub(b B, off, n int) B
	// upload copies src ([]float32 or []float64 for elemReal, []int32,
	// []byte) into dst; download copies src into dst ([]float32,
	// []float64 or *accum).
	upload(dst B, src any) error
	download(dst any, src B) error
	// resetAcc zeroes an accumulator (FirstBad to its maximum).
	resetAcc(acc B) error
	// gemm sets c (m×n) = alpha·op(a)·op(b) + beta·c.
	gemm(tA, tB bool, m, n, k int, alpha float64, a B, lda int, b B, ldb int, beta float64, c B, ldc int) error
	gather(x, y, pixels, labels, idx B, useIdx bool, start, rows, features int) error
	biasAct(z, b B, rows, cols, act int) error
	actGrad(d, a B, n, act int) error
	softmaxXent(z, b, dz B, grad bool, y B, rows, classes int, scale float64, acc B, step int) error
	update(w, g, s1, s2 B, n, nWeights int, h hyper) error
	// launches counts kernel launches and gemm calls so far.
	launches() int64
	memory() Memory
}
