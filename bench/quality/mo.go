package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/tune-dev/tune/bench/internal/harness"
)

// The multi-objective runs make every table a two-objective problem: the
// table's metric and the parameter count of the network a configuration
// trains (minimized). This file holds their rules: the parameter count, the
// constraint's bound, the normalization and the hypervolume. optuna_mo.py
// has the same rules in Python for Optuna's side; TestMOTableMatchesOptuna
// keeps the two in step.

// mode is what a study optimizes.
type mode string

const (
	single      mode = "single"      // the table's metric alone
	multi       mode = "mo"          // the metric and the parameter count
	constrained mode = "constrained" // the same, parameter count <= the table's median
)

// nets are the input width and outputs of each dataset's network. HPOBench:
// the OpenML datasets' feature counts before one-hot encoding (car and
// credit_g have categorical features, so their real input layers are wider;
// the assumption only shifts the first layer's count) and class counts.
// HPOLib: the FCNet paper's feature counts and one regression output.
var nets = map[string]struct{ in, out float64 }{
	"australian": {14, 2}, "blood_transfusion": {4, 2}, "car": {6, 4}, "credit_g": {20, 2},
	"kc1": {21, 2}, "segment": {19, 7}, "naval_propulsion": {16, 1}, "parkinsons_telemonitoring": {20, 1},
}

// The hidden layers' widths behind the tables' choice indices.
var (
	hpobenchWidths = []float64{16, 25, 40, 64, 101, 161, 256, 406, 645, 1024}
	hpolibUnits    = []float64{16, 32, 64, 128, 256, 512}
)

// paramCount is the number of weights and biases of configuration k's
// fully connected network: HPOBench's MLP has depth hidden layers of one
// width, HPOLib's FCNet two hidden layers of n_units_1 and n_units_2.
func (t *table) paramCount(k int) (float64, error) {
	net, ok := nets[t.name]
	if !ok {
		return 0, fmt.Errorf("%s: no network widths for a multi-objective run", t.name)
	}
	idx := t.fam.choices(k)
	at := func(name string) int { return idx[t.fam.param(name)] }
	switch t.fam.name {
	case "hpobench":
		w, depth := hpobenchWidths[at("width")], float64(at("depth")+1)
		return net.in*w + w + (depth-1)*(w*w+w) + w*net.out + net.out, nil
	case "hpolib":
		n1, n2 := hpolibUnits[at("n_units_1")], hpolibUnits[at("n_units_2")]
		return net.in*n1 + n1 + n1*n2 + n2 + n2*net.out + net.out, nil
	}
	return 0, fmt.Errorf("%s: no parameter count for family %s", t.name, t.fam.name)
}

// moTable is a table's multi-objective scoring: each configuration's
// parameter count, the constraint's bound (the median count over the
// table's configurations), the normalization of both objectives and the
// hypervolume of the whole table's front.
type moTable struct {
	*table
	counts []float64 // by config index; NaN where the table has no row
	bound  float64
	lo, hi [2]float64
	bestHV float64
}

func newMOTable(t *table) (*moTable, error) {
	m := &moTable{table: t, counts: make([]float64, len(t.runs))}
	m.lo = [2]float64{math.Inf(1), math.Inf(1)}
	m.hi = [2]float64{math.Inf(-1), math.Inf(-1)}
	var present []float64
	for k, r := range t.runs {
		m.counts[k] = math.NaN()
		if r == nil {
			continue
		}
		c, err := t.paramCount(k)
		if err != nil {
			return nil, err
		}
		m.counts[k] = c
		present = append(present, c)
		for i, x := range m.raw(k) {
			m.lo[i], m.hi[i] = math.Min(m.lo[i], x), math.Max(m.hi[i], x)
		}
	}
	if !(m.hi[0] > m.lo[0] && m.hi[1] > m.lo[1]) {
		return nil, fmt.Errorf("%s: an objective is constant over the table", t.name)
	}
	slices.Sort(present)
	m.bound = median(present)
	pts := make([][2]float64, 0, len(present))
	for k, r := range t.runs {
		if r != nil {
			pts = append(pts, m.point(k))
		}
	}
	m.bestHV = hypervolume(pts)
	return m, nil
}

