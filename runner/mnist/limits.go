package mnist

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// memoryCheckEvery is how many optimizer steps pass between checks of
// max_memory_bytes (each epoch's end is checked too). Reading the heap
// size costs far less than a step; every 8 bounds the overshoot by what
// 8 steps allocate.
const memoryCheckEvery = 8

// memoryLimit enforces max_memory_bytes on what a trial itself holds: the
// Go heap's objects above their size once the data was loaded and a
// collection ran, just before the trial's model is built. So the model,
// its gradients, the optimizer's state, the minibatches and the garbage
// not yet collected count; the datasets, which the runner caches and
// shares between trials, and the runner's own memory do not. The heap is
// the process's: with trials running in parallel on one runner, a trial's
// figure includes what the others allocated meanwhile. OpenBLAS's own
// buffers (cgo, outside the Go heap) are not counted.
type memoryLimit struct {
	limit  uint64
	base   uint64
	sample []metrics.Sample
}

// newMemoryLimit starts measuring; nil (no limit) when limit is 0. The
// collection it forces makes the baseline the live heap, not whatever
// garbage earlier trials left.
func newMemoryLimit(limit int64) *memoryLimit {
	if limit <= 0 {
		return nil
	}
	runtime.GC()
	m := &memoryLimit{limit: uint64(limit), sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
	m.base = m.heap()
	return m
}

func (m *memoryLimit) heap() uint64 {
	metrics.Read(m.sample)
	if v := m.sample[0].Value; v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}

// check fails the trial as oom when its memory passed the limit.
func (m *memoryLimit) check(epoch, step int) error {
	if m == nil {
		return nil
	}
	h := m.heap()
	if h <= m.base || h-m.base <= m.limit {
		return nil
	}
	return workload.Fail(trials.FailureOOM, fmt.Errorf("out of memory: the trial's heap grew by %d bytes, over max_memory_bytes %d, at epoch %d step %d",
		h-m.base, m.limit, epoch, step))
}

// target measures seconds_to_accuracy: the wall time from the first
// optimizer step until an evaluation first reaches target_accuracy. It
// is read at each epoch's evaluation (which it includes), without
// interpolating between epochs.
type target struct {
	accuracy float64 // 0: none
	start    time.Time
	reached  float64 // seconds; 0 until reached
	best     float64
}

func newTarget(accuracy float64) *target { return &target{accuracy: accuracy, start: time.Now()} }

// observe takes an evaluation's accuracy and returns seconds_to_accuracy
// once it has been reached.
func (t *target) observe(acc float64) (float64, bool) {
	if t.accuracy <= 0 {
		return 0, false
	}
	t.best = max(t.best, acc)
	if t.reached == 0 && acc >= t.accuracy {
		t.reached = max(time.Since(t.start).Seconds(), 1e-9)
	}
	return t.reached, t.reached > 0
}

// missed is the error of a trial that never reached its target when the
// study needs seconds_to_accuracy (it optimizes or constrains it): kind
// timeout, an infeasible observation, for the configuration did not get
// there in the time it was given. Otherwise the metric is merely absent.
func (t *target) missed(tr workload.Trial, epochs int) error {
	if t.accuracy <= 0 || t.reached > 0 {
		return nil
	}
	needed := slices.ContainsFunc(tr.Objectives, func(o trials.Objective) bool { return o.Metric == metricSecondsToAccuracy }) ||
		tr.Objective.Metric == metricSecondsToAccuracy ||
		slices.ContainsFunc(tr.Constraints, func(c trials.Constraint) bool { return c.Metric == metricSecondsToAccuracy })
	if !needed {
		return nil
	}
	return workload.Fail(trials.FailureTimeout, fmt.Errorf("val_accuracy did not reach target_accuracy %g in %d epochs (best %.4g), so the trial has no %s",
		t.accuracy, epochs, t.best, metricSecondsToAccuracy))
}

const metricSecondsToAccuracy = "seconds_to_accuracy"
