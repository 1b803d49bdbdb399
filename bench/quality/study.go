package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/tune-dev/tune/openapi"
)

// job is one study: a sampler on one table with one seed and W trials in
// flight.
type job struct {
	variant  *variant
	inflight int
	table    *table
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
	name := fmt.Sprintf("q-%s-%s-w%d-%s-s%d", b.run, j.variant.Name, j.inflight, t.name, j.seed)
	dir := openapi.Minimize
	if !t.fam.minimize {
		dir = openapi.Maximize
	}
	sampler := j.variant.Config
	seed := int64(j.seed)
	sampler.Seed = &seed
	resp, err := b.c.CreateStudyWithResponse(ctx, openapi.StudyCreate{
		Name:        name,
		Objective:   &openapi.Objective{Metric: "value", Direction: &dir},
		SearchSpace: searchSpace(t.fam),
		Sampler:     &sampler,
	})
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
		tr, err := b.c.TellWithResponse(ctx, a.id, openapi.TellJSONRequestBody{
			State: openapi.TellRequestStateComplete,
			Value: &v,
			Lease: &a.lease,
		})
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
	r := t.regret(t.means[bestConfig])
	return outcome{Regret: r, Norm: r / t.median, Distinct: len(seen)}, nil
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
