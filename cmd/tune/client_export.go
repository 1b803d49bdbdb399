package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/client"
	"github.com/tune-dev/tune/openapi"
)

// exportFormat versions the export file, so that a later tune can still
// read what this one wrote, or say clearly that it cannot.
const exportFormat = 1

// studyExport is the file `tune study export` writes and `tune study
// import` reads: the study as it was created, its state, and every trial
// as the API shows it.
type studyExport struct {
	Format     int                 `json:"tune_export"`
	ExportedAt time.Time           `json:"exported_at"`
	Server     string              `json:"server"`
	Study      openapi.StudyCreate `json:"study"`
	State      openapi.StudyState  `json:"state"`
	Trials     []openapi.Trial     `json:"trials"`
}

func newStudyExportCommand(opts *clientOptions) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export NAME|ID [-f FILE]",
		Short: "Write a study and all its trials to a JSON file",
		Long: `Write a study's definition, state and every trial (params, values,
learning curves, metrics, runners, times) to one JSON file, for a backup or
to move the study to another server, e.g. from the embedded store to
Postgres:

  tune study export mnist -f mnist.json
  tune --server http://tune.example:8080 study import -f mnist.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rsp, err := c.API.GetStudyWithResponse(ctx, args[0])
			study, _, err := decode[openapi.Study](c, studyCall("export", args[0]), rsp, err)
			if err != nil {
				return err
			}
			limit := 1000
			listing, err := c.listTrials(ctx, args[0], openapi.ListTrialsParams{Limit: &limit}, true)
			if err != nil {
				return err
			}
			exp := studyExport{
				Format:     exportFormat,
				ExportedAt: time.Now().UTC().Truncate(time.Second),
				Server:     c.String(),
				Study:      studyDefinition(study),
				State:      study.State,
				Trials:     listing.trials,
			}
			out := cmd.OutOrStdout()
			if file != "" && file != "-" {
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if err := enc.Encode(exp); err != nil {
				return fmt.Errorf("writing the export: %w", err)
			}
			if file != "" && file != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "exported study %s (%d trials) to %s\n", study.Name, len(exp.Trials), file)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "-", "where to write the JSON (- is stdout)")
	return cmd
}

// studyDefinition is what creates the study again elsewhere.
func studyDefinition(s *openapi.Study) openapi.StudyCreate {
	return openapi.StudyCreate{
		Name:         s.Name,
		Objective:    s.Objective,
		Objectives:   s.Objectives,
		Constraints:  s.Constraints,
		SearchSpace:  s.SearchSpace,
		Sampler:      &s.Sampler,
		Pruner:       &s.Pruner,
		Workload:     s.Workload,
		MaxTrials:    &s.MaxTrials,
		MaxParallel:  &s.MaxParallel,
		MaxRetries:   &s.MaxRetries,
		LeaseSeconds: &s.LeaseSeconds,
	}
}

func newStudyImportCommand(opts *clientOptions) *cobra.Command {
	var file, name string
	cmd := &cobra.Command{
		Use:   "import -f FILE [--name NAME]",
		Short: "Create a study from a file that 'tune study export' wrote",
		Long: `Create the study of an export file on this server, with its trials in the
