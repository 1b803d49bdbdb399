package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// studyGoals are what --objective and --constraint add to a study file.
type studyGoals struct {
	objectives  []map[string]any
	constraints []map[string]any
}

// parseGoalFlags reads --objective (metric[:minimize|maximize]) and
// --constraint ('metric>=N', 'metric<=N') values. The server checks the
// combination (duplicates, min above max); this checks the spelling, so
// that a typo is named with the flag that holds it.
func parseGoalFlags(objectives, constraints []string) (studyGoals, error) {
	var g studyGoals
	for _, o := range objectives {
		metric, dir, hasDir := strings.Cut(o, ":")
		metric = strings.TrimSpace(metric)
		if metric == "" {
			return g, fmt.Errorf("invalid --objective %q: want metric or metric:minimize|maximize", o)
		}
		obj := map[string]any{"metric": metric}
		if hasDir {
			switch dir = strings.TrimSpace(dir); dir {
			case "minimize", "maximize":
				obj["direction"] = dir
			default:
				return g, fmt.Errorf("invalid --objective %q: direction must be minimize or maximize, got %q", o, dir)
			}
		}
		g.objectives = append(g.objectives, obj)
	}
	for _, c := range constraints {
		bound, metric, num := "", "", ""
		for _, op := range []struct{ sym, bound string }{{">=", "min"}, {"<=", "max"}} {
			if m, n, ok := strings.Cut(c, op.sym); ok {
				bound, metric, num = op.bound, strings.TrimSpace(m), strings.TrimSpace(n)
				break
			}
		}
		if bound == "" || metric == "" || strings.ContainsAny(num, "<>=") {
			return g, fmt.Errorf("invalid --constraint %q: want 'metric>=number' or 'metric<=number'", c)
		}
		v, err := parseFinite(num)
		if err != nil {
			return g, fmt.Errorf("invalid --constraint %q: %w", c, err)
		}
		g.constraints = append(g.constraints, map[string]any{"metric": metric, bound: v})
	}
	return g, nil
}

// apply writes the goals into a study document (JSON): objectives given
// on the command line replace the file's objective and objectives (one is
// the objective, more are objectives); constraints are added to the
// file's. Other keys keep their exact bytes.
func (g studyGoals) apply(body []byte) ([]byte, error) {
	if len(g.objectives) == 0 && len(g.constraints) == 0 {
		return body, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("the study definition: %w", err)
	}
	set := func(key string, v any) error {
		raw, err := json.Marshal(v)
		doc[key] = raw
		return err
	}
	switch len(g.objectives) {
	case 0:
	case 1:
		delete(doc, "objectives")
		if err := set("objective", g.objectives[0]); err != nil {
			return nil, err
		}
	default:
		delete(doc, "objective")
		if err := set("objectives", g.objectives); err != nil {
			return nil, err
		}
	}
	if len(g.constraints) > 0 {
		var all []any
		if raw, ok := doc["constraints"]; ok {
			if err := json.Unmarshal(raw, &all); err != nil {
				return nil, fmt.Errorf("the study definition: constraints must be a list: %w", err)
			}
		}
		for _, c := range g.constraints {
			all = append(all, c)
		}
		if err := set("constraints", all); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
}
