package command

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"syscall"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// oomText matches what common frameworks print on stderr when they run
// out of memory: PyTorch (torch.OutOfMemoryError, torch.cuda.
// OutOfMemoryError, "CUDA out of memory", cuBLAS's allocation failure),
// ROCm, Python's MemoryError, C++'s std::bad_alloc, Go's runtime, and
// XLA's RESOURCE_EXHAUSTED (JAX, TensorFlow). It is read only when the
// command failed, and only in the last lines of its stderr.
var oomText = regexp.MustCompile(`CUDA out of memory|HIP out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|` +
	`(?m:^[\w.]*MemoryError\b)|std::bad_alloc|runtime: out of memory|RESOURCE_EXHAUSTED:.*(?i:out of memory|\bOOM\b)`)

// killedLine is how a shell reports a child that SIGKILL ended ("Killed",
// "sh: line 1: 4242 Killed  python train.py"); with the command itself
// ended by SIGKILL (or exiting 137, as a shell does then), the kernel's
// OOM killer is the likely sender.
var killedLine = regexp.MustCompile(`(?m)(?:^|\s)Killed(?:\s|$)`)

// errMemory is the runner's own memory limit ending a command.
type errMemory struct{ used, limit int64 }

func (e *errMemory) Error() string {
	return fmt.Sprintf("the command's processes used %d bytes of memory (resident), over max_memory_bytes %d, and were killed", e.used, e.limit)
}

// sigkilled reports whether the command ended by SIGKILL, or exited 137
// as a shell does when its child was.
func sigkilled(waitErr error) bool {
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return false
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal() == syscall.SIGKILL
	}
	return ee.ExitCode() == 128+int(syscall.SIGKILL)
}

// exitFailure is the error of a command that exited non-zero or by a
// signal, with its kind: oom when its stderr says it ran out of memory,
// or when SIGKILL ended it under a memory limit or after a shell said
// "Killed"; error otherwise.
func exitFailure(waitErr error, stderr string, limited bool) error {
	err := fmt.Errorf("command %s%s", exitText(waitErr), stderr)
	switch {
	case oomText.MatchString(stderr):
		return workload.Fail(trials.FailureOOM, err)
	case sigkilled(waitErr) && limited:
		return workload.Fail(trials.FailureOOM, fmt.Errorf("%w (SIGKILL under max_memory_bytes: taken as out of memory)", err))
	case sigkilled(waitErr) && killedLine.MatchString(stderr):
		return workload.Fail(trials.FailureOOM, fmt.Errorf("%w (SIGKILL: taken as the kernel's OOM killer)", err))
	}
	return err
}

// saidFailure is the failure a TUNE_RESULT line declared with
// "failure_kind" (error when it gave only "error").
func saidFailure(kind trials.FailureKind, text, stderr string) error {
	if kind == "" {
		kind = trials.FailureError
	}
	if text == "" {
		text = "the command said the trial failed"
	}
	return workload.Fail(kind, fmt.Errorf("%s (%s)%s", text, kind, stderr))
}
