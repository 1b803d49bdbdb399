package tuner

import (
	"math"
	"slices"
	"sort"

	"github.com/tune-dev/tune/trials"
)

// Pareto arithmetic for the multi-objective TPE and pruner. Every point is
// a vector of losses: objectives are already signed so that lower is
// better on each.

// dominates reports whether a is no worse than b on every objective and
// better on one: trials.Dominates, the one rule, on losses.
func dominates(a, b []float64) bool {
	return trials.Dominates(lossGoals[:len(a)], a, b)
}

// lossGoals are goals that minimize, as many as a study may have.
var lossGoals = func() []trials.Objective {
	g := make([]trials.Objective, trials.MaxObjectives)
	for i := range g {
		g[i].Direction = trials.Minimize
	}
	return g
}()

// paretoRanks gives each point its non-domination rank (0: the front, 1:
// the front once rank 0 is removed, ...), peeling fronts only until at
// least need points are ranked; the rest keep -1. Peeling stops early
// because TPE needs only its below group's worth.
func paretoRanks(pts [][]float64, need int) []int {
	n := len(pts)
	rank := make([]int, n)
	for i := range rank {
		rank[i] = -1
	}
	left := make([]int, n)
	for i := range left {
		left[i] = i
	}
	two := n > 0 && len(pts[0]) == 2
	if two {
		// Sorted by the first objective (then the second), a point is on
		// the front of what is left when its second objective is below every
		// earlier one's, or equal to the last front point's with an equal
		// first objective (a duplicate).
		sort.SliceStable(left, func(a, b int) bool {
			x, y := pts[left[a]], pts[left[b]]
			if x[0] != y[0] {
				return x[0] < y[0]
			}
			return x[1] < y[1]
		})
	}
	ranked := 0
	for r := 0; len(left) > 0 && ranked < need; r++ {
		var front, rest []int
		if two {
			var last []float64
			for _, i := range left {
				p := pts[i]
				if last == nil || p[1] < last[1] || (p[1] == last[1] && p[0] == last[0]) {
					front = append(front, i)
					last = p
				} else {
					rest = append(rest, i)
				}
			}
		} else {
			for _, i := range left {
				dom := false
				for _, j := range left {
					if dominates(pts[j], pts[i]) {
						dom = true
						break
					}
				}
				if dom {
					rest = append(rest, i)
				} else {
					front = append(front, i)
				}
			}
		}
		for _, i := range front {
			rank[i] = r
		}
		ranked += len(front)
		left = rest
	}
	return rank
}

// hypervolume is the volume dominated by pts and bounded by ref (a point
// worse than all of them on every objective; points not strictly better
// than ref on every objective add nothing). Exact: a sweep in two
// dimensions, slices along the last objective above that, which is
// O(n^(d-1) log n) and meant for TPE's below group (at most 25 points).
func hypervolume(pts [][]float64, ref []float64) float64 {
	in := make([][]float64, 0, len(pts))
	for _, p := range pts {
		ok := true
		for i := range ref {
			if !(p[i] < ref[i]) {
				ok = false
				break
			}
		}
		if ok {
			in = append(in, p)
		}
	}
	return hv(in, ref)
}

func hv(pts [][]float64, ref []float64) float64 {
	if len(pts) == 0 {
		return 0
	}
	d := len(ref)
	switch d {
	case 1:
		m := math.Inf(1)
		for _, p := range pts {
			m = math.Min(m, p[0])
		}
		return ref[0] - m
	case 2:
		s := slices.Clone(pts)
		slices.SortFunc(s, func(a, b []float64) int {
			if a[0] != b[0] {
				if a[0] < b[0] {
					return -1
				}
				return 1
			}
			if a[1] < b[1] {
				return -1
			}
			if a[1] > b[1] {
				return 1
			}
			return 0
		})
		vol, y := 0.0, ref[1]
		for _, p := range s {
			if p[1] < y {
				vol += (ref[0] - p[0]) * (y - p[1])
				y = p[1]
			}
		}
		return vol
	}
	// Slabs along the last objective: between consecutive levels, the
	// points at or below the lower level project onto the first d-1
	// objectives.
	s := slices.Clone(pts)
	slices.SortFunc(s, func(a, b []float64) int {
		switch {
		case a[d-1] < b[d-1]:
			return -1
		case a[d-1] > b[d-1]:
			return 1
		}
		return 0
	})
	vol := 0.0
	proj := make([][]float64, 0, len(s))
	for i, p := range s {
		proj = append(proj, p[:d-1])
		top := ref[d-1]
		if i+1 < len(s) {
			top = s[i+1][d-1]
		}
		if top > p[d-1] {
			vol += hv(proj, ref[:d-1]) * (top - p[d-1])
		}
	}
	return vol
}

// referencePoint is Optuna's for a set of losses: each objective's worst,
// pushed 10% further out (EPS where that is 0), so the worst points still
// contribute.
func referencePoint(pts [][]float64) []float64 {
	d := len(pts[0])
	ref := make([]float64, d)
	for i := range ref {
		w := math.Inf(-1)
		for _, p := range pts {
			w = math.Max(w, p[i])
		}
		ref[i] = math.Max(1.1*w, 0.9*w)
		if ref[i] == 0 {
			ref[i] = 1e-12
		}
	}
	return ref
}

// selectByHypervolume picks k of pts greedily, each time the one that adds
// most to the hypervolume of those picked (the greedy answer to the
// hypervolume subset selection problem, as Optuna's _solve_hssp), ties to
// the earlier point. It returns their indices in pts.
func selectByHypervolume(pts [][]float64, k int, ref []float64) []int {
	if k >= len(pts) {
		out := make([]int, len(pts))
		for i := range out {
			out[i] = i
		}
		return out
	}
	picked := make([]int, 0, k)
	chosen := make([][]float64, 0, k+1)
	used := make([]bool, len(pts))
	base := 0.0
	for len(picked) < k {
		best, bestGain := -1, math.Inf(-1)
		for i, p := range pts {
			if used[i] {
				continue
			}
			gain := hypervolume(append(chosen, p), ref) - base
			if gain > bestGain {
				best, bestGain = i, gain
			}
		}
		used[best] = true
		picked = append(picked, best)
		chosen = append(chosen, pts[best])
		base += bestGain
	}
	return picked
}

// contributionWeights weighs each point of a set by the hypervolume only
// it dominates, relative to the largest such contribution (Optuna's
// weights of the below group for several objectives): points on the
// set's own front that cover much of it weigh most, dominated ones next to
// nothing.
func contributionWeights(pts [][]float64) []float64 {
	n := len(pts)
	w := make([]float64, n)
	if n <= 1 {
		for i := range w {
			w[i] = 1
		}
		return w
	}
	ref := referencePoint(pts)
	total := hypervolume(pts, ref)
	best := 0.0
	others := make([][]float64, 0, n-1)
	for i := range pts {
		others = append(others[:0], pts[:i]...)
		others = append(others, pts[i+1:]...)
		w[i] = math.Max(0, total-hypervolume(others, ref))
		best = math.Max(best, w[i])
	}
	for i := range w {
		if best > 0 {
			w[i] = math.Min(1, math.Max(w[i]/best, 1e-12))
		} else {
			w[i] = 1
		}
	}
	return w
}
