package trials

// Profile is where one reported step (an epoch for mnist-mlp) spent its time
// and memory, as the workload measured it. Phases split WallSeconds; what
// they leave out is the workload's "other".
type Profile struct {
	// WallSeconds is the step's wall time.
	WallSeconds float64 `json:"wall_seconds"`
	// Phases maps a phase to its seconds in the step. mnist-mlp's phases
	// are PhaseData, PhaseForward, PhaseBackward, PhaseOptimizer,
	// PhaseExchange, PhaseEval and PhaseOther; an exec workload may name
	// its own.
	Phases map[string]float64 `json:"phases,omitempty"`
	// HeapPeakBytes is the trial's own peak heap (above what the runner
	// held before the trial) up to this step; RSSPeakBytes its peak
	// resident set above the runner's baseline.
	HeapPeakBytes int64 `json:"heap_peak_bytes,omitempty"`
	RSSPeakBytes  int64 `json:"rss_peak_bytes,omitempty"`
	// DeviceBytes and DevicePeakBytes are GPU memory in use at the end of
	// the step and the trial's peak so far; 0 on a CPU.
	DeviceBytes     int64 `json:"device_bytes,omitempty"`
	DevicePeakBytes int64 `json:"device_peak_bytes,omitempty"`
	// MatmulFLOPs is the floating-point operations of the model's matrix
	// products in the step and MatmulSeconds the time spent in them, so
	// MatmulFLOPs/MatmulSeconds is the achieved rate; PeakFLOPS is the
	// runner's calibrated peak for the trial's precision.
	MatmulFLOPs   float64 `json:"matmul_flops,omitempty"`
	MatmulSeconds float64 `json:"matmul_seconds,omitempty"`
	PeakFLOPS     float64 `json:"peak_flops,omitempty"`
}

// The phases mnist-mlp reports.
const (
	PhaseData      = "data"
	PhaseForward   = "forward"
	PhaseBackward  = "backward"
	PhaseOptimizer = "optimizer"
	PhaseExchange  = "exchange"
	PhaseEval      = "eval"
	PhaseOther     = "other"
)
