//go:build tune_cuda

package mnist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/runner/mnist/gpu"
	"github.com/tune-dev/tune/runner/workload"
)

// GPU says whether this binary trains mnist-mlp on CUDA devices.
const GPU = true

// runOnDevice trains the trial on the CUDA device t.Device names
// ("cuda:N") with runner/mnist/gpu, with the same configuration, data and
// metrics as on the CPU, plus device memory and launches per step.
func (w *Workload) runOnDevice(ctx context.Context, t workload.Trial, r workload.Reporter) (res workload.Result, err error) {
	index, err := strconv.Atoi(strings.TrimPrefix(t.Device, "cuda:"))
	if !strings.HasPrefix(t.Device, "cuda:") || err != nil || index < 0 {
		return res, fmt.Errorf("mnist-mlp: unknown device %q (want cpu or cuda:N)", t.Device)
	}
	cfg, err := w.Config(t)
	if err != nil {
		return res, err
	}
	if err := gpuRefusal(cfg); err != nil {
		return res, err
	}
	data, err := w.Data(cfg)
	if err != nil {
		return res, err
	}
	mem := newTrialMemory()
	out, err := gpu.Train(ctx, index, gpuConfig(cfg), gpuData(data), t.Number, r)
	if d := (*gpu.Diverged)(nil); errors.As(err, &d) {
		return res, diverged(d.What, d.Value, d.Epoch, d.Step, d.LearningRate)
	}
	if err != nil {
		return res, err
	}
	mem.sample()
	heap, rss := mem.trialPeaks()
	out.Metrics["peak_memory_bytes"] = float64(mem.peak())
	out.Metrics["peak_heap_bytes"] = float64(mem.heapPeakTotal())
	out.Metrics["heap_peak_bytes"] = float64(heap)
	out.Metrics["rss_peak_bytes"] = float64(rss)
	slog.Info("mnist-mlp trained on the GPU", "device", t.Device, "gpu", out.GPU, "trial", t.ID,
		"device_memory_bytes", out.Metrics["device_memory_bytes"], "launches_per_step", out.Metrics["launches_per_step"])
	return workload.Result{Metrics: out.Metrics}, nil
}
