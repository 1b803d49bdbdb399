package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/openapi"
)

func newStudyCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "study",
		Short: "Create, inspect and control studies",
		Long: `A study is one tuning job: an objective, a search space, a sampler and the
trials run so far. Studies are named by their name or their numeric id.`,
	}
	cmd.AddCommand(
		newStudyCreateCommand(opts),
		newStudyListCommand(opts),
		newStudyShowCommand(opts),
		newStudyBestCommand(opts),
		newStudyStateCommand(opts, "pause", openapi.StudyStatePaused,
			"Stop handing out new trials; running ones finish"),
		newStudyStateCommand(opts, "resume", openapi.StudyStateRunning,
			"Hand out trials again"),
		newStudyStateCommand(opts, "stop", openapi.StudyStateDone,
			"End the study; runners of running trials are told to stop"),
		newStudyDeleteCommand(opts),
		newStudyExportCommand(opts),
		newStudyImportCommand(opts),
	)
	return cmd
}

func newStudyCreateCommand(opts *clientOptions) *cobra.Command {
	var (
		file        string
		objectives  []string
		constraints []string
	)
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a study from a YAML or JSON file",
		Long: `Create a study from a YAML or JSON definition, e.g.

  name: mnist
  objective: {metric: val_accuracy, direction: maximize}
  search_space:
    batch_size:    {type: int, low: 16, high: 512, log: true}
    learning_rate: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
    activation:    {type: categorical, choices: [relu, tanh, sigmoid]}
  max_trials: 100

A study may optimize several metrics at once (objectives, two or more; its
best trials are then a Pareto front) and bound any metric (constraints):

  objectives:
    - {metric: val_accuracy, direction: maximize}
    - {metric: samples_per_second, direction: maximize}
  constraints:
    - {metric: val_accuracy, min: 0.97}
    - {metric: peak_memory_bytes, max: 2.0e+9}

--objective and --constraint say the same on the command line: each
--objective replaces the file's objective(s), each --constraint adds one.

Use -f - to read the definition from stdin. 'tune workloads' lists the params
and options the built-in workloads (mnist-mlp, exec) understand.`,
		Example: "  tune study create -f study.yaml\n  generate-study | tune study create -f -\n" +
			"  tune study create -f study.yaml --objective val_accuracy:maximize --objective samples_per_second:maximize \\\n" +
			"      --constraint 'val_accuracy>=0.97' --constraint 'peak_memory_bytes<=2e9'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			goals, err := parseGoalFlags(objectives, constraints)
			if err != nil {
				return err
			}
			body, err := readStudyFile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if body, err = goals.apply(body); err != nil {
				return err
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.CreateStudyWithBodyWithResponse(cmd.Context(), "application/json", bytes.NewReader(body))
			study, raw, err := decode[openapi.Study](c, call{Name: "create study"}, rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeStudy(w, study) })
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the study definition, YAML or JSON (- reads stdin)")
	cmd.Flags().StringArrayVar(&objectives, "objective", nil,
		"an objective as `metric[:minimize|maximize]` (default minimize); repeat for a multi-objective study")
	cmd.Flags().StringArrayVar(&constraints, "constraint", nil,
		"a bound on a metric of complete trials, `'metric>=N'` or `'metric<=N'`; repeat for more")
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml", "json")
	return cmd
}

func newStudyListCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List studies with their trial counts and best value",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			studies, err := listAllStudies(cmd.Context(), c)
			if err != nil {
				return err
			}
			// -o json prints every study as one page, the shape the API
			// answers with.
			raw, err := json.Marshal(openapi.StudyPage{Items: studies})
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeStudyList(w, studies) })
		},
	}
}

// listAllStudies follows GET /studies from page to page and returns every
// study, oldest first.
func listAllStudies(ctx context.Context, c *apiClient) ([]openapi.StudySummary, error) {
	all := []openapi.StudySummary{}
	limit := 1000
	params := &openapi.ListStudiesParams{Limit: &limit}
	for {
		rsp, err := c.API.ListStudiesWithResponse(ctx, params)
		page, _, err := decode[openapi.StudyPage](c, call{Name: "list studies"}, rsp, err)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil || len(page.Items) == 0 {
			return all, nil
		}
		params.Cursor = page.NextCursor
	}
}

func newStudyShowCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a study's settings, progress and search space",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.GetStudyWithResponse(cmd.Context(), args[0])
			study, raw, err := decode[openapi.Study](c, studyCall("show", args[0]), rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeStudy(w, study) })
		},
	}
}

func newStudyBestCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "best NAME|ID",
		Short: "Show the study's best complete trial, or its Pareto front",
		Long: `Show the study's best complete trial that keeps every constraint. A
multi-objective study has no single best trial: this prints its Pareto front,
the feasible trials no other beats on every objective, best first by the
first objective.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.GetBestTrialWithResponse(cmd.Context(), args[0])
			if err == nil && rsp.StatusCode() == http.StatusConflict {
				// A multi-objective study has a front instead (the 409
				// says so); another conflict is reported as it is.
				if front, err := printFront(cmd, c, args[0]); front || err != nil {
					return err
				}
			}
			what := studyCall("get the best trial of", args[0])
			// The server answers 404 both for an unknown study and for a
			// study with no complete trial yet; its detail says which.
			what.Subject = fmt.Sprintf("best trial of study %q", args[0])
			trial, raw, err := decode[openapi.Trial](c, what, rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeBestTrial(w, trial) })
		},
	}
}

// newStudyStateCommand builds pause, resume and stop: each one PATCH of the
// study's state.
func newStudyStateCommand(opts *clientOptions, verb string, state openapi.StudyState, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME|ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.UpdateStudyWithResponse(cmd.Context(), args[0], openapi.StudyUpdate{State: state})
			study, raw, err := decode[openapi.Study](c, studyCall(verb, args[0]), rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) {
				fmt.Fprintf(w, "study %s (id %d) is %s\n", study.Name, study.Id, study.State)
			})
		},
	}
}

func newStudyDeleteCommand(opts *clientOptions) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "delete NAME|ID --yes",
		Aliases: []string{"rm"},
		Short:   "Delete a study and all its trials",
		Long: `Delete a study and all its trials. There is no undo, so --yes is required;
the command never prompts, to stay usable from scripts. With -o json it
prints nothing: the API answers a deletion with no body.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("deleting study %q removes all its trials for good; pass --yes to confirm", args[0])
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.DeleteStudyWithResponse(cmd.Context(), args[0])
			if err := c.check(studyCall("delete", args[0]), rsp, err); err != nil {
				return err
			}
			if c.output == outputTable {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted study %s\n", args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "confirm the deletion")
	return cmd
}

// print writes the server's JSON in json mode, else the human view.
func (c *apiClient) print(w io.Writer, raw []byte, table func(io.Writer)) error {
	if c.output == outputJSON {
		return printJSON(w, raw)
	}
	tw := newTable(w)
	table(tw)
	return tw.Flush()
}

func writeStudyList(w io.Writer, studies []openapi.StudySummary) {
	row(w, "ID", "NAME", "STATE", "TRIALS", "RUNNING", "WAITING", "COMPLETE", "PRUNED", "FAILED", "BEST", "DIRECTION/METRIC")
	for _, s := range studies {
		n := s.Counts
		row(w,
			strconv.FormatInt(s.Id, 10),
			s.Name,
			string(s.State),
			trialProgress(s.Counts, s.MaxTrials),
			strconv.Itoa(n.Running),
			strconv.Itoa(n.Waiting),
			strconv.Itoa(n.Complete),
			strconv.Itoa(n.Pruned),
			strconv.Itoa(n.Failed),
			formatOptFloat(s.BestValue),
			formatGoals(s.Objective, s.Objectives),
		)
	}
}

// trialProgress is finished trials out of max_trials, or just the finished
// count when the study has no limit.
func trialProgress(n openapi.TrialCounts, maxTrials int) string {
	done := n.Complete + n.Pruned + n.Failed
	if maxTrials > 0 {
		return fmt.Sprintf("%d/%d", done, maxTrials)
	}
	return strconv.Itoa(done)
}

