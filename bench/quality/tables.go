package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// spec is one param of a benchmark family: string choices become a
// categorical param, numeric ones an int index into the list (the
// benchmarks' own convention).
type spec struct {
	name    string
	choices []string
	numeric bool
}

// family is the search space shared by the tables of one benchmark.
type family struct {
	name     string
	params   []spec
	minimize bool
}

func strs(cs ...string) []string { return cs }

var families = map[string]family{
	"hpolib": {name: "hpolib", minimize: true, params: []spec{
		{name: "activation_fn_1", choices: strs("relu", "tanh")},
		{name: "activation_fn_2", choices: strs("relu", "tanh")},
		{name: "batch_size", choices: strs("8", "16", "32", "64"), numeric: true},
		{name: "dropout_1", choices: strs("0.0", "0.3", "0.6"), numeric: true},
		{name: "dropout_2", choices: strs("0.0", "0.3", "0.6"), numeric: true},
		{name: "init_lr", choices: strs("5e-4", "1e-3", "5e-3", "1e-2", "5e-2", "1e-1"), numeric: true},
		{name: "lr_schedule", choices: strs("cosine", "const")},
		{name: "n_units_1", choices: strs("16", "32", "64", "128", "256", "512"), numeric: true},
		{name: "n_units_2", choices: strs("16", "32", "64", "128", "256", "512"), numeric: true},
	}},
	"hpobench": {name: "hpobench", minimize: false, params: []spec{
		{name: "alpha", choices: make([]string, 10), numeric: true},
		{name: "batch_size", choices: make([]string, 10), numeric: true},
		{name: "depth", choices: make([]string, 3), numeric: true},
		{name: "learning_rate_init", choices: make([]string, 10), numeric: true},
		{name: "width", choices: make([]string, 10), numeric: true},
	}},
}

// table is one dataset: every configuration's results over the seeds it
// was trained with, indexed by the mixed-radix number of its choice indices.
type table struct {
	name   string
	fam    family
	runs   [][]float64 // by config index; nil where the file has no row
	means  []float64
	best   float64 // best mean in the table
	median float64 // median regret of all configurations
}

// loadTables reads every <family>/<name>.csv.gz under dir whose name is in
// only (all when only is empty), in a fixed order.
func loadTables(dir string, only []string) ([]*table, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".csv.gz") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading benchmark data: %w", err)
	}
	slices.Sort(paths)
	var out []*table
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".csv.gz")
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		fam, ok := families[filepath.Base(filepath.Dir(p))]
		if !ok {
			return nil, fmt.Errorf("%s: unknown benchmark family %q", p, filepath.Base(filepath.Dir(p)))
		}
		t, err := readTable(p, name, fam)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no tables under %s match %v", dir, only)
	}
	for _, n := range only {
		if !slices.ContainsFunc(out, func(t *table) bool { return t.name == n }) {
			return nil, fmt.Errorf("no table %q under %s", n, dir)
		}
	}
	return out, nil
}

func (f family) size() int {
	n := 1
	for _, p := range f.params {
		n *= len(p.choices)
	}
	return n
}

// index is the config index of choice indices, first param most significant.
func (f family) index(idx []int) int {
	k := 0
	for i, p := range f.params {
		k = k*len(p.choices) + idx[i]
	}
	return k
}

// choices is the inverse of index: config index k's choice indices.
func (f family) choices(k int) []int {
	idx := make([]int, len(f.params))
	for i := len(f.params) - 1; i >= 0; i-- {
		n := len(f.params[i].choices)
		idx[i] = k % n
		k /= n
	}
	return idx
}

// param is the position of the param called name; the families are fixed
// above, so a name not among them is a bug here.
func (f family) param(name string) int {
	i := slices.IndexFunc(f.params, func(p spec) bool { return p.name == name })
	if i < 0 {
		panic("bench/quality: family " + f.name + " has no param " + name)
	}
	return i
}

func readTable(path, name string, fam family) (*table, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &table{name: name, fam: fam, runs: make([][]float64, fam.size())}
	sc := bufio.NewScanner(zr)
	line := 0
	idx := make([]int, len(fam.params))
	for sc.Scan() {
		line++
		fields := strings.Split(sc.Text(), ",")
		key := fields[0]
		if len(key) != len(fam.params) || len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: malformed row", path, line)
		}
		for i, c := range key {
			idx[i] = int(c - '0')
			if idx[i] < 0 || idx[i] >= len(fam.params[i].choices) {
				return nil, fmt.Errorf("%s:%d: choice %c out of range for %s", path, line, c, fam.params[i].name)
			}
		}
		vals := make([]float64, len(fields)-1)
		for i, f := range fields[1:] {
			if vals[i], err = strconv.ParseFloat(f, 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, err)
			}
		}
		t.runs[fam.index(idx)] = vals
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.means = make([]float64, len(t.runs))
	var all []float64
	t.best = math.Inf(1)
	if !fam.minimize {
		t.best = math.Inf(-1)
	}
	for i, r := range t.runs {
		if r == nil {
			t.means[i] = math.NaN()
			continue
		}
		s := 0.0
		for _, v := range r {
			s += v
		}
		t.means[i] = s / float64(len(r))
		all = append(all, t.means[i])
		if t.better(t.means[i], t.best) {
			t.best = t.means[i]
		}
	}
	for i, m := range all {
		all[i] = t.regret(m)
	}
	slices.Sort(all)
	t.median = median(all)
	if !(t.median > 0) {
		return nil, fmt.Errorf("%s: median regret is %g", path, t.median)
	}
	return t, nil
}

func (t *table) better(a, b float64) bool {
	if t.fam.minimize {
		return a < b
	}
	return a > b
}

// regret of a configuration whose mean over seeds is m.
func (t *table) regret(m float64) float64 {
	if t.fam.minimize {
		return m - t.best
	}
	return t.best - m
}

// median of sorted xs.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
