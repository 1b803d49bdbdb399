"""Helpers for a training script run by a tune runner's ``exec`` workload.

The runner starts the script with the trial's params in the environment
and reads two kinds of lines from its stdout: ``TUNE_REPORT {json}`` after
each epoch (the pruner may stop the script after any of them) and one
``TUNE_RESULT {json}`` at the end. These helpers write those lines, so a
script needs no hand-made prints::

    from tune import script

    p = script.params()
    for epoch in range(p.get("epochs", 3)):
        ...
        script.report(epoch, val_accuracy=acc, samples_per_second=speed)
    script.result(val_accuracy=acc, val_loss=loss)

Outside a runner (no TUNE_PARAMS) ``params()`` is empty, so the script
runs by hand with its own defaults.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import IO, Any, Dict, List, Optional

REPORT = "TUNE_REPORT"
RESULT = "TUNE_RESULT"

# Why a trial failed. oom, diverged and timeout say something about the
# configuration (the sampler steers away from it); error and preempted do not.
FAILURE_KINDS = ("oom", "diverged", "timeout", "error", "preempted")


def params() -> Dict[str, Any]:
    """The trial's params (TUNE_PARAMS), or {} when not run by tune."""
    raw = os.environ.get("TUNE_PARAMS", "")
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"TUNE_PARAMS is not a JSON object: {raw[:100]}")
    return value


def device() -> str:
    """Where to train: "cpu" or "cuda:N", as the runner assigned (TUNE_DEVICE)."""
    return os.environ.get("TUNE_DEVICE") or "cpu"


def trial_number() -> Optional[int]:
    """The trial's number in its study (TUNE_TRIAL_NUMBER), None outside a runner."""
    n = os.environ.get("TUNE_TRIAL_NUMBER")
    return int(n) if n else None


def study_name() -> Optional[str]:
    return os.environ.get("TUNE_STUDY") or None


def objective_metric() -> Optional[str]:
    """The metric the study optimizes (TUNE_OBJECTIVE): include it in every report."""
    return os.environ.get("TUNE_OBJECTIVE") or None


def objectives() -> List[Dict[str, str]]:
    """The study's objectives in order (TUNE_OBJECTIVES), each {"metric", "direction"};
    one for a single-objective study, [] outside a runner. Report every one."""
    raw = os.environ.get("TUNE_OBJECTIVES", "")
    if not raw:
        return []
    value = json.loads(raw)
    if not isinstance(value, list):
        raise ValueError(f"TUNE_OBJECTIVES is not a JSON list: {raw[:100]}")
    return value


def fail(kind: str, error: str = "", *, out: Optional[IO[str]] = None) -> None:
    """Say the trial failed, and why: kind is one of FAILURE_KINDS ("oom" for a
    batch that did not fit, "diverged" for a loss that became NaN). The trial
    fails with that kind whatever the exit status; exit afterwards."""
    if kind not in FAILURE_KINDS:
        raise ValueError(f"failure kind {kind!r}: want one of {', '.join(FAILURE_KINDS)}")
    values: Dict[str, Any] = {"failure_kind": kind}
    if error:
        values["error"] = str(error)
    _emit(RESULT, values, out)


def _emit(directive: str, values: Dict[str, Any], out: Optional[IO[str]]) -> None:
    for k, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{k} = {v} is not a finite number: for a run that diverged call "
                             "script.fail(\"diverged\", ...) and exit")
    line = directive + " " + json.dumps(values, allow_nan=False, separators=(",", ":"))
    stream = out if out is not None else sys.stdout
    # Flush: stdout is a pipe, and the runner must see each report as it
    # happens (the pruner decides after each one).
    print(line, file=stream, flush=True)


def report(step: Optional[int] = None, *, out: Optional[IO[str]] = None,
           profile: Optional[Dict[str, Any]] = None, **metrics: float) -> None:
    """One step's metrics (the study's objective metric among them is the
    step's value). Without a step the runner numbers reports 0, 1, 2, ...

    ``profile``, optional, says where the step's time and memory went, in
    the shape of tune's Profile: ``{"wall_seconds": 12.5, "phases":
    {"data": 1.5, "forward": 4.0, "backward": 5.5, "optimizer": 1.0},
    "rss_peak_bytes": 123456789}`` (also heap_peak_bytes, device_bytes,
    device_peak_bytes, matmul_flops, matmul_seconds, peak_flops). Numbers
    must be finite and >= 0; at most 32 phases, named with 1 to 64 of
    a-z, 0-9 and _. The runner skips a report whose profile breaks that."""
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"step {step!r}: want an int >= 0")
    if not metrics:
        raise ValueError("report needs at least one metric, e.g. report(epoch, val_accuracy=0.9)")
    values: Dict[str, Any] = {} if step is None else {"step": step}
    values.update(metrics)
    if profile is not None:
        _check_profile(profile)
        values["profile"] = profile
    _emit(REPORT, values, out)


PROFILE_FIGURES = ("wall_seconds", "heap_peak_bytes", "rss_peak_bytes", "device_bytes", "device_peak_bytes",
                   "matmul_flops", "matmul_seconds", "peak_flops")


def _check_profile(profile: Dict[str, Any]) -> None:
    def number(name: str, v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"profile {name} = {v!r}: want a finite number >= 0")

    if not isinstance(profile, dict):
        raise ValueError(f"profile {profile!r}: want a dict")
    for k, v in profile.items():
        if k == "phases":
            if not isinstance(v, dict) or len(v) > 32:
                raise ValueError("profile phases: want a dict of at most 32 phase names to seconds")
            for name, seconds in v.items():
                if not (isinstance(name, str) and 0 < len(name) <= 64
                        and all(c.isdigit() or c == "_" or "a" <= c <= "z" for c in name)):
                    raise ValueError(f"phase name {name!r}: want 1 to 64 characters of a-z, 0-9 and _")
                number("phases." + name, seconds)
        elif k in PROFILE_FIGURES:
            number(k, v)
        else:
            raise ValueError(f"unknown profile field {k!r}; known: phases, {', '.join(PROFILE_FIGURES)}")


def result(*, out: Optional[IO[str]] = None, **metrics: float) -> None:
    """The run's final metrics (the objective metric among them is the
    trial's value). Call it once, at the end."""
    if not metrics:
        raise ValueError("result needs at least one metric, e.g. result(val_accuracy=0.95)")
    _emit(RESULT, dict(metrics), out)
