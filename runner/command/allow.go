package command

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Allow is the list of programs a runner's exec workload may start: a
// runner runs commands of studies that anyone with write access can
// create, so it runs only what its operator named. The zero Allow permits
// nothing.
//
// An entry is either
//
//   - a program: an absolute or relative path, or a bare name that is
//     looked up in the runner's PATH when the list is made ("python3"
//     means the file PATH finds, not any file of that name), or
//   - a directory prefix, written with a trailing slash ("/opt/train/"):
//     any program under it.
//
// Entries and commands are compared by their real paths (symlinks and
// ".." resolved), so "/opt/train/../../bin/sh" is not under "/opt/train/",
// and a command naming python3 through a symlink is the file it points to.
// Note that allowing an interpreter (sh, python3) allows any script it is
// handed, including the study's own; a directory of vetted scripts or
// wrappers is the narrower choice.
type Allow struct {
	files []string // real paths of allowed programs
	dirs  []string // real paths of allowed directories, each ending in a separator
	given []string // the entries as written, for messages
}

// ParseAllow checks and resolves an allow-list. Empty entries are skipped;
// an entry that names no existing program or directory is an error, so
// that a typo fails the runner's start rather than every trial.
func ParseAllow(entries []string) (Allow, error) {
	var a Allow
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.HasSuffix(e, "/") {
			real, err := realPath(e)
			if err != nil {
				return Allow{}, fmt.Errorf("exec allow-list entry %q: %w", e, err)
			}
			if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
				return Allow{}, fmt.Errorf("exec allow-list entry %q ends in / but is not a directory", e)
			}
			a.dirs = append(a.dirs, strings.TrimSuffix(real, string(filepath.Separator))+string(filepath.Separator))
		} else {
			path, err := lookProgram(e, "")
			if err != nil {
				return Allow{}, fmt.Errorf("exec allow-list entry %q: %w", e, err)
			}
			real, err := realPath(path)
			if err != nil {
				return Allow{}, fmt.Errorf("exec allow-list entry %q: %w", e, err)
			}
			a.files = append(a.files, real)
		}
		a.given = append(a.given, e)
	}
	return a, nil
}

// Empty reports whether the list allows nothing.
func (a Allow) Empty() bool { return len(a.files) == 0 && len(a.dirs) == 0 }

// String lists the entries as given.
func (a Allow) String() string { return strings.Join(a.given, ",") }

// errNotAllowed marks a command refused by the allow-list.
var errNotAllowed = errors.New("not allowed on this runner")

// check resolves a command's program as exec would run it (a bare name
// through the runner's PATH, a relative path against dir) and returns the
// path to start, or why it may not run. A program that is not there fails
// as starting it would.
func (a Allow) check(program, dir string) (string, error) {
	path, err := lookProgram(program, dir)
	if err != nil {
		return "", fmt.Errorf("starting %s: %w", program, err)
	}
	real, err := realPath(path)
	if err != nil {
		return "", fmt.Errorf("starting %s: %w", program, err)
	}
	if slices.Contains(a.files, real) || slices.ContainsFunc(a.dirs, func(d string) bool { return strings.HasPrefix(real, d) }) {
		return path, nil
	}
	how := fmt.Sprintf("start the runner with --allow-exec %s (or a directory prefix ending in /; env TUNE_RUNNER_ALLOW_EXEC)", real)
	if a.Empty() {
		return "", fmt.Errorf("exec program %q (%s) is %w: its exec allow-list is empty; %s", program, real, errNotAllowed, how)
	}
	return "", fmt.Errorf("exec program %q (%s) is %w: the allow-list is %s; %s", program, real, errNotAllowed, a, how)
}

// lookProgram finds the file a program name denotes: a name without a
// slash through the runner's PATH (as exec.Command does), a relative path
// against dir (as the started command would see it), then absolute.
func lookProgram(program, dir string) (string, error) {
	if !strings.Contains(program, "/") {
		return exec.LookPath(program)
	}
	if !filepath.IsAbs(program) {
		program = filepath.Join(dir, program)
	}
	return filepath.Abs(program)
}

// realPath resolves symlinks and "..", and requires the file to exist.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("cannot resolve it: %w", err)
	}
	return real, nil
}
