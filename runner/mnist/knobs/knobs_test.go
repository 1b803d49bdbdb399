package knobs_test

import (
	"errors"
	"testing"

	"github.com/tune-dev/tune/runner/catalog"
	"github.com/tune-dev/tune/runner/mnist/knobs"
	"github.com/tune-dev/tune/trials"
)

// Moved from trials (whose table this package replaced).
func TestValidateWorkload(t *testing.T) {
	five := trials.SearchSpace{
		"learning_rate": {Type: trials.Float, Low: 1e-5, High: 1, Log: true},
		"batch_size":    {Type: trials.Int, Low: 16, High: 1024, Log: true},
		"activation":    {Type: trials.Categorical, Choices: []any{"relu", "tanh", "sigmoid", "leaky_relu"}},
		"precision":     {Type: trials.Categorical, Choices: []any{"float32", "float64"}},
		"workers":       {Type: trials.Int, Low: 1, High: 8},
	}
	reg := catalog.Builtin()
	s := trials.Study{SearchSpace: five, Workload: &trials.Workload{Type: trials.WorkloadMNISTMLP}}
	if err := s.ValidateWorkload(reg); err != nil {
		t.Fatalf("the five knobs rejected: %v", err)
	}
	for name, d := range map[string]trials.Distribution{
		"label_smoothing": {Type: trials.Float, Low: 0, High: 0.5}, // no such knob
		"dropout":         {Type: trials.Float, Low: 0, High: 1},   // 1 drops every unit
		"lr_schedule":     {Type: trials.Categorical, Choices: []any{"cosine", "linear"}},
		"eval_every":      {Type: trials.Int, Low: 0, High: 2},
		"activation":      {Type: trials.Categorical, Choices: []any{"relu", "swish"}},
		"precision":       {Type: trials.Categorical, Choices: []any{"float16"}},
		"workers":         {Type: trials.Int, Low: 0, High: 4},
		"batch_size":      {Type: trials.Float, Low: 16, High: 64},
		"momentum":        {Type: trials.Float, Low: 0.5, High: 5},
	} {
		bad := trials.SearchSpace{name: d}
		if err := (trials.Study{SearchSpace: bad, Workload: &trials.Workload{Type: trials.WorkloadMNISTMLP}}).ValidateWorkload(reg); !errors.Is(err, trials.ErrInvalid) {
			t.Errorf("%s %+v: got %v, want ErrInvalid", name, d, err)
		}
		// exec (given a command) and unknown workloads take any param.
		for _, w := range []trials.Workload{
			{Type: trials.WorkloadExec, Options: map[string]any{"command": []any{"true"}}},
			{Type: "my-own"},
		} {
			if err := (trials.Study{SearchSpace: bad, Workload: &w}).ValidateWorkload(reg); err != nil {
				t.Errorf("%s rejected %s: %v", w.Type, name, err)
			}
		}
	}
}

// Every bound of every knob, from both sides, as a range and as a single
// choice: inclusive ends are accepted, exclusive ends and anything beyond
// are refused.
func TestEveryKnobsBounds(t *testing.T) {
	point := func(v float64) trials.Distribution { return trials.Distribution{Type: trials.Float, Low: v, High: v} }
	choice := func(v any) trials.Distribution {
		return trials.Distribution{Type: trials.Categorical, Choices: []any{v}}
	}
	checked := 0
	for _, k := range knobs.Spec.Params {
		type probe struct {
			d  trials.Distribution
			ok bool
		}
		var probes []probe
		if k.Min != nil {
			m := k.Min.Value
			probes = append(probes, probe{choice(m), !k.Min.Exclusive}, probe{choice(m - 1), false})
			if k.Type == trials.KnobFloat {
				probes = append(probes, probe{point(m), !k.Min.Exclusive}, probe{point(m - 1e-9), false})
			} else {
				probes = append(probes, probe{trials.Distribution{Type: trials.Int, Low: m, High: m + 3}, !k.Min.Exclusive},
					probe{trials.Distribution{Type: trials.Int, Low: m - 1, High: m + 3}, false})
			}
		}
		if k.Max != nil {
			m := k.Max.Value
			probes = append(probes, probe{choice(m), !k.Max.Exclusive}, probe{choice(m + 1), false},
				probe{point(m), !k.Max.Exclusive}, probe{point(m + 1e-9), false}, probe{point(m - 1e-9), true})
		}
		if k.Type == trials.KnobInt {
			probes = append(probes, probe{choice(k.Min.Value + 0.5), false})
		}
		for _, c := range k.Choices {
			probes = append(probes, probe{choice(c), true})
		}
		if len(k.Choices) > 0 {
			probes = append(probes, probe{choice("no-such-" + k.Name), false}, probe{point(1), false})
		}
		for _, p := range probes {
			space := trials.SearchSpace{k.Name: p.d}
			if k.Name == "workers" {
				// workers may not exceed batch_size: keep batch_size out
				// of the way.
				space["batch_size"] = trials.Distribution{Type: trials.Int, Low: 1 << 20, High: 1 << 20}
			}
			err := knobs.Spec.Check(space, nil)
			if (err == nil) != p.ok {
				t.Errorf("%s over %+v: %v, want ok %v", k.Name, p.d, err, p.ok)
			}
			if err != nil && !errors.Is(err, trials.ErrInvalid) {
				t.Errorf("%s: %v is not ErrInvalid", k.Name, err)
			}
			checked++
		}
	}
	if checked < 3*len(knobs.Spec.Params) {
		t.Errorf("only %d probes for %d knobs", checked, len(knobs.Spec.Params))
	}
}

// Every knob is documented, has a default in range (or none), and options
// include every param (a study may fix a param for all its trials).
func TestDeclarationIsComplete(t *testing.T) {
	for _, k := range knobs.Spec.Options {
		if k.Doc == "" {
			t.Errorf("%s has no doc", k.Name)
		}
		if k.Default != nil {
			if _, err := k.Decode(k.Default, false); err != nil {
				t.Errorf("%s: default %v refused: %v", k.Name, k.Default, err)
			}
		}
	}
	for _, p := range knobs.Spec.Params {
		if _, ok := knobs.Spec.Option(p.Name); !ok {
			t.Errorf("param %s is not an option", p.Name)
		}
		if p.Default == nil {
			t.Errorf("param %s has no default", p.Name)
		}
	}
}
