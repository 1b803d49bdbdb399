package command

import (
	"testing"

	"github.com/tune-dev/tune/runner/command/knobs"
	"github.com/tune-dev/tune/trials"
)

// parseOptions and the service's check read one declaration: they accept
// and refuse the same options.
func TestParseOptionsAgreesWithTheCatalogue(t *testing.T) {
	for name, opts := range map[string]map[string]any{
		"minimal":          {"command": []any{"true"}},
		"everything":       {"command": []any{"sh", "-c", "x"}, "timeout_seconds": 1.5, "env": map[string]any{"A_1": "x", "N": 2.0}, "dir": "/tmp"},
		"no command":       {},
		"empty argument":   {"command": []any{"echo", ""}},
		"zero timeout":     {"command": []any{"true"}, "timeout_seconds": 0.0},
		"huge timeout":     {"command": []any{"true"}, "timeout_seconds": 1e300},
		"string timeout":   {"command": []any{"true"}, "timeout_seconds": "60"},
		"env name digit":   {"command": []any{"true"}, "env": map[string]any{"1X": "x"}},
		"env name space":   {"command": []any{"true"}, "env": map[string]any{"A B": "x"}},
		"misspelt option":  {"command": []any{"true"}, "cmd": []any{"true"}},
		"dir not a string": {"command": []any{"true"}, "dir": true},
	} {
		_, parseErr := parseOptions(opts)
		checkErr := knobs.Spec.Check(trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}}, opts)
		if (parseErr == nil) != (checkErr == nil) {
			t.Errorf("%s: parseOptions %v, catalogue %v", name, parseErr, checkErr)
		}
	}
}
