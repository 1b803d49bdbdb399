package mnist

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/trials"
)

// Config is one trial's complete setting: the defaults, overridden by
// the study's workload options, overridden by the trial's params.
type Config struct {
	BatchSize    int
	LearningRate float64
	Activation   string // one of trials.Activations
	Precision    string // float32 or float64
	Workers      int
	HiddenUnits  int
	Layers       int
	Optimizer    string // one of trials.Optimizers
	Epochs       int
	// Momentum is the momentum optimizer's momentum and RMSProp's decay
	// rate (rho); other optimizers ignore it.
	Momentum float64
	// WeightDecay is an L2 penalty on the weight matrices (not the
	// biases): WeightDecay·W is added to their gradients before the
	// optimizer step, for every optimizer alike.
	WeightDecay float64

	// Data. DataDir holds the four standard IDX files; the four paths, when
	// set, override single files. TrainSamples and TestSamples keep the
	// first N examples of each split (0: all).
	DataDir      string
	Files        Files
	TrainSamples int
	TestSamples  int
	// Seed is added to the trial number to seed weight initialisation and
	// shuffling, so every trial is deterministic and trials differ.
	Seed int64
	// SolverImpl is SolverFused (default) or SolverGorgonia: whose code
	// runs the optimizer's update rule (the same rule either way).
	SolverImpl string
}

// DefaultConfig is what a trial gets when neither options nor params say
// otherwise.
func DefaultConfig() Config {
	return Config{
		BatchSize:    128,
		LearningRate: 0.001,
		Activation:   "relu",
		Precision:    "float32",
		Workers:      1,
		HiddenUnits:  128,
		Layers:       1,
		Optimizer:    "adam",
		Epochs:       3,
		Momentum:     0.9,
		SolverImpl:   SolverFused,
	}
}

// field is one key the workload understands, as a param or an option.
type field struct {
	kind trials.ParamKind
	// set stores a parsed value; exactly one of the three arguments
	// matters, by kind.
	set func(c *Config, i int64, f float64, s string)
	// optionOnly keys are not trial params.
	optionOnly bool
	// path keys take strings without a fixed list of choices.
	path bool
}

var fields = map[string]field{
	"batch_size":    {kind: trials.ParamInt, set: func(c *Config, i int64, _ float64, _ string) { c.BatchSize = int(i) }},
	"learning_rate": {kind: trials.ParamFloat, set: func(c *Config, _ int64, f float64, _ string) { c.LearningRate = f }},
	"activation":    {kind: trials.ParamChoice, set: func(c *Config, _ int64, _ float64, s string) { c.Activation = s }},
	"precision":     {kind: trials.ParamChoice, set: func(c *Config, _ int64, _ float64, s string) { c.Precision = s }},
	"workers":       {kind: trials.ParamInt, set: func(c *Config, i int64, _ float64, _ string) { c.Workers = int(i) }},
	"hidden_units":  {kind: trials.ParamInt, set: func(c *Config, i int64, _ float64, _ string) { c.HiddenUnits = int(i) }},
	"layers":        {kind: trials.ParamInt, set: func(c *Config, i int64, _ float64, _ string) { c.Layers = int(i) }},
	"optimizer":     {kind: trials.ParamChoice, set: func(c *Config, _ int64, _ float64, s string) { c.Optimizer = s }},
	"epochs":        {kind: trials.ParamInt, set: func(c *Config, i int64, _ float64, _ string) { c.Epochs = int(i) }},
	"momentum":      {kind: trials.ParamFloat, set: func(c *Config, _ int64, f float64, _ string) { c.Momentum = f }},
	"weight_decay":  {kind: trials.ParamFloat, set: func(c *Config, _ int64, f float64, _ string) { c.WeightDecay = f }},

	"data_dir":      {kind: trials.ParamChoice, path: true, optionOnly: true, set: func(c *Config, _ int64, _ float64, s string) { c.DataDir = s }},
	"train_images":  {kind: trials.ParamChoice, path: true, optionOnly: true, set: func(c *Config, _ int64, _ float64, s string) { c.Files.TrainImages = s }},
	"train_labels":  {kind: trials.ParamChoice, path: true, optionOnly: true, set: func(c *Config, _ int64, _ float64, s string) { c.Files.TrainLabels = s }},
	"test_images":   {kind: trials.ParamChoice, path: true, optionOnly: true, set: func(c *Config, _ int64, _ float64, s string) { c.Files.TestImages = s }},
	"test_labels":   {kind: trials.ParamChoice, path: true, optionOnly: true, set: func(c *Config, _ int64, _ float64, s string) { c.Files.TestLabels = s }},
	"train_samples": {kind: trials.ParamInt, optionOnly: true, set: func(c *Config, i int64, _ float64, _ string) { c.TrainSamples = int(i) }},
	"test_samples":  {kind: trials.ParamInt, optionOnly: true, set: func(c *Config, i int64, _ float64, _ string) { c.TestSamples = int(i) }},
	"seed":          {kind: trials.ParamInt, optionOnly: true, set: func(c *Config, i int64, _ float64, _ string) { c.Seed = i }},
	"solver":        {kind: trials.ParamChoice, optionOnly: true, set: func(c *Config, _ int64, _ float64, s string) { c.SolverImpl = s }},
}

