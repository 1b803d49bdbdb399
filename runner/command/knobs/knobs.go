// Package knobs declares what the exec workload understands: the options
// a study gives it (command, timeout_seconds, env, dir, max_memory_bytes). runner/command
// parses them through this declaration and the service checks studies
// against it at creation; it lives apart from runner/command so that the
// service can read it without importing the process machinery (and
// without an import cycle through the runner's test helpers).
package knobs

import (
	"time"

	"github.com/tune-dev/tune/trials"
)

// DefaultTimeout is how long a command may run when its study does not set
// timeout_seconds.
const DefaultTimeout = time.Hour

// maxTimeoutSeconds is a year: longer would overflow time.Duration soon
// enough, and no trial runs that long.
const maxTimeoutSeconds = 365 * 24 * 60 * 60

// Spec is the exec workload's declaration: the options a study gives,
// checked by the service when the study is created and parsed by the
// runner from the same table. Any param is accepted: every one is
// handed to the command.
var Spec = trials.WorkloadSpec{
	Type:      trials.WorkloadExec,
	Doc:       "runs a command per trial (a PyTorch script, a binary) with the params in its environment; it reports with TUNE_REPORT and TUNE_RESULT lines on stdout",
	AnyParams: true,
	Options: []trials.Knob{
		{Name: "command", Type: trials.KnobStrings, Required: true, NonEmpty: true,
			Doc: `the program and its arguments, e.g. ["python3", "train.py"]`},
		{Name: "timeout_seconds", Type: trials.KnobFloat, Min: trials.Above(0), Max: trials.AtMost(maxTimeoutSeconds), Default: DefaultTimeout.Seconds(),
			Doc: "seconds a trial's command may run before it is stopped and the trial fails"},
		{Name: "env", Type: trials.KnobEnv,
			Doc: "environment variables for the command, over the runner's own"},
		{Name: "dir", Type: trials.KnobString,
			Doc: "working directory of the command (default: the runner's)"},
		{Name: "max_memory_bytes", Type: trials.KnobInt, Min: trials.AtLeast(1),
			Doc: "resident memory the command's process group may use (summed over its processes, polled every 100 ms, Linux only); past it the group is SIGKILLed and the trial fails as oom"},
	},
}
