package command

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAllowList(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	realSh, err := filepath.EvalSymlinks(sh)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "train.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link inside the allowed directory to a program outside it.
	if err := os.Symlink(realSh, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	outside := filepath.Join(other, "other.sh")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	byName, err := ParseAllow([]string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	byDir, err := ParseAllow([]string{" ", dir + "/"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name           string
		allow          Allow
		program, dir   string
		allowed        bool
		wantErrContain string
	}{
		{name: "bare name", allow: byName, program: "sh", allowed: true},
		{name: "same file by path", allow: byName, program: realSh, allowed: true},
		{name: "another program", allow: byName, program: outside, wantErrContain: "--allow-exec " + outside},
		{name: "under the prefix", allow: byDir, program: script, allowed: true},
		{name: "relative to dir", allow: byDir, program: "./train.sh", dir: dir, allowed: true},
		{name: "dot-dot out of the prefix", allow: byDir, program: filepath.Join(dir, "..", filepath.Base(other), "other.sh"), wantErrContain: "not allowed"},
		{name: "symlink out of the prefix", allow: byDir, program: filepath.Join(dir, "escape"), wantErrContain: "(" + realSh + ")"},
		{name: "sibling with the prefix's name", allow: byDir, program: outside, wantErrContain: "the allow-list is " + dir + "/"},
		{name: "empty list", allow: Allow{}, program: "sh", wantErrContain: "its exec allow-list is empty"},
		{name: "missing program", allow: byDir, program: filepath.Join(dir, "nope"), wantErrContain: "starting " + filepath.Join(dir, "nope")},
	}
	for _, tc := range cases {
		path, err := tc.allow.check(tc.program, tc.dir)
		if tc.allowed {
			if err != nil || path == "" {
				t.Errorf("%s: check(%q) = %q, %v; want allowed", tc.name, tc.program, path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) {
			t.Errorf("%s: check(%q) = %v, want an error containing %q", tc.name, tc.program, err, tc.wantErrContain)
		}
		if err != nil && !strings.Contains(tc.wantErrContain, "starting") && !errors.Is(err, errNotAllowed) {
			t.Errorf("%s: %v is not errNotAllowed", tc.name, err)
		}
	}

	for _, bad := range [][]string{{"/no/such/dir/"}, {script + "/"}, {"no-such-program-tune"}} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"nul\x00byte":           "nul\uFFFDbyte",
		"bad\xff\xfeutf8":       "bad\uFFFDutf8",
		"ok ünïcödé":            "ok ünïcödé",
		strings.Repeat("é", 80): strings.Repeat("é", 50),
	} {
		if got := metricName(in); got != want {
			t.Errorf("metricName(%q) = %q, want %q", in, got, want)
		}
	}
}
