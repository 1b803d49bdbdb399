package trials

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// WorkloadSpec declares what one workload type understands: the params a
// trial may set and the options a study may give. The workload owns its
// spec (runner/mnist/knobs, runner/command); this package only checks
// studies against it, so that the service refuses at creation what a
// runner would refuse at run time.
type WorkloadSpec struct {
	Type string `json:"type"`
	Doc  string `json:"doc"`
	// Params are the knobs a trial's params may set. AnyParams says the
	// workload takes any param (exec hands them all to its command).
	Params    []Knob `json:"params"`
	AnyParams bool   `json:"any_params,omitempty"`
	Options   []Knob `json:"options"`
	// NumericText lets options give numbers as decimal strings.
	NumericText bool `json:"-"`
}

// Param returns the param knob of that name.
func (w WorkloadSpec) Param(name string) (Knob, bool) { return find(w.Params, name) }

// Option returns the option knob of that name.
func (w WorkloadSpec) Option(name string) (Knob, bool) { return find(w.Options, name) }

func find(knobs []Knob, name string) (Knob, bool) {
	i := slices.IndexFunc(knobs, func(k Knob) bool { return k.Name == name })
	if i < 0 {
		return Knob{}, false
	}
	return knobs[i], true
}

func names(knobs []Knob) string {
	ns := make([]string, len(knobs))
	for i, k := range knobs {
		ns[i] = k.Name
	}
	slices.Sort(ns)
	return strings.Join(ns, ", ")
}

// DecodeOptions checks a study's options and returns them in their knobs'
// Go types (see Knob.Decode). Unknown names are refused with the list of
// known ones: a misspelt option silently ignored is worse than an error.
func (w WorkloadSpec) DecodeOptions(opts map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(opts))
	for _, name := range slices.Sorted(maps.Keys(opts)) {
		k, ok := w.Option(name)
		if !ok {
			return nil, fmt.Errorf("unknown option %q for workload %s; known: %s", name, w.Type, names(w.Options))
		}
		v, err := k.Decode(opts[name], w.NumericText)
		if err != nil {
			return nil, fmt.Errorf("option %s", err)
		}
		out[name] = v
	}
	for _, k := range w.Options {
		if _, ok := out[k.Name]; !ok && k.Required {
			return nil, fmt.Errorf("workload %s needs the option %q: %s", w.Type, k.Name, k.Doc)
		}
	}
	return out, nil
}

// DecodeParam checks one trial param against its knob and returns it in
// the knob's Go type. Params come decoded by the search space (int64,
// float64, string, bool); a categorical of numbers gives float64s, which
// an int knob takes when they are whole.
func (w WorkloadSpec) DecodeParam(name string, v any) (any, error) {
	k, ok := w.Param(name)
	if !ok {
		if w.AnyParams {
			return v, nil
		}
		return nil, fmt.Errorf("unknown param %q for workload %s; known: %s", name, w.Type, names(w.Params))
	}
	v, err := k.Decode(v, false)
	if err != nil {
		return nil, fmt.Errorf("param %w", err)
	}
	return v, nil
}

// Check refuses a study this workload would fail at run time: options it
// refuses, params it does not know, and any space that can produce a value
// outside a knob's range, choices or type. Errors are KindInvalid and name
// the param or option and what is allowed.
func (w WorkloadSpec) Check(space SearchSpace, opts map[string]any) error {
	decoded, err := w.DecodeOptions(opts)
	if err != nil {
		return Invalidf("workload.options: %s", err.Error())
	}
	for _, name := range space.Names() {
		k, ok := w.Param(name)
		if !ok {
			if w.AnyParams {
				continue
			}
			return Invalidf("workload %s does not understand param %q; it understands %s", w.Type, name, names(w.Params))
		}
		if err := k.CheckDistribution(space[name]); err != nil {
			return Invalidf("param %q for workload %s: %s", name, w.Type, err.Error())
		}
	}
	// Relations between knobs: the largest value one can take must not
	// exceed the smallest the other can, whether each comes from the
	// space, the options or the default.
	for _, k := range w.Params {
		if k.NotAbove == "" {
			continue
		}
		_, hi, ok1 := w.span(k.Name, space, decoded)
		lo, _, ok2 := w.span(k.NotAbove, space, decoded)
		if ok1 && ok2 && hi > lo {
			return Invalidf("%s must not exceed %s, but the study can give %s = %v with %s = %v",
				k.Name, k.NotAbove, k.Name, hi, k.NotAbove, lo)
		}
	}
	return nil
}

func (w WorkloadSpec) span(name string, space SearchSpace, opts map[string]any) (lo, hi float64, ok bool) {
	if d, inSpace := space[name]; inSpace {
		return span(d)
	}
	v, given := opts[name]
	if !given {
		k, _ := w.Param(name)
		v = k.Default
	}
	f, ok := Number(v)
	return f, f, ok
}

// Workloads is the registry of workload types whose knobs are known.
type Workloads map[string]WorkloadSpec

// NewWorkloads returns a registry of the given specs.
func NewWorkloads(specs ...WorkloadSpec) Workloads {
	r := make(Workloads, len(specs))
	for _, s := range specs {
		r[s.Type] = s
	}
	return r
}

// Sorted returns the specs in type order.
func (r Workloads) Sorted() []WorkloadSpec {
	out := make([]WorkloadSpec, 0, len(r))
	for _, t := range slices.Sorted(maps.Keys(r)) {
		out = append(out, r[t])
	}
	return out
}

// ValidateWorkload checks the study's space and options against its
// workload's spec in the registry. A type the registry does not know is
// accepted: a runner may offer workloads the service has never heard of.
func (s Study) ValidateWorkload(r Workloads) error {
	if s.Workload == nil {
		return nil
	}
	spec, ok := r[s.Workload.Type]
	if !ok {
		return nil
	}
	return spec.Check(s.SearchSpace, s.Workload.Options)
}
