package mnist

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// evalBatch is the evaluation net's batch; the last, partial batch of the
// test set is padded.
const evalBatch = 1000

// trainer runs one trial: replicas of the training net that split every
// minibatch between them (synchronous data parallelism), one optimizer,
// and an evaluation net.
type trainer struct {
	cfg  Config
	arch arch
	data *Data

	batch    int       // examples per optimizer step
	replicas []*net    // workers; replica 0's parameters are the master copy
	shares   []float64 // replica i's fraction of a batch
	offsets  []int     // where replica i's examples start within a batch
	model    []G.ValueGrad
	solver   G.Solver
	eval     *net
	rng      *rand.Rand
	perm     []int
	errs     []error

	// clock times the epoch's phases (see profile.go); it is off when
	// the workload does not profile.
	clock phaseClock
	// acc holds the gradients of the batches taken since the last
	// optimizer step (grad_accumulation > 1), pending counts them.
	acc     []any
	pending int
	// optSteps counts optimizer steps; warmupSteps and totalSteps place
	// them on the learning-rate schedule (scheduled: not constant).
	optSteps, warmupSteps, totalSteps int
	scheduled                         bool
}

// newTrainer builds the nets for cfg on data. The minibatch is cut to the
// training set's size when it is larger; a last partial batch of every
// epoch is dropped (the shuffle differs per epoch, so every example is
// seen).
func newTrainer(cfg Config, data *Data, trialNumber int) (*trainer, error) {
	a := arch{
		inputs:     data.Train.Features(),
		hidden:     cfg.HiddenUnits,
		layers:     cfg.Layers,
		classes:    data.Classes,
		activation: cfg.Activation,
		dtype:      tensor.Float32,
		dropout:    cfg.Dropout,
	}
	if cfg.Precision == "float64" {
		a.dtype = tensor.Float64
	}
	t := &trainer{cfg: cfg, arch: a, data: data}
	t.batch = min(cfg.BatchSize, data.Train.N)
	workers := min(cfg.Workers, t.batch)

	seed := uint64(cfg.Seed) + uint64(trialNumber)
	t.rng = rand.New(rand.NewPCG(seed, 0x6d6e6973746d6c70)) // "mnistmlp"
	initial := initParams(a, t.rng)

	off := 0
	for i := range workers {
		size := t.batch / workers
		if i < t.batch%workers {
			size++
		}
		n, err := newNet(a, size, initial, true)
		if err != nil {
			return nil, err
		}
		if a.dropout > 0 {
			n.rng = rand.New(rand.NewPCG(seed, uint64(i)+1))
		}
		t.replicas = append(t.replicas, n)
		t.shares = append(t.shares, float64(size)/float64(t.batch))
		t.offsets = append(t.offsets, off)
		off += size
	}
	t.errs = make([]error, workers)
	t.model = G.NodesToValueGrads(t.replicas[0].params)

	eb := min(evalBatch, data.Test.N)
	var err error
	if t.eval, err = newNet(a, eb, initial, false); err != nil {
		return nil, err
	}

	if t.solver, err = newSolver(cfg); err != nil {
		return nil, err
	}
	t.acc = make([]any, len(t.model))
	k := max(1, cfg.GradAccumulation)
	perEpoch := (data.Train.N/t.batch + k - 1) / k
	t.totalSteps = perEpoch * cfg.Epochs
	t.warmupSteps = int(math.Round(cfg.WarmupEpochs * float64(perEpoch)))
	t.scheduled = t.warmupSteps > 0 || cfg.LRSchedule != "" && cfg.LRSchedule != "constant"
	if t.scheduled {
		if err := setLR(t.solver, cfg.LearningRate); err != nil {
			return nil, fmt.Errorf("lr_schedule %s: %w", cfg.LRSchedule, err)
		}
	}
	t.perm = make([]int, data.Train.N)
	for i := range t.perm {
		t.perm[i] = i
	}
	return t, nil
}

// stepsPerEpoch is the number of optimizer steps in one epoch.
func (t *trainer) stepsPerEpoch() int { return t.data.Train.N / t.batch }

