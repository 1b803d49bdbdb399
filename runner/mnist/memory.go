package mnist

import (
	"runtime/debug"
	"runtime/metrics"
)

// trialMemory tracks a trial's memory as its own, not the process's: the
// runner process holds the cached datasets and what earlier trials left,
// so figures are taken above a baseline read at the trial's start, after
// the garbage collector has run and returned free memory to the OS
// (debug.FreeOSMemory: a few milliseconds per trial). Without that a
// trial after a large one would start with the large one's garbage in the
// heap and its freed pages still resident, and its figures would depend
// on what ran before it.
//
// Heap is the Go heap's objects (live and not yet collected), RSS the
// process's resident set now (/proc/self/statm; 0 where there is none),
// both sampled by the trainer every few batches and at phase boundaries;
// the peaks are the largest samples minus the baseline. The process's
// lifetime peak (getrusage's maxrss) is kept for peak_memory_bytes. A
// runner with --parallel > 1 runs trials in one process, and then what
// the others allocate meanwhile counts in each one's figures: they are a
// trial's own only when it runs alone.
type trialMemory struct {
	samples            []metrics.Sample
	heapBase, heapPeak uint64
	rssBase, rssPeak   uint64
}

func newTrialMemory() *trialMemory {
	debug.FreeOSMemory()
	m := &trialMemory{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}}
	m.heapBase, m.rssBase = m.read()
	m.heapPeak, m.rssPeak = m.heapBase, m.rssBase
	return m
}

func (m *trialMemory) read() (heap, rss uint64) {
	metrics.Read(m.samples)
	if v := m.samples[0].Value; v.Kind() == metrics.KindUint64 {
		heap = v.Uint64()
	}
	rss, _ = currentRSS()
	return heap, rss
}

// sample records the current heap and resident set where they are new
// peaks.
func (m *trialMemory) sample() {
	heap, rss := m.read()
	m.heapPeak = max(m.heapPeak, heap)
	m.rssPeak = max(m.rssPeak, rss)
}

// trialPeaks are the trial's peaks so far above its baseline.
func (m *trialMemory) trialPeaks() (heap, rss int64) {
	return int64(m.heapPeak - m.heapBase), int64(m.rssPeak - m.rssBase)
}

// heapPeakTotal is the largest Go heap (live and not yet collected objects)
// seen during the trial, the baseline included.
func (m *trialMemory) heapPeakTotal() uint64 { return m.heapPeak }

// peak is the process's peak resident set size where the OS reports it
// (getrusage on Unix); elsewhere the Go runtime's total mapped memory now.
func (m *trialMemory) peak() uint64 {
	if rss, ok := maxRSS(); ok {
		return rss
	}
	metrics.Read(m.samples)
	if v := m.samples[1].Value; v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}