same order. Finished trials are recorded as they were (values, learning
curves, metrics, runners, times), so the sampler goes on from what they
taught; trials that were waiting or running when the file was written are
enqueued again with their params. A paused or stopped study is paused or
stopped again at the end.`,
		Example: "  tune study import -f mnist.json\n  tune study import -f mnist.json --name mnist-copy",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exp, err := readExport(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if name != "" {
				exp.Study.Name = name
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rsp, err := c.API.CreateStudyWithResponse(ctx, exp.Study)
			created, _, err := decode[openapi.Study](c, call{Name: fmt.Sprintf("import study %q", exp.Study.Name)}, rsp, err)
			if err != nil {
				if client.IsConflict(err) {
					return fmt.Errorf("%w; pass --name to import it under another name", err)
				}
				return err
			}
			ref := fmt.Sprint(created.Id)
			progress := newImportProgress(cmd.ErrOrStderr(), len(exp.Trials))
			for i := range exp.Trials {
				rsp, err := c.API.EnqueueTrialWithResponse(ctx, ref, trialRecord(&exp.Trials[i]))
				what := studyCall(fmt.Sprintf("import trial %d into", exp.Trials[i].Number), created.Name)
				if _, _, err := decode[openapi.Trial](c, what, rsp, err); err != nil {
					return fmt.Errorf("%w (study %s was created with %d of the file's %d trials; delete it before trying again)",
						err, created.Name, i, len(exp.Trials))
				}
				progress.step(i + 1)
			}
			progress.finish()
			if exp.State == openapi.StudyStatePaused || exp.State == openapi.StudyStateDone {
				rsp, err := c.API.UpdateStudyWithResponse(ctx, ref, openapi.StudyUpdate{State: exp.State})
				if _, _, err := decode[openapi.Study](c, studyCall("set the state of", created.Name), rsp, err); err != nil {
					return err
				}
			}
			rsp2, err := c.API.GetStudyWithResponse(ctx, ref)
			study, raw, err := decode[openapi.Study](c, studyCall("show", created.Name), rsp2, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) { writeStudy(w, study) })
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the export file (- reads stdin)")
	cmd.Flags().StringVar(&name, "name", "", "create the study under this name instead of the exported one")
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagFilename("file", "json")
	return cmd
}

// readExport reads and checks an export file.
func readExport(path string, stdin io.Reader) (*studyExport, error) {
	var r io.Reader = stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	var exp studyExport
	dec := json.NewDecoder(r)
	if err := dec.Decode(&exp); err != nil {
		return nil, fmt.Errorf("%s: not a tune export file: %w", name, err)
	}
	switch {
	case exp.Format == 0:
		return nil, fmt.Errorf("%s: not a tune export file (no \"tune_export\" version); write one with 'tune study export'", name)
	case exp.Format > exportFormat:
		return nil, fmt.Errorf("%s: export format %d is newer than this tune reads (%d); upgrade tune", name, exp.Format, exportFormat)
	case exp.Study.Name == "":
		return nil, fmt.Errorf("%s: the export has no study name", name)
	}
	return &exp, nil
}

// trialRecord is the request that recreates an exported trial: finished
// trials as they ended, the others as waiting trials with their params.
func trialRecord(t *openapi.Trial) openapi.EnqueueRequest {
	req := openapi.EnqueueRequest{Params: t.Params}
	switch t.State {
	case openapi.TrialStateComplete, openapi.TrialStatePruned, openapi.TrialStateFailed:
	default:
		return req
	}
	state := openapi.EnqueueRequestState(t.State)
	req.State = &state
	req.Value = t.Value
	req.Metrics = &t.Metrics
	req.IntermediateValues = &t.IntermediateValues
	req.Error = &t.Error
	req.FailureKind = t.FailureKind
	req.Runner = &t.Runner
	req.Device = &t.Device
	req.Attempt = &t.Attempt
	if t.Origin != "" {
		req.Origin = &t.Origin
	}
	req.CreatedAt = &t.CreatedAt
	req.StartedAt = t.StartedAt
	req.FinishedAt = t.FinishedAt
	return req
}

// importProgress prints how far an import got, at most every second, so
// that a study of thousands of trials does not look stuck.
type importProgress struct {
	w     io.Writer
	total int
	last  time.Time
}

func newImportProgress(w io.Writer, total int) *importProgress {
	return &importProgress{w: w, total: total, last: time.Now()}
}

func (p *importProgress) step(done int) {
	if time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "imported %d of %d trials\n", done, p.total)
}

func (p *importProgress) finish() {
	fmt.Fprintf(p.w, "imported %d trials\n", p.total)
}
