package command

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/tune-dev/tune/trials"
)

// The stdout lines a command speaks to tune with: a directive, a space and
// a JSON object. A report's numbers are metrics, "step" its step, and
// "profile" where the step's time and memory went (parseProfile); a
// result's numbers are the final metrics. Other keys are notes.
const (
	reportDirective = "TUNE_REPORT"
	resultDirective = "TUNE_RESULT"
)

// maxLineBytes bounds one line of output; longer lines are cut (and a cut
// directive is malformed). It keeps a runaway command from growing the
// runner's memory without limit.
const maxLineBytes = 1 << 20

// message is one parsed directive line.
type message struct {
	directive string
	step      *int // TUNE_REPORT only; nil when the line gave none
	metrics   map[string]float64
	// failureKind and errText are a TUNE_RESULT's "failure_kind" and
	// "error": the command says the trial failed, and why.
	failureKind trials.FailureKind
	errText     string
	profile     *trials.Profile // TUNE_REPORT only; nil when the line gave none
}

// parseLine recognizes a directive line. ok is false for ordinary output,
// including lines such as TUNE_PARAMS={...} that merely start with TUNE_;
// err is set for a line that is meant as a directive but cannot be read.
func parseLine(line string) (m message, ok bool, err error) {
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if !isDirectiveWord(word) {
		return m, false, nil
	}
	m.directive = word
	if word != reportDirective && word != resultDirective {
		return m, true, fmt.Errorf("unknown directive %s; tune reads %s and %s", word, reportDirective, resultDirective)
	}
	dec := json.NewDecoder(strings.NewReader(quoteNonFinite(rest)))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return m, true, fmt.Errorf("%s must be followed by a JSON object", word)
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, true, fmt.Errorf("%s: unexpected text after the JSON object", word)
	}
	m.metrics = make(map[string]float64, len(obj))
	for k, v := range obj {
		n, isNum := v.(json.Number)
		if k == "step" && word == reportDirective {
			step, err := parseStep(v)
			if err != nil {
				return m, true, err
			}
			m.step = &step
			continue
		}
		if word == resultDirective && (k == "failure_kind" || k == "error") {
			if err := m.failure(k, v); err != nil {
				return m, true, err
			}
			continue
		}
		if k == "profile" && word == reportDirective {
			p, err := parseProfile(v)
			if err != nil {
				return m, true, err
			}
			m.profile = p
			continue
		}
		if f, ok := nonFinite(v); ok {
			m.metrics[metricName(k)] = f
			continue
		}
		if !isNum {
			// Strings and the like are notes, not metrics.
			continue
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return m, true, fmt.Errorf("%s: %s = %s is out of range", word, k, n)
		}
		m.metrics[metricName(k)] = f
	}
	return m, true, nil
}

// failure reads a TUNE_RESULT's "failure_kind" or "error".
func (m *message) failure(k string, v any) error {
	s, ok := v.(string)
	if k == "error" {
		if !ok {
			return fmt.Errorf(`%s: "error" must be a string, got %s`, resultDirective, jsonText(v))
		}
		m.errText = clean(s)
		return nil
	}
	if kind := trials.FailureKind(s); ok && kind.Valid() {
		m.failureKind = kind
		return nil
	}
	return fmt.Errorf(`%s: "failure_kind" must be one of %s, got %s`, resultDirective, kindList(), jsonText(v))
}

func kindList() string {
	names := make([]string, len(trials.FailureKinds))
	for i, k := range trials.FailureKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func parseStep(v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf(`%s: "step" must be a non-negative integer, got %s`, reportDirective, jsonText(v))
	}
	step, err := n.Int64()
	if err != nil || step < 0 || step > math.MaxInt32 {
		return 0, fmt.Errorf(`%s: "step" must be a non-negative integer, got %s`, reportDirective, n)
	}
	return int(step), nil
}

// isDirectiveWord matches TUNE_ followed by capitals and underscores only,
// so that TUNE_REPORTS (a typo) is caught but TUNE_PARAMS=... is not.
func isDirectiveWord(w string) bool {
	rest, ok := strings.CutPrefix(w, "TUNE_")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// readLines calls fn for each line of r until EOF or a read error, cutting
// lines longer than maxLineBytes (cut reports that). It never stops early:
// a command whose output nobody reads blocks on its next write.
func readLines(r io.Reader, fn func(line string, cut bool)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	cut := false
	for {
		// ReadLine returns a line in fragments when it outgrows the
		// buffer, and either data or an error, never both.
		frag, isPrefix, err := br.ReadLine()
		if err != nil {
			if len(buf) > 0 {
				fn(string(buf), cut)
			}
			return
		}
		room := maxLineBytes - len(buf)
		if len(frag) > room {
			frag, cut = frag[:room], true
		}
		buf = append(buf, frag...)
		if !isPrefix {
			fn(string(buf), cut)
			buf, cut = buf[:0], false
		}
	}
}

// maxMetricNameBytes bounds a metric name from a directive line; longer
// names are cut. The service keeps metric names short, and a result must
// not be refused for a name's sake.
const maxMetricNameBytes = 100

// metricName makes a name from a command's output safe to tell: clean,
// and at most maxMetricNameBytes long (cut at a character boundary).
func metricName(k string) string {
	k = clean(k)
	if len(k) <= maxMetricNameBytes {
		return k
	}
	n := maxMetricNameBytes
	for n > 0 && !utf8.RuneStart(k[n]) {
		n--
	}
	return k[:n]
}

// clean replaces what no store can keep and no reader can show, NUL bytes
// and invalid UTF-8, with U+FFFD: a command's output is told to the
// service, and a result must never be lost to its encoding.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// tail keeps the last n lines written to it.
type tail struct {
	lines []string
	next  int
	full  bool
}

func newTail(n int) *tail { return &tail{lines: make([]string, n)} }

func (t *tail) add(line string) {
	const maxKept = 1 << 10
	if len(line) > maxKept {
		n := maxKept
		for n > 0 && !utf8.RuneStart(line[n]) {
			n--
		}
		line = line[:n] + "…"
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % len(t.lines)
	if t.next == 0 {
		t.full = true
	}
}

func (t *tail) String() string {
	var out []string
	if t.full {
		out = append(out, t.lines[t.next:]...)
	}
	out = append(out, t.lines[:t.next]...)
	return strings.Join(out, "\n")
}
