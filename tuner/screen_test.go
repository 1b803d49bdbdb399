package tuner

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// normRegretW is normRegret with w trials in flight: w asks ahead, then
// each tell of the oldest is followed by the next ask. It also returns the
// normalized regret of the best configuration the study evaluated (by its
// mean, which the study never sees): the gap between the two is what noise
// in the reported values costs, which no sampler can choose away. Third,
// the share of the second half's trials whose configuration is among the
// table's topRank best: how concentrated the search was where it counts.
func (tb *hpoTable) normRegretW(t testing.TB, s *trials.Study, seed int64, budget, w int) (float64, float64, float64) {
	noise := rand.New(rand.NewSource(seed))
	src := newMemSource()
	tn := New(src)
	bestValue, bestConfig, bestSeen := math.Inf(-1), -1, -1
	var queue []trials.Trial
	asked, top := 0, 0
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
		if told >= budget/2 && tb.rank[k] < topRank {
			top++
		}
		if bestSeen < 0 || tb.means[k] > tb.means[bestSeen] {
			bestSeen = k
		}
	}
	return (tb.best - tb.means[bestConfig]) / tb.med, (tb.best - tb.means[bestSeen]) / tb.med, float64(top) / float64(budget-budget/2)
}

// topRank is the rank (by mean) under which TestScreenSamplers counts a
// configuration as good: about the best 3% of an HPOBench table.
const topRank = 1000

// TestScreenSamplers screens sampler variants on bench/quality's tables
// (TUNE_SCREEN=seeds; TUNE_SCREEN_W=1,8; TUNE_SCREEN_TABLES=car,kc1;
// TUNE_KNOBS=variant specs separated by ';', e.g. "gp; ; old" for the GP,
// the multivariate TPE and the independent TPE). A spec is words: a
// sampler (gp, auto, random; TPE otherwise, "old" for independent),
// start=N startup trials, the joint TPE's constants (prior, sigma0, gamma,
// cap, sqrt, cand, minbw, noramp) and the GP's (nowarp, noplugin, kbworst,
// lcb=β, exploit=N, xi=ξ, nrate=λ, nfloor=σ²; see gpKnobsT). Studies
// run on all cores. Each line gives per W the summary, the same for the
// best configuration each study evaluated, per table the mean, and per
// table the second half's share among the topRank best configurations.
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
		startup := -1
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
			case "nrate":
				gpKnobs.noiseRate = f
			case "nfloor":
				gpKnobs.noiseFloor = f
			case "lcb":
				gpKnobs.lcb = f
			case "exploit":
				gpKnobs.exploit = int(f)
			case "xi":
				gpKnobs.xi = f
			case "start":
				startup = int(f)
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
			// Studies run in parallel: each has its own tuner and memory
			// source, and the knobs are only read while they run.
			res := make([][]float64, len(tabs))
			seen := make([][]float64, len(tabs))
			tops := make([][]float64, len(tabs))
			var wg sync.WaitGroup
			sem := make(chan struct{}, runtime.GOMAXPROCS(0))
			for ti, tb := range tabs {
				res[ti] = make([]float64, seeds)
				seen[ti] = make([]float64, seeds)
				tops[ti] = make([]float64, seeds)
				for i := range seeds {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer func() { <-sem; wg.Done() }()
						seed := int64(off + i)
						s := newStudy(seed+1, typ, tb.space())
						s.Objective.Direction = trials.Maximize
						s.Sampler.Seed = ptr(seed)
						if startup >= 0 {
							s.Sampler.StartupTrials = ptr(startup)
						}
						if typ == trials.SamplerTPE {
							s.Sampler.Multivariate = ptr(mv)
						}
						res[ti][i], seen[ti][i], tops[ti][i] = tb.normRegretW(t, s, seed+1000, 100, w)
					}()
				}
			}
			wg.Wait()
			sum, sumSeen, n := 0.0, 0.0, 0
			per := make([]string, 0, len(tabs))
			perTop := make([]string, 0, len(tabs))
			for ti := range tabs {
				ts, tt := 0.0, 0.0
				for i, r := range res[ti] {
					sum += r
					sumSeen += seen[ti][i]
					ts += r
					tt += tops[ti][i]
					n++
				}
				per = append(per, fmt.Sprintf("%.3f", ts/float64(seeds)))
				perTop = append(perTop, fmt.Sprintf("%.2f", tt/float64(seeds)))
			}
			line += fmt.Sprintf("  W=%d %.4f (best evaluated %.4f) [%s] top %d in 2nd half [%s]", w, sum/float64(n), sumSeen/float64(n), strings.Join(per, " "), topRank, strings.Join(perTop, " "))
		}
		t.Log(line)
	}
	jointKnobs = base
}
