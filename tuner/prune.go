package tuner

import (
	"fmt"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/medianstopping"
	"github.com/c-bata/goptuna/successivehalving"

	"github.com/tune-dev/tune/trials"
)

// Median pruner defaults, as in Goptuna and Optuna.
const defaultMedianStartup = 5

// newPruner returns the study's Goptuna pruner, nil for none.
func newPruner(p trials.Pruner) (goptuna.Pruner, error) {
	switch p.Type {
	case "", trials.PrunerNone:
		return nil, nil
	case trials.PrunerMedian:
		m := &medianPruner{inner: medianstopping.NewMedianPruner(), interval: 1}
		m.inner.NStartUpTrials = defaultMedianStartup
		if p.StartupTrials != nil {
			m.inner.NStartUpTrials = *p.StartupTrials
		}
		if p.WarmupSteps != nil {
			m.warmup = *p.WarmupSteps
		}
		if p.IntervalSteps != nil {
			m.interval = *p.IntervalSteps
		}
		// Goptuna skips steps <= NWarmUpSteps; warmup_steps means, as in
		// Optuna, that steps before it are never pruned.
		m.inner.NWarmUpSteps = m.warmup - 1
		return m, nil
	case trials.PrunerSuccessiveHalving:
		var opts []successivehalving.Option
		if p.MinResource != nil {
			opts = append(opts, successivehalving.OptionMinResource(*p.MinResource))
		}
		if p.ReductionFactor != nil {
			opts = append(opts, successivehalving.OptionReductionFactor(*p.ReductionFactor))
		}
		if p.MinEarlyStoppingRate != nil {
			opts = append(opts, successivehalving.OptionMinEarlyStoppingRate(*p.MinEarlyStoppingRate))
		}
		sh, err := successivehalving.NewPruner(opts...)
		if err != nil {
			return nil, fmt.Errorf("successive halving: %w", err)
		}
		return sh, nil
	}
	return nil, fmt.Errorf("unknown pruner type %q", p.Type)
}

// medianPruner is Goptuna's MedianPruner with Optuna's interval_steps,
// which Goptuna lacks: a decision is taken only at the first report in each
// interval of interval steps counted from the warm-up.
type medianPruner struct {
	inner    *medianstopping.MedianPruner
	warmup   int
	interval int
}

// Prune implements goptuna.Pruner.
func (p *medianPruner) Prune(study *goptuna.Study, trial goptuna.FrozenTrial) (bool, error) {
	step, ok := trial.GetLatestStep()
	if !ok || step < p.warmup {
		return false, nil
	}
	if !firstInInterval(step, trial.IntermediateValues, p.warmup, p.interval) {
		return false, nil
	}
	return p.inner.Prune(study, trial)
}

// firstInInterval is Optuna's _is_first_in_interval_step: whether step is
// the first reported step at or after the latest pruning point.
func firstInInterval(step int, reported map[int]float64, warmup, interval int) bool {
	if interval <= 1 {
		return true
	}
	nearest := (step-warmup)/interval*interval + warmup
	secondLast := -1
	for s := range reported {
		if s > secondLast && s != step {
			secondLast = s
		}
	}
	return secondLast < nearest
}
