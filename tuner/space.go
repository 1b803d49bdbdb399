package tuner

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/c-bata/goptuna"

	"github.com/tune-dev/tune/trials"
)

// param is one search-space param together with the Goptuna distribution
// that stands for it. Goptuna only ever sees internal values (float64; the
// choice index for categorical params); toInternal and toExternal translate.
type param struct {
	name string
	d    trials.Distribution
	// dist is a goptuna distribution value (not a pointer: Goptuna's type
	// switches match values).
	dist any
}

// space is a study's search space in sampling order.
type space struct {
	params []param
	index  map[string]int
	// key identifies the space so cached conversions are redone if a study's
	// space is ever replaced.
	key string
}

func newSpace(ss trials.SearchSpace) (*space, error) {
	if len(ss) == 0 {
		return nil, fmt.Errorf("search space is empty")
	}
	sp := &space{index: make(map[string]int, len(ss))}
	// Names are sorted: a fixed sampling order keeps seeded studies
	// reproducible.
	for i, name := range ss.Names() {
		d := ss[name]
		dist, err := goptunaDist(d)
		if err != nil {
			return nil, fmt.Errorf("param %q: %w", name, err)
		}
		sp.params = append(sp.params, param{name: name, d: d, dist: dist})
		sp.index[name] = i
	}
	key, err := json.Marshal(ss)
	if err != nil {
		return nil, fmt.Errorf("search space: %w", err)
	}
	sp.key = string(key)
	return sp, nil
}

// goptunaDist maps a distribution to Goptuna's. Goptuna v0.9.0 has no
// log-scaled int distribution, so an int param with log becomes a
// LogUniformDistribution over [low-0.5, high+0.5] whose draws are rounded to
// the nearest int: every int keeps the probability mass of its rounding
// interval in log space (as Optuna does), and the int itself is what is
// stored as the internal value, so TPE models the param in log space.
func goptunaDist(d trials.Distribution) (any, error) {
	switch d.Type {
	case trials.Float:
		switch {
		case d.Step != nil:
			return goptuna.DiscreteUniformDistribution{Low: d.Low, High: d.High, Q: *d.Step}, nil
		case d.Log:
			return goptuna.LogUniformDistribution{Low: d.Low, High: d.High}, nil
		default:
			return goptuna.UniformDistribution{Low: d.Low, High: d.High}, nil
		}
	case trials.Int:
		low, high := int(d.Low), int(d.High)
		switch {
		case d.Log:
			return goptuna.LogUniformDistribution{Low: d.Low - 0.5, High: d.High + 0.5}, nil
		case d.Step != nil && *d.Step != 1:
			return goptuna.StepIntUniformDistribution{Low: low, High: high, Step: int(*d.Step)}, nil
		default:
			return goptuna.IntUniformDistribution{Low: low, High: high}, nil
		}
	case trials.Categorical:
		choices := make([]string, len(d.Choices))
		for i, c := range d.Choices {
			// Goptuna only uses the index; the label just has to be unique.
			b, err := json.Marshal(c)
			if err != nil {
				return nil, fmt.Errorf("choice %v: %w", c, err)
			}
			choices[i] = string(b)
		}
		return goptuna.CategoricalDistribution{Choices: choices}, nil
	}
	return nil, fmt.Errorf("unknown distribution type %q", d.Type)
}

// inclusive widens Goptuna's int distributions by one step for the samplers
// that draw their upper end exclusively (RandomSampler's rng.Intn and Sobol's
// floor(p*(high-low))): without it they never propose high.
func inclusive(dist any) any {
	switch d := dist.(type) {
	case goptuna.IntUniformDistribution:
		d.High++
		return d
	case goptuna.StepIntUniformDistribution:
		d.High = d.Low + ((d.High-d.Low)/d.Step+1)*d.Step
		return d
	}
	return dist
}

// toInternal converts a stored param value to Goptuna's internal
// representation; ok is false for a value the distribution cannot hold (the
// trial is then left out of that param's history).
func (p param) toInternal(v any) (float64, bool) {
	if p.d.Type == trials.Categorical {
		i, ok := p.d.ChoiceIndex(v)
		return float64(i), ok
	}
	nv, err := p.d.Normalize(v)
	if err != nil {
		// Values off the step grid (e.g. a space whose step changed) still
		// say something about the region; only out-of-range ones are lost.
		f, ok := trials.Number(v)
		if !ok || f < p.d.Low || f > p.d.High {
			return 0, false
		}
		return f, true
	}
	switch x := nv.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// toExternal converts a sampled internal value to the param's canonical
// value: int64 for int, float64 for float, the declared choice for
// categorical. It snaps to the step grid and clamps to [low, high] itself
// rather than trusting Goptuna's ToExternalRepr, which can leave a step
// param off the grid or past high when high is not on the grid.
func (p param) toExternal(x float64) any {
	d := p.d
	switch d.Type {
	case trials.Categorical:
		i := int(x)
		i = max(0, min(i, len(d.Choices)-1))
		return d.Choices[i]
	case trials.Int:
		if d.Step != nil && !d.Log {
			k := onGrid(x, d.Low, d.High, *d.Step)
			return int64(d.Low + k**d.Step)
		}
		return int64(math.Max(d.Low, math.Min(d.High, math.Round(x))))
	default:
		if d.Step != nil {
			k := onGrid(x, d.Low, d.High, *d.Step)
			v := cleanFloat(d.Low + k**d.Step)
			return math.Max(d.Low, math.Min(d.High, v))
		}
		return math.Max(d.Low, math.Min(d.High, x))
	}
}

// onGrid returns the index of the grid point low+k*step nearest to x that
// does not pass high.
func onGrid(x, low, high, step float64) float64 {
	last := math.Floor((high-low)/step + 1e-9)
	k := math.Round((x - low) / step)
	return math.Max(0, math.Min(last, k))
}

// cleanFloat drops the binary noise of low+k*step (0.30000000000000004
// becomes 0.3), which is still on the grid within Normalize's tolerance.
func cleanFloat(v float64) float64 {
	c, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		return v
	}
	return c
}
