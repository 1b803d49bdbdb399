//go:build tune_cuda

package gpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/tune-dev/tune/runner/workload"
)

// Result is a GPU trial's outcome: runner/mnist's metrics and the GPU.
type Result struct {
	Metrics map[string]float64
	GPU     string // the device's name, e.g. "NVIDIA H200"
}

// Train runs one trial on CUDA device index: a context of its own, the
// kernels loaded from the embedded PTX, cuBLAS, and everything on the
// device until the trial ends. The calling goroutine is locked to its
// OS thread meanwhile, as the context is current on that thread only.
func Train(ctx context.Context, index int, cfg Config, data *Data, trialNumber int, r workload.Reporter) (res Result, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	be, err := openCUDA(index, cfg.Precision == "float64")
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, be.close()) }()
	res.GPU = be.name
	res.Metrics, err = run[devBuf](ctx, be, cfg, data, trialNumber, r)
	return res, err
}

// devBuf is device memory: a pointer and a length in elements of size
// bytes each.
type devBuf struct {
	ptr  cu.DevicePtr
	n    int
	size int
}

func (b devBuf) bytes() int64 { return int64(b.n) * int64(b.size) }

// cudaBackend runs the trainer on one GPU. All work goes to the default
// stream, in order; only downloads wait for it.
type cudaBackend struct {
	name    string
	double  bool
	suffix  string
	ctx     cu.CUContext
	mod     cu.Module
	fns     map[string]cu.Function
	blas    cublasHandle
	bufs    []cu.DevicePtr
	calls   int64
	alloced int64
	peak    int64
	used    int64
}

var _ backend[devBuf] = (*cudaBackend)(nil)

func openCUDA(index int, double bool) (*cudaBackend, error) {
	lib, err := LoadCuBLAS()
	if err != nil {
		return nil, err
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	if index < 0 || index >= n {
		return nil, fmt.Errorf("cuda:%d: this machine has %d CUDA device(s)", index, n)
	}
	dev, err := cu.GetDevice(index)
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", index, err)
	}
	be := &cudaBackend{double: double, suffix: "_f32", fns: map[string]cu.Function{}}
	if double {
		be.suffix = "_f64"
	}
	if be.name, err = dev.Name(); err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", index, err)
	}
	if be.ctx, err = dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("cuda:%d: creating a context: %w", index, err)
	}
	fail := func(err error) (*cudaBackend, error) { return nil, errors.Join(err, be.close()) }
	if be.mod, err = cu.LoadData(ptx); err != nil {
		return fail(fmt.Errorf("cuda:%d: loading the kernels' PTX: %w", index, err))
	}
	for _, k := range kernelNames {
		if be.fns[k], err = be.mod.Function(k + be.suffix); err != nil {
			return fail(fmt.Errorf("cuda:%d: kernel %s%s: %w", index, k, be.suffix, err))
		}
	}
	if be.blas, err = newCuBLASHandle(); err != nil {
		return fail(fmt.Errorf("cuda:%d with %s: %w", index, lib, err))
	}
	if err := be.blas.setStream(0); err != nil {
		return fail(err)
	}
	be.sampleMemory()
	return be, nil
}

func (be *cudaBackend) close() error {
	var errs []error
	if be.blas != 0 {
		errs = append(errs, be.blas.destroy())
		be.blas = 0
	}
	for _, p := range be.bufs {
		errs = append(errs, cu.MemFree(p))
	}
	be.bufs = nil
	errs = append(errs, be.ctx.Destroy())
	return errors.Join(errs...)
}

func (be *cudaBackend) sampleMemory() {
	if free, total, err := cu.MemInfo(); err == nil {
		be.used = max(be.used, total-free)
	}
}

func (be *cudaBackend) realSize() int {
	if be.double {
		return 8
	}
	return 4
}

func (be *cudaBackend) alloc(e elem, n int) (devBuf, error) {
	size := map[elem]int{elemReal: be.realSize(), elemInt32: 4, elemByte: 1, elemAcc: 24}[e]
	b := devBuf{n: n, size: size}
	bytes := max(b.bytes(), 8)
	p, err := cu.MemAlloc(bytes)
	if err != nil {
		return b, fmt.Errorf("cuda: allocating %d bytes (%d in use by this trial): %w", bytes, be.alloced, err)
	}
	be.bufs = append(be.bufs, p)
	b.ptr = p
	if err := cu.MemsetD8(p, 0, bytes); err != nil {
		return b, err
	}
	be.alloced += bytes
	be.peak = max(be.peak, be.alloced)
	be.sampleMemory()
	return b, nil
}

func (be *cudaBackend) sub(b devBuf, off, n int) devBuf {
	return devBuf{ptr: b.ptr + cu.DevicePtr(off*b.size), n: n, size: b.size}
}

