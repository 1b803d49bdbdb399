package trials

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// Distribution types.
const (
	Float       = "float"
	Int         = "int"
	Categorical = "categorical"
)

// maxExactInt is the largest integer a float64 (and so a JSON number in most
// clients) holds exactly.
const maxExactInt = 1 << 53

// Distribution is the range one param is drawn from.
type Distribution struct {
	Type string  `json:"type"`
	Low  float64 `json:"low,omitempty"`
	High float64 `json:"high,omitempty"`
	// Step quantizes float params and spaces int params (default 1).
	Step *float64 `json:"step,omitempty"`
	// Log samples uniformly in log space.
	Log bool `json:"log,omitempty"`
	// Choices are strings, finite numbers or booleans.
	Choices []any `json:"choices,omitempty"`
}

// SearchSpace maps param names to their distributions.
type SearchSpace map[string]Distribution

// Names returns the params in sorted order: sampling in a fixed order is what
// keeps seeded studies reproducible.
func (s SearchSpace) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// paramName is a name that can also be an environment variable suffix
// (TUNE_PARAM_<NAME>) and an identifier in generated SDKs.
var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

const maxParams = 64

// Validate reports the first problem with the space, naming the param.
func (s SearchSpace) Validate() error {
	if len(s) == 0 {
		return Invalidf("search_space must declare at least one param")
	}
	if len(s) > maxParams {
		return Invalidf("search_space declares %d params; at most %d are allowed", len(s), maxParams)
	}
	for _, name := range s.Names() {
		if !paramName.MatchString(name) {
			return Invalidf("param name %q must start with a letter or underscore and contain only letters, digits and underscores (at most 64)", name)
		}
		if err := s[name].validate(); err != nil {
			return Invalidf("param %q: %s", name, err.Error())
		}
	}
	return nil
}

func (d Distribution) validate() error {
	switch d.Type {
	case Float, Int:
		if len(d.Choices) > 0 {
			return fmt.Errorf("choices only apply to categorical params")
		}
		if !finite(d.Low) || !finite(d.High) {
			return fmt.Errorf("low and high must be finite numbers")
		}
		if d.Low > d.High {
			return fmt.Errorf("low (%v) must not be greater than high (%v)", d.Low, d.High)
		}
		if d.Step != nil && (!finite(*d.Step) || *d.Step <= 0) {
			return fmt.Errorf("step must be a positive number")
		}
		if d.Log && d.Step != nil {
			return fmt.Errorf("step and log cannot be combined")
		}
		if d.Type == Int {
			if !isInt(d.Low) || !isInt(d.High) {
				return fmt.Errorf("low and high of an int param must be integers between -2^53 and 2^53")
			}
			if d.Step != nil && !isInt(*d.Step) {
				return fmt.Errorf("step of an int param must be a positive integer")
			}
			if d.Log && d.Low < 1 {
				return fmt.Errorf("an int param with log needs low >= 1, got %v", d.Low)
			}
		} else if d.Log && d.Low <= 0 {
			return fmt.Errorf("a float param with log needs low > 0, got %v", d.Low)
		}
		return nil
	case Categorical:
		if d.Low != 0 || d.High != 0 || d.Step != nil || d.Log {
			return fmt.Errorf("low, high, step and log do not apply to categorical params")
		}
		if len(d.Choices) == 0 {
			return fmt.Errorf("choices must not be empty")
		}
		if len(d.Choices) > 1000 {
			return fmt.Errorf("at most 1000 choices are allowed, got %d", len(d.Choices))
		}
		seen := make(map[string]bool, len(d.Choices))
		for _, c := range d.Choices {
			key, err := choiceKey(c)
			if err != nil {
				return err
			}
			if seen[key] {
				return fmt.Errorf("choice %s appears twice", key)
			}
			seen[key] = true
		}
		return nil
	case "":
		return fmt.Errorf("type is required: one of float, int, categorical")
	default:
		return fmt.Errorf("unknown type %q: use float, int or categorical", d.Type)
	}
}

