package tuner

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// TestMOBench is tune's side of the multi-objective bench/quality runs
// (bench/quality/optuna_mo.py is Optuna's; bench/README.md has the
// results): every table as a two-objective problem (its metric and the
// network's parameter count), through the tuner in process until the
// service takes objectives over HTTP. TUNE_MOBENCH=file.jsonl runs it;
// TUNE_MOBENCH_SEEDS (10), TUNE_MOBENCH_W (1,8), TUNE_MOBENCH_TABLES (all).
func TestMOBench(t *testing.T) {
	out := os.Getenv("TUNE_MOBENCH")
	if out == "" {
		t.Skip("TUNE_MOBENCH not set")
	}
	seeds := 10
	if e := os.Getenv("TUNE_MOBENCH_SEEDS"); e != "" {
		seeds, _ = strconv.Atoi(e)
	}
	ws := []int{1, 8}
	if e := os.Getenv("TUNE_MOBENCH_W"); e != "" {
		ws = nil
		for _, x := range strings.Split(e, ",") {
			n, _ := strconv.Atoi(x)
			ws = append(ws, n)
		}
	}
	var only []string
	if e := os.Getenv("TUNE_MOBENCH_TABLES"); e != "" {
		only = strings.Split(e, ",")
	}
	files, _ := filepath.Glob("../bench/quality/data/*/*.csv.gz")
	slices.Sort(files)
	fh, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for seed := range seeds {
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".csv.gz")
			if len(only) > 0 && !slices.Contains(only, name) {
				continue
			}
			tb := loadMOTable(t, f)
			for _, run := range []string{"mo", "constrained"} {
				for _, sampler := range []string{"tune", "tune-random"} {
					for _, w := range ws {
						start := time.Now()
						hv, feasible := tb.run(t, sampler, run, int64(seed), 100, w)
						line, _ := json.Marshal(map[string]any{"sampler": sampler, "run": run, "table": name, "seed": seed,
							"trials": 100, "inflight": w, "hv": hv, "feasible": feasible, "seconds": time.Since(start).Seconds()})
						fmt.Fprintln(fh, string(line))
					}
				}
			}
		}
	}
}

// moTable is one benchmark table with what optuna_mo.py computes for it:
// parameter counts, the normalization, the constraint's bound and the
// hypervolume of the whole table's front.
type moTable struct {
	name     string
	hpolib   bool
	sizes    []int
	names    []string
	cats     map[string][]any // categorical params' choices
	runs     map[int][]float64
	means    map[int]float64
	counts   map[int]float64
	bound    float64
	lo, hi   [2]float64
	bestHV   float64
	maximize bool
}

// The networks' input and output widths, as optuna_mo.py's NETS.
var moNets = map[string][2]float64{
	"australian": {14, 2}, "blood_transfusion": {4, 2}, "car": {6, 4}, "credit_g": {20, 2},
	"kc1": {21, 2}, "segment": {19, 7}, "naval_propulsion": {16, 1}, "parkinsons_telemonitoring": {20, 1},
}

func loadMOTable(t testing.TB, path string) *moTable {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(path), ".csv.gz")
	tb := &moTable{name: name, runs: map[int][]float64{}, means: map[int]float64{}, counts: map[int]float64{}}
	if filepath.Base(filepath.Dir(path)) == "hpolib" {
		tb.hpolib = true
		tb.names = []string{"activation_fn_1", "activation_fn_2", "batch_size", "dropout_1", "dropout_2", "init_lr", "lr_schedule", "n_units_1", "n_units_2"}
		tb.sizes = []int{2, 2, 4, 3, 3, 6, 2, 6, 6}
		tb.cats = map[string][]any{"activation_fn_1": {"relu", "tanh"}, "activation_fn_2": {"relu", "tanh"}, "lr_schedule": {"cosine", "const"}}
	} else {
		tb.names, tb.sizes, tb.maximize = hpoNames, hpoSizes, true
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		k := 0
		for i, c := range f[0] {
			k = k*tb.sizes[i] + int(c-'0')
		}
		sum := 0.0
		for _, s := range f[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			tb.runs[k] = append(tb.runs[k], v)
			sum += v
		}
		tb.means[k] = sum / float64(len(f)-1)
		tb.counts[k] = tb.paramCount(k)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var counts []float64
	tb.lo = [2]float64{math.Inf(1), math.Inf(1)}
	tb.hi = [2]float64{math.Inf(-1), math.Inf(-1)}
	for k, m := range tb.means {
		counts = append(counts, tb.counts[k])
		for i, x := range []float64{tb.f1(m), math.Log10(tb.counts[k])} {
			tb.lo[i], tb.hi[i] = math.Min(tb.lo[i], x), math.Max(tb.hi[i], x)
		}
	}
	slices.Sort(counts)
	tb.bound = median(counts)
	all := make([][]float64, 0, len(tb.means))
	for k := range tb.means {
		all = append(all, tb.point(k))
	}
	tb.bestHV = hypervolume(all, []float64{1, 1})
	return tb
}