// ConfigFor merges the defaults, the study's options and the trial's
// params (params win), and checks the result. Unknown keys are errors: a
// misspelt option would otherwise be ignored silently.
func ConfigFor(options, params map[string]any) (Config, error) {
	c := DefaultConfig()
	if err := apply(&c, options, "option", true); err != nil {
		return c, err
	}
	if err := apply(&c, params, "param", false); err != nil {
		return c, err
	}
	return c, c.validate()
}

func apply(c *Config, m map[string]any, what string, options bool) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := fields[k]
		if !ok || (f.optionOnly && !options) {
			return fmt.Errorf("unknown %s %q for workload %s; known: %s", what, k, trials.WorkloadMNISTMLP, knownKeys(options))
		}
		v := m[k]
		switch f.kind {
		case trials.ParamInt:
			i, err := toInt(v)
			if err != nil {
				return fmt.Errorf("%s %s: %w", what, k, err)
			}
			f.set(c, i, 0, "")
		case trials.ParamFloat:
			x, err := toFloat(v)
			if err != nil {
				return fmt.Errorf("%s %s: %w", what, k, err)
			}
			f.set(c, 0, x, "")
		case trials.ParamChoice:
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%s %s: want a string, got %v (%T)", what, k, v, v)
			}
			if !f.path {
				s = strings.ToLower(strings.TrimSpace(s))
			}
			f.set(c, 0, 0, s)
		}
	}
	return nil
}

func knownKeys(options bool) string {
	var ks []string
	for k, f := range fields {
		if options || !f.optionOnly {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// toInt accepts the ways an integer arrives: int64 from the service,
// float64 from JSON, json.Number, a decimal string, as long as it is whole.
func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case float32:
		return toInt(float64(x))
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %q", x)
		}
		return toInt(f)
	case string:
		return toInt(json.Number(strings.TrimSpace(x)))
	}
	return 0, fmt.Errorf("want an integer, got %v (%T)", v, v)
}

func toFloat(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case float32:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("want a number, got %q", x)
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, fmt.Errorf("want a number, got %q", x)
		}
	default:
		return 0, fmt.Errorf("want a number, got %v (%T)", v, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a finite number, got %v", f)
	}
	return f, nil
}

func (c Config) validate() error {
	choice := func(name, v string, allowed []string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("unknown %s %q; want one of %s", name, v, strings.Join(allowed, ", "))
		}
		return nil
	}
	if err := choice("activation", c.Activation, trials.Activations); err != nil {
		return err
	}
	if err := choice("optimizer", c.Optimizer, trials.Optimizers); err != nil {
		return err
	}
	if err := choice("precision", c.Precision, trials.Precisions); err != nil {
		return err
	}
	if err := choice("solver", c.SolverImpl, []string{SolverFused, SolverGorgonia}); err != nil {
		return err
	}
	positive := []struct {
		name string
		v    int
	}{
		{"batch_size", c.BatchSize}, {"workers", c.Workers}, {"hidden_units", c.HiddenUnits},
		{"layers", c.Layers}, {"epochs", c.Epochs},
	}
	for _, p := range positive {
		if p.v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", p.name, p.v)
		}
	}
	if c.Workers > c.BatchSize {
		return fmt.Errorf("workers (%d) must not exceed batch_size (%d): each worker needs at least one example per step", c.Workers, c.BatchSize)
	}
	if c.LearningRate < 0 {
		return fmt.Errorf("learning_rate must not be negative, got %v", c.LearningRate)
	}
	if c.Momentum < 0 || c.Momentum >= 1 {
		return fmt.Errorf("momentum must be in [0, 1), got %v", c.Momentum)
	}
	if c.WeightDecay < 0 {
		return fmt.Errorf("weight_decay must not be negative, got %v", c.WeightDecay)
	}
	if c.TrainSamples < 0 || c.TestSamples < 0 {
		return fmt.Errorf("train_samples and test_samples must not be negative")
	}
	return nil
}
