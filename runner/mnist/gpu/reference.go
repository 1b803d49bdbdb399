package gpu

import (
	"context"
	"fmt"
	"math"

	"github.com/tune-dev/tune/runner/workload"
)

// TrainReference trains a trial with the reference backend: the GPU
// trainer's orchestration and every kernel's arithmetic, in Go on the
// CPU. It is the GPU path's twin for tests; it is not fast.
func TrainReference(ctx context.Context, cfg Config, data *Data, trialNumber int, r workload.Reporter) (map[string]float64, error) {
	if cfg.Precision == "float64" {
		return run[refBuf[float64]](ctx, &refBackend[float64]{}, cfg, data, trialNumber, r)
	}
	return run[refBuf[float32]](ctx, &refBackend[float32]{}, cfg, data, trialNumber, r)
}

// refBuf is a reference buffer: one of its slices, by what it holds.
type refBuf[T float32 | float64] struct {
	r []T
	i []int32
	b []byte
	a *accum
}

// refBackend runs kernels/mlp.cu's kernels as Go loops with the same
// formulas, element by element, in the same precision.
type refBackend[T float32 | float64] struct {
	calls     int64
	allocated int64
}

var _ backend[refBuf[float32]] = (*refBackend[float32])(nil)

func (be *refBackend[T]) alloc(e elem, n int) (refBuf[T], error) {
	var b refBuf[T]
	var size int64
	switch e {
	case elemReal:
		b.r = make([]T, n)
		size = int64(n) * int64(sizeOf[T]())
	case elemInt32:
		b.i = make([]int32, n)
		size = 4 * int64(n)
	case elemByte:
		b.b = make([]byte, n)
		size = int64(n)
	case elemAcc:
		b.a = &accum{FirstBad: math.MaxUint64}
		size = 24
	}
	be.allocated += size
	return b, nil
}

func sizeOf[T float32 | float64]() int {
	var z T
	if any(z) == any(float32(0)) {
		return 4
	}
	return 8
}

func (be *refBackend[T]) sub(b refBuf[T], off, n int) refBuf[T] {
	switch {
	case b.r != nil:
		return refBuf[T]{r: b.r[off : off+n]}
	case b.i != nil:
		return refBuf[T]{i: b.i[off : off+n]}
	}
	return refBuf[T]{b: b.b[off : off+n]}
}

func (be *refBackend[T]) upload(dst refBuf[T], src any) error {
	switch s := src.(type) {
	case []T:
		copy(dst.r, s)
	case []int32:
		copy(dst.i, s)
	case []byte:
		copy(dst.b, s)
	default:
		return fmt.Errorf("reference: cannot upload a %T", src)
	}
	return nil
}

func (be *refBackend[T]) download(dst any, src refBuf[T]) error {
	switch d := dst.(type) {
	case []T:
		copy(d, src.r)
	case *accum:
		*d = *src.a
	default:
		return fmt.Errorf("reference: cannot download into a %T", dst)
	}
	return nil
}

func (be *refBackend[T]) resetAcc(acc refBuf[T]) error {
	*acc.a = accum{FirstBad: math.MaxUint64}
	return nil
}

func (be *refBackend[T]) launches() int64 { return be.calls }

func (be *refBackend[T]) memory() Memory {
	return Memory{Allocated: be.allocated, PeakAllocated: be.allocated}
}

// gemm is a plain row-major triple loop, accumulating in T as cuBLAS does.
func (be *refBackend[T]) gemm(tA, tB bool, m, n, k int, alpha float64, a refBuf[T], lda int, b refBuf[T], ldb int, beta float64, c refBuf[T], ldc int) error {
	be.calls++
	al, bt := T(alpha), T(beta)
	for i := range m {
		for j := range n {
			var s T
			for p := range k {
				var x, y T
				if tA {
					x = a.r[p*lda+i]
				} else {
					x = a.r[i*lda+p]
				}
				if tB {
					y = b.r[j*ldb+p]
				} else {
					y = b.r[p*ldb+j]
				}
				s += x * y
			}
			if beta == 0 {
				c.r[i*ldc+j] = al * s
			} else {
				c.r[i*ldc+j] = al*s + bt*c.r[i*ldc+j]
			}
		}
	}
	return nil
}

// gather is mlp.cu's gather.
func (be *refBackend[T]) gather(x, y, pixels, labels, idx refBuf[T], useIdx bool, start, rows, features int) error {
	be.calls++
	for r := range rows {
		i := start + r
		if useIdx {
			i = int(idx.i[start+r])
		}
		for j := range features {
			x.r[r*features+j] = T(float64(pixels.b[i*features+j]) / 255)
		}
		y.i[r] = int32(labels.b[i])
	}
	return nil
}

