package tuner

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// normRegretW is normRegret with w trials in flight: w asks ahead, then
// each tell of the oldest is followed by the next ask.
func (tb *hpoTable) normRegretW(t testing.TB, s *trials.Study, seed int64, budget, w int) float64 {
	noise := rand.New(rand.NewSource(seed))
	src := newMemSource()
	tn := New(src)
	bestValue, bestConfig := math.Inf(-1), -1
	var queue []trials.Trial
	asked := 0
	for told := 0; told < budget; told++ {
		for len(queue) < w && asked < budget {
			queue = append(queue, ask(t, tn, src, s))
			asked++
		}
		tr := queue[0]
		queue = queue[1:]
		k := tb.config(tr.Params)
		runs := tb.runs[k]
		v := runs[noise.Intn(len(runs))]
		done := src.complete(tr.ID, v)
		tn.Observe(&done)
		if v > bestValue {
			bestValue, bestConfig = v, k
		}
	}
	return (tb.best - tb.means[bestConfig]) / tb.med
}

// TestScreenSamplers screens sampler variants on bench/quality's tables
// (TUNE_SCREEN=seeds; TUNE_SCREEN_W=1,8; TUNE_SCREEN_TABLES=car,kc1;
// TUNE_KNOBS=variant specs separated by ';', e.g. "gp; ; old" for the GP,
// the multivariate TPE and the independent TPE).
func TestScreenSamplers(t *testing.T) {
	env := os.Getenv("TUNE_SCREEN")
	if env == "" {
		t.Skip("TUNE_SCREEN not set")
	}
	seeds, _ := strconv.Atoi(env)
	off, _ := strconv.Atoi(os.Getenv("TUNE_SCREEN_OFF"))
	files, _ := filepath.Glob("../bench/quality/data/*/*.csv.gz")
	if e := os.Getenv("TUNE_SCREEN_TABLES"); e != "" {
		files = files[:0]
		for _, n := range strings.Split(e, ",") {
			f, _ := filepath.Glob("../bench/quality/data/*/" + n + ".csv.gz")
			files = append(files, f...)
		}
	}
	var tabs []*hpoTable
	for _, f := range files {
		tabs = append(tabs, loadHPOTable(t, f))
	}
	ws := []int{1, 8}
	if e := os.Getenv("TUNE_SCREEN_W"); e != "" {
		ws = nil
		for _, x := range strings.Split(e, ",") {
			n, _ := strconv.Atoi(x)
			ws = append(ws, n)
		}
	}
	base, gpBase := jointKnobs, gpKnobs
	defer func() { jointKnobs, gpKnobs = base, gpBase }()
	for _, spec := range strings.Split(os.Getenv("TUNE_KNOBS"), ";") {
		gpKnobs = gpBase
		k := base
		mv := true
		typ := trials.SamplerTPE
		for _, kv := range strings.Fields(spec) {
			name, val, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(val, 64)
			switch name {
			case "old":
				mv = false
			case "gp", "auto", "random":
				typ = name
			case "nowarp":
				gpKnobs.warp = false
			case "noplugin":
				gpKnobs.plugin = false
			case "kbworst":
				gpKnobs.kbWorst = true
			case "prior":
				k.priorWeight = f
			case "sigma0":
				k.sigma0 = f
			case "gamma":
				k.gammaFrac = f
			case "cap":
				k.gammaCap = int(f)
			case "sqrt":
				k.gammaSqrt = f
			case "cand":
				k.candidates = int(f)
			case "minbw":
				k.minBW = f
			case "noramp":
				k.noRamp = true
			}
		}
		jointKnobs = k
		line := fmt.Sprintf("%-40s", spec)
		for _, w := range ws {
			sum, n := 0.0, 0
			per := make([]string, 0, len(tabs))
			for _, tb := range tabs {
				ts := 0.0
				for seed := int64(off); seed < int64(off+seeds); seed++ {
					s := newStudy(seed+1, typ, tb.space())
					s.Objective.Direction = trials.Maximize
					s.Sampler.Seed = ptr(seed)
					if typ == trials.SamplerTPE {
						s.Sampler.Multivariate = ptr(mv)
					}
					r := tb.normRegretW(t, s, seed+1000, 100, w)
					sum += r
					ts += r
					n++
				}
				per = append(per, fmt.Sprintf("%.3f", ts/float64(seeds)))
			}
			line += fmt.Sprintf("  W=%d %.4f [%s]", w, sum/float64(n), strings.Join(per, " "))
		}
		t.Log(line)
	}
	jointKnobs = base
}
