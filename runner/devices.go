package runner

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/openapi"
)

// DefaultDevices lists what this machine offers to trials: the CPU, and
// the CUDA GPUs when the binary is built with -tags tune_cuda. The service only
// records them (they are shown with the runner), so a detail that cannot
// be read is left out rather than failing the runner.
func DefaultDevices() []openapi.Device {
	return append([]openapi.Device{CPUDevice()}, GPUDevices()...)
}

// CPUDevice describes the host CPU from /proc: its model name and the
// machine's total memory, both optional.
func CPUDevice() openapi.Device {
	d := openapi.Device{Kind: "cpu", Index: ptr(0)}
	if name := procField("/proc/cpuinfo", "model name"); name != "" {
		d.Name = &name
	}
	// MemTotal is in kiB: "MemTotal:       16318412 kB".
	if mem := strings.Fields(procField("/proc/meminfo", "MemTotal")); len(mem) > 0 {
		if kib, err := strconv.ParseInt(mem[0], 10, 64); err == nil && kib > 0 {
			d.MemoryBytes = ptr(kib << 10)
		}
	}
	return d
}

// procField returns the value of the first "key: value" line of a /proc
// file whose key is key, or "" when there is none (not Linux, say).
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ParseDevice checks and normalizes a device: "cpu", or "cuda:N" ("cuda"
// is cuda:0), the latter only in a CUDA build and for a GPU this machine
// has. Its errors start with the value, to follow a flag name.
func ParseDevice(s string) (string, error) {
	if s == "" || s == "cpu" {
		return "cpu", nil
	}
	rest, ok := strings.CutPrefix(s, "cuda:")
	if s == "cuda" {
		rest, ok = "0", true
	}
	n, err := strconv.Atoi(rest)
	if !ok || err != nil || n < 0 {
		return "", fmt.Errorf("%s: want cpu or cuda:N, with N a GPU index", s)
	}
	if !CUDA {
		return "", fmt.Errorf("%s: this tune binary was built without CUDA support; rebuild with -tags tune_cuda", s)
	}
	if gpus := len(GPUDevices()); n >= gpus {
		return "", fmt.Errorf("%s: this machine has %d CUDA GPU(s)", s, gpus)
	}
	return "cuda:" + strconv.Itoa(n), nil
}

func ptr[T any](v T) *T { return &v }
