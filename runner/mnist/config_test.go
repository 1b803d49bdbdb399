package mnist

import (
	"testing"

	"github.com/tune-dev/tune/runner/mnist/knobs"
	"github.com/tune-dev/tune/trials"
)

// The runner's parsing and the service's validation read one declaration:
// for every knob, a value the catalogue allows is accepted by ConfigFor and
// one it refuses is refused by both, as a param and as an option.
func TestConfigAgreesWithTheCatalogue(t *testing.T) {
	for _, k := range knobs.Spec.Options {
		_, isParam := knobs.Spec.Param(k.Name)
		var values []any
		switch k.Type {
		case trials.KnobInt, trials.KnobFloat:
			for _, f := range []float64{-1, 0, 0.5, 1, 2, 1e6} {
				values = append(values, f)
			}
			for _, b := range []*trials.Bound{k.Min, k.Max} {
				if b != nil {
					values = append(values, b.Value, b.Value-1e-9, b.Value+1e-9)
				}
			}
			values = append(values, "lots")
		case trials.KnobString:
			for _, c := range k.Choices {
				values = append(values, c)
			}
			values = append(values, "no-such-value", 3.0)
		}
		accepted, refused := 0, 0
		for _, v := range values {
			catalogueOK := knobs.Spec.Check(trials.SearchSpace{}, map[string]any{k.Name: v}) == nil
			_, err := ConfigFor(map[string]any{k.Name: v}, nil)
			if (err == nil) != catalogueOK {
				t.Errorf("option %s = %v: catalogue ok %v, ConfigFor: %v", k.Name, v, catalogueOK, err)
			}
			if catalogueOK {
				accepted++
			} else {
				refused++
			}
			if !isParam {
				continue
			}
			// As a param: the value as the search space decodes it, from
			// a one-choice categorical.
			space := trials.SearchSpace{k.Name: {Type: trials.Categorical, Choices: []any{v}}}
			if space.Validate() != nil {
				continue
			}
			params, err := space.Decode(map[string]any{k.Name: v})
			if err != nil {
				t.Fatal(err)
			}
			catalogueOK = knobs.Spec.Check(space, nil) == nil
			if _, err := ConfigFor(nil, params); (err == nil) != catalogueOK {
				t.Errorf("param %s = %v: catalogue ok %v, ConfigFor: %v", k.Name, v, catalogueOK, err)
			}
		}
		if len(values) > 0 && (accepted == 0 || refused == 0) {
			t.Errorf("%s: %d values accepted, %d refused: the probe proves nothing", k.Name, accepted, refused)
		}
	}
}
