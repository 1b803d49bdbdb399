package trials

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Built-in workload types. Runners may offer others; the service accepts a
// study of an unknown type and lets whichever runner claims it interpret it.
const (
	WorkloadMNISTMLP = "mnist-mlp"
	WorkloadExec     = "exec"
)

// KnobType is the kind of value a workload knob takes.
type KnobType string

const (
	KnobInt    KnobType = "int"
	KnobFloat  KnobType = "float"
	KnobString KnobType = "string"
	KnobBool   KnobType = "bool"
	// KnobStrings is a list of strings (an argv).
	KnobStrings KnobType = "list of strings"
	// KnobEnv is an object of environment variables: names as a shell
	// accepts them, values strings (numbers and booleans are written out,
	// as a YAML file gives them unquoted).
	KnobEnv KnobType = "environment"
)

// Bound is one end of a numeric knob's range.
type Bound struct {
	Value     float64 `json:"value"`
	Exclusive bool    `json:"exclusive,omitempty"`
}

// AtLeast, Above, AtMost and Below are the four bounds a knob can have.
func AtLeast(v float64) *Bound { return &Bound{Value: v} }
func Above(v float64) *Bound   { return &Bound{Value: v, Exclusive: true} }
func AtMost(v float64) *Bound  { return &Bound{Value: v} }
func Below(v float64) *Bound   { return &Bound{Value: v, Exclusive: true} }

// Knob is one setting a workload understands, as a trial param or as a
// study option: the single declaration that study validation, the runner's
// parsing and `tune workloads` all read.
type Knob struct {
	Name string   `json:"name"`
	Type KnobType `json:"type"`
	// Min and Max bound numeric knobs; nil is unbounded.
	Min *Bound `json:"min,omitempty"`
	Max *Bound `json:"max,omitempty"`
	// Choices, when set, are the only values a string knob takes.
	Choices []string `json:"choices,omitempty"`
	// NotAbove names another knob of the same workload that this one may
	// not exceed (workers <= batch_size).
	NotAbove string `json:"not_above,omitempty"`
	Default  any    `json:"default,omitempty"`
	Required bool   `json:"required,omitempty"`
	// NonEmpty refuses "" for a string knob and for each element of a
	// list.
	NonEmpty bool   `json:"non_empty,omitempty"`
	Doc      string `json:"doc"`
}

// Range describes the values the knob accepts, as errors and listings show
// it: "[0, 1)", ">= 1", "one of relu, tanh".
func (k Knob) Range() string {
	switch {
	case len(k.Choices) > 0:
		return "one of " + strings.Join(k.Choices, ", ")
	case k.Min != nil && k.Max != nil:
		lo, hi := "[", "]"
		if k.Min.Exclusive {
			lo = "("
		}
		if k.Max.Exclusive {
			hi = ")"
		}
		return fmt.Sprintf("%s%s, %s%s", lo, num(k.Min.Value), num(k.Max.Value), hi)
	case k.Min != nil && k.Min.Exclusive:
		return "> " + num(k.Min.Value)
	case k.Min != nil:
		return ">= " + num(k.Min.Value)
	case k.Max != nil && k.Max.Exclusive:
		return "< " + num(k.Max.Value)
	case k.Max != nil:
		return "<= " + num(k.Max.Value)
	}
	return ""
}

// num writes a bound without an exponent: 31536000, not 3.1536e+07.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// inRange reports whether a number lies within the knob's bounds.
func (k Knob) inRange(f float64) bool {
	if k.Min != nil && (f < k.Min.Value || (k.Min.Exclusive && f == k.Min.Value)) {
		return false
	}
	if k.Max != nil && (f > k.Max.Value || (k.Max.Exclusive && f == k.Max.Value)) {
		return false
	}
	return true
}

// rangeError words a value out of range the way people say it.
func (k Knob) rangeError(f float64) error {
	switch {
	case k.Max == nil && k.Min != nil && !k.Min.Exclusive && k.Min.Value == 0:
		return fmt.Errorf("%s must not be negative, got %v", k.Name, f)
	case k.Max == nil && k.Min != nil && !k.Min.Exclusive:
		return fmt.Errorf("%s must be at least %v, got %v", k.Name, k.Min.Value, f)
	case k.Max == nil && k.Min != nil:
		return fmt.Errorf("%s must be a positive number, got %v", k.Name, f)
	}
	return fmt.Errorf("%s must be in %s, got %v", k.Name, k.Range(), f)
}

// Decode reads one value of the knob from what JSON (or a Go caller) gives
// and returns it in the knob's Go type: int64, float64, string, bool,
// []string or map[string]string. It refuses values outside the range or
// choices, naming the knob. numericText also accepts numbers written as
// decimal strings (hand-written option files).
func (k Knob) Decode(v any, numericText bool) (any, error) {
	switch k.Type {
	case KnobInt, KnobFloat:
		f, ok := Number(v)
		if s, isText := v.(string); !ok && isText && numericText {
			var err error
			f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
			ok = err == nil
		}
		if !ok || !finite(f) {
			if k.Type == KnobInt {
				return nil, fmt.Errorf("%s: want an integer, got %s", k.Name, jsonText(v))
			}
			return nil, fmt.Errorf("%s: want a number, got %s", k.Name, jsonText(v))
		}
		if k.Type == KnobInt && !isInt(f) {
			return nil, fmt.Errorf("%s: want an integer, got %v", k.Name, f)
		}
		if !k.inRange(f) {
			return nil, k.rangeError(f)
		}
		if k.Type == KnobInt {
			if i, ok := v.(int64); ok {
				return i, nil
			}
			return int64(f), nil
		}
		return f, nil
	case KnobString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: want a string, got %s", k.Name, jsonText(v))
		}
		if len(k.Choices) > 0 && !slices.Contains(k.Choices, s) {
			return nil, fmt.Errorf("unknown %s %q; want one of %s", k.Name, s, strings.Join(k.Choices, ", "))
		}
		if k.NonEmpty && s == "" {
			return nil, fmt.Errorf("%s must not be empty", k.Name)
		}
		return s, nil
	case KnobBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: want true or false, got %s", k.Name, jsonText(v))
		}
		return b, nil
	case KnobStrings:
		return k.decodeStrings(v)
	case KnobEnv:
		return k.decodeEnv(v)
	}
	return nil, fmt.Errorf("%s: knob type %q is not known", k.Name, k.Type)
}

