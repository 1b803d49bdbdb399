package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// outputFormat is the value of --output. It is a pflag.Value so that a bad
// value fails while flags are parsed, with cobra's usual message.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Set(s string) error {
	switch v := outputFormat(strings.ToLower(s)); v {
	case outputTable, outputJSON:
		*f = v
		return nil
	}
	return fmt.Errorf("want %s or %s", outputTable, outputJSON)
}

func (f *outputFormat) Type() string { return "format" }

// printJSON writes a JSON document the server sent, indented, so that
// scripts can pipe it to jq and people can still read it.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	// json.Indent keeps trailing white space, and servers end bodies
	// with a newline: trim it so the output ends with exactly one.
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("indent JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// newTable returns a tabwriter for aligned columns separated by tabs.
// Flush it to print.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// row writes one tab-separated line.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// dash stands for a value that is absent, so that columns stay aligned and
// an empty cell is never mistaken for an empty string.
const dash = "-"

// formatFloat prints a value or metric: six significant digits, enough to
// compare trials without drowning the table.
func formatFloat(v float64) string {
	return fmt.Sprintf("%.6g", v)
}

// formatOptFloat prints an optional value.
func formatOptFloat(v *float64) string {
	if v == nil {
		return dash
	}
	return formatFloat(*v)
}

// formatTime prints a timestamp in the reader's local time.
func formatTime(t time.Time) string {
	return t.Local().Format(time.RFC3339)
}

// formatOptTime prints an optional timestamp.
func formatOptTime(t *time.Time) string {
	if t == nil {
		return dash
	}
	return formatTime(*t)
}

// formatDuration rounds a duration to what a reader cares about at its
// scale: milliseconds for ask/tell round trips, seconds for training runs.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return dash
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// trialDuration is how long a trial ran, or has been running so far.
func trialDuration(started, finished *time.Time, now time.Time) string {
	switch {
	case started == nil:
		return dash
	case finished == nil:
		return formatDuration(now.Sub(*started))
	default:
		return formatDuration(finished.Sub(*started))
	}
}

// formatParamValue prints one param value as decoded from JSON: integers
// without an exponent (batch_size=4096, not 4096 as 4.096e+03), other
// numbers with %.6g, strings bare unless quoting keeps them unambiguous.
func formatParamValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return formatFloat(v)
	case json.Number:
		return v.String()
	case string:
		if v == "" || strings.ContainsAny(v, " \t\n=\"") {
			return strconv.Quote(v)
		}
		return v
	case bool:
		return strconv.FormatBool(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// formatParams prints params compactly as k=v pairs sorted by name, for a
// table cell.
func formatParams(params map[string]any) string {
	if len(params) == 0 {
		return dash
	}
	parts := make([]string, 0, len(params))
	for _, k := range sortedKeys(params) {
		parts = append(parts, k+"="+formatParamValue(params[k]))
	}
	return strings.Join(parts, " ")
}

// sortedKeys returns a map's keys in order, for output that does not change
// from one run to the next.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// orDash prints an optional string.
func orDash(s string) string {
	if s == "" {
		return dash
	}
	return s
}

// toMap turns a generated struct into a JSON object's map, to print its
// fields generically.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// indent prefixes every line of s, for multi-line text under a heading.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(strings.TrimRight(s, "\n")) {
		b.WriteString(prefix)
		b.WriteString(line)
	}
	return b.String()
}