// biasAct is mlp.cu's bias_act.
func (be *refBackend[T]) biasAct(z, b refBuf[T], rows, cols, act int) error {
	be.calls++
	for t := range rows * cols {
		z.r[t] = activate(act, z.r[t]+b.r[t%cols])
	}
	return nil
}

// actGrad is mlp.cu's act_grad.
func (be *refBackend[T]) actGrad(d, a refBuf[T], n, act int) error {
	be.calls++
	for t := range n {
		d.r[t] *= activationDeriv(act, a.r[t])
	}
	return nil
}

// softmaxXent is mlp.cu's softmax_xent (the per-block sums aside).
func (be *refBackend[T]) softmaxXent(z, b, dz refBuf[T], grad bool, y refBuf[T], rows, classes int, scale float64, acc refBuf[T], step int) error {
	be.calls++
	for r := range rows {
		row := z.r[r*classes : (r+1)*classes]
		m, best := row[0]+b.r[0], 0
		for k := 1; k < classes; k++ {
			if v := row[k] + b.r[k]; v > m {
				m, best = v, k
			}
		}
		var sum T
		for k := range classes {
			sum += exp(row[k] + b.r[k] - m)
		}
		lse := m + T(math.Log(float64(sum)))
		label := int(y.i[r])
		loss := float64(lse - (row[label] + b.r[label]))
		acc.a.Loss += loss
		if best == label {
			acc.a.Hits++
		}
		if (math.IsNaN(loss) || math.IsInf(loss, 0)) && uint64(step) < acc.a.FirstBad {
			acc.a.FirstBad = uint64(step)
		}
		if grad {
			s := T(scale)
			for k := range classes {
				p := exp(row[k] + b.r[k] - lse)
				one := T(0)
				if k == label {
					one = 1
				}
				dz.r[r*classes+k] = (p - one) * s
			}
		}
	}
	return nil
}

// update is mlp.cu's update.
func (be *refBackend[T]) update(w, g, s1, s2 refBuf[T], n, nWeights int, h hyper) error {
	be.calls++
	eta := T(h.Eta)
	for j := range n {
		gj := g.r[j]
		if j < nWeights && h.Decay > 0 {
			gj += T(h.Decay) * w.r[j]
		}
		switch optimizers[h.Kind] {
		case "sgd":
			w.r[j] -= eta * gj
		case "momentum":
			c := T(h.Momentum)*s1.r[j] - eta*gj
			s1.r[j] = c
			w.r[j] += c
		case "rmsprop":
			rho := T(h.Momentum)
			c := rho*s1.r[j] + (1-rho)*gj*gj
			s1.r[j] = c
			w.r[j] -= eta * gj / sqrt(c+T(h.Ep))
		case "adam":
			b1, b2 := T(h.Beta1), T(h.Beta2)
			m := b1*s1.r[j] + (1-b1)*gj
			v := b2*s2.r[j] + (1-b2)*gj*gj
			s1.r[j], s2.r[j] = m, v
			w.r[j] -= eta * (m * T(h.C1)) / (sqrt(v*T(h.C2)) + T(h.Ep))
		}
	}
	return nil
}

// activate is mlp.cu's act.
func activate[T float32 | float64](kind int, z T) T {
	switch activations[kind] {
	case "relu":
		return max(z, 0)
	case "tanh":
		return T(math.Tanh(float64(z)))
	case "sigmoid":
		return 1 / (1 + exp(-z))
	case "leaky_relu":
		if z > 0 {
			return z
		}
		return T(leakySlope) * z
	case "elu":
		if z > 0 {
			return z
		}
		return T(math.Expm1(float64(z)))
	case "softplus":
		return max(z, 0) + T(math.Log1p(float64(exp(-T(math.Abs(float64(z)))))))
	}
	return z
}

// activationDeriv is mlp.cu's act_deriv: the derivative at the output a.
func activationDeriv[T float32 | float64](kind int, a T) T {
	switch activations[kind] {
	case "relu":
		if a > 0 {
			return 1
		}
		return 0
	case "tanh":
		return 1 - a*a
	case "sigmoid":
		return a * (1 - a)
	case "leaky_relu":
		if a > 0 {
			return 1
		}
		return T(leakySlope)
	case "elu":
		if a > 0 {
			return 1
		}
		return a + 1
	case "softplus":
		return -T(math.Expm1(float64(-a)))
	}
	return 1
}

func exp[T float32 | float64](x T) T  { return T(math.Exp(float64(x))) }
func sqrt[T float32 | float64](x T) T { return T(math.Sqrt(float64(x))) }
