package runner

import (
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
