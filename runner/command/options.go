package command

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tune-dev/tune/runner/command/knobs"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// DefaultTimeout is how long a command may run when its study does not set
// timeout_seconds.
const DefaultTimeout = knobs.DefaultTimeout

// spec is a study's exec options, checked.
type spec struct {
	argv    []string
	timeout time.Duration
	env     map[string]string
	dir     string
	// maxMemory is max_memory_bytes; 0 when unset.
	maxMemory int64
}

// parseOptions reads the study's workload options through their declaration
// (knobs.Spec). Unknown
// options are refused: a misspelt "timeout" silently falling back to an
// hour is worse than a failed first trial that names the mistake.
func parseOptions(opts map[string]any) (spec, error) {
	sp := spec{timeout: DefaultTimeout}
	decoded, err := knobs.Spec.DecodeOptions(opts)
	if err != nil {
		return sp, fmt.Errorf("exec %w", err)
	}
	// The types are the declaration's, so the assertions cannot fail.
	sp.argv = decoded["command"].([]string)
	if v, ok := decoded["timeout_seconds"]; ok {
		sp.timeout = time.Duration(v.(float64) * float64(time.Second))
	}
	if v, ok := decoded["env"]; ok {
		sp.env = v.(map[string]string)
	}
	if v, ok := decoded["dir"]; ok {
		sp.dir = v.(string)
	}
	if v, ok := decoded["max_memory_bytes"]; ok {
		if !memorySupported {
			return sp, fmt.Errorf("exec option max_memory_bytes needs Linux, where /proc tells a command's memory; this runner runs on another system")
		}
		sp.maxMemory = v.(int64)
	}
	return sp, nil
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
		"TUNE_OBJECTIVES="+objectivesJSON(t),
	)
	for _, name := range slices.Sorted(maps.Keys(t.Params)) {
		env = append(env, "TUNE_PARAM_"+strings.ToUpper(name)+"="+paramText(t.Params[name]))
	}
	return env, nil
}

// objectivesJSON is the study's objectives as a JSON list of
// {"metric", "direction"}, in the study's order; one for a
// single-objective study.
func objectivesJSON(t workload.Trial) string {
	goals := t.Objectives
	if len(goals) == 0 && t.Objective.Metric != "" {
		goals = []trials.Objective{t.Objective}
	}
	if goals == nil {
		goals = []trials.Objective{}
	}
	return jsonText(goals)
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
