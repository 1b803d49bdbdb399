package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// printTable writes the results as two aligned tables.
func printTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "tune ask+tell benchmark, %s, %d CPUs (%s)\n\n", r.Date, r.Machine.NumCPU, r.Machine.CPU)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tpairs\tseconds\tpairs/s\task p50 ms\task p99 ms\ttell p50 ms\tsuggest mean ms\terrors\t")
	for _, t := range r.Throughput {
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n",
			t.Clients, t.Pairs, t.Seconds, t.PairsPerSec, t.AskP50, t.AskP99, t.TellP50, t.SuggestMean, t.Errors)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "finished trials\tasks\task p50 ms\task p99 ms\ttell p50 ms\tsuggest mean ms\tfill s\t")
	for _, l := range r.Latency {
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			l.Trials, l.Asks, l.AskP50, l.AskP99, l.TellP50, l.SuggestMean, l.FillSeconds)
	}
	tw.Flush()
}
