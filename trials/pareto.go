package trials

import (
	"cmp"
	"slices"
)

// Dominates reports whether values a are at least as good as b on every
// goal and better on one (directions as goals say). Equal vectors do not
// dominate each other.
func Dominates(goals []Objective, a, b []float64) bool {
	better := false
	for i, g := range goals {
		switch {
		case g.Direction.Better(b[i], a[i]):
			return false
		case g.Direction.Better(a[i], b[i]):
			better = true
		}
	}
	return better
}

// ParetoFront returns the complete, feasible trials of ts that no other
// such trial dominates on the study's goals, ordered by the first goal
// (best first), then by number. Trials equal on every goal all stay. For a
// single-objective study that is its best feasible trial alone (the
// earliest among equals). Trials without their objective values are left
// out.
//
// It costs O(n log n + n·front): the candidates are visited in
// lexicographic goal order, in which whatever dominates a trial comes
// before it, and a dominated trial is always dominated by one already on
// the front (domination is transitive).
func (s *Study) ParetoFront(ts []Trial) []Trial {
	goals := s.Goals()
	type cand struct {
		t      *Trial
		values []float64
	}
	var cands []cand
	for i := range ts {
		t := &ts[i]
		if !s.Feasible(t) {
			continue
		}
		if v, ok := s.Values(t); ok {
			cands = append(cands, cand{t, v})
		}
	}
	lex := func(a, b cand) int {
		for i, g := range goals {
			switch {
			case g.Direction.Better(a.values[i], b.values[i]):
				return -1
			case g.Direction.Better(b.values[i], a.values[i]):
				return 1
			}
		}
		return cmp.Compare(a.t.Number, b.t.Number)
	}
	slices.SortFunc(cands, lex)
	if len(goals) == 1 {
		if len(cands) == 0 {
			return []Trial{}
		}
		return []Trial{*cands[0].t}
	}
	var front []cand
	for _, c := range cands {
		if !slices.ContainsFunc(front, func(f cand) bool { return Dominates(goals, f.values, c.values) }) {
			front = append(front, c)
		}
	}
	first := goals[0].Direction
	slices.SortFunc(front, func(a, b cand) int {
		switch {
		case first.Better(a.values[0], b.values[0]):
			return -1
		case first.Better(b.values[0], a.values[0]):
			return 1
		}
		return cmp.Compare(a.t.Number, b.t.Number)
	})
	out := make([]Trial, len(front))
	for i, f := range front {
		out[i] = *f.t
	}
	return out
}
