package trials

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestKnobRange(t *testing.T) {
	for _, tc := range []struct {
		k    Knob
		want string
	}{
		{Knob{Min: AtLeast(0), Max: Below(1)}, "[0, 1)"},
		{Knob{Min: Above(0), Max: AtMost(10)}, "(0, 10]"},
		{Knob{Min: AtLeast(1)}, ">= 1"},
		{Knob{Min: Above(0)}, "> 0"},
		{Knob{Max: Below(5)}, "< 5"},
		{Knob{Choices: []string{"a", "b"}}, "one of a, b"},
		{Knob{}, ""},
	} {
		if got := tc.k.Range(); got != tc.want {
			t.Errorf("%+v: Range() = %q, want %q", tc.k, got, tc.want)
		}
	}
}

// The corners of what a distribution can produce: steps that stop short
// of high, log scales, integral float grids, exclusive bounds.
func TestCheckDistributionCorners(t *testing.T) {
	step := func(f float64) *float64 { return &f }
	unit := Knob{Name: "m", Type: KnobFloat, Min: AtLeast(0), Max: Below(1)}
	pos := Knob{Name: "t", Type: KnobFloat, Min: Above(0)}
	count := Knob{Name: "n", Type: KnobInt, Min: AtLeast(1), Max: AtMost(10)}
	for _, tc := range []struct {
		name string
		k    Knob
		d    Distribution
		ok   bool
	}{
		{"high at the exclusive bound", unit, Distribution{Type: Float, Low: 0, High: 1}, false},
		{"high below it", unit, Distribution{Type: Float, Low: 0, High: 0.999}, true},
		{"a step that stops short of the bound", unit, Distribution{Type: Float, Low: 0, High: 1, Step: step(0.3)}, true},
		{"a step that lands on it", unit, Distribution{Type: Float, Low: 0, High: 1, Step: step(0.25)}, false},
		{"log reaching the bound", unit, Distribution{Type: Float, Low: 0.01, High: 1, Log: true}, false},
		{"low at an exclusive minimum", pos, Distribution{Type: Float, Low: 0, High: 1}, false},
		{"low above it", pos, Distribution{Type: Float, Low: 1e-9, High: 1}, true},
		{"int step stopping at 10", count, Distribution{Type: Int, Low: 1, High: 12, Step: step(3)}, true},
		{"int step reaching 13", count, Distribution{Type: Int, Low: 1, High: 13, Step: step(3)}, false},
		{"int log", count, Distribution{Type: Int, Low: 1, High: 10, Log: true}, true},
		{"int log beyond", count, Distribution{Type: Int, Low: 1, High: 11, Log: true}, false},
		{"float for an int knob", count, Distribution{Type: Float, Low: 1, High: 5}, false},
		{"integral float grid for an int knob", count, Distribution{Type: Float, Low: 1, High: 5, Step: step(2)}, true},
		{"fractional float grid for an int knob", count, Distribution{Type: Float, Low: 1, High: 5, Step: step(0.5)}, false},
		{"log float for an int knob", count, Distribution{Type: Float, Low: 1, High: 5, Log: true}, false},
		{"integral choices", count, Distribution{Type: Categorical, Choices: []any{1.0, 10.0}}, true},
		{"a fractional choice", count, Distribution{Type: Categorical, Choices: []any{1.0, 2.5}}, false},
		{"a string choice for a number", count, Distribution{Type: Categorical, Choices: []any{"3"}}, false},
		{"a bool choice for a number", unit, Distribution{Type: Categorical, Choices: []any{true}}, false},
		{"a number for a string knob", Knob{Name: "s", Type: KnobString, Choices: []string{"a"}}, Distribution{Type: Float, Low: 0, High: 1}, false},
		{"a bool knob", Knob{Name: "b", Type: KnobBool}, Distribution{Type: Categorical, Choices: []any{true, false}}, true},
		{"a bool knob given strings", Knob{Name: "b", Type: KnobBool}, Distribution{Type: Categorical, Choices: []any{"true"}}, false},
		{"an option-only type", Knob{Name: "cmd", Type: KnobStrings}, Distribution{Type: Categorical, Choices: []any{"a"}}, false},
	} {
		err := tc.k.CheckDistribution(tc.d)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckDistribution = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tc.k.Name) && !strings.Contains(err.Error(), "choice") {
			t.Errorf("%s: %q does not name the knob", tc.name, err)
		}
	}
}