func formatObjective(o *openapi.Objective) string {
	if o == nil {
		return ""
	}
	if o.Direction == nil {
		return o.Metric
	}
	return string(*o.Direction) + " " + o.Metric
}

// formatLimit prints a max_* setting where 0 means no limit.
func formatLimit(n int) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}

func writeStudy(w io.Writer, s *openapi.Study) {
	n := s.Counts
	total := n.Waiting + n.Running + n.Complete + n.Pruned + n.Failed
	best := dash
	if s.BestValue != nil {
		best = formatFloat(*s.BestValue)
		if s.BestTrialId != nil {
			best += fmt.Sprintf(" (trial id %d)", *s.BestTrialId)
		}
	}
	row(w, "Name:", s.Name)
	row(w, "ID:", strconv.FormatInt(s.Id, 10))
	row(w, "State:", string(s.State))
	if s.Objectives != nil {
		row(w, "Objectives:", formatGoals(s.Objective, s.Objectives))
		best = "a Pareto front: tune study best " + s.Name
	} else {
		row(w, "Objective:", formatObjective(s.Objective))
	}
	if s.Constraints != nil {
		row(w, "Constraints:", formatConstraints(*s.Constraints))
	}
	row(w, "Sampler:", formatConfig(s.Sampler))
	row(w, "Pruner:", formatConfig(s.Pruner))
	if s.Workload != nil {
		row(w, "Workload:", formatConfig(s.Workload))
	}
	row(w, "Max trials:", formatLimit(s.MaxTrials))
	row(w, "Max parallel:", formatLimit(s.MaxParallel))
	row(w, "Max retries:", strconv.Itoa(s.MaxRetries))
	row(w, "Lease:", (time.Duration(s.LeaseSeconds) * time.Second).String())
	row(w, "Created:", formatTime(s.CreatedAt))
	row(w, "Created by:", orDash(s.CreatedBy))
	row(w, "Trials:", fmt.Sprintf("%d (%s); %d waiting, %d running, %d complete, %d pruned, %d failed",
		total, trialProgress(s.Counts, s.MaxTrials), n.Waiting, n.Running, n.Complete, n.Pruned, n.Failed))
	row(w, "Best:", best)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Search space:")
	row(w, "  PARAM", "TYPE", "RANGE")
	for _, name := range sortedKeys(s.SearchSpace) {
		d := s.SearchSpace[name]
		row(w, "  "+name, d.Type, formatDistribution(d))
	}
}

// formatDistribution prints a distribution's range as a reader would write
// it: [16, 512] log, [0, 1] step 0.1, or the categorical choices.
func formatDistribution(d openapi.Distribution) string {
	if d.Choices != nil {
		parts := make([]string, len(*d.Choices))
		for i, c := range *d.Choices {
			parts[i] = formatParamValue(c)
		}
		return strings.Join(parts, ", ")
	}
	var b strings.Builder
	if d.Low != nil || d.High != nil {
		fmt.Fprintf(&b, "[%s, %s]", formatBound(d.Low), formatBound(d.High))
	}
	if d.Step != nil {
		fmt.Fprintf(&b, " step %s", formatParamValue(*d.Step))
	}
	if d.Log != nil && *d.Log {
		b.WriteString(" log")
	}
	return strings.TrimSpace(b.String())
}

func formatBound(v *float64) string {
	if v == nil {
		return "?"
	}
	return formatParamValue(*v)
}

