//go:build ignore

// gen compiles mlp.cu to mlp.ptx with nvcc, for `go generate` in
// runner/mnist/gpu. Where nvcc is absent (most machines, CI included) it
// says so and leaves the committed PTX alone, so `go generate ./...`
// succeeds everywhere and changes nothing there. $NVCC names another nvcc.
//
// The PTX targets compute_80 (Ampere): the driver JIT-compiles it for the
// GPU it runs on (sm_90 on an H100/H200), and ptxas checks it assembles
// for both (TestPTXAssembles).
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

const arch = "compute_80"

func main() {
	nvcc := os.Getenv("NVCC")
	if nvcc == "" {
		nvcc = "nvcc"
	}
	path, err := exec.LookPath(nvcc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner/mnist/gpu: %s not found; kept the committed kernels/mlp.ptx (install nvidia-cuda-toolkit to regenerate it)\n", nvcc)
		return
	}
	ptx, err := Compile(path, "kernels/mlp.cu")
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner/mnist/gpu:", err)
		os.Exit(1)
	}
	old, _ := os.ReadFile("kernels/mlp.ptx")
	if bytes.Equal(old, ptx) {
		return
	}
	if err := os.WriteFile("kernels/mlp.ptx", ptx, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "runner/mnist/gpu:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "runner/mnist/gpu: wrote kernels/mlp.ptx with %s\n", path)
}

// Compile runs nvcc -ptx on src and returns the PTX.
func Compile(nvcc, src string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "tune-ptx-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "mlp.ptx")
	cmd := exec.Command(nvcc, "-ptx", "-arch="+arch, "-O3", "-o", out, src)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", cmd, err, msg)
	}
	return os.ReadFile(out)
}