// raw is configuration k's two objectives as losses on the scale they are
// normalized on: MSE and parameter count span orders of magnitude, so they
// go on a log10 scale; accuracy is negated.
func (m *moTable) raw(k int) [2]float64 {
	f1 := -m.means[k]
	if m.fam.minimize {
		f1 = math.Log10(m.means[k])
	}
	return [2]float64{f1, math.Log10(m.counts[k])}
}

// point is configuration k's objectives normalized by the table's own min
// and max to [0, 1], where (1, 1) is the reference point.
func (m *moTable) point(k int) [2]float64 {
	r := m.raw(k)
	return [2]float64{(r[0] - m.lo[0]) / (m.hi[0] - m.lo[0]), (r[1] - m.lo[1]) / (m.hi[1] - m.lo[1])}
}

// feasible says whether configuration k keeps the constrained runs' bound.
func (m *moTable) feasible(k int) bool { return m.counts[k] <= m.bound }

// score is a study's hypervolume over the configurations of its feasible
// trials, scored on their means (not the noisy values the study saw), as a
// share of the whole table's front, so that tables weigh the same.
func (m *moTable) score(configs []int) float64 {
	pts := make([][2]float64, len(configs))
	for i, k := range configs {
		pts[i] = m.point(k)
	}
	return hypervolume(pts) / m.bestHV
}

// hypervolume is the area that pts dominate (both coordinates minimized)
// below the reference point (1, 1); points not strictly below it add nothing.
func hypervolume(pts [][2]float64) float64 {
	in := make([][2]float64, 0, len(pts))
	for _, p := range pts {
		if p[0] < 1 && p[1] < 1 {
			in = append(in, p)
		}
	}
	slices.SortFunc(in, func(a, b [2]float64) int {
		if c := cmpFloat(a[0], b[0]); c != 0 {
			return c
		}
		return cmpFloat(a[1], b[1])
	})
	vol, y := 0.0, 1.0
	for _, p := range in {
		if p[1] < y {
			vol += (1 - p[0]) * (y - p[1])
			y = p[1]
		}
	}
	return vol
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// moLine is one multi-objective study as optuna_mo.py writes it and
// compare_mo.py reads it.
type moLine struct {
	Sampler  string  `json:"sampler"`
	Run      mode    `json:"run"`
	Table    string  `json:"table"`
	Seed     int     `json:"seed"`
	Trials   int     `json:"trials"`
	Inflight int     `json:"inflight"`
	HV       float64 `json:"hv"`
	Feasible int     `json:"feasible"`
	Seconds  float64 `json:"seconds"`
}

// writeMO writes the studies to cfg.JSONLPath, when given, and prints each
// mode, sampler and W's mean hypervolume and feasible trials over tables
// and seeds; compare_mo.py prints the per-table comparison with Optuna.
func writeMO(w io.Writer, cfg *config, jobs []job, outs []outcome) error {
	var buf bytes.Buffer
	type key struct {
		m mode
		s string
		w int
	}
	var keys []key
	sums := map[key][3]float64{}
	for i, j := range jobs {
		o := outs[i]
		raw, err := json.Marshal(moLine{Sampler: j.variant.Name, Run: j.mode, Table: j.table.name, Seed: j.seed,
			Trials: cfg.Trials, Inflight: j.inflight, HV: o.HV, Feasible: o.Feasible, Seconds: o.Seconds})
		if err != nil {
			return err
		}
		buf.Write(append(raw, '\n'))
		k := key{j.mode, j.variant.Name, j.inflight}
		if _, ok := sums[k]; !ok {
			keys = append(keys, k)
		}
		s := sums[k]
		sums[k] = [3]float64{s[0] + o.HV, s[1] + float64(o.Feasible), s[2] + 1}
	}
	fmt.Fprintf(w, "tune, %d trials, %d seeds; hypervolume ÷ the table's front (higher is better), mean over tables and seeds\n",
		cfg.Trials, cfg.Seeds)
	fmt.Fprintf(w, "%-12s %-28s %3s %8s %9s\n", "mode", "sampler", "W", "hv", "feasible")
	for _, k := range keys {
		s := sums[k]
		fmt.Fprintf(w, "%-12s %-28s %3d %8.4f %9.1f\n", k.m, k.s, k.w, s[0]/s[2], s[1]/s[2])
	}
	if cfg.JSONLPath == "" {
		return nil
	}
	if err := os.WriteFile(cfg.JSONLPath, buf.Bytes(), 0o644); err != nil {
		return err
	}
	harness.Logf("wrote %s", cfg.JSONLPath)
	return nil
}