// formatConfig prints a sampler, pruner or workload as its type followed by
// its other settings as sorted k=v pairs. Going through JSON keeps this in
// step with the spec: a setting added there shows up here unchanged.
func formatConfig(v any) string {
	m, err := toMap(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	typ, _ := m["type"].(string)
	delete(m, "type")
	// A workload's options are its settings.
	if opts, ok := m["options"].(map[string]any); ok && len(m) == 1 {
		m = opts
	}
	rest := ""
	if len(m) > 0 {
		rest = formatParams(m)
	}
	switch {
	case typ == "" && rest == "":
		return "default"
	case typ == "":
		return rest
	case rest == "":
		return typ
	default:
		return typ + " " + rest
	}
}

func writeBestTrial(w io.Writer, t *openapi.Trial) {
	row(w, "Trial:", fmt.Sprintf("#%d (id %d)", t.Number, t.Id))
	row(w, "Value:", formatOptFloat(t.Value))
	writeFeasibility(w, t)
	row(w, "Finished:", formatOptTime(t.FinishedAt))
	writeParamsAndMetrics(w, t)
}

// writeParamsAndMetrics writes a trial's params and metrics as two small
// tables.
func writeParamsAndMetrics(w io.Writer, t *openapi.Trial) {
	fmt.Fprintln(w)
	row(w, "PARAM", "VALUE")
	for _, k := range sortedKeys(t.Params) {
		row(w, k, formatParamValue(t.Params[k]))
	}
	if len(t.Metrics) > 0 {
		fmt.Fprintln(w)
		row(w, "METRIC", "VALUE")
		for _, k := range sortedKeys(t.Metrics) {
			row(w, k, formatFloat(t.Metrics[k]))
		}
	}
}

// printFront prints the Pareto front of a multi-objective study and
// reports true; false when the study has a single objective.
func printFront(cmd *cobra.Command, c *apiClient, ref string) (bool, error) {
	srsp, err := c.API.GetStudyWithResponse(cmd.Context(), ref)
	study, _, err := decode[openapi.Study](c, studyCall("show", ref), srsp, err)
	if err != nil || study.Objectives == nil {
		return false, err
	}
	frsp, err := c.API.GetParetoFrontWithResponse(cmd.Context(), ref)
	front, raw, err := decode[openapi.TrialList](c, studyCall("get the Pareto front of", ref), frsp, err)
	if err != nil {
		return true, err
	}
	return true, c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeFront(w, study, front.Items) })
}

// formatGoals is a study's objective, or its objectives joined by commas.
func formatGoals(o *openapi.Objective, objs *openapi.Objectives) string {
	if objs == nil {
		return formatObjective(o)
	}
	parts := make([]string, len(*objs))
	for i := range *objs {
		parts[i] = formatObjective(&(*objs)[i])
	}
	return strings.Join(parts, ", ")
}

// formatConstraints prints bounds as a reader would write them:
// "val_accuracy >= 0.97; 0 <= peak_memory_bytes <= 2e+09".
func formatConstraints(cs []openapi.Constraint) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		switch {
		case c.Min != nil && c.Max != nil:
			parts[i] = fmt.Sprintf("%s <= %s <= %s", formatFloat(*c.Min), c.Metric, formatFloat(*c.Max))
		case c.Min != nil:
			parts[i] = fmt.Sprintf("%s >= %s", c.Metric, formatFloat(*c.Min))
		case c.Max != nil:
			parts[i] = fmt.Sprintf("%s <= %s", c.Metric, formatFloat(*c.Max))
		default:
			parts[i] = c.Metric
		}
	}
	return strings.Join(parts, "; ")
}

// writeFront prints a Pareto front as a table: the trial, its value of
// each objective, its params.
func writeFront(w io.Writer, s *openapi.Study, front []openapi.Trial) {
	header := []string{"TRIAL"}
	for _, o := range *s.Objectives {
		header = append(header, strings.ToUpper(o.Metric))
	}
	row(w, append(header, "PARAMS")...)
	for _, t := range front {
		cells := []string{fmt.Sprintf("#%d (id %d)", t.Number, t.Id)}
		for _, o := range *s.Objectives {
			v, ok := t.Metrics[o.Metric]
			if !ok {
				cells = append(cells, dash)
				continue
			}
			cells = append(cells, formatFloat(v))
		}
		row(w, append(cells, formatParams(t.Params))...)
	}
	if len(front) == 0 {
		fmt.Fprintln(w, "no complete trial keeps every constraint yet")
	}
}