// choiceKey renders a choice as JSON, rejecting values that are not strings,
// finite numbers or booleans.
func choiceKey(c any) (string, error) {
	switch v := c.(type) {
	case string, bool:
	case float64:
		if !finite(v) {
			return "", fmt.Errorf("choices must be finite numbers, strings or booleans")
		}
	case int, int64:
	case json.Number:
		f, err := v.Float64()
		if err != nil || !finite(f) {
			return "", fmt.Errorf("choice %s is not a finite number", v)
		}
		c = f
	default:
		return "", fmt.Errorf("choices must be strings, numbers or booleans, got %T", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("choice %v: %w", c, err)
	}
	return string(b), nil
}

// ChoiceIndex returns the index of v in the choices, comparing as JSON so
// that 2, 2.0 and int64(2) are one choice.
func (d Distribution) ChoiceIndex(v any) (int, bool) {
	key, err := choiceKey(v)
	if err != nil {
		return 0, false
	}
	for i, c := range d.Choices {
		if k, err := choiceKey(c); err == nil && k == key {
			return i, true
		}
	}
	return 0, false
}

// Contains reports whether v (already normalized) lies in the distribution.
func (d Distribution) contains(v float64) bool {
	if v < d.Low || v > d.High {
		return false
	}
	if d.Step == nil {
		return true
	}
	k := (v - d.Low) / *d.Step
	return math.Abs(k-math.Round(k)) < 1e-9*math.Max(1, math.Abs(k))
}

// Normalize checks one param value against the distribution and returns it
// in canonical form: int64 for int params, float64 for float params, and the
// declared choice for categorical params.
func (d Distribution) Normalize(v any) (any, error) {
	switch d.Type {
	case Categorical:
		i, ok := d.ChoiceIndex(v)
		if !ok {
			return nil, fmt.Errorf("%v is not one of the choices", v)
		}
		return d.Choices[i], nil
	case Int:
		f, ok := Number(v)
		if !ok || !isInt(f) {
			return nil, fmt.Errorf("%v is not an integer", v)
		}
		if !d.contains(f) {
			return nil, fmt.Errorf("%v is outside [%v, %v]%s", v, d.Low, d.High, stepText(d.Step))
		}
		return int64(f), nil
	case Float:
		f, ok := Number(v)
		if !ok || !finite(f) {
			return nil, fmt.Errorf("%v is not a finite number", v)
		}
		if !d.contains(f) {
			return nil, fmt.Errorf("%v is outside [%v, %v]%s", v, d.Low, d.High, stepText(d.Step))
		}
		return f, nil
	}
	return nil, fmt.Errorf("unknown distribution type %q", d.Type)
}

// Params are a trial's param values decoded into their declared types:
// int64 for int params, float64 for float params, and the declared choice
// (string, float64 or bool) for categorical ones. SearchSpace.Decode is the
// one place that decides which number is an int; code after it reads
// typed values.
type Params map[string]any

// Decode checks a full set of params against the space (every param must
// be given, none may be unknown) and returns them in their declared types.
// It takes whatever a decoder produced: float64 or json.Number from JSON,
// Go integers from Go callers.
func (s SearchSpace) Decode(params map[string]any) (Params, error) {
	out := make(Params, len(s))
	for name := range params {
		if _, ok := s[name]; !ok {
			return nil, Invalidf("param %q is not in the study's search space", name)
		}
	}
	for _, name := range s.Names() {
		v, ok := params[name]
		if !ok {
			return nil, Invalidf("param %q is missing: every param of the search space must be given", name)
		}
		nv, err := s[name].Normalize(v)
		if err != nil {
			return nil, Invalidf("param %q: %s", name, err.Error())
		}
		out[name] = nv
	}
	return out, nil
}

// DecodeStored decodes params read back from storage, which were decoded
// once before they were written: declared params take their declared
// types; a param the space does not declare (or no longer accepts) keeps
// its value, a JSON number written without a fraction or exponent as int64
// and any other as float64. It never fails: a stored trial is shown as it
// is.
func (s SearchSpace) DecodeStored(stored map[string]any) Params {
	out := make(Params, len(stored))
	for name, v := range stored {
		if d, ok := s[name]; ok {
			if nv, err := d.Normalize(v); err == nil {
				out[name] = nv
				continue
			}
		}
		out[name] = plainNumber(v)
	}
	return out
}

// plainNumber turns a json.Number into an int64 or a float64.
func plainNumber(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if !strings.ContainsAny(n.String(), ".eE") {
		if i, err := n.Int64(); err == nil {
			return i
		}
	}
	f, _ := n.Float64()
	return f
}

func stepText(step *float64) string {
	if step == nil {
		return ""
	}
	return fmt.Sprintf(" with step %v", *step)
}

// Number reads a param value as a float64: JSON numbers, Go integers and
// floats alike.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func isInt(f float64) bool {
	return finite(f) && f == math.Trunc(f) && math.Abs(f) <= maxExactInt
}

// Finite reports whether every value is a finite number; JSON cannot carry
// NaN or Inf, so they are refused on input.
func Finite(values ...float64) bool {
	for _, v := range values {
		if !finite(v) {
			return false
		}
	}
	return true
}
