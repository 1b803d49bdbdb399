package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

const moStudyYAML = `name: mo
objectives:
  - {metric: val_accuracy, direction: maximize}
  - {metric: seconds}
constraints:
  - {metric: val_accuracy, min: 0.9}
search_space:
  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
`

// TestMultiObjectiveStudyCLI: a multi-objective, constrained study made
// from a YAML file, shown, told, its front printed by study best, its
// failure kinds shown, and all of it carried by export and import.
func TestMultiObjectiveStudyCLI(t *testing.T) {
	t.Parallel()
	c := cli{t: t, server: startServer(t)}
	out := c.ok("study", "create", "-f", writeFile(t, "mo.yaml", moStudyYAML))
	wantContains(t, "study create", out, "Objectives:", "maximize val_accuracy, minimize seconds", "Constraints:", "val_accuracy >= 0.9")

	results := [][2]string{{"0.95", "30"}, {"0.92", "10"}, {"0.91", "20"}, {"0.85", "1"}}
	for _, r := range results {
		var tr openapi.Trial
		c.json(&tr, "ask", "mo")
		c.ok("tell", strconv.FormatInt(tr.Id, 10), "--metric", "val_accuracy="+r[0], "--metric", "seconds="+r[1])
	}
	var failed openapi.Trial
	c.json(&failed, "ask", "mo")
	c.ok("tell", strconv.FormatInt(failed.Id, 10), "--state", "failed", "--error", "CUDA out of memory", "--failure-kind", "oom")
	wantContains(t, "trial show", c.ok("trial", "show", strconv.FormatInt(failed.Id, 10)), "Failure kind:", "oom")
	msg := c.fails("tell", strconv.FormatInt(failed.Id, 10), "--state", "failed", "--failure-kind", "meteor")
	wantContains(t, "bad kind", msg, `invalid --failure-kind "meteor"`)

	best := c.ok("study", "best", "mo")
	wantContains(t, "study best", best, "TRIAL", "VAL_ACCURACY", "SECONDS", "PARAMS", "#0", "#1")
	if strings.Contains(best, "#2") || strings.Contains(best, "#3") {
		t.Errorf("study best shows dominated or infeasible trials:\n%s", best)
	}
	if strings.Index(best, "#0") > strings.Index(best, "#1") {
		t.Errorf("front not ordered by the first objective:\n%s", best)
	}
	var front openapi.TrialList
	c.json(&front, "study", "best", "mo")
	if len(front.Items) != 2 {
		t.Errorf("study best -o json: %d trials, want 2", len(front.Items))
	}
	var infeasible openapi.TrialPage
	c.json(&infeasible, "trial", "list", "mo")
	wantContains(t, "trial show", c.ok("trial", "show", strconv.FormatInt(infeasible.Items[3].Id, 10)),
		"Feasible:", "no, breaks val_accuracy >= 0.9 (is 0.85)", "Values:")

	// Export and import carry objectives, constraints and failure kinds.
	path := filepath.Join(t.TempDir(), "mo.json")
	if _, stderr, err := c.run(nil, "study", "export", "mo", "-f", path); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	to := cli{t: t, server: startServer(t)}
	to.ok("study", "import", "-f", path)
	var imported openapi.Study
	to.json(&imported, "study", "show", "mo")
	if imported.Objectives == nil || len(*imported.Objectives) != 2 || imported.Constraints == nil || len(*imported.Constraints) != 1 {
		t.Errorf("imported study: objectives %v constraints %v", imported.Objectives, imported.Constraints)
	}
	var trials openapi.TrialPage
	to.json(&trials, "trial", "list", "mo")
	if last := trials.Items[len(trials.Items)-1]; last.FailureKind == nil || *last.FailureKind != "oom" {
		t.Errorf("imported failed trial: kind %v, want oom", last.FailureKind)
	}
}

func TestStudyCreateGoalFlags(t *testing.T) {
	t.Parallel()
	c := cli{t: t, server: startServer(t)}
	file := writeFile(t, "s.yaml", "name: flags\nobjective: {metric: loss}\nsearch_space:\n  x: {type: float, low: 0, high: 1}\n")
	var s openapi.Study
	c.json(&s, "study", "create", "-f", file,
		"--objective", "val_accuracy:maximize", "--objective", "samples_per_second:maximize",
		"--constraint", "val_accuracy>=0.97", "--constraint", "peak_memory_bytes<=2e9")
	if s.Objective != nil || s.Objectives == nil || len(*s.Objectives) != 2 || (*s.Objectives)[1].Metric != "samples_per_second" {
		t.Fatalf("objectives: %v / %v", s.Objective, s.Objectives)
	}
	raw, _ := json.Marshal(s.Constraints)
	if got, want := string(raw), `[{"metric":"val_accuracy","min":0.97},{"max":2000000000,"metric":"peak_memory_bytes"}]`; got != want {
		t.Errorf("constraints %s, want %s", got, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--objective", "acc:up"}, `direction must be minimize or maximize, got "up"`},
		{[]string{"--objective", ":maximize"}, `invalid --objective ":maximize"`},
		{[]string{"--constraint", "acc>0.9"}, `want 'metric>=number' or 'metric<=number'`},
		{[]string{"--constraint", ">=0.9"}, `invalid --constraint ">=0.9"`},
		{[]string{"--constraint", "acc>=lots"}, `invalid --constraint "acc>=lots"`},
		{[]string{"--constraint", "acc>=NaN"}, `invalid --constraint "acc>=NaN"`},
		{[]string{"--objective", "a", "--objective", "a"}, `"a" twice`},
	} {
		msg := c.fails(append([]string{"study", "create", "-f", file}, tc.args...)...)
		wantContains(t, strings.Join(tc.args, " "), msg, tc.want)
	}
}

// FuzzGoalFlags: whatever --objective and --constraint hold, parsing never
// panics, and what it accepts is a metric with a finite bound that writes
// a study document that is still JSON.
func FuzzGoalFlags(f *testing.F) {
	f.Add("val_accuracy:maximize", "peak_memory_bytes<=2e9")
	f.Add("loss", "val_accuracy>=0.97")
	f.Add(":minimize", "m>=NaN")
	f.Add("a:up", "x<=1<=2")
	f.Add("m", ">=1")
	f.Fuzz(func(t *testing.T, objective, constraint string) {
		g, err := parseGoalFlags([]string{objective}, []string{constraint})
		if err != nil {
			return
		}
		for _, c := range g.constraints {
			if c["metric"] == "" {
				t.Fatalf("%q accepted with an empty metric", constraint)
			}
			for _, k := range []string{"min", "max"} {
				if v, ok := c[k].(float64); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
					t.Fatalf("%q accepted with a bound of %v", constraint, v)
				}
			}
		}
		out, err := g.apply([]byte(`{"name": "s", "objective": {"metric": "m"}, "search_space": {}}`))
		if err != nil || !json.Valid(out) {
			t.Fatalf("apply: %v, %s", err, out)
		}
	})
}