// shuffle draws the epoch's order of the training examples.
func (t *trainer) shuffle() {
	t.rng.Shuffle(len(t.perm), func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
}

// step trains on the examples idx (len == t.batch): every replica
// computes the gradient of the mean loss on its share, the gradients are
// averaged weighted by share (which equals the gradient on the whole
// batch), and every grad_accumulation batches (see accumulateOrUpdate)
// the optimizer steps replica 0's parameters and the other replicas copy
// them. It returns the batch's mean loss, checked for NaN and Inf before
// the step.
func (t *trainer) step(idx []int) (float64, error) {
	clk := &t.clock
	clk.lap(phOther)
	if len(t.replicas) == 1 {
		r := t.replicas[0]
		r.fill(t.data.Train, idx)
		clk.lap(phData)
		if err := r.runTimed(clk); err != nil {
			return 0, err
		}
		loss := r.costValue()
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return loss, nil
		}
		return loss, t.accumulateOrUpdate()
	}

	var wg sync.WaitGroup
	for i, r := range t.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.clock.on = clk.on
			r.clock.reset()
			r.fill(t.data.Train, idx[t.offsets[i]:t.offsets[i]+r.batch])
			r.clock.lap(phData)
			t.errs[i] = r.runTimed(&r.clock)
		}()
	}
	wg.Wait()
	clk.lapShared(t.replicas)
	var loss float64
	for i, r := range t.replicas {
		if t.errs[i] != nil {
			return 0, fmt.Errorf("worker %d: %w", i, t.errs[i])
		}
		loss += t.shares[i] * r.costValue()
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, nil
	}
	if err := t.averageGrads(); err != nil {
		return 0, err
	}
	clk.lap(phExchange)
	return loss, t.accumulateOrUpdate()
}

// splitEvery is how often a training net's tape runs split in two to
// time its forward and backward passes apart (see tapeSplit); the runs
// between are split by the forward share measured so far. Running every
// tape split cost 5-8% of samples/s on this project's loaded 2-core test
// machine (each RunAll hands the tape to a goroutine of its own and back,
// and a split run does that twice); one run in 16 costs a sixteenth of
// that, and the share of a fixed graph on fixed shapes barely moves.
const splitEvery = 16

// runTimed runs r's tape, charging the forward and the backward pass to
// clk apart, else (no split tape) all of it to forward.
func (r *net) runTimed(clk *phaseClock) error {
	if !clk.on || r.tape == nil {
		err := r.run()
		clk.lap(phForward)
		return err
	}
	r.runs++
	if r.runs%splitEvery == 1 {
		start := clk.last
		var mid time.Time
		err := r.runSplit(func() { mid = time.Now() })
		now := time.Now()
		if err == nil {
			r.fwdSampled += mid.Sub(start)
			r.bwdSampled += now.Sub(mid)
		}
		clk.d[phForward] += mid.Sub(start)
		clk.d[phBackward] += now.Sub(mid)
		clk.last = now
		return err
	}
	err := r.run()
	now := time.Now()
	d := now.Sub(clk.last)
	fwd := time.Duration(float64(d) * float64(r.fwdSampled) / float64(r.fwdSampled+r.bwdSampled))
	clk.d[phForward] += fwd
	clk.d[phBackward] += d - fwd
	clk.last = now
	return err
}

// accumulateOrUpdate takes the optimizer step once grad_accumulation
// batch gradients are in, and until then adds the batch's to the
// running sum.
func (t *trainer) accumulateOrUpdate() error {
	t.pending++
	if t.pending < t.cfg.GradAccumulation {
		g, err := t.replicas[0].grads()
		if err != nil {
			return err
		}
		accumulate(t.acc, g)
		t.clock.lap(phOptimizer)
		return nil
	}
	return t.flush()
}

// flush takes the optimizer step on the mean of the pending batch
// gradients, if any. An epoch ends with a flush, so a last group shorter
// than grad_accumulation still updates the parameters before the
// evaluation.
func (t *trainer) flush() error {
	if t.pending == 0 {
		return nil
	}
	if t.pending > 1 {
		g, err := t.replicas[0].grads()
		if err != nil {
			return err
		}
		takeAccumulated(t.acc, g, t.pending)
	}
	t.pending = 0
	return t.update()
}

