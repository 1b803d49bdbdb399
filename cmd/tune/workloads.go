package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/runner/catalog"
	"github.com/tune-dev/tune/trials"
)

// newWorkloadsCommand lists the built-in workloads' knobs from the
// catalogue compiled into this binary: the same declarations the service
// validates studies against and the runner parses trials with, so it needs
// no server.
func newWorkloadsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "workloads [TYPE]",
		Short: "List the params and options each built-in workload understands",
		Long: `List the built-in workloads (mnist-mlp, exec) with the params a search space
may tune and the options a study's workload may set: type, allowed range or
choices, default and what each does. A study whose space can produce a value
outside these is refused when it is created.

This reads the catalogue built into this binary; no server is needed.`,
		Example: "  tune workloads\n  tune workloads mnist-mlp\n  tune workloads -o json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			specs := catalog.Builtin().Sorted()
			if len(args) == 1 {
				spec, ok := catalog.Builtin()[args[0]]
				if !ok {
					return fmt.Errorf("no built-in workload %q; there are %s", args[0], builtinTypes(specs))
				}
				specs = []trials.WorkloadSpec{spec}
			}
			for i := range specs {
				// [] rather than null for scripts: exec declares no params.
				if specs[i].Params == nil {
					specs[i].Params = []trials.Knob{}
				}
			}
			if f := cmd.Flag("output"); f != nil && f.Value.String() == string(outputJSON) {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(specs)
			}
			for i, s := range specs {
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				writeWorkload(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
}

func builtinTypes(specs []trials.WorkloadSpec) string {
	types := make([]string, len(specs))
	for i, s := range specs {
		types[i] = s.Type
	}
	return strings.Join(types, ", ")
}

func writeWorkload(w io.Writer, s trials.WorkloadSpec) {
	fmt.Fprintf(w, "%s: %s\n", s.Type, s.Doc)
	// The options that are also params are listed once, as params.
	var options []trials.Knob
	for _, o := range s.Options {
		if _, isParam := s.Param(o.Name); !isParam {
			options = append(options, o)
		}
	}
	switch {
	case s.AnyParams:
		fmt.Fprintln(w, "\nPARAMS: any; each reaches the command as TUNE_PARAM_<NAME> and in TUNE_PARAMS")
	case len(s.Params) > 0:
		fmt.Fprintln(w, "\nPARAMS (search space or options)")
		writeKnobs(w, s.Params)
	}
	if len(options) > 0 {
		fmt.Fprintln(w, "\nOPTIONS (workload.options)")
		writeKnobs(w, options)
	}
}

func writeKnobs(w io.Writer, knobs []trials.Knob) {
	tw := newTable(w)
	row(tw, "  NAME", "TYPE", "RANGE", "DEFAULT", "DOC")
	for _, k := range knobs {
		rng := k.Range()
		if k.NotAbove != "" {
			rng += ", <= " + k.NotAbove
		}
		if rng == "" {
			rng = dash
		}
		def := dash
		switch {
		case k.Required:
			def = "required"
		case k.Default != nil:
			def = fmt.Sprint(k.Default)
		}
		row(tw, "  "+k.Name, string(k.Type), rng, def, k.Doc)
	}
	tw.Flush()
}
