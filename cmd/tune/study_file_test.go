package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestYAMLToJSON(t *testing.T) {
	const doc = `
name: mnist
objective: {metric: val_accuracy, direction: maximize}
search_space:
  batch_size: {type: int, low: 16, high: 512, log: true}
  learning_rate: {type: float, low: 1.0e-5, high: 0.1, log: true}
  activation: {type: categorical, choices: [relu, tanh]}
  workers: {type: categorical, choices: [1, 2, 4]}
sampler: {type: tpe, seed: 42}
workload:
  type: mnist-mlp
  options:
    epochs: 3
    1: one
max_trials: 100
`
	got, err := yamlToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	// Integers stay integers: 16, not 16.0 or 1.6e+01.
	want := `{"max_trials":100,"name":"mnist","objective":{"direction":"maximize","metric":"val_accuracy"},` +
		`"sampler":{"seed":42,"type":"tpe"},"search_space":{"activation":{"choices":["relu","tanh"],"type":"categorical"},` +
		`"batch_size":{"high":512,"log":true,"low":16,"type":"int"},"learning_rate":{"high":0.1,"log":true,"low":0.00001,"type":"float"},` +
		`"workers":{"choices":[1,2,4],"type":"categorical"}},"workload":{"options":{"1":"one","epochs":3},"type":"mnist-mlp"}}`
	if string(got) != want {
		t.Errorf("yamlToJSON:\n got %s\nwant %s", got, want)
	}
}

func TestYAMLToJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"syntax", "name: [unclosed", "invalid YAML"},
		{"not a mapping", "- a\n- b\n", "must be a YAML mapping"},
		{"scalar", "just text", "must be a YAML mapping"},
		{"two documents", "name: a\n---\nname: b\n", "more than one YAML document"},
		{"nan", "name: a\nsearch_space: {x: {type: float, low: .nan, high: 1}}\n", "search_space.x.low: NaN is not a finite number"},
		{"inf in list", "choices: [1, .inf]\n", "choices[1]: +Inf is not a finite number"},
		{"duplicate key", "name: a\nname: b\n", "invalid YAML"},
		{"colliding keys", "m: {1: a, 1.0: b}\n", `m: duplicate key "1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := yamlToJSON([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("yamlToJSON = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestStudyJSONPassesJSONThrough(t *testing.T) {
	// JSON goes to the server byte for byte: no reordering, no float
	// conversion, and unknown keys left for the server to reject.
	const doc = `{"name": "x", "max_trials": 10, "search_space": {"b": {"type": "int", "low": 1, "high": 8}}, "typo": 1}`
	got, err := studyJSON([]byte("\n"+doc+"\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != doc {
		t.Errorf("studyJSON = %s, want %s", got, doc)
	}
	if _, err := studyJSON([]byte(`{"name": "x",}`), false); err == nil || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("studyJSON(bad JSON) = %v, want an invalid JSON error", err)
	}
	if _, err := studyJSON([]byte(`[1]`), true); err == nil || !strings.Contains(err.Error(), "JSON object") {
		t.Errorf("studyJSON(array) = %v, want a JSON object error", err)
	}
}

func TestReadStudyFile(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "study.yaml")
	if err := os.WriteFile(yamlPath, []byte("name: a\nmax_trials: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readStudyFile(yamlPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"max_trials":5,"name":"a"}` {
		t.Errorf("readStudyFile(yaml) = %s", got)
	}

	got, err = readStudyFile("-", strings.NewReader("name: from-stdin\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"name":"from-stdin"}` {
		t.Errorf("readStudyFile(-) = %s", got)
	}

	// A .json file is JSON even when it is not an object, so the error
	// speaks of JSON rather than YAML.
	jsonPath := filepath.Join(dir, "study.json")
	if err := os.WriteFile(jsonPath, []byte("name: a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readStudyFile(jsonPath, nil); err == nil || !strings.Contains(err.Error(), "study.json: invalid JSON") {
		t.Errorf("readStudyFile(YAML in .json) = %v, want an invalid JSON error naming the file", err)
	}

	if _, err := readStudyFile("-", strings.NewReader("  \n")); err == nil || !strings.Contains(err.Error(), "stdin: empty study file") {
		t.Errorf("readStudyFile(empty stdin) = %v, want an empty file error", err)
	}
	if _, err := readStudyFile(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("readStudyFile(missing) succeeded")
	}
	big := strings.NewReader(strings.Repeat("#", maxStudyFile+1))
	if _, err := readStudyFile("-", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("readStudyFile(huge) = %v, want a size error", err)
	}
}

func FuzzYAMLToJSON(f *testing.F) {
	f.Add("name: a\nmax_trials: 3\n")
	f.Add("search_space: {x: {type: categorical, choices: [1, a, true, null]}}")
	f.Add("m: {1: a, 2.5: b, true: c}")
	f.Fuzz(func(t *testing.T, doc string) {
		out, err := yamlToJSON([]byte(doc))
		if err != nil {
			return
		}
		// Whatever is accepted must be a JSON object.
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("yamlToJSON(%q) = %s, not a JSON object: %v", doc, out, err)
		}
	})
}
