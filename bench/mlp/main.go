// Command mlp measures the training throughput of the runner's built-in
// mnist-mlp workload (runner/mnist) over batch sizes, precisions and
// data-parallel workers, and prints a table and JSON.
//
//	go run ./bench/mlp [-batch-sizes 64,256,1024] [-precisions float32,float64]
//	    [-workers 1,2,4] [-hidden 128] [-samples 60000] [-epochs 1] [-repeat 1]
//	    [-blas auto|gonum] [-solver fused|gorgonia] [-json FILE]
//
// Throughput is the workload's own samples_per_second: training examples
// per second of minibatch steps (filling the batch, forward, backward,
// gradient averaging and the optimizer step), without evaluation. The
// same model in PyTorch is bench/pytorch_mlp.py; results and how to
// compare are in bench/mlp/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/runner/mnist"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

type row struct {
	Framework        string    `json:"framework"`
	BLAS             string    `json:"blas"`
	Solver           string    `json:"solver"`
	BatchSize        int       `json:"batch_size"`
	Precision        string    `json:"precision"`
	Workers          int       `json:"workers"`
	HiddenUnits      int       `json:"hidden_units"`
	Samples          int       `json:"samples"`
	Epochs           int       `json:"epochs"`
	SamplesPerSecond float64   `json:"samples_per_second"` // best of the repeats
	Runs             []float64 `json:"runs"`
	TrainLoss        float64   `json:"train_loss"`
}

type report struct {
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	BLAS       string `json:"blas"`
	Results    []row  `json:"results"`
}

type nopReporter struct{}

func (nopReporter) Report(context.Context, int, map[string]float64, *trials.Profile) (bool, error) {
	return false, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	batchSizes := flag.String("batch-sizes", "64,256,1024", "batch sizes")
	precisions := flag.String("precisions", "float32,float64", "precisions")
	workersList := flag.String("workers", "1,2,4", "data-parallel workers")
	hidden := flag.Int("hidden", 128, "hidden units (one hidden layer)")
	samples := flag.Int("samples", 60000, "training examples per epoch")
	epochs := flag.Int("epochs", 1, "epochs per measurement")
	repeat := flag.Int("repeat", 1, "measurements per configuration (the best is reported)")
	blasFlag := flag.String("blas", "auto", "auto (OpenBLAS when it loads) or gonum (pure Go)")
	solver := flag.String("solver", mnist.SolverFused, "fused or gorgonia")
	dataDir := flag.String("data", "", "directory of the four IDX files (default: $TUNE_MNIST_DIR or the GoMNIST module)")
	jsonOut := flag.String("json", "", "also write the JSON report to this file")
	flag.Parse()

	bs, err := ints(*batchSizes)
	if err != nil {
		log.Fatal(err)
	}
	ws, err := ints(*workersList)
	if err != nil {
		log.Fatal(err)
	}
	if *blasFlag == "gonum" {
		os.Setenv(mnist.EnvBLAS, "gonum")
	}
	w := mnist.New(mnist.Options{DataDir: *dataDir})
	rep := report{GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), BLAS: mnist.BLAS()}
	fmt.Printf("mnist-mlp (gorgonia), %s, GOMAXPROCS=%d, BLAS: %s, solver: %s, hidden %d, %d samples x %d epoch(s), best of %d\n",
		rep.GoVersion, rep.GOMAXPROCS, rep.BLAS, *solver, *hidden, *samples, *epochs, *repeat)
	fmt.Printf("%6s %9s %7s %12s %10s\n", "batch", "precision", "workers", "samples/s", "train loss")

	ctx := context.Background()
	for _, prec := range strings.Split(*precisions, ",") {
		for _, b := range bs {
			for _, nw := range ws {
				r := row{Framework: "gorgonia", BLAS: rep.BLAS, Solver: *solver, BatchSize: b, Precision: prec,
					Workers: nw, HiddenUnits: *hidden, Samples: *samples, Epochs: *epochs}
				for range *repeat {
					res, err := w.Run(ctx, workload.Trial{
						Number: 1,
						Options: map[string]any{
							"train_samples": *samples, "test_samples": 1000, "solver": *solver,
						},
						Params: map[string]any{
							"batch_size": int64(b), "precision": prec, "workers": int64(nw),
							"hidden_units": int64(*hidden), "epochs": int64(*epochs),
						},
					}, nopReporter{})
					if err != nil {
						log.Fatalf("batch %d %s workers %d: %v", b, prec, nw, err)
					}
					r.Runs = append(r.Runs, res.Metrics["samples_per_second"])
					r.TrainLoss = res.Metrics["train_loss"]
				}
				r.SamplesPerSecond = slices.Max(r.Runs)
				rep.Results = append(rep.Results, r)
				fmt.Printf("%6d %9s %7d %12.0f %10.4f\n", b, prec, nw, r.SamplesPerSecond, r.TrainLoss)
			}
		}
	}
	out, err := json.Marshal(rep)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, out, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