func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func (tb *moTable) decode(k int) []int {
	idx := make([]int, len(tb.sizes))
	for i := len(tb.sizes) - 1; i >= 0; i-- {
		idx[i] = k % tb.sizes[i]
		k /= tb.sizes[i]
	}
	return idx
}

func (tb *moTable) paramCount(k int) float64 {
	net := moNets[tb.name]
	in, out := net[0], net[1]
	idx := tb.decode(k)
	if tb.hpolib {
		units := []float64{16, 32, 64, 128, 256, 512}
		n1, n2 := units[idx[7]], units[idx[8]]
		return in*n1 + n1 + n1*n2 + n2 + n2*out + out
	}
	w, depth := hpoWidths[idx[4]], float64(idx[2]+1)
	return in*w + w + (depth-1)*(w*w+w) + w*out + out
}

// f1 is the first objective as a loss on the scale it is normalized on.
func (tb *moTable) f1(m float64) float64 {
	if tb.hpolib {
		return math.Log10(m)
	}
	return -m
}

func (tb *moTable) point(k int) []float64 {
	return []float64{
		(tb.f1(tb.means[k]) - tb.lo[0]) / (tb.hi[0] - tb.lo[0]),
		(math.Log10(tb.counts[k]) - tb.lo[1]) / (tb.hi[1] - tb.lo[1]),
	}
}

func (tb *moTable) space() trials.SearchSpace {
	ss := trials.SearchSpace{}
	for i, n := range tb.names {
		if c, ok := tb.cats[n]; ok {
			ss[n] = trials.Distribution{Type: trials.Categorical, Choices: c}
			continue
		}
		ss[n] = trials.Distribution{Type: trials.Int, Low: 0, High: float64(tb.sizes[i] - 1)}
	}
	return ss
}

func (tb *moTable) config(p map[string]any) int {
	k := 0
	for i, n := range tb.names {
		var x int
		if c, ok := tb.cats[n]; ok {
			x = slices.Index(c, p[n])
		} else {
			x = int(p[n].(int64))
		}
		k = k*tb.sizes[i] + x
	}
	return k
}

// run is one seeded study of budget trials with w in flight (w asks ahead,
// then each tell of the oldest is followed by the next ask); it returns the
// hypervolume of its (feasible) trials as a share of the table's best, and
// how many were feasible.
func (tb *moTable) run(t testing.TB, sampler, run string, seed int64, budget, w int) (float64, int) {
	typ := trials.SamplerTPE
	if sampler == "tune-random" {
		typ = trials.SamplerRandom
	}
	s := newStudy(seed+1, typ, tb.space())
	s.Objective = trials.Objective{}
	dir := trials.Minimize
	if tb.maximize {
		dir = trials.Maximize
	}
	s.Objectives = []trials.Objective{{Metric: "metric", Direction: dir}, {Metric: "params", Direction: trials.Minimize}}
	s.Sampler.Seed = ptr(seed)
	if run == "constrained" {
		s.Constraints = []trials.Constraint{{Metric: "params", Max: ptr(tb.bound)}}
	}
	noise := rand.New(rand.NewSource(seed ^ int64(len(tb.name))<<20))
	src := newMemSource()
	tn := New(src)
	var queue []trials.Trial
	var pts [][]float64
	feasible, asked := 0, 0
	for range budget {
		for len(queue) < w && asked < budget {
			queue = append(queue, ask(t, tn, src, s))
			asked++
		}
		tr := queue[0]
		queue = queue[1:]
		k := tb.config(tr.Params)
		v := tb.runs[k][noise.Intn(len(tb.runs[k]))]
		done := src.update(tr.ID, func(tr *trials.Trial) {
			tr.State = trials.TrialComplete
			tr.Metrics = map[string]float64{"metric": v, "params": tb.counts[k]}
		})
		tn.Observe(&done)
		if run == "constrained" && tb.counts[k] > tb.bound {
			continue
		}
		feasible++
		pts = append(pts, tb.point(k))
	}
	return hypervolume(pts, []float64{1, 1}) / tb.bestHV, feasible
}
