package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

func ptr[T any](v T) *T { return &v }

func TestParamCount(t *testing.T) {
	car := &table{name: "car", fam: families["hpobench"]}
	naval := &table{name: "naval_propulsion", fam: families["hpolib"]}
	for _, c := range []struct {
		t    *table
		idx  []int
		want float64
	}{
		// car: 6 inputs, 4 classes; width 101 (index 4), depth 3 (index 2):
		// 6·101+101 + 2·(101·101+101) + 101·4+4.
		{car, []int{7, 3, 2, 5, 4}, 707 + 20604 + 408},
		// One hidden layer of 16: 6·16+16 + 16·4+4.
		{car, []int{0, 0, 0, 0, 0}, 180},
		// naval: 16 inputs, 1 output; n_units 512 then 16:
		// 16·512+512 + 512·16+16 + 16·1+1.
		{naval, []int{1, 0, 3, 2, 1, 4, 1, 5, 0}, 8704 + 8208 + 17},
	} {
		got, err := c.t.paramCount(c.t.fam.index(c.idx))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s %v: %g parameters, want %g", c.t.name, c.idx, got, c.want)
		}
	}
	if _, err := (&table{name: "mnist", fam: families["hpobench"]}).paramCount(0); err == nil {
		t.Error("a table with no network widths counted parameters")
	}
}

func TestHypervolume(t *testing.T) {
	for _, c := range []struct {
		pts  [][2]float64
		want float64
	}{
		{nil, 0},
		{[][2]float64{{0, 0}}, 1},
		// (0.2, 0.6) and (0.5, 0.3): 0.8·0.4 + 0.5·0.3; (0.7, 0.7) is
		// dominated, (1, 0) and (0.1, 1) lie on the reference point's
		// box and add nothing, a duplicate adds nothing.
		{[][2]float64{{0.7, 0.7}, {0.5, 0.3}, {1, 0}, {0.2, 0.6}, {0.1, 1}, {0.5, 0.3}}, 0.32 + 0.15},
		{[][2]float64{{1.5, -1}}, 0},
	} {
		if got := hypervolume(c.pts); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("hypervolume(%v) = %g, want %g", c.pts, got, c.want)
		}
	}
}

// TestMOTable scores a three-configuration table by hand: accuracies 0.7,
// 0.9 and 0.8 for networks of 180, 2 110 468 and 708 parameters.
func TestMOTable(t *testing.T) {
	fam := families["hpobench"]
	tb := &table{name: "car", fam: fam, runs: make([][]float64, fam.size()), means: make([]float64, fam.size())}
	small := fam.index([]int{0, 0, 0, 0, 0})  // width 16, depth 1: 180
	big := fam.index([]int{0, 0, 2, 0, 9})    // width 1024, depth 3: 2 110 468
	middle := fam.index([]int{0, 0, 0, 0, 3}) // width 64, depth 1: 708
	for k, acc := range map[int]float64{small: 0.7, big: 0.9, middle: 0.8} {
		tb.runs[k] = []float64{acc - 0.01, acc + 0.01}
		tb.means[k] = acc
	}
	m, err := newMOTable(tb)
	if err != nil {
		t.Fatal(err)
	}
	if m.counts[big] != 2110468 || m.bound != 708 {
		t.Fatalf("counts %g, bound %g; want 2110468 and the median 708", m.counts[big], m.bound)
	}
	if !m.feasible(small) || !m.feasible(middle) || m.feasible(big) {
		t.Error("feasible: want the two networks within the bound 708")
	}
	// Accuracy spans 0.7..0.9 and log10(count) log10(180)..log10(2110468):
	// small is (1, 0), big (0, 1), both on the reference box; middle is
	// (0.5, c) and alone makes the front.
	c := math.Log10(708.0/180) / math.Log10(2110468.0/180)
	if p := m.point(middle); math.Abs(p[0]-0.5) > 1e-12 || math.Abs(p[1]-c) > 1e-12 {
		t.Errorf("point(middle) = %v, want (0.5, %g)", p, c)
	}
	if math.Abs(m.bestHV-0.5*(1-c)) > 1e-12 {
		t.Errorf("best hypervolume %g, want %g", m.bestHV, 0.5*(1-c))
	}
	if s := m.score([]int{middle, small}); math.Abs(s-1) > 1e-12 {
		t.Errorf("score with the front's configuration = %g, want 1", s)
	}
	if s := m.score([]int{small, big}); s != 0 {
		t.Errorf("score of points on the reference box = %g, want 0", s)
	}
}

