package command

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tune-dev/tune/runner/workload"
)

// DefaultTimeout is how long a command may run when its study does not set
// timeout_seconds.
const DefaultTimeout = time.Hour

// spec is a study's exec options, checked.
type spec struct {
	argv    []string
	timeout time.Duration
	env     map[string]string
	dir     string
}

// parseOptions reads the study's workload options. Unknown options are
// refused: a misspelt "timeout" silently falling back to an hour is worse
// than a failed first trial that names the mistake.
func parseOptions(opts map[string]any) (spec, error) {
	sp := spec{timeout: DefaultTimeout}
	for _, name := range slices.Sorted(maps.Keys(opts)) {
		v := opts[name]
		switch name {
		case "command":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return sp, fmt.Errorf(`exec option "command" must be a non-empty list of strings, e.g. ["python3", "train.py"], got %s`, jsonText(v))
			}
			for _, a := range list {
				s, ok := a.(string)
				if !ok {
					return sp, fmt.Errorf(`exec option "command": every element must be a string, got %s`, jsonText(a))
				}
				sp.argv = append(sp.argv, s)
			}
			if sp.argv[0] == "" {
				return sp, fmt.Errorf(`exec option "command": the program name is empty`)
			}
		case "timeout_seconds":
			f, ok := v.(float64)
			if !ok || !(f > 0) || math.IsInf(f, 0) {
				return sp, fmt.Errorf(`exec option "timeout_seconds" must be a positive number of seconds, got %s`, jsonText(v))
			}
			sp.timeout = time.Duration(f * float64(time.Second))
		case "env":
			m, ok := v.(map[string]any)
			if !ok {
				return sp, fmt.Errorf(`exec option "env" must be an object of strings, got %s`, jsonText(v))
			}
			sp.env = make(map[string]string, len(m))
			for k, ev := range m {
				if k == "" || strings.ContainsAny(k, "=\x00") {
					return sp, fmt.Errorf(`exec option "env": %q is not a variable name`, k)
				}
				s, ok := envString(ev)
				if !ok {
					return sp, fmt.Errorf(`exec option "env": %s must be a string, got %s`, k, jsonText(ev))
				}
				sp.env[k] = s
			}
		case "dir":
			s, ok := v.(string)
			if !ok {
				return sp, fmt.Errorf(`exec option "dir" must be a string, got %s`, jsonText(v))
			}
			sp.dir = s
		default:
			return sp, fmt.Errorf("unknown exec option %q; exec takes command, timeout_seconds, env and dir", name)
		}
	}
	if len(sp.argv) == 0 {
		return sp, fmt.Errorf(`exec needs the option "command", a list such as ["python3", "train.py"]`)
	}
	return sp, nil
}

// envString accepts strings, and numbers and booleans as a YAML or JSON
// study file writes them unquoted.
func envString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64, bool, int, int64:
		return paramText(x), true
	}
	return "", false
}

// environ is the command's environment: the runner's own, the study's env
// option, then the trial's (later entries win in os/exec).
func environ(base []string, sp spec, t workload.Trial) ([]string, error) {
	env := slices.Clone(base)
	for _, k := range slices.Sorted(maps.Keys(sp.env)) {
		env = append(env, k+"="+sp.env[k])
	}
	params, err := json.Marshal(t.Params)
	if err != nil {
		return nil, fmt.Errorf("encoding params: %w", err)
	}
	env = append(env,
		"TUNE_PARAMS="+string(params),
		"TUNE_TRIAL_ID="+strconv.FormatInt(t.ID, 10),
		"TUNE_TRIAL_NUMBER="+strconv.Itoa(t.Number),
		"TUNE_STUDY="+t.Study,
		"TUNE_DEVICE="+t.Device,
		"TUNE_OBJECTIVE="+t.Objective.Metric,
	)
	for _, name := range slices.Sorted(maps.Keys(t.Params)) {
		env = append(env, "TUNE_PARAM_"+strings.ToUpper(name)+"="+paramText(t.Params[name]))
	}
	return env, nil
}

// paramText renders one param for a TUNE_PARAM_ variable: ints without a
// decimal point, floats in the shortest form that reads back exactly
// (which Python's float() and int() parse), strings raw.
func paramText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return jsonText(v)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