// A space whose every producible value the knob accepts must decode each
// of them, at both ends.
func TestCheckedSpacesDecode(t *testing.T) {
	k := Knob{Name: "m", Type: KnobFloat, Min: AtLeast(0), Max: Below(1)}
	step := 0.3
	d := Distribution{Type: Float, Low: 0, High: 1, Step: &step}
	if err := k.CheckDistribution(d); err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{d.Low, d.reach()} {
		if _, err := k.Decode(v, false); err != nil {
			t.Errorf("%v: %v", v, err)
		}
	}
}

func TestKnobDecodeOptionTypes(t *testing.T) {
	argv := Knob{Name: "command", Type: KnobStrings, NonEmpty: true}
	if v, err := argv.Decode([]any{"python3", "train.py"}, false); err != nil || len(v.([]string)) != 2 {
		t.Errorf("argv: %v, %v", v, err)
	}
	env := Knob{Name: "env", Type: KnobEnv}
	v, err := env.Decode(map[string]any{"N": 4.0, "DEBUG": true, "MODE": "fast"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if m := v.(map[string]string); m["N"] != "4" || m["DEBUG"] != "true" || m["MODE"] != "fast" {
		t.Errorf("env = %v", m)
	}
	for _, bad := range []any{map[string]any{"1A": "x"}, map[string]any{"A B": "x"}, map[string]any{"": "x"}, map[string]any{"A": nil}, "A=1"} {
		if _, err := env.Decode(bad, false); err == nil {
			t.Errorf("env %v accepted", bad)
		}
	}
	num := Knob{Name: "lr", Type: KnobFloat}
	if _, err := num.Decode("0.5", false); err == nil {
		t.Error("a quoted number accepted without numericText")
	}
	if v, err := num.Decode(" 0.5 ", true); err != nil || v != 0.5 {
		t.Errorf("a quoted number with numericText: %v, %v", v, err)
	}
	if _, err := num.Decode("NaN", true); err == nil {
		t.Error("NaN accepted")
	}
}

// FuzzDecodeParams feeds arbitrary JSON params through the one boundary
// that types them: it never panics, and what it accepts has the declared
// Go types, lies in the space, and decodes to itself again.
func FuzzDecodeParams(f *testing.F) {
	for _, seed := range []string{
		`{"lr": 0.01, "batch_size": 64, "act": "relu", "flag": true, "units": 96}`,
		`{"lr": 1, "batch_size": 64.0, "act": 2, "flag": false, "units": 32}`,
		`{"lr": 1e-5, "batch_size": 1e3, "act": 2.0, "flag": true, "units": 512}`,
		`{"lr": 0.5, "batch_size": 9007199254740993, "act": "relu", "flag": true, "units": 64}`,
		`{"lr": "0.5", "batch_size": -1, "act": null, "flag": 1, "units": 33}`,
		`{"lr": 0.5}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	step := 32.0
	space := SearchSpace{
		"lr":         {Type: Float, Low: 1e-5, High: 1, Log: true},
		"batch_size": {Type: Int, Low: 1, High: 1024, Log: true},
		"units":      {Type: Int, Low: 32, High: 512, Step: &step},
		"act":        {Type: Categorical, Choices: []any{"relu", 2.0}},
		"flag":       {Type: Categorical, Choices: []any{true, false}},
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(bytes.NewReader(raw))
			if useNumber {
				dec.UseNumber()
			}
			var in map[string]any
			if dec.Decode(&in) != nil {
				return
			}
			p, err := space.Decode(in)
			if err != nil {
				if KindOf(err) != KindInvalid {
					t.Fatalf("error of kind %v: %v", KindOf(err), err)
				}
				continue
			}
			for name, v := range p {
				switch space[name].Type {
				case Int:
					if _, ok := v.(int64); !ok {
						t.Fatalf("%s = %#v, want int64", name, v)
					}
				case Float:
					if _, ok := v.(float64); !ok {
						t.Fatalf("%s = %#v, want float64", name, v)
					}
				case Categorical:
					if _, ok := space[name].ChoiceIndex(v); !ok {
						t.Fatalf("%s = %#v is not a choice", name, v)
					}
				}
			}
			again, err := space.Decode(p)
			if err != nil {
				t.Fatalf("decoded params do not decode again: %v", err)
			}
			for name := range p {
				if again[name] != p[name] {
					t.Fatalf("%s: %#v then %#v", name, p[name], again[name])
				}
			}
			// What storage reads back decodes the same way.
			if stored := space.DecodeStored(map[string]any(p)); len(stored) != len(p) {
				t.Fatalf("DecodeStored lost params: %v", stored)
			}
		}
	})
}
