package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tune-dev/tune/openapi"
)

// job is one study: a sampler on one table with one seed and W trials in
// flight, optimizing what its mode says.
type job struct {
	mode     mode
	variant  *variant
	inflight int
	table    *table
	mo       *moTable // the table's multi-objective scoring; nil in mode single
	seed     int
}

// outcome is what one study found.
type outcome struct {
	// Regret is the mean over seeds of the configuration of the best trial
	// (by the value it reported) against the table's best mean.
	Regret float64 `json:"regret"`
	// Norm is Regret ÷ the median regret of all the table's configurations.
	Norm float64 `json:"norm"`
	// Distinct counts the distinct configurations the study tried.
	Distinct int `json:"distinct"`
	// HV is, in the multi-objective modes, moTable.score of the study's
	// feasible trials, and Feasible counts them (all trials in mode mo).
	HV       float64
	Feasible int
	Seconds  float64
}

func f64(v float64) *float64 { return &v }

// searchSpace is the family's space in the benchmarks' encoding.
func searchSpace(f family) openapi.SearchSpace {
	ss := openapi.SearchSpace{}
	for _, p := range f.params {
		if p.numeric {
			ss[p.name] = openapi.Distribution{Type: "int", Low: f64(0), High: f64(float64(len(p.choices) - 1))}
			continue
		}
		cs := make([]any, len(p.choices))
		for i, c := range p.choices {
			cs[i] = c
		}
		ss[p.name] = openapi.Distribution{Type: "categorical", Choices: &cs}
	}
	return ss
}

// noiseSeed makes the objective's draws depend on the table and seed only,
// so every sampler meets the same noise for the same configuration order.
func noiseSeed(table string, seed int) (uint64, uint64) {
	h := fnv.New64a()
	h.Write([]byte(table))
	return h.Sum64(), uint64(seed)
}

type asked struct {
	id     int64
	lease  int64
	config int
}

