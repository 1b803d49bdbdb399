package trials

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

func TestSearchSpaceValidate(t *testing.T) {
	valid := SearchSpace{
		"learning_rate": {Type: Float, Low: 1e-5, High: 1, Log: true},
		"batch_size":    {Type: Int, Low: 16, High: 1024, Log: true},
		"dropout":       {Type: Float, Low: 0, High: 0.5, Step: f(0.1)},
		"workers":       {Type: Int, Low: 1, High: 8, Step: f(1)},
		"activation":    {Type: Categorical, Choices: []any{"relu", "tanh", 3.0, true}},
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid space rejected: %v", err)
	}
	cases := []struct {
		name  string
		space SearchSpace
		want  string
	}{
		{"empty", SearchSpace{}, "at least one param"},
		{"low>high", SearchSpace{"x": {Type: Float, Low: 2, High: 1}}, "must not be greater"},
		{"float log low 0", SearchSpace{"x": {Type: Float, Low: 0, High: 1, Log: true}}, "low > 0"},
		{"int log low 0", SearchSpace{"x": {Type: Int, Low: 0, High: 10, Log: true}}, "low >= 1"},
		{"step 0", SearchSpace{"x": {Type: Float, Low: 0, High: 1, Step: f(0)}}, "step must be a positive"},
		{"step negative", SearchSpace{"x": {Type: Int, Low: 0, High: 10, Step: f(-1)}}, "step must be a positive"},
		{"int fractional step", SearchSpace{"x": {Type: Int, Low: 0, High: 10, Step: f(0.5)}}, "positive integer"},
		{"int fractional bound", SearchSpace{"x": {Type: Int, Low: 0.5, High: 10}}, "must be integers"},
		{"step and log", SearchSpace{"x": {Type: Float, Low: 1, High: 10, Log: true, Step: f(1)}}, "cannot be combined"},
		{"NaN", SearchSpace{"x": {Type: Float, Low: math.NaN(), High: 1}}, "finite"},
		{"Inf", SearchSpace{"x": {Type: Float, Low: 0, High: math.Inf(1)}}, "finite"},
		{"empty choices", SearchSpace{"x": {Type: Categorical}}, "must not be empty"},
		{"duplicate choices", SearchSpace{"x": {Type: Categorical, Choices: []any{"a", "a"}}}, "appears twice"},
		{"object choice", SearchSpace{"x": {Type: Categorical, Choices: []any{map[string]any{}}}}, "strings, numbers or booleans"},
		{"NaN choice", SearchSpace{"x": {Type: Categorical, Choices: []any{math.NaN()}}}, "finite"},
		{"unknown type", SearchSpace{"x": {Type: "gaussian", Low: 0, High: 1}}, "unknown type"},
		{"missing type", SearchSpace{"x": {Low: 0, High: 1}}, "type is required"},
		{"choices on float", SearchSpace{"x": {Type: Float, High: 1, Choices: []any{"a"}}}, "only apply to categorical"},
		{"bounds on categorical", SearchSpace{"x": {Type: Categorical, High: 1, Choices: []any{"a"}}}, "do not apply"},
		{"bad name", SearchSpace{"learning-rate": {Type: Float, High: 1}}, "param name"},
		{"huge int", SearchSpace{"x": {Type: Int, Low: 0, High: 1e300}}, "integers between"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.space.Validate()
			if err == nil {
				t.Fatal("accepted an invalid space")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeParams(t *testing.T) {
	space := SearchSpace{
		"lr":         {Type: Float, Low: 1e-5, High: 1, Log: true},
		"batch_size": {Type: Int, Low: 16, High: 1024, Log: true},
		"units":      {Type: Int, Low: 32, High: 512, Step: f(32)},
		"act":        {Type: Categorical, Choices: []any{"relu", 2.0}},
	}
	got, err := space.Decode(map[string]any{"lr": 0.01, "batch_size": 64.0, "units": json.Number("96"), "act": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if got["batch_size"] != int64(64) || got["units"] != int64(96) || got["lr"] != 0.01 || got["act"] != 2.0 {
		t.Errorf("normalized params = %#v", got)
	}
	bad := []map[string]any{
		{"lr": 0.01, "batch_size": 64, "units": 96},                              // missing
		{"lr": 0.01, "batch_size": 64, "units": 96, "act": "relu", "extra": 1.0}, // unknown
		{"lr": 2.0, "batch_size": 64, "units": 96, "act": "relu"},                // out of range
		{"lr": 0.01, "batch_size": 64.5, "units": 96, "act": "relu"},             // not an int
		{"lr": 0.01, "batch_size": 64, "units": 100, "act": "relu"},              // off step
		{"lr": 0.01, "batch_size": 64, "units": 96, "act": "gelu"},               // not a choice
		{"lr": "fast", "batch_size": 64, "units": 96, "act": "relu"},             // not a number
	}
	for i, p := range bad {
		if _, err := space.Decode(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: got %v, want an ErrInvalid", i, err)
		}
	}
}

func TestStudyValidate(t *testing.T) {
	base := Study{
		Name:        "mnist-speed",
		Objective:   Objective{Metric: "val_accuracy", Direction: Maximize},
		SearchSpace: SearchSpace{"x": {Type: Float, High: 1}},
	}.WithDefaults()
	if err := base.Validate(); err != nil {
		t.Fatalf("valid study rejected: %v", err)
	}
	if base.Sampler.Type != SamplerAuto || base.Pruner.Type != PrunerNone || base.LeaseSeconds != 60 || base.State != StudyRunning {
		t.Errorf("defaults not applied: %+v", base)
	}
	mutations := map[string]func(*Study){
		"digits name":      func(s *Study) { s.Name = "123" },
		"empty name":       func(s *Study) { s.Name = "" },
		"slash name":       func(s *Study) { s.Name = "a/b" },
		"no metric":        func(s *Study) { s.Objective.Metric = "" },
		"bad direction":    func(s *Study) { s.Objective.Direction = "up" },
		"bad sampler":      func(s *Study) { s.Sampler.Type = "grid" },
		"bad pruner":       func(s *Study) { s.Pruner.Type = "hyperband" },
		"median option sh": func(s *Study) { s.Pruner = Pruner{Type: PrunerMedian, ReductionFactor: new(int)} },
		"sh factor 1":      func(s *Study) { one := 1; s.Pruner = Pruner{Type: PrunerSuccessiveHalving, ReductionFactor: &one} },
		"none with option": func(s *Study) { s.Pruner = Pruner{Type: PrunerNone, WarmupSteps: new(int)} },
		"ei on random":     func(s *Study) { s.Sampler = Sampler{Type: SamplerRandom, EICandidates: new(int)} },
		"mv on cmaes":      func(s *Study) { s.Sampler = Sampler{Type: SamplerCMAES, Multivariate: new(bool)} },
		"mv on gp":         func(s *Study) { s.Sampler = Sampler{Type: SamplerGP, Multivariate: new(bool)} },
		"mv on auto":       func(s *Study) { s.Sampler = Sampler{Type: SamplerAuto, Multivariate: new(bool)} },
		"ei on gp":         func(s *Study) { s.Sampler = Sampler{Type: SamplerGP, EICandidates: new(int)} },
		"sigma0 on gp":     func(s *Study) { s.Sampler = Sampler{Type: SamplerGP, Sigma0: new(float64)} },
		"gp startup < 0":   func(s *Study) { n := -1; s.Sampler = Sampler{Type: SamplerGP, StartupTrials: &n} },
		"startup on qmc":   func(s *Study) { s.Sampler = Sampler{Type: SamplerQMC, StartupTrials: new(int)} },
		"negative max":     func(s *Study) { s.MaxTrials = -1 },
		"lease 0":          func(s *Study) { s.LeaseSeconds = 0 },
		"lease huge":       func(s *Study) { s.LeaseSeconds = MaxLeaseSeconds + 1 },
		"retries":          func(s *Study) { s.MaxRetries = -1 },
		"workload no type": func(s *Study) { s.Workload = &Workload{} },
	}
	for _, ok := range []Sampler{{Type: SamplerGP, StartupTrials: new(int)}, {Type: SamplerAuto, StartupTrials: new(int)}, {Type: SamplerTPE}} {
		s := base
		s.Sampler = ok
		if err := s.Validate(); err != nil {
			t.Errorf("sampler %+v refused: %v", ok, err)
		}
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			s := base
			mutate(&s)
			if err := s.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want an ErrInvalid", err)
			}
		})
	}
}

func TestOutcomeNormalize(t *testing.T) {
	o, err := Outcome{State: TrialComplete, Metrics: map[string]float64{"val_accuracy": 0.9}}.Normalize(&Study{Objective: Objective{Metric: "val_accuracy"}})
	if err != nil || o.Value == nil || *o.Value != 0.9 {
		t.Fatalf("value not taken from metrics: %+v, %v", o, err)
	}
	for _, bad := range []Outcome{
		{State: TrialComplete},
		{State: TrialComplete, Value: f(math.NaN())},
		{State: TrialRunning, Value: f(1)},
		{State: TrialFailed, Metrics: map[string]float64{"loss": math.Inf(1)}},
	} {
		if _, err := bad.Normalize(&Study{Objective: Objective{Metric: "val_accuracy"}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", bad, err)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	err := Conflictf("trial %d is finished", 3)
	if !errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || KindOf(err) != KindConflict {
		t.Errorf("kind matching is wrong for %v", err)
	}
	if KindOf(errors.New("boom")) != KindInternal {
		t.Error("a plain error must be internal")
	}
}

// FuzzDistribution feeds arbitrary JSON through the decoder and validation:
// whatever a client sends, validation answers with an error or accepts a
// space whose params normalize cleanly, and never panics.
func FuzzDistribution(f *testing.F) {
	for _, seed := range []string{
		`{"type":"float","low":0,"high":1}`,
		`{"type":"int","low":1,"high":1024,"log":true}`,
		`{"type":"int","low":0,"high":10,"step":3}`,
		`{"type":"categorical","choices":["a",1,true]}`,
		`{"type":"float","low":1e308,"high":1e308,"step":1e-308}`,
	} {
		f.Add(seed, 5.0)
	}
	f.Fuzz(func(t *testing.T, raw string, v float64) {
		var d Distribution
		if json.Unmarshal([]byte(raw), &d) != nil {
			return
		}
		space := SearchSpace{"p": d}
		if space.Validate() != nil {
			return
		}
		_, _ = d.Normalize(v)
		_, _ = d.Normalize(int64(v))
		if d.Type == Categorical {
			if _, err := d.Normalize(d.Choices[0]); err != nil {
				t.Errorf("first choice %v does not normalize: %v", d.Choices[0], err)
			}
		} else if _, err := d.Normalize(d.Low); err != nil {
			t.Errorf("low %v does not normalize: %v", d.Low, err)
		}
	})
}