// TestMOTableMatchesOptuna checks that optuna_mo.py, which scores Optuna's
// side, computes the same counts, bound and front as mo.go on real tables.
func TestMOTableMatchesOptuna(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s cannot import numpy: %v", py, err)
	}
	names := []string{"car", "naval_propulsion"}
	tables, err := loadTables("data", names)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
sys.path.insert(0, ".")
from optuna_mo import MO, load_tables, table
out = {}
for p, f in load_tables("data", sys.argv[1].split(",")):
    m = MO(table(p, f))
    out[m.t.name] = {"bound": m.bound, "best": m.best, "counts": {str(k): c for k, c in list(m.counts.items())[::997]}}
print(json.dumps(out))
`
	raw, err := exec.Command(py, "-c", script, strings.Join(names, ",")).Output()
	if err != nil {
		t.Fatalf("optuna_mo.py: %v", err)
	}
	var want map[string]struct {
		Bound, Best float64
		Counts      map[int]float64
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		m, err := newMOTable(tb)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[tb.name]
		if !ok || len(w.Counts) == 0 {
			t.Fatalf("optuna_mo.py said nothing of %s: %s", tb.name, raw)
		}
		if m.bound != w.Bound || math.Abs(m.bestHV-w.Best) > 1e-9 {
			t.Errorf("%s: bound %g, best hypervolume %g; optuna_mo.py %g, %g", tb.name, m.bound, m.bestHV, w.Bound, w.Best)
		}
		for k, c := range w.Counts {
			if m.counts[k] != c {
				t.Errorf("%s config %d: %g parameters; optuna_mo.py %g", tb.name, k, m.counts[k], c)
			}
		}
	}
}

// TestMOTPEBeatsRandomOverHTTP runs the multi-objective mode through the
// real service on HPOLib's naval_propulsion (validation MSE against the
// network's parameter count) and checks that the study's default sampler
// covers a clearly larger hypervolume than random search, and that a
// constraint on the parameter count makes it run clearly more feasible
// trials than random. Seeds are fixed and trials run one at a time, so the
// figures are the same on every run.
func TestMOTPEBeatsRandomOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 studies of 100 trials")
	}
	tables, err := loadTables("data", []string{"naval_propulsion"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMOTable(tables[0])
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	b := newBench(srv.url)
	tpe := &variant{Name: "tpe"}
	random := &variant{Name: "random", Config: openapi.SamplerConfig{Type: ptr("random")}}
	const seeds, trials = 5, 100
	mean := func(md mode, v *variant) (hv, feasible float64) {
		for s := range seeds {
			o, err := b.runStudy(t.Context(), job{mode: md, variant: v, inflight: 1, table: m.table, mo: m, seed: s}, trials)
			if err != nil {
				t.Fatal(err)
			}
			hv += o.HV / seeds
			feasible += float64(o.Feasible) / seeds
		}
		return hv, feasible
	}
	tpeHV, _ := mean(multi, tpe)
	randomHV, _ := mean(multi, random)
	t.Logf("mo: mean hypervolume ÷ the table's over %d seeds of %d trials: tpe %.4f, random %.4f", seeds, trials, tpeHV, randomHV)
	if !(1-tpeHV < 0.6*(1-randomHV)) {
		t.Errorf("TPE's hypervolume %.4f is not clearly better than random's %.4f (its gap to the table's front should be < 0.6× random's)", tpeHV, randomHV)
	}
	_, tpeFeasible := mean(constrained, tpe)
	_, randomFeasible := mean(constrained, random)
	t.Logf("constrained: mean feasible trials: tpe %.1f, random %.1f", tpeFeasible, randomFeasible)
	if !(tpeFeasible > 1.5*randomFeasible) {
		t.Errorf("TPE ran %.1f feasible trials, not clearly more than random's %.1f", tpeFeasible, randomFeasible)
	}
}

func TestModeFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--mode", "mo,constrained", "--jsonl", "x.jsonl"})
	if err != nil || !slices.Equal(cfg.Modes, []mode{multi, constrained}) {
		t.Fatalf("--mode mo,constrained: %v, %v", cfg, err)
	}
	if cfg, err := parseFlags(nil); err != nil || !slices.Equal(cfg.Modes, []mode{single}) {
		t.Fatalf("default mode: %v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"--mode", "pareto"},
		{"--mode", "mo,mo"},
		{"--mode", "single,mo"},
		{"--mode", ""},
		{"--jsonl", "x.jsonl"},               // single writes --json
		{"--mode", "mo", "--json", "x.json"}, // mo writes --jsonl
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