func (be *cudaBackend) upload(dst devBuf, src any) error {
	var p unsafe.Pointer
	var bytes int64
	switch s := src.(type) {
	case []float32:
		p, bytes = unsafe.Pointer(unsafe.SliceData(s)), 4*int64(len(s))
	case []float64:
		p, bytes = unsafe.Pointer(unsafe.SliceData(s)), 8*int64(len(s))
	case []int32:
		p, bytes = unsafe.Pointer(unsafe.SliceData(s)), 4*int64(len(s))
	case []byte:
		p, bytes = unsafe.Pointer(unsafe.SliceData(s)), int64(len(s))
	default:
		return fmt.Errorf("cuda: cannot upload a %T", src)
	}
	if bytes > dst.bytes() {
		return fmt.Errorf("cuda: uploading %d bytes into %d", bytes, dst.bytes())
	}
	if bytes == 0 {
		return nil
	}
	return cu.MemcpyHtoD(dst.ptr, p, bytes)
}

func (be *cudaBackend) download(dst any, src devBuf) error {
	var err error
	switch d := dst.(type) {
	case []float32:
		err = cu.MemcpyDtoH(unsafe.Pointer(unsafe.SliceData(d)), src.ptr, min(4*int64(len(d)), src.bytes()))
	case []float64:
		err = cu.MemcpyDtoH(unsafe.Pointer(unsafe.SliceData(d)), src.ptr, min(8*int64(len(d)), src.bytes()))
	case *accum:
		var raw [3]uint64
		err = cu.MemcpyDtoH(unsafe.Pointer(&raw[0]), src.ptr, 24)
		d.Loss, d.Hits, d.FirstBad = math.Float64frombits(raw[0]), int64(raw[1]), raw[2]
	default:
		return fmt.Errorf("cuda: cannot download into a %T", dst)
	}
	be.sampleMemory()
	return err
}

func (be *cudaBackend) resetAcc(acc devBuf) error {
	if err := cu.MemsetD8(acc.ptr, 0, 16); err != nil {
		return err
	}
	return cu.MemsetD8(acc.ptr+16, 0xff, 8)
}

func (be *cudaBackend) launches() int64 { return be.calls }

func (be *cudaBackend) memory() Memory {
	be.sampleMemory()
	return Memory{Allocated: be.alloced, PeakAllocated: be.peak, DeviceUsed: be.used}
}

func (be *cudaBackend) gemm(tA, tB bool, m, n, k int, alpha float64, a devBuf, lda int, b devBuf, ldb int, beta float64, c devBuf, ldc int) error {
	be.calls++
	return be.blas.gemm(be.double, tA, tB, m, n, k, alpha, uintptr(a.ptr), lda, uintptr(b.ptr), ldb, beta, uintptr(c.ptr), ldc)
}

// launch runs kernel name over n threads in blocks of block; args are
// 8-byte values (cu.Function.Launch copies 8 bytes from each pointer).
func (be *cudaBackend) launch(name string, n, block int, args ...any) error {
	be.calls++
	sig := kernelArgs[name]
	if len(args) != len(sig) {
		return fmt.Errorf("cuda: kernel %s takes %d arguments, not %d", name, len(sig), len(args))
	}
	if n == 0 {
		return nil
	}
	ptrs := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		var v uint64
		kind := byte('u')
		switch x := a.(type) {
		case devBuf:
			v = uint64(x.ptr)
		case int:
			v = uint64(int64(x))
		case float64:
			v, kind = math.Float64bits(x), 'f'
		default:
			return fmt.Errorf("cuda: kernel %s: argument %d is a %T", name, i, a)
		}
		if kind != sig[i] {
			return fmt.Errorf("cuda: kernel %s: argument %d is a %T where the kernel takes %q", name, i, a, sig[i])
		}
		ptrs[i] = unsafe.Pointer(&v)
	}
	grid := (n + block - 1) / block
	if err := be.fns[name].Launch(grid, 1, 1, block, 1, 1, 0, cu.NoStream, ptrs); err != nil {
		return fmt.Errorf("cuda: kernel %s%s: %w", name, be.suffix, err)
	}
	return nil
}

const block = 256

func (be *cudaBackend) gather(x, y, pixels, labels, idx devBuf, useIdx bool, start, rows, features int) error {
	if !useIdx {
		idx = devBuf{}
	}
	return be.launch("gather", rows*features, block, x, y, pixels, labels, idx, start, rows, features)
}

func (be *cudaBackend) biasAct(z, b devBuf, rows, cols, act int) error {
	return be.launch("bias_act", rows*cols, block, z, b, rows, cols, act)
}

func (be *cudaBackend) actGrad(d, a devBuf, n, act int) error {
	return be.launch("act_grad", n, block, d, a, n, act)
}

func (be *cudaBackend) softmaxXent(z, b, dz devBuf, grad bool, y devBuf, rows, classes int, scale float64, acc devBuf, step int) error {
	if !grad {
		dz = devBuf{}
	}
	return be.launch("softmax_xent", rows, xentBlock, z, b, dz, y, rows, classes, scale, acc, step)
}

func (be *cudaBackend) update(w, g, s1, s2 devBuf, n, nWeights int, h hyper) error {
	return be.launch("update", n, block, w, g, s1, s2, n, nWeights, h.Kind, h.Eta, h.Momentum, h.Decay,
		h.C1, h.C2, h.Beta1, h.Beta2, h.Ep)
}
