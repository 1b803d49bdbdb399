package mnist

import (
	"sync/atomic"
	"time"

	"github.com/tune-dev/tune/trials"
)

// A trial's profile: where each epoch's wall time goes, measured with one
// monotonic clock reading per phase boundary (tens of nanoseconds against
// milliseconds per batch), never per gorgonia op.
//
// The clock laps: each reading charges the time since the previous one to
// the phase that just ended, so the phases tile the epoch without gaps.
// "other" is what the named phases leave of the epoch's wall time (the
// between-batch bookkeeping: cancellation checks, memory samples, loss
// sums), so the phases sum to the wall time by construction; what tests
// check is that other stays small, i.e. that the named phases cover the
// epoch.

type phase int

const (
	phData phase = iota
	phForward
	phBackward
	phOptimizer
	phExchange
	phEval
	phOther
	numPhases
)

var phaseNames = [numPhases]string{
	phData: trials.PhaseData, phForward: trials.PhaseForward, phBackward: trials.PhaseBackward,
	phOptimizer: trials.PhaseOptimizer, phExchange: trials.PhaseExchange, phEval: trials.PhaseEval,
	phOther: trials.PhaseOther,
}

// phaseClock accumulates the phases of one epoch (or, on a replica, of
// one batch). A clock that is off records nothing and reads no time.
type phaseClock struct {
	on   bool
	last time.Time
	d    [numPhases]time.Duration
}

// reset zeroes the phases and starts lapping from now.
func (c *phaseClock) reset() {
	c.d = [numPhases]time.Duration{}
	if c.on {
		c.last = time.Now()
	}
}

// lap charges the time since the last lap to p.
func (c *phaseClock) lap(p phase) {
	if !c.on {
		return
	}
	now := time.Now()
	c.d[p] += now.Sub(c.last)
	c.last = now
}

// lapShared charges the time since the last lap to data, forward and
// backward in the proportions the replicas spent in them: with workers >
// 1 the replicas run those phases at once, so the wall time they took
// together is split by the replicas' own (summed) times, and the phases
// still tile the epoch's wall time.
func (c *phaseClock) lapShared(replicas []*net) {
	if !c.on {
		return
	}
	now := time.Now()
	wall := now.Sub(c.last)
	c.last = now
	var sum [numPhases]time.Duration
	var total time.Duration
	for _, r := range replicas {
		for _, p := range []phase{phData, phForward, phBackward} {
			sum[p] += r.clock.d[p]
			total += r.clock.d[p]
		}
	}
	if total <= 0 {
		c.d[phForward] += wall
		return
	}
	for _, p := range []phase{phData, phForward, phBackward} {
		c.d[p] += time.Duration(float64(wall) * float64(sum[p]) / float64(total))
	}
}

// span is what one report covers: the epochs since the last report
// (several when eval_every > 1).
type span struct {
	wall   time.Duration
	phases [numPhases]time.Duration
	flops  float64
	matmul time.Duration
	epochs int
}

// addEpoch adds an epoch's wall time and phases; other is what the named
// phases leave of wall (never below zero: laps can only under-run wall).
func (s *span) addEpoch(wall time.Duration, c *phaseClock) {
	s.wall += wall
	s.epochs++
	var named time.Duration
	for p := range phOther {
		s.phases[p] += c.d[p]
		named += c.d[p]
	}
	s.phases[phOther] += max(0, wall-named)
}

// profile renders the span with the trial's memory so far.
func (s *span) profile(mem *trialMemory, peakFLOPS float64, on bool) *trials.Profile {
	p := &trials.Profile{WallSeconds: s.wall.Seconds()}
	heap, rss := mem.trialPeaks()
	p.HeapPeakBytes, p.RSSPeakBytes = heap, rss
	if !on {
		return p
	}
	p.Phases = make(map[string]float64, numPhases)
	for ph, d := range s.phases {
		p.Phases[phaseNames[ph]] = d.Seconds()
	}
	p.MatmulFLOPs = s.flops
	p.MatmulSeconds = s.matmul.Seconds()
	p.PeakFLOPS = peakFLOPS
	return p
}

// gemmFLOPs counts the floating-point operations of the model's matrix
// products, 2·m·n·k per product, from the layer shapes: train is one
// training step on batch examples (forward x·W per layer; backward
// hᵀ·δ per layer for the weight gradient and δ·Wᵀ for every layer but
// the first, whose input gradient the net does not compute), eval one
// evaluation batch (forward only).
func (a arch) gemmFLOPs(batch int) (train, eval float64) {
	var fwd, first float64
	in := a.inputs
	for l := 0; l <= a.layers; l++ {
		out := a.hidden
		if l == a.layers {
			out = a.classes
		}
		f := 2 * float64(batch) * float64(in) * float64(out)
		if l == 0 {
			first = f
		}
		fwd += f
		in = out
	}
	return fwd + (2*fwd - first), fwd
}

// activeTrials counts the mnist-mlp trials running in this process: the
// time in matrix products is read from a process-wide counter (see
// gemmNanos), which is the trial's own only while it runs alone.
var activeTrials atomic.Int32
