package mnist

import "runtime/metrics"

// peakMemory tracks a trial's memory: the Go heap's live objects, sampled
// during training (per trial), and the process's peak resident set size.
type peakMemory struct {
	samples []metrics.Sample
	heap    uint64
}

func newPeakMemory() *peakMemory {
	m := &peakMemory{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}}
	m.sample()
	return m
}

// sample records the current heap size if it is a new peak.
func (m *peakMemory) sample() {
	metrics.Read(m.samples)
	if v := m.samples[0].Value; v.Kind() == metrics.KindUint64 {
		m.heap = max(m.heap, v.Uint64())
	}
}

// heapPeak is the largest Go heap (live and not yet collected objects)
// seen during the trial.
func (m *peakMemory) heapPeak() uint64 { return m.heap }

// peak is the process's peak resident set size where the OS reports it
// (getrusage on Unix); elsewhere the Go runtime's total mapped memory now.
func (m *peakMemory) peak() uint64 {
	if rss, ok := maxRSS(); ok {
		return rss
	}
	metrics.Read(m.samples)
	if v := m.samples[1].Value; v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}