// averageGrads leaves Σᵢ shareᵢ·gradᵢ in replica 0's gradients and zeroes
// the others' (the tape machine adds to gradients; only replica 0's are
// zeroed by the solver).
func (t *trainer) averageGrads() error {
	g0, err := t.replicas[0].grads()
	if err != nil {
		return err
	}
	for i, r := range t.replicas[1:] {
		gi, err := r.grads()
		if err != nil {
			return err
		}
		first := i == 0
		for p := range g0 {
			switch d := g0[p].Data().(type) {
			case []float32:
				axpyShares(d, gi[p].Data().([]float32), t.shares[0], t.shares[i+1], first)
			case []float64:
				axpyShares(d, gi[p].Data().([]float64), t.shares[0], t.shares[i+1], first)
			}
			gi[p].Zero()
		}
	}
	return nil
}

// axpyShares adds s·src to dst, first scaling dst by s0 when first.
func axpyShares[T float32 | float64](dst, src []T, s0, s float64, first bool) {
	a, b := T(s0), T(s)
	if first {
		for j := range dst {
			dst[j] = a*dst[j] + b*src[j]
		}
		return
	}
	for j := range dst {
		dst[j] += b * src[j]
	}
}

// update clips replica 0's gradients (grad_clip), adds weight decay to
// its weight gradients, takes one optimizer step at the scheduled
// learning rate on replica 0 and copies its parameters to the others.
func (t *trainer) update() (err error) {
	defer recoverInto(&err)
	r0 := t.replicas[0]
	if t.cfg.GradClip > 0 {
		g, err := r0.grads()
		if err != nil {
			return err
		}
		clipGrads(g, t.cfg.GradClip)
	}
	if t.scheduled {
		lr := scheduledLR(t.cfg.LRSchedule, t.cfg.LearningRate, t.warmupSteps, t.totalSteps, t.optSteps)
		if err := setLR(t.solver, lr); err != nil {
			return err
		}
	}
	t.optSteps++
	if wd := t.cfg.WeightDecay; wd > 0 {
		g, err := r0.grads()
		if err != nil {
			return err
		}
		w := r0.values()
		for p := 0; p < len(w); p += 2 { // weights only, not biases
			switch d := g[p].Data().(type) {
			case []float32:
				axpy(d, w[p].Data().([]float32), float32(wd))
			case []float64:
				axpy(d, w[p].Data().([]float64), wd)
			}
		}
	}
	if err := t.solver.Step(t.model); err != nil {
		return fmt.Errorf("optimizer step: %w", err)
	}
	t.clock.lap(phOptimizer)
	if len(t.replicas) > 1 {
		src := r0.values()
		for _, r := range t.replicas[1:] {
			copyValues(r.values(), src)
		}
		t.clock.lap(phExchange)
	}
	return nil
}

func axpy[T float32 | float64](dst, x []T, a T) {
	for j := range dst {
		dst[j] += a * x[j]
	}
}

// evaluate computes the mean cross-entropy and the accuracy of replica
// 0's parameters on the test set.
func (t *trainer) evaluate(ctx context.Context) (loss, acc float64, err error) {
	t.clock.lap(phOther)
	defer t.clock.lap(phEval)
	e := t.eval
	copyValues(e.values(), t.replicas[0].values())
	test := t.data.Test
	idx := make([]int, 0, e.batch)
	var sumLoss float64
	var correct int
	for start := 0; start < test.N; start += e.batch {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		idx = idx[:0]
		for i := start; i < min(start+e.batch, test.N); i++ {
			idx = append(idx, i)
		}
		e.fill(test, idx)
		if err := e.run(); err != nil {
			return 0, 0, fmt.Errorf("evaluation: %w", err)
		}
		var l float64
		var c int
		switch lp := e.logp.Value().Data().(type) {
		case []float32:
			l, c = scoreBatch(lp, test, idx, t.arch.classes)
		case []float64:
			l, c = scoreBatch(lp, test, idx, t.arch.classes)
		}
		sumLoss += l
		correct += c
	}
	return sumLoss / float64(test.N), float64(correct) / float64(test.N), nil
}

// scoreBatch sums −log p(label) and counts argmax hits over the rows idx
// fills (padding rows beyond len(idx) are ignored).
func scoreBatch[T float32 | float64](logp []T, ds *Dataset, idx []int, classes int) (loss float64, correct int) {
	for r, i := range idx {
		row := logp[r*classes : (r+1)*classes]
		label := int(ds.Labels[i])
		loss -= float64(row[label])
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		if best == label {
			correct++
		}
	}
	return loss, correct
}
