package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// exercise runs every backend operation once on the same pseudo-random
// inputs and returns what each wrote, by name, as float64s. The CUDA
// test compares a GPU's answers with the reference's.
func exercise[B any](be backend[B], prec string) (map[string][]float64, error) {
	rng := rand.New(rand.NewPCG(7, 11))
	out := map[string][]float64{}
	var firstErr error
	ck := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	real := func(v []float64) any {
		if prec == "float64" {
			return v
		}
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return f
	}
	randn := func(n int, scale float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() * scale
		}
		return v
	}
	buf := func(v []float64) B {
		b, err := be.alloc(elemReal, len(v))
		ck(err)
		ck(be.upload(b, real(v)))
		return b
	}
	get := func(name string, b B, n int) {
		if prec == "float64" {
			v := make([]float64, n)
			ck(be.download(v, b))
			out[name] = v
			return
		}
		v := make([]float32, n)
		ck(be.download(v, b))
		f := make([]float64, n)
		for i, x := range v {
			f[i] = float64(x)
		}
		out[name] = f
	}

	// gemm, the four transposition cases, accumulating (beta 0.5).
	const m, n, k = 37, 19, 23
	a, bm := randn(m*k, 1), randn(k*n, 1)
	for _, c := range []struct{ tA, tB bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		lda, ldb := k, n
		if c.tA {
			lda = m
		}
		if c.tB {
			ldb = k
		}
		cb := buf(randn(m*n, 1))
		ck(be.gemm(c.tA, c.tB, m, n, k, 1, buf(a), lda, buf(bm), ldb, 0.5, cb, n))
		get(fmt.Sprintf("gemm tA=%v tB=%v", c.tA, c.tB), cb, m*n)
	}

	// gather through an index and without one.
	const rows, features, N = 5, 7, 9
	pixels := make([]byte, N*features)
	labels := make([]byte, N)
	for i := range pixels {
		pixels[i] = byte(rng.IntN(256))
	}
	for i := range labels {
		labels[i] = byte(rng.IntN(4))
	}
	pb, _ := be.alloc(elemByte, len(pixels))
	lb, _ := be.alloc(elemByte, len(labels))
	ib, _ := be.alloc(elemInt32, N)
	ck(be.upload(pb, pixels))
	ck(be.upload(lb, labels))
	ck(be.upload(ib, []int32{8, 3, 0, 5, 1, 2, 7, 6, 4}))
	xb, _ := be.alloc(elemReal, rows*features)
	yb, _ := be.alloc(elemInt32, rows)
	ck(be.gather(xb, yb, pb, lb, ib, true, 2, rows, features))
	get("gather idx", xb, rows*features)
	ck(be.gather(xb, yb, pb, lb, ib, false, 3, rows, features))
	get("gather", xb, rows*features)

	// bias and activation, and the derivative, for every activation.
	const r, c = 6, 33
	z0, bias, d0 := randn(r*c, 2), randn(c, 1), randn(r*c, 1)
	for kind, name := range activations {
		z := buf(z0)
		ck(be.biasAct(z, buf(bias), r, c, kind))
		get("bias_act "+name, z, r*c)
		d := buf(d0)
		ck(be.actGrad(d, z, r*c, kind))
		get("act_grad "+name, d, r*c)
	}

	// softmax cross-entropy over more rows than one block, with the
	// gradient, then without it into another accumulator.
	const sr, classes = 300, 10
	logits, ob := buf(randn(sr*classes, 3)), buf(randn(classes, 1))
	ys := make([]int32, sr)
	for i := range ys {
		ys[i] = int32(rng.IntN(classes))
	}
	yl, _ := be.alloc(elemInt32, sr)
	ck(be.upload(yl, ys))
	dz, _ := be.alloc(elemReal, sr*classes)
	for _, grad := range []bool{true, false} {
		acc, _ := be.alloc(elemAcc, 1)
		ck(be.resetAcc(acc))
		ck(be.softmaxXent(logits, ob, dz, grad, yl, sr, classes, 1.0/sr, acc, 3))
		var a accum
		ck(be.download(&a, acc))
		bad := -1.0
		if a.FirstBad != math.MaxUint64 {
			bad = float64(a.FirstBad)
		}
		out[fmt.Sprintf("softmax_xent acc grad=%v", grad)] = []float64{a.Loss, float64(a.Hits), bad}
	}
	get("softmax_xent dz", dz, sr*classes)

	// every optimizer, three steps, with weight decay on a prefix.
	const np, nw = 300, 200
	w0, g0 := randn(np, 1), randn(np, 0.1)
	for kind, name := range optimizers {
		w, g := buf(w0), buf(g0)
		s1, _ := be.alloc(elemReal, np)
		s2, _ := be.alloc(elemReal, np)
		for it := 1; it <= 3; it++ {
			ck(be.update(w, g, s1, s2, np, nw, hyper{Kind: kind, Eta: 0.01, Momentum: 0.9, Decay: 0.001,
				C1: 1 / (1 - math.Pow(adamBeta1, float64(it))), C2: 1 / (1 - math.Pow(adamBeta2, float64(it))),
				Beta1: adamBeta1, Beta2: adamBeta2, Ep: solverEps}))
		}
		get("update w "+name, w, np)
		get("update s1 "+name, s1, np)
		get("update s2 "+name, s2, np)
	}
	return out, firstErr
}

// TestExerciseReference: the exercise runs on the reference backend and
// its softmax sums are the per-row definitions.
func TestExerciseReference(t *testing.T) {
	for _, prec := range []string{"float32", "float64"} {
		var got map[string][]float64
		var err error
		if prec == "float64" {
			got, err = exercise[refBuf[float64]](&refBackend[float64]{}, prec)
		} else {
			got, err = exercise[refBuf[float32]](&refBackend[float32]{}, prec)
		}
		if err != nil {
			t.Fatal(err)
		}
		acc := got["softmax_xent acc grad=true"]
		if acc[0] <= 0 || acc[1] < 0 || acc[1] > 300 || acc[2] != -1 {
			t.Errorf("%s: softmax accumulator %v", prec, acc)
		}
		// Each row of the gradient sums to zero (softmax minus one-hot).
		dz := got["softmax_xent dz"]
		for r := range 300 {
			var s float64
			for k := range 10 {
				s += dz[r*10+k]
			}
			if math.Abs(s) > 1e-6 {
				t.Errorf("%s: row %d of dz sums to %g", prec, r, s)
				break
			}
		}
	}
}
