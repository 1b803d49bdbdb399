package runner

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTrimError(t *testing.T) {
	if got := trimError("short"); got != "short" {
		t.Errorf("short error changed: %q", got)
	}
	long := "head: what failed\n" + strings.Repeat("é", 5000) + "\nlast line of stderr"
	got := trimError(long)
	if len(got) > maxErrorBytes || !utf8.ValidString(got) {
		t.Errorf("trimmed to %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	if !strings.HasPrefix(got, "head: what failed") || !strings.HasSuffix(got, "last line of stderr") || !strings.Contains(got, "bytes elided") {
		t.Errorf("trimmed error lost its head or tail: %.80q … %.80q", got, got[len(got)-80:])
	}
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	r := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}.retrier()
	for i, step := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		step *= time.Millisecond
		if d := r.next(); d < step/2 || d > step {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, d, step/2, step)
		}
	}
	r.reset()
	if d := r.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %s", d)
	}
	if b := (Backoff{}).withDefaults(); b.Initial != 200*time.Millisecond || b.Max != 10*time.Second {
		t.Errorf("defaults = %+v", b)
	}
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]string{"": "cpu", "cpu": "cpu"} {
		if got, err := ParseDevice(in); err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"gpu", "cuda:x", "cuda:-1", "cuda:", "CPU"} {
		if _, err := ParseDevice(in); err == nil || !strings.HasPrefix(err.Error(), in+": ") {
			t.Errorf("ParseDevice(%q) = %v", in, err)
		}
	}
}

func TestCPUDevice(t *testing.T) {
	d := CPUDevice()
	if d.Kind != "cpu" || d.Index == nil || *d.Index != 0 {
		t.Errorf("cpu device = %+v", d)
	}
	// On Linux /proc tells the model and the memory.
	if procField("/proc/meminfo", "MemTotal") != "" && (d.MemoryBytes == nil || *d.MemoryBytes < 1<<20) {
		t.Errorf("memory = %v", d.MemoryBytes)
	}
}

func TestQuickFailuresPauseAStudy(t *testing.T) {
	now := time.Unix(1e9, 0)
	q := newQuickFailures(FailureBackoff{After: 3, Within: 5 * time.Second, Initial: 10 * time.Second, Max: 35 * time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	q.now = func() time.Time { return now }
	quick, slow := time.Second, 6*time.Second
	excluded := func(want ...int64) {
		t.Helper()
		if got := q.excluded(); !slices.Equal(got, want) {
			t.Errorf("at +%s excluded %v, want %v", now.Sub(time.Unix(1e9, 0)), got, want)
		}
	}

	q.record(1, "a", true, quick)
	q.record(1, "a", true, quick)
	q.record(2, "b", true, quick)
	excluded()
	q.record(1, "a", false, quick) // a success resets the count
	q.record(1, "a", true, slow)   // and so does a slow failure
	q.record(1, "a", true, quick)
	q.record(1, "a", true, quick)
	excluded()
	q.record(1, "a", true, quick)
	excluded(1)
	now = now.Add(9 * time.Second)
	excluded(1)
	now = now.Add(time.Second)
	excluded()
	// After a pause one more quick failure pauses again, twice as long,
	// up to Max.
	for _, pause := range []time.Duration{20 * time.Second, 35 * time.Second, 35 * time.Second} {
		q.record(1, "a", true, quick)
		excluded(1)
		now = now.Add(pause - time.Nanosecond)
		excluded(1)
		now = now.Add(time.Nanosecond)
		excluded()
	}
	q.record(1, "a", false, quick)
	q.record(1, "a", true, quick)
	excluded()
}
