package tuner

import (
	"sort"
)

// The split of the joint TPE's history into its below (good) and above
// groups, for one objective and for several.
//
// One objective: the rows sorted by score (complete trials by value, then
// pruned ones by how far they got), the ceil(15%) best below (see
// jointGamma).
//
// Several objectives: the multi-objective TPE of Ozaki et al. (JAIR 2022)
// as Optuna's TPESampler does it for several directions. The complete,
// feasible trials are sorted into Pareto fronts (non-domination ranks over
// their objective values, each direction respected); whole fronts go below
// while they fit, and the front that does not fit is cut down greedily by
// hypervolume contribution (Optuna's subset selection). If the fronts do
// not fill the group, pruned trials follow, the deepest first. The below
// kernels are weighted by each trial's own hypervolume contribution within
// the group, so the points that stretch the front count most.
//
// Either way, infeasible observations (trials that break a constraint,
// failures of kind oom, diverged or timeout) never go below, which is what
// steers the sampler away from their region; with no feasible trial at all
// the below group is the prior alone. With several objectives, trials in
// flight (running, or proposed and not yet stored) always go above, the
// multi-objective form of the constant liar; with one they are imputed as
// the worst value seen, as before.

// addKind adds a row that the judge classified.
func (h *jointHistory) addKind(row []float64, v verdict, values []float64, score [2]float64, real bool) {
	h.add(row, score, real)
	h.kinds = append(h.kinds, v)
	h.values = append(h.values, values)
}

// split says which rows go below and, for those (in row order), the
// weights of their kernels; nil weights are equal ones.
func (h *jointHistory) split() ([]bool, []float64) {
	if h.multi {
		return h.splitMulti()
	}
	n := len(h.rows)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := h.scores[order[a]], h.scores[order[b]]
		if x[0] == y[0] {
			return x[1] < y[1]
		}
		return x[0] < y[0]
	})
	nb := min(max(1, jointGamma(n)), n-h.infeasible)
	isBelow := make([]bool, n)
	for _, i := range order[:nb] {
		isBelow[i] = true
	}
	return isBelow, nil
}

func (h *jointHistory) splitMulti() ([]bool, []float64) {
	n := len(h.rows)
	isBelow := make([]bool, n)
	var done, pruned []int
	var pts [][]float64
	for i, k := range h.kinds {
		switch k {
		case seenComplete:
			done = append(done, i)
			pts = append(pts, h.values[i])
		case seenPruned:
			pruned = append(pruned, i)
		}
	}
	nb := min(max(1, jointGamma(n)), len(done)+len(pruned))
	taken := 0
	ranks := paretoRanks(pts, nb)
	for r := 0; taken < nb; r++ {
		var front []int
		for i, rk := range ranks {
			if rk == r {
				front = append(front, i)
			}
		}
		if len(front) == 0 {
			break
		}
		if taken+len(front) > nb {
			fp := make([][]float64, len(front))
			for i, f := range front {
				fp[i] = pts[f]
			}
			sel := selectByHypervolume(fp, nb-taken, referencePoint(fp))
			picked := make([]int, len(sel))
			for i, s := range sel {
				picked[i] = front[s]
			}
			front = picked
		}
		for _, f := range front {
			isBelow[done[f]] = true
		}
		taken += len(front)
	}
	if taken < nb {
		sort.SliceStable(pruned, func(a, b int) bool { return h.scores[pruned[a]][0] < h.scores[pruned[b]][0] })
		for _, i := range pruned[:nb-taken] {
			isBelow[i] = true
		}
	}
	// Weights in row order, as sample lays the below rows out.
	var bpts [][]float64
	var bidx []int
	for i, b := range isBelow {
		if b && h.kinds[i] == seenComplete {
			bpts = append(bpts, h.values[i])
			bidx = append(bidx, i)
		}
	}
	contrib := map[int]float64{}
	if len(bpts) > 0 {
		for k, w := range contributionWeights(bpts) {
			contrib[bidx[k]] = w
		}
	}
	var weights []float64
	for i, b := range isBelow {
		if !b {
			continue
		}
		w, ok := contrib[i]
		if !ok {
			w = 1 // a pruned trial filling the group
		}
		weights = append(weights, w)
	}
	return isBelow, weights
}