func (k Knob) decodeStrings(v any) ([]string, error) {
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case []string:
		for _, s := range x {
			list = append(list, s)
		}
	default:
		return nil, fmt.Errorf("%s must be a non-empty list of strings, e.g. [\"python3\", \"train.py\"], got %s", k.Name, jsonText(v))
	}
	if len(list) == 0 && (k.Required || k.NonEmpty) {
		return nil, fmt.Errorf("%s must be a non-empty list of strings, e.g. [\"python3\", \"train.py\"], got []", k.Name)
	}
	out := make([]string, 0, len(list))
	for i, a := range list {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("%s: every element must be a string, element %d is %s", k.Name, i, jsonText(a))
		}
		if k.NonEmpty && s == "" {
			return nil, fmt.Errorf("%s: element %d is an empty string", k.Name, i)
		}
		out = append(out, s)
	}
	return out, nil
}

// envName is a variable name every shell and os/exec accept.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (k Knob) decodeEnv(v any) (map[string]string, error) {
	var m map[string]any
	switch x := v.(type) {
	case map[string]any:
		m = x
	case map[string]string:
		m = make(map[string]any, len(x))
		for n, s := range x {
			m[n] = s
		}
	default:
		return nil, fmt.Errorf("%s must be an object of strings, got %s", k.Name, jsonText(v))
	}
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if !envName.MatchString(name) {
			return nil, fmt.Errorf("%s: %q is not a variable name (letters, digits and _, not starting with a digit)", k.Name, name)
		}
		switch x := m[name].(type) {
		case string:
			out[name] = x
		case bool:
			out[name] = strconv.FormatBool(x)
		default:
			f, ok := Number(x)
			if !ok || !finite(f) {
				return nil, fmt.Errorf("%s: %s must be a string, got %s", k.Name, name, jsonText(x))
			}
			out[name] = strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return out, nil
}

// CheckDistribution refuses a distribution that can produce a value the
// knob refuses. The error names the allowed range; the caller names the
// param.
func (k Knob) CheckDistribution(d Distribution) error {
	switch k.Type {
	case KnobInt, KnobFloat:
		if d.Type == Categorical {
			for _, c := range d.Choices {
				if _, err := k.Decode(c, false); err != nil {
					return fmt.Errorf("choice %s is refused: %w", jsonText(c), err)
				}
			}
			return nil
		}
		if k.Type == KnobInt && d.Type == Float && !floatGridIsIntegral(d) {
			return fmt.Errorf("must be an int param (or categorical of integers, or a float with an integer low and step); %s takes integers %s", k.Name, k.Range())
		}
		lo, hi := d.Low, d.reach()
		for _, v := range []float64{lo, hi} {
			if !k.inRange(v) {
				return fmt.Errorf("the space reaches %v, but %s must be in %s", v, k.Name, k.rangeOrAll())
			}
		}
		return nil
	case KnobString, KnobBool:
		if d.Type != Categorical {
			if len(k.Choices) > 0 {
				return fmt.Errorf("must be categorical with choices among %s", strings.Join(k.Choices, ", "))
			}
			return fmt.Errorf("must be categorical: %s takes a %s", k.Name, k.Type)
		}
		for _, c := range d.Choices {
			if _, err := k.Decode(c, false); err != nil {
				return fmt.Errorf("choice %s is refused: %w", jsonText(c), err)
			}
		}
		return nil
	}
	return fmt.Errorf("%s is a %s and cannot be searched over", k.Name, k.Type)
}

func (k Knob) rangeOrAll() string {
	if r := k.Range(); r != "" {
		return r
	}
	return "any " + string(k.Type)
}

// span returns the least and greatest value a distribution can produce
// for this knob, for checks between knobs.
func span(d Distribution) (lo, hi float64, ok bool) {
	if d.Type != Categorical {
		return d.Low, d.reach(), true
	}
	first := true
	for _, c := range d.Choices {
		f, isNum := Number(c)
		if !isNum {
			return 0, 0, false
		}
		if first || f < lo {
			lo = f
		}
		if first || f > hi {
			hi = f
		}
		first = false
	}
	return lo, hi, !first
}

// reach is the greatest value a numeric distribution produces: high, or
// the last point of the step grid at or below it.
func (d Distribution) reach() float64 {
	step := 0.0
	if d.Step != nil {
		step = *d.Step
	} else if d.Type == Int {
		step = 1
	}
	if step == 0 || d.Log {
		return d.High
	}
	k := (d.High - d.Low) / step
	n := math.Floor(k + 1e-9*math.Max(1, math.Abs(k)))
	return math.Min(d.High, d.Low+n*step)
}

// floatGridIsIntegral reports whether a float distribution produces only
// whole numbers: an integer low with an integer step, no log.
func floatGridIsIntegral(d Distribution) bool {
	return !d.Log && d.Step != nil && isInt(d.Low) && isInt(*d.Step)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
