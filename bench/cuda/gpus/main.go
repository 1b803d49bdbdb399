// Command gpus prints what a tune runner on this machine would report as
// its devices: the CPU, and with -tags cuda the CUDA GPUs (name, memory,
// compute capability) read through gorgonia.org/cu, one JSON object a
// line. It links runner's GPU discovery without the rest of the runner,
// so a CUDA build can be checked where gorgonia's own cuda build (which
// the same tag turns on in cmd/tune, and which needs cuDNN) cannot be
// compiled. See bench/README.md, "CUDA build".
//
//	go build -tags cuda -o /tmp/gpus ./bench/cuda/gpus && /tmp/gpus
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/tune-dev/tune/runner"
)

func main() {
	fmt.Fprintf(os.Stderr, "cuda build: %v\n", runner.CUDA)
	enc := json.NewEncoder(os.Stdout)
	for _, d := range runner.DefaultDevices() {
		if err := enc.Encode(d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
