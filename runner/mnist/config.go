package mnist

import (
	"fmt"
	"maps"
	"slices"

	"github.com/tune-dev/tune/runner/mnist/knobs"
	"github.com/tune-dev/tune/trials"
)

// Config is one trial's complete setting: the defaults, overridden by
// the study's workload options, overridden by the trial's params.
type Config struct {
	BatchSize    int
	LearningRate float64
	Activation   string // one of knobs.Activations
	Precision    string // float32 or float64
	Workers      int
	HiddenUnits  int
	Layers       int
	Optimizer    string // one of knobs.Optimizers
	Epochs       int
	// Momentum is the momentum optimizer's momentum and RMSProp's decay
	// rate (rho); other optimizers ignore it.
	Momentum float64
	// WeightDecay is an L2 penalty on the weight matrices (not the
	// biases): WeightDecay·W is added to their gradients before the
	// optimizer step, for every optimizer alike.
	WeightDecay float64
	// GradAccumulation is the number of batches whose gradients are
	// averaged into one optimizer step.
	GradAccumulation int
	// LRSchedule (one of knobs.Schedules) and WarmupEpochs shape the
	// learning rate over training; see scheduledLR.
	LRSchedule   string
	WarmupEpochs float64
	// GradClip bounds the gradient's global L2 norm (0: no bound).
	GradClip float64
	// Dropout is the probability of dropping a hidden unit in training.
	Dropout float64
	// EvalEvery is the number of epochs between evaluations.
	EvalEvery int

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
	// MaxMemoryBytes fails the trial as oom when its memory passes it
	// (see memoryLimit); 0: no limit.
	MaxMemoryBytes int64
	// TargetAccuracy is the val_accuracy seconds_to_accuracy measures the
	// time to; 0: none.
	TargetAccuracy float64
}

// DefaultConfig is what a trial gets when neither options nor params say
// otherwise: the defaults the knobs declare.
func DefaultConfig() Config {
	var c Config
	for _, k := range knobs.Spec.Options {
		if k.Default != nil {
			setters[k.Name](&c, k.Default)
		}
	}
	return c
}

// setters store each knob's value, already decoded into the knob's type by
// its declaration in runner/mnist/knobs (int64, float64 or string), so
// the assertions cannot fail. The names are the declaration's; types,
// ranges and defaults live only there.
var setters = map[string]func(c *Config, v any){
	"batch_size":    func(c *Config, v any) { c.BatchSize = int(v.(int64)) },
	"learning_rate": func(c *Config, v any) { c.LearningRate = v.(float64) },
	"activation":    func(c *Config, v any) { c.Activation = v.(string) },
	"precision":     func(c *Config, v any) { c.Precision = v.(string) },
	"workers":       func(c *Config, v any) { c.Workers = int(v.(int64)) },
	"hidden_units":  func(c *Config, v any) { c.HiddenUnits = int(v.(int64)) },
	"layers":        func(c *Config, v any) { c.Layers = int(v.(int64)) },
	"optimizer":     func(c *Config, v any) { c.Optimizer = v.(string) },
	"epochs":        func(c *Config, v any) { c.Epochs = int(v.(int64)) },
	"momentum":      func(c *Config, v any) { c.Momentum = v.(float64) },
	"weight_decay":  func(c *Config, v any) { c.WeightDecay = v.(float64) },

	"grad_accumulation": func(c *Config, v any) { c.GradAccumulation = int(v.(int64)) },
	"lr_schedule":       func(c *Config, v any) { c.LRSchedule = v.(string) },
	"warmup_epochs":     func(c *Config, v any) { c.WarmupEpochs = v.(float64) },
	"grad_clip":         func(c *Config, v any) { c.GradClip = v.(float64) },
	"dropout":           func(c *Config, v any) { c.Dropout = v.(float64) },
	"eval_every":        func(c *Config, v any) { c.EvalEvery = int(v.(int64)) },

	"data_dir":      func(c *Config, v any) { c.DataDir = v.(string) },
	"train_images":  func(c *Config, v any) { c.Files.TrainImages = v.(string) },
	"train_labels":  func(c *Config, v any) { c.Files.TrainLabels = v.(string) },
	"test_images":   func(c *Config, v any) { c.Files.TestImages = v.(string) },
	"test_labels":   func(c *Config, v any) { c.Files.TestLabels = v.(string) },
	"train_samples": func(c *Config, v any) { c.TrainSamples = int(v.(int64)) },
	"test_samples":  func(c *Config, v any) { c.TestSamples = int(v.(int64)) },
	"seed":          func(c *Config, v any) { c.Seed = v.(int64) },
	"solver":        func(c *Config, v any) { c.SolverImpl = v.(string) },

	"max_memory_bytes": func(c *Config, v any) { c.MaxMemoryBytes = v.(int64) },
	"target_accuracy":  func(c *Config, v any) { c.TargetAccuracy = v.(float64) },
}

// ConfigFor merges the defaults, the study's options and the trial's
// params (params win), each checked by its knob's declaration. Unknown
// keys are errors: a misspelt option would otherwise be ignored silently.
// Params are expected as the search space decodes them (trials.Params).
func ConfigFor(options map[string]any, params trials.Params) (Config, error) {
	opts, err := knobs.Spec.DecodeOptions(options)
	if err != nil {
		return Config{}, err
	}
	values := make(map[string]any, len(knobs.Spec.Options))
	for _, k := range knobs.Spec.Options {
		if k.Default != nil {
			values[k.Name] = k.Default
		}
	}
	maps.Copy(values, opts)
	for _, name := range slices.Sorted(maps.Keys(params)) {
		v, err := knobs.Spec.DecodeParam(name, params[name])
		if err != nil {
			return Config{}, err
		}
		values[name] = v
	}
	// Relations between knobs (workers <= batch_size) hold on the merged
	// values, wherever each came from.
	for _, k := range knobs.Spec.Params {
		if k.NotAbove == "" {
			continue
		}
		lo, hi := values[k.Name].(int64), values[k.NotAbove].(int64)
		if lo > hi {
			return Config{}, fmt.Errorf("%s (%d) must not exceed %s (%d): %s", k.Name, lo, k.NotAbove, hi, k.Doc)
		}
	}
	var c Config
	for name, v := range values {
		setters[name](&c, v)
	}
	return c, nil
}
