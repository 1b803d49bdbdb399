package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/openapi"
)

func newTrialCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trial",
		Short: "Inspect trials",
	}
	cmd.AddCommand(newTrialListCommand(opts), newTrialShowCommand(opts))
	return cmd
}

func newTrialListCommand(opts *clientOptions) *cobra.Command {
	var (
		state string
		limit int
		all   bool
	)
	cmd := &cobra.Command{
		Use:     "list STUDY",
		Aliases: []string{"ls"},
		Short:   "List a study's trials by number",
		Long: `List a study's trials by number. Without --all only the first page is
shown (--limit trials) and a note on stderr says when more follow; --all
follows the pages to the end, --limit trials at a time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := openapi.ListTrialsParams{}
			if state != "" {
				s := openapi.TrialState(state)
				if !s.Valid() {
					return fmt.Errorf("invalid --state %q: want waiting, running, complete, pruned or failed", state)
				}
				params.State = &s
			}
			if cmd.Flags().Changed("limit") {
				params.Limit = &limit
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			l, err := c.listTrials(cmd.Context(), args[0], params, all)
			if err != nil {
				return err
			}
			if l.more {
				fmt.Fprintln(cmd.ErrOrStderr(), "more trials follow: pass --all to list them all")
			}
			return c.print(cmd.OutOrStdout(), l.raw, func(w io.Writer) { writeTrialList(w, l.trials, time.Now()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "only trials in this `state`: waiting, running, complete, pruned or failed")
	f.IntVar(&limit, "limit", 100, "trials per page")
	f.BoolVar(&all, "all", false, "follow the pages to list every trial")
	return cmd
}

// trialListing is what `trial list` fetched.
type trialListing struct {
	trials []openapi.Trial
	// raw is the JSON to print: the one page as the API sent it, or with
	// --all every page's items in one page with nothing left to follow.
	raw []byte
	// more says that a next page exists and was not fetched.
	more bool
}

func (c *apiClient) listTrials(ctx context.Context, ref string, params openapi.ListTrialsParams, all bool) (*trialListing, error) {
	what := studyCall("list trials of", ref)
	var (
		l     trialListing
		items []json.RawMessage
	)
	for {
		rsp, err := c.API.ListTrialsWithResponse(ctx, ref, &params)
		page, raw, err := decode[openapi.TrialPage](c, what, rsp, err)
		if err != nil {
			return nil, err
		}
		l.trials = append(l.trials, page.Items...)
		next := page.NextCursor
		if next != nil && *next == "" {
			next = nil
		}
		if !all {
			l.raw, l.more = raw, next != nil
			return &l, nil
		}
		// Keep the items exactly as sent, for -o json.
		var rawPage struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &rawPage); err != nil {
			return nil, fmt.Errorf("%s: %w", what.Name, err)
		}
		items = append(items, rawPage.Items...)
		if next == nil {
			break
		}
		// A server that hands back the cursor it was given would keep
		// this loop going forever.
		if params.Cursor != nil && *params.Cursor == *next {
			return nil, fmt.Errorf("%s: the server returned the same page cursor twice", what.Name)
		}
		params.Cursor = next
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	raw, err := json.Marshal(struct {
		Items      []json.RawMessage `json:"items"`
		NextCursor *string           `json:"next_cursor"`
	}{Items: items})
	if err != nil {
		return nil, err
	}
	l.raw = raw
	return &l, nil
}

func newTrialShowCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a trial: params, value, metrics, learning curve, lease, where its time went",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTrialID(args[0])
			if err != nil {
				return err
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.GetTrialWithResponse(cmd.Context(), id)
			trial, raw, err := decode[openapi.Trial](c, trialCall("show", id), rsp, err)
			if err != nil {
				return err
			}
			if err := c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeTrial(w, trial, time.Now()) }); err != nil {
				return err
			}
			// The error text can be a traceback: print it after the table,
			// as is, since tabwriter would misalign on its tabs.
			if c.output == outputTable && trial.Error != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "\nError:\n%s\n", indent(trial.Error, "  "))
			}
			return nil
		},
	}
}

func newAskCommand(opts *clientOptions) *cobra.Command {
	var runner string
	cmd := &cobra.Command{
		Use:   "ask STUDY",
		Short: "Start a trial with suggested params (ask/tell)",
		Long: `Start a trial: an enqueued or requeued trial when one waits, else a new one
with params suggested by the study's sampler. Run it, then report its result
with tune tell.`,
		Example: `  trial=$(tune ask mnist -o json | jq .id)
  tune tell "$trial" --value 0.97`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			body := openapi.AskRequest{}
			if runner != "" {
				body.Runner = &runner
			}
			rsp, err := c.API.AskWithResponse(cmd.Context(), args[0], body)
			trial, raw, err := decode[openapi.Trial](c, studyCall("ask", args[0]), rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeTrialBrief(w, trial) })
		},
	}
	cmd.Flags().StringVar(&runner, "runner", "", "who runs the trial, shown in trial listings")
	return cmd
}

func newTellCommand(opts *clientOptions) *cobra.Command {
	var (
		value   string
		state   string
		metrics []string
		errText string
		kind    string
		lease   int64
	)
	cmd := &cobra.Command{
		Use:   "tell TRIAL --value V",
		Short: "Finish a trial: complete with its value, pruned, or failed",
		Long: `Finish a trial. A complete trial needs its objective value, from --value or
from a --metric named like the study's objective metric. Telling the same
result twice is fine; a different one is refused.`,
		Example: `  tune tell 42 --value 0.97 --metric val_loss=0.08
  tune tell 42 --state failed --error "loss diverged" --failure-kind diverged`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTrialID(args[0])
			if err != nil {
				return err
			}
			body := openapi.TellRequest{State: openapi.TellRequestState(state)}
			if !body.State.Valid() {
				return fmt.Errorf("invalid --state %q: want complete, pruned or failed", state)
			}
			if cmd.Flags().Changed("value") {
				v, err := parseFinite(value)
				if err != nil {
					return fmt.Errorf("invalid --value: %w", err)
				}
				body.Value = &v
			}
			if len(metrics) > 0 {
				m, err := parseMetrics(metrics)
				if err != nil {
					return err
				}
				body.Metrics = (*openapi.Metrics)(&m)
			}
			if cmd.Flags().Changed("error") {
				body.Error = &errText
			}
			if cmd.Flags().Changed("failure-kind") {
				k := openapi.FailureKind(kind)
				if !k.Valid() {
					return fmt.Errorf("invalid --failure-kind %q: want oom, diverged, timeout, error or preempted", kind)
				}
				body.FailureKind = &k
			}
			if cmd.Flags().Changed("lease") {
				body.Lease = &lease
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.TellWithResponse(cmd.Context(), id, body)
			trial, raw, err := decode[openapi.Trial](c, trialCall("tell", id), rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) {
				fmt.Fprintf(w, "trial %d (#%d) is %s", trial.Id, trial.Number, trial.State)
				if trial.Value != nil {
					fmt.Fprintf(w, " with value %s", formatFloat(*trial.Value))
				}
				fmt.Fprintln(w)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&value, "value", "", "the objective value (a finite number)")
	f.StringVar(&state, "state", string(openapi.TellRequestStateComplete), "the final state: complete, pruned or failed")
	f.StringArrayVar(&metrics, "metric", nil, "a final metric as `name=number`; repeat for more")
	f.StringVar(&errText, "error", "", "why the trial failed")
	f.StringVar(&kind, "failure-kind", "", "the kind of failure: oom, diverged, timeout, error (the default) or preempted")
	f.Int64Var(&lease, "lease", 0, "the lease token ask handed out; a stale one is refused")
	return cmd
}

func newEnqueueCommand(opts *clientOptions) *cobra.Command {
	var params []string
	cmd := &cobra.Command{
		Use:   "enqueue STUDY --param name=value...",
		Short: "Enqueue a trial with fixed params, to run before new suggestions",
		Long: `Enqueue a trial with fixed params, e.g. a known good configuration to
start the search from. A value that is valid JSON is taken as JSON
(batch_size=64 is a number, amp=true a boolean, name='"64"' the string
"64"); anything else is a string (activation=relu).`,
		Example: "  tune enqueue mnist --param batch_size=64 --param learning_rate=0.001 --param activation=relu",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseParams(params)
			if err != nil {
				return err
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.EnqueueTrialWithResponse(cmd.Context(), args[0], openapi.EnqueueRequest{Params: p})
			trial, raw, err := decode[openapi.Trial](c, studyCall("enqueue a trial in", args[0]), rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeTrialBrief(w, trial) })
		},
	}
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "a param as `name=value`; repeat for more")
	return cmd
}

func writeTrialList(w io.Writer, trials []openapi.Trial, now time.Time) {
	row(w, "NUMBER", "ID", "STATE", "VALUE", "PARAMS", "ORIGIN", "ATTEMPT", "RUNNER", "DURATION")
	for _, t := range trials {
		row(w,
			strconv.Itoa(t.Number),
			strconv.FormatInt(t.Id, 10),
			string(t.State),
			formatOptFloat(t.Value),
			formatParams(t.Params),
			formatOrigin(t),
			strconv.Itoa(t.Attempt),
			orDash(t.Runner),
			trialDuration(t.StartedAt, t.FinishedAt, now),
		)
	}
}

// writeTrialBrief is what ask and enqueue print: enough to run the trial
// and tell its result.
func writeTrialBrief(w io.Writer, t *openapi.Trial) {
	row(w, "ID:", strconv.FormatInt(t.Id, 10))
	row(w, "Number:", strconv.Itoa(t.Number))
	row(w, "State:", string(t.State))
	if t.State == openapi.TrialStateRunning {
		row(w, "Lease:", formatLease(t))
	}
	fmt.Fprintln(w, "Params:")
	for _, k := range sortedKeys(t.Params) {
		row(w, "  "+k, formatParamValue(t.Params[k]))
	}
}

// formatOrigin says what decided a trial's params and, since the origin
// stays when a trial is handed out again after a lost lease, whether it
// was retried.
func formatOrigin(t openapi.Trial) string {
	s := orDash(t.Origin)
	if t.Attempt > 0 {
		s += ", retried"
	}
	return s
}

func formatLease(t *openapi.Trial) string {
	s := strconv.FormatInt(t.Lease, 10)
	if t.LeaseExpiresAt != nil {
		s += ", expires " + formatTime(*t.LeaseExpiresAt)
	}
	return s
}

func writeTrial(w io.Writer, t *openapi.Trial, now time.Time) {
	row(w, "ID:", strconv.FormatInt(t.Id, 10))
	row(w, "Study ID:", strconv.FormatInt(t.StudyId, 10))
	row(w, "Number:", strconv.Itoa(t.Number))
	row(w, "State:", string(t.State))
	if t.FailureKind != nil {
		row(w, "Failure kind:", string(*t.FailureKind))
	}
	row(w, "Value:", formatOptFloat(t.Value))
	writeFeasibility(w, t)
	row(w, "Origin:", formatOrigin(*t))
	row(w, "Attempt:", strconv.Itoa(t.Attempt))
	row(w, "Runner:", orDash(t.Runner))
	row(w, "Device:", orDash(t.Device))
	if t.State == openapi.TrialStateRunning {
		row(w, "Lease:", formatLease(t))
	}
	row(w, "Created:", formatTime(t.CreatedAt))
	row(w, "Created by:", orDash(t.CreatedBy))
	row(w, "Started:", formatOptTime(t.StartedAt))
	row(w, "Finished:", formatOptTime(t.FinishedAt))
	row(w, "Finished by:", orDash(t.FinishedBy))
	row(w, "Duration:", trialDuration(t.StartedAt, t.FinishedAt, now))
	writeParamsAndMetrics(w, t)
	if len(t.IntermediateValues) > 0 {
		fmt.Fprintln(w)
		row(w, "STEP", "VALUE", "METRICS")
		for _, iv := range t.IntermediateValues {
			m := dash
			if iv.Metrics != nil && len(*iv.Metrics) > 0 {
				m = formatMetrics(*iv.Metrics)
			}
			row(w, strconv.Itoa(iv.Step), formatFloat(iv.Value), m)
		}
	}
	writeProfile(w, t)
}

// formatMetrics prints metrics compactly as sorted k=v pairs.
func formatMetrics(m map[string]float64) string {
	params := make(map[string]any, len(m))
	for k, v := range m {
		params[k] = v
	}
	return formatParams(params)
}

// writeFeasibility says whether a complete trial of a constrained study
// keeps its constraints, and which it breaks.
func writeFeasibility(w io.Writer, t *openapi.Trial) {
	if t.Values != nil {
		vs := make([]string, len(*t.Values))
		for i, v := range *t.Values {
			vs[i] = formatFloat(v)
		}
		row(w, "Values:", strings.Join(vs, ", "))
	}
	if t.Feasible == nil {
		return
	}
	if *t.Feasible {
		row(w, "Feasible:", "yes")
		return
	}
	var broken []string
	if t.Violations != nil {
		broken = *t.Violations
	}
	row(w, "Feasible:", "no, breaks "+strings.Join(broken, "; "))
}
