package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tune-dev/tune/runner/workload"
)

// trainer is one trial's state on a backend: every parameter, gradient
// and optimizer state in one buffer each (weights first, then biases, so
// the optimizer is one launch and weight decay a prefix), the dataset
// uploaded once, and activation buffers for the largest share of a batch.
type trainer[B any] struct {
	be      backend[B]
	cfg     Config
	data    *Data
	act     int
	layers  int   // hidden layers
	in, out []int // per layer (hidden layers, then the output layer)
	wOff    []int // weight l's offset in the parameter buffers
	bOff    []int // bias l's offset
	nW, n   int   // weights, all parameters

	params, grads, s1, s2 B
	pixTrain, labTrain    B
	pixTest, labTest      B
	perm                  B // the epoch's order, int32
	x, y, logits, dz      B
	acts                  []B // hidden layers' outputs
	dh                    [2]B
	ones                  B
	trainAcc, evalAcc     B

	batch   int   // examples per optimizer step
	shares  []int // rows of each worker's share
	offsets []int
	rows    int // rows of the activation buffers
	rng     *rand.Rand
	order   []int
	order32 []int32
	iter    int
}

// newTrainer lays out the network, draws the initial parameters exactly
// as runner/mnist does and uploads them and the dataset.
func newTrainer[B any](be backend[B], cfg Config, data *Data, trialNumber int) (*trainer[B], error) {
	if err := check(cfg, data); err != nil {
		return nil, err
	}
	t := &trainer[B]{be: be, cfg: cfg, data: data, act: slices.Index(activations, cfg.Activation), layers: cfg.Layers}
	in := data.Train.Features
	for l := 0; l <= cfg.Layers; l++ {
		out := cfg.HiddenUnits
		if l == cfg.Layers {
			out = data.Classes
		}
		t.in, t.out = append(t.in, in), append(t.out, out)
		t.wOff = append(t.wOff, t.nW)
		t.nW += in * out
		in = out
	}
	t.n = t.nW
	for l := range t.out {
		t.bOff = append(t.bOff, t.n)
		t.n += t.out[l]
	}

	t.batch = min(cfg.BatchSize, data.Train.N)
	workers := min(cfg.Workers, t.batch)
	off := 0
	for i := range workers {
		size := t.batch / workers
		if i < t.batch%workers {
			size++
		}
		t.shares = append(t.shares, size)
		t.offsets = append(t.offsets, off)
		off += size
	}
	t.rows = max(t.shares[0], min(evalChunk, data.Test.N))

	// The same generator, seed and draws as runner/mnist's initParams
	// and shuffle: weights in layer order, He-normal for ReLU-like
	// hidden layers, Glorot-normal otherwise; biases zero.
	seed := uint64(cfg.Seed) + uint64(trialNumber)
	t.rng = rand.New(rand.NewPCG(seed, 0x6d6e6973746d6c70))
	init := make([]float64, t.n)
	for l := range t.out {
		rows, cols := t.in[l], t.out[l]
		std := math.Sqrt(2 / float64(rows+cols))
		if l < cfg.Layers && (cfg.Activation == "relu" || cfg.Activation == "leaky_relu" || cfg.Activation == "elu") {
			std = math.Sqrt(2 / float64(rows))
		}
		w := init[t.wOff[l] : t.wOff[l]+rows*cols]
		for j := range w {
			w[j] = t.rng.NormFloat64() * std
		}
	}
	t.order = make([]int, data.Train.N)
	for i := range t.order {
		t.order[i] = i
	}
	t.order32 = make([]int32, data.Train.N)

	var err error
	alloc := func(dst *B, e elem, n int) {
		if err == nil {
			*dst, err = be.alloc(e, n)
		}
	}
	alloc(&t.params, elemReal, t.n)
	alloc(&t.grads, elemReal, t.n)
	alloc(&t.s1, elemReal, t.n)
	alloc(&t.s2, elemReal, t.n)
	alloc(&t.pixTrain, elemByte, len(data.Train.Pixels))
	alloc(&t.labTrain, elemByte, data.Train.N)
	alloc(&t.pixTest, elemByte, len(data.Test.Pixels))
	alloc(&t.labTest, elemByte, data.Test.N)
	alloc(&t.perm, elemInt32, data.Train.N)
	alloc(&t.x, elemReal, t.rows*data.Train.Features)
	alloc(&t.y, elemInt32, t.rows)
	alloc(&t.logits, elemReal, t.rows*data.Classes)
	alloc(&t.dz, elemReal, t.rows*data.Classes)
	alloc(&t.ones, elemReal, t.rows)
	alloc(&t.trainAcc, elemAcc, 1)
	alloc(&t.evalAcc, elemAcc, 1)
	t.acts = make([]B, cfg.Layers)
	for l := range t.acts {
		alloc(&t.acts[l], elemReal, t.rows*cfg.HiddenUnits)
	}
	if cfg.Layers > 0 {
		alloc(&t.dh[0], elemReal, t.rows*cfg.HiddenUnits)
		alloc(&t.dh[1], elemReal, t.rows*cfg.HiddenUnits)
	}
	if err != nil {
		return nil, err
	}
	ones := make([]float64, t.rows)
	for i := range ones {
		ones[i] = 1
	}
	for _, u := range []struct {
		dst B
		src any
	}{
		{t.params, t.real(init)}, {t.ones, t.real(ones)},
		{t.pixTrain, data.Train.Pixels}, {t.labTrain, data.Train.Labels},
		{t.pixTest, data.Test.Pixels}, {t.labTest, data.Test.Labels},
	} {
		if err := be.upload(u.dst, u.src); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// real converts v to the trial's precision.
func (t *trainer[B]) real(v []float64) any {
	if t.cfg.Precision == "float64" {
		return v
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

func (t *trainer[B]) stepsPerEpoch() int { return t.data.Train.N / t.batch }

// shuffle draws the epoch's order (as runner/mnist does) and uploads it.
func (t *trainer[B]) shuffle() error {
	t.rng.Shuffle(len(t.order), func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })
	for i, v := range t.order {
		t.order32[i] = int32(v)
	}
	return t.be.upload(t.perm, t.order32)
}

// forward runs the network on the rows in t.x and t.y and accumulates
// their loss and hits into acc; with grad it also leaves the gradient of
// the batch's mean loss with respect to the logits in t.dz.
func (t *trainer[B]) forward(rows int, grad bool, acc B, step int) error {
	be := t.be
	h := t.x
	for l := range t.out {
		in, out := t.in[l], t.out[l]
		w := be.sub(t.params, t.wOff[l], in*out)
		dst := t.logits
		if l < t.layers {
			dst = t.acts[l]
		}
		if err := be.gemm(false, false, rows, out, in, 1, h, in, w, out, 0, dst, out); err != nil {
			return err
		}
		if l < t.layers {
			if err := be.biasAct(dst, be.sub(t.params, t.bOff[l], out), rows, out, t.act); err != nil {
				return err
			}
			h = dst
		}
	}
	L := t.layers
	return be.softmaxXent(t.logits, be.sub(t.params, t.bOff[L], t.out[L]), t.dz, grad, t.y, rows, t.data.Classes,
		1/float64(t.batch), acc, step)
}

// backward adds (beta 1) or writes (beta 0) the gradients of the rows
// forward saw into t.grads.
func (t *trainer[B]) backward(rows int, beta float64) error {
	be := t.be
	d := t.dz
	for l := t.layers; l >= 0; l-- {
		in, out := t.in[l], t.out[l]
		h := t.x
		if l > 0 {
			h = t.acts[l-1]
		}
		gw := be.sub(t.grads, t.wOff[l], in*out)
		gb := be.sub(t.grads, t.bOff[l], out)
		if err := be.gemm(true, false, in, out, rows, 1, h, in, d, out, beta, gw, out); err != nil {
			return err
		}
		// The bias gradient is a column sum: onesᵀ·d, left to cuBLAS.
		if err := be.gemm(false, false, 1, out, rows, 1, t.ones, rows, d, out, beta, gb, out); err != nil {
			return err
		}
		if l == 0 {
			break
		}
		w := be.sub(t.params, t.wOff[l], in*out)
		next := t.dh[l%2]
		if err := be.gemm(false, true, rows, in, out, 1, d, out, w, out, 0, next, in); err != nil {
			return err
		}
		if err := be.actGrad(next, t.acts[l-1], rows*in, t.act); err != nil {
			return err
		}
		d = next
	}
	return nil
}

// step trains on examples [s·batch, (s+1)·batch) of the epoch's order:
// each worker's share in turn adds its part of the gradient, then one
// optimizer step. Nothing comes back to the host.
func (t *trainer[B]) step(s int) error {
	for i, rows := range t.shares {
		start := s*t.batch + t.offsets[i]
		if err := t.be.gather(t.x, t.y, t.pixTrain, t.labTrain, t.perm, true, start, rows, t.data.Train.Features); err != nil {
			return err
		}
		if err := t.forward(rows, true, t.trainAcc, s+1); err != nil {
			return err
		}
		beta := 1.0
		if i == 0 {
			beta = 0
		}
		if err := t.backward(rows, beta); err != nil {
			return err
		}
	}
	t.iter++
	h := hyper{
		Kind: slices.Index(optimizers, t.cfg.Optimizer), Eta: t.cfg.LearningRate, Momentum: t.cfg.Momentum,
		Decay: t.cfg.WeightDecay, Beta1: adamBeta1, Beta2: adamBeta2, Ep: solverEps,
		C1: 1 / (1 - math.Pow(adamBeta1, float64(t.iter))),
		C2: 1 / (1 - math.Pow(adamBeta2, float64(t.iter))),
	}
	return t.be.update(t.params, t.grads, t.s1, t.s2, t.n, t.nW, h)
}

// evaluate returns the mean loss and the accuracy on the test set.
func (t *trainer[B]) evaluate(ctx context.Context) (loss, acc float64, err error) {
	if err := t.be.resetAcc(t.evalAcc); err != nil {
		return 0, 0, err
	}
	test := t.data.Test
	for start := 0; start < test.N; start += t.rows {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		rows := min(t.rows, test.N-start)
		if err := t.be.gather(t.x, t.y, t.pixTest, t.labTest, t.perm, false, start, rows, test.Features); err != nil {
			return 0, 0, err
		}
		if err := t.forward(rows, false, t.evalAcc, 0); err != nil {
			return 0, 0, err
		}
	}
	var a accum
	if err := t.be.download(&a, t.evalAcc); err != nil {
		return 0, 0, err
	}
	return a.Loss / float64(test.N), float64(a.Hits) / float64(test.N), nil
}

// run trains a whole trial on be, reporting after every epoch what
// runner/mnist reports, and returns the final metrics: runner/mnist's
// (less the host's memory, which it adds) plus device memory and
// launches_per_step, the kernel launches and gemm calls of one
// optimizer step.
func run[B any](ctx context.Context, be backend[B], cfg Config, data *Data, trialNumber int, r workload.Reporter) (map[string]float64, error) {
	start := time.Now()
	t, err := newTrainer(be, cfg, data, trialNumber)
	if err != nil {
		return nil, err
	}
	steps := t.stepsPerEpoch()
	var (
		trainTime, epochTime time.Duration
		trainSeen, done      int
		metrics              map[string]float64
		perStep              float64
	)
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		epochStart := time.Now()
		if err := t.shuffle(); err != nil {
			return nil, err
		}
		if err := be.resetAcc(t.trainAcc); err != nil {
			return nil, err
		}
		before := be.launches()
		for s := range steps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := t.step(s); err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch, s+1, err)
			}
		}
		if epoch == 1 {
			perStep = float64(be.launches()-before) / float64(steps)
		}
		// The accumulator's download waits for the epoch's work: only
		// then is the time the GPU's.
		var a accum
		if err := be.download(&a, t.trainAcc); err != nil {
			return nil, err
		}
		epochTrain := time.Since(epochStart)
		if a.FirstBad != math.MaxUint64 || math.IsNaN(a.Loss) || math.IsInf(a.Loss, 0) {
			v := a.Loss
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				v = math.NaN()
			}
			return nil, &Diverged{What: "loss", Value: v, Epoch: epoch, Step: int(min(a.FirstBad, uint64(steps))), LearningRate: cfg.LearningRate}
		}
		trainTime += epochTrain
		trainSeen += steps * t.batch

		valLoss, valAcc, err := t.evaluate(ctx)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(valLoss) || math.IsInf(valLoss, 0) {
			return nil, &Diverged{What: "val_loss", Value: valLoss, Epoch: epoch, Step: steps, LearningRate: cfg.LearningRate}
		}
		thisEpoch := time.Since(epochStart)
		epochTime += thisEpoch
		done = epoch
		metrics = map[string]float64{
			"val_accuracy":       valAcc,
			"val_loss":           valLoss,
			"train_loss":         a.Loss / float64(steps*t.batch),
			"samples_per_second": float64(steps*t.batch) / epochTrain.Seconds(),
			"seconds_per_epoch":  thisEpoch.Seconds(),
		}
		// The GPU trainer measures no phases yet: its reports carry no profile.
		prune, err := r.Report(ctx, epoch, metrics, nil)
		if err != nil {
			return nil, fmt.Errorf("report epoch %d: %w", epoch, err)
		}
		if prune {
			return nil, workload.ErrPruned
		}
	}
	mem := be.memory()
	final := map[string]float64{
		"val_accuracy":               metrics["val_accuracy"],
		"val_loss":                   metrics["val_loss"],
		"train_loss":                 metrics["train_loss"],
		"samples_per_second":         float64(trainSeen) / trainTime.Seconds(),
		"seconds_per_epoch":          epochTime.Seconds() / float64(done),
		"wall_seconds":               time.Since(start).Seconds(),
		"epochs":                     float64(done),
		"parameters":                 float64(t.n),
		"launches_per_step":          perStep,
		"device_memory_bytes":        float64(mem.Allocated),
		"peak_device_memory_bytes":   float64(mem.PeakAllocated),
		"device_memory_in_use_bytes": float64(mem.DeviceUsed),
	}
	return final, nil
}
