package trials

import (
	"fmt"
	"sort"
	"strings"
)

// Built-in workload types. Runners may offer others; the service accepts a
// study of an unknown type and lets whichever runner claims it interpret it.
const (
	WorkloadMNISTMLP = "mnist-mlp"
	WorkloadExec     = "exec"
)

// The values the built-in MLP workload understands for its categorical
// knobs. The runner's trainer and the service's validation both read these,
// so a study can never ask for something the runner cannot do.
var (
	Activations = []string{"relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus"}
	Optimizers  = []string{"adam", "sgd", "momentum", "rmsprop"}
	Precisions  = []string{"float32", "float64"}
)

// ParamKind says what values a workload param takes.
type ParamKind int

const (
	ParamInt ParamKind = iota
	ParamFloat
	ParamChoice
)

// WorkloadParam is one param a built-in workload understands.
type WorkloadParam struct {
	Kind ParamKind
	// Min bounds numeric params from below (inclusive); Choices lists the
	// accepted values of ParamChoice params.
	Min     float64
	Choices []string
	Doc     string
}

// WorkloadParams lists, per built-in workload type, the params it
// understands. A nil map means any param is accepted (exec passes every
// param to its command).
var WorkloadParams = map[string]map[string]WorkloadParam{
	WorkloadMNISTMLP: {
		"batch_size":    {Kind: ParamInt, Min: 1, Doc: "examples per optimizer step"},
		"learning_rate": {Kind: ParamFloat, Min: 0, Doc: "optimizer step size"},
		"activation":    {Kind: ParamChoice, Choices: Activations, Doc: "hidden-layer activation"},
		"precision":     {Kind: ParamChoice, Choices: Precisions, Doc: "gorgonia dtype for weights and math"},
		"workers":       {Kind: ParamInt, Min: 1, Doc: "data-parallel gradient workers per step"},
		"hidden_units":  {Kind: ParamInt, Min: 1, Doc: "units per hidden layer"},
		"layers":        {Kind: ParamInt, Min: 1, Doc: "hidden layers"},
		"optimizer":     {Kind: ParamChoice, Choices: Optimizers, Doc: "adam, sgd, momentum or rmsprop"},
		"epochs":        {Kind: ParamInt, Min: 1, Doc: "passes over the training set"},
		"momentum":      {Kind: ParamFloat, Min: 0, Doc: "momentum of the momentum optimizer, rho of rmsprop"},
		"weight_decay":  {Kind: ParamFloat, Min: 0, Doc: "L2 penalty on the weights"},
	},
	WorkloadExec: nil,
}

// ValidateWorkload checks that every param of the space is one the study's
// built-in workload understands, with values it can take.
func (s Study) ValidateWorkload() error {
	if s.Workload == nil {
		return nil
	}
	known, builtin := WorkloadParams[s.Workload.Type]
	if !builtin || known == nil {
		return nil
	}
	for _, name := range s.SearchSpace.Names() {
		p, ok := known[name]
		if !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return Invalidf("workload %s does not understand param %q; it understands %s",
				s.Workload.Type, name, strings.Join(names, ", "))
		}
		if err := p.check(s.SearchSpace[name]); err != nil {
			return Invalidf("param %q for workload %s: %s", name, s.Workload.Type, err.Error())
		}
	}
	return nil
}

func (p WorkloadParam) check(d Distribution) error {
	switch p.Kind {
	case ParamChoice:
		if d.Type != Categorical {
			return fmt.Errorf("must be categorical with choices among %s", strings.Join(p.Choices, ", "))
		}
		for _, c := range d.Choices {
			s, ok := c.(string)
			if !ok || !contains(p.Choices, s) {
				return fmt.Errorf("choice %v is not one of %s", c, strings.Join(p.Choices, ", "))
			}
		}
	case ParamInt:
		if d.Type == Float {
			return fmt.Errorf("must be an int param (or categorical of integers)")
		}
		return p.checkNumbers(d, true)
	case ParamFloat:
		return p.checkNumbers(d, false)
	}
	return nil
}

func (p WorkloadParam) checkNumbers(d Distribution, integral bool) error {
	values := []float64{d.Low, d.High}
	if d.Type == Categorical {
		values = values[:0]
		for _, c := range d.Choices {
			f, ok := Number(c)
			if !ok || (integral && !isInt(f)) {
				return fmt.Errorf("choice %v is not a number the workload accepts", c)
			}
			values = append(values, f)
		}
	}
	for _, v := range values {
		if v < p.Min || (p.Kind == ParamFloat && p.Min == 0 && v < 0) {
			return fmt.Errorf("values must be >= %v, got %v", p.Min, v)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