// runStudy runs one study through the API: W asks ahead, then each tell of
// the oldest trial is followed by the next ask, as W parallel runners do.
func (b *bench) runStudy(ctx context.Context, j job, trials int) (outcome, error) {
	t := j.table
	start := time.Now()
	name := fmt.Sprintf("q-%s-%s-%s-w%d-%s-s%d", b.run, j.mode, j.variant.Name, j.inflight, t.name, j.seed)
	dir := openapi.Minimize
	if !t.fam.minimize {
		dir = openapi.Maximize
	}
	sampler := j.variant.Config
	seed := int64(j.seed)
	sampler.Seed = &seed
	create := openapi.StudyCreate{
		Name:        name,
		Objective:   &openapi.Objective{Metric: "value", Direction: &dir},
		SearchSpace: searchSpace(t.fam),
		Sampler:     &sampler,
	}
	if j.mode != single {
		fewer := openapi.Minimize
		create.Objective = nil
		create.Objectives = &openapi.Objectives{{Metric: "value", Direction: &dir}, {Metric: "params", Direction: &fewer}}
	}
	if j.mode == constrained {
		create.Constraints = &openapi.Constraints{{Metric: "params", Max: f64(j.mo.bound)}}
	}
	resp, err := b.c.CreateStudyWithResponse(ctx, create)
	if err != nil {
		return outcome{}, fmt.Errorf("creating study %s: %w", name, err)
	}
	if resp.JSON201 == nil {
		return outcome{}, fmt.Errorf("creating study %s: %s: %s", name, resp.Status(), resp.Body)
	}
	defer func() {
		// The database goes with the run; deleting keeps the tuner's cache
		// and the store small while the run goes on.
		_, _ = b.c.DeleteStudyWithResponse(context.WithoutCancel(ctx), name)
	}()

	rng := rand.New(rand.NewPCG(noiseSeed(t.name, j.seed)))
	var queue []asked
	nAsked, bestConfig := 0, -1
	var bestValue float64
	seen := map[int]bool{}
	var front []int // configs of the feasible trials, in the multi-objective modes
	feasible := 0
	idx := make([]int, len(t.fam.params))
	for told := 0; told < trials; told++ {
		for len(queue) < j.inflight && nAsked < trials {
			ar, err := b.c.AskWithResponse(ctx, name, openapi.AskJSONRequestBody{})
			if err != nil {
				return outcome{}, fmt.Errorf("ask %s: %w", name, err)
			}
			if ar.JSON201 == nil {
				return outcome{}, fmt.Errorf("ask %s: %s: %s", name, ar.Status(), ar.Body)
			}
			for i, p := range t.fam.params {
				if idx[i], err = decode(p, ar.JSON201.Params[p.name]); err != nil {
					return outcome{}, fmt.Errorf("ask %s: %w", name, err)
				}
			}
			queue = append(queue, asked{id: ar.JSON201.Id, lease: ar.JSON201.Lease, config: t.fam.index(idx)})
			nAsked++
		}
		a := queue[0]
		queue = queue[1:]
		runs := t.runs[a.config]
		if runs == nil {
			return outcome{}, fmt.Errorf("%s: no results for configuration %d", t.name, a.config)
		}
		v := runs[rng.IntN(len(runs))]
		tell := openapi.TellJSONRequestBody{State: openapi.TellRequestStateComplete, Value: &v, Lease: &a.lease}
		if j.mode != single {
			tell.Value = nil
			tell.Metrics = &openapi.Metrics{"value": v, "params": j.mo.counts[a.config]}
			if j.mode == multi || j.mo.feasible(a.config) {
				feasible++
				front = append(front, a.config)
			}
		}
		tr, err := b.c.TellWithResponse(ctx, a.id, tell)
		if err != nil {
			return outcome{}, fmt.Errorf("tell trial %d: %w", a.id, err)
		}
		if tr.JSON200 == nil {
			return outcome{}, fmt.Errorf("tell trial %d: %s: %s", a.id, tr.Status(), tr.Body)
		}
		seen[a.config] = true
		if bestConfig < 0 || t.better(v, bestValue) {
			bestConfig, bestValue = a.config, v
		}
	}
	if j.mode != single {
		if err := b.checkFront(ctx, name, j, feasible); err != nil {
			return outcome{}, err
		}
		return outcome{HV: j.mo.score(front), Feasible: feasible, Distinct: len(seen), Seconds: time.Since(start).Seconds()}, nil
	}
	r := t.regret(t.means[bestConfig])
	return outcome{Regret: r, Norm: r / t.median, Distinct: len(seen)}, nil
}

// checkFront asks the service for the study's Pareto front and checks it
// against what the harness told it: a front exactly when some trial was
// feasible, and only feasible trials on it. The harness scores the front on
// the configurations' means itself; this keeps the service's own front,
// which users see, honest in the same run.
func (b *bench) checkFront(ctx context.Context, name string, j job, feasible int) error {
	pr, err := b.c.GetParetoFrontWithResponse(ctx, name)
	if err != nil {
		return fmt.Errorf("pareto %s: %w", name, err)
	}
	if pr.JSON200 == nil {
		return fmt.Errorf("pareto %s: %s: %s", name, pr.Status(), pr.Body)
	}
	items := pr.JSON200.Items
	if (len(items) > 0) != (feasible > 0) {
		return fmt.Errorf("pareto %s: %d trials on the front, %d feasible trials told", name, len(items), feasible)
	}
	for _, it := range items {
		if c, ok := it.Metrics["params"]; !ok || (j.mode == constrained && c > j.mo.bound) {
			return fmt.Errorf("pareto %s: trial %d on the front has params %v, bound %g", name, it.Number, it.Metrics["params"], j.mo.bound)
		}
	}
	return nil
}

// decode turns a param value from the API back into its choice index.
func decode(p spec, v any) (int, error) {
	if p.numeric {
		f, ok := v.(float64)
		if !ok || f != float64(int(f)) || int(f) < 0 || int(f) >= len(p.choices) {
			return 0, fmt.Errorf("param %s: %v is not a choice index", p.name, v)
		}
		return int(f), nil
	}
	s, _ := v.(string)
	i := slices.Index(p.choices, s)
	if i < 0 {
		return 0, fmt.Errorf("param %s: %v is not a choice", p.name, v)
	}
	return i, nil
}
