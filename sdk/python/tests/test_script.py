"""The exec protocol helpers: the lines a runner reads."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tune import script

REPO = Path(__file__).resolve().parents[3]


def test_report_and_result_lines() -> None:
    out = io.StringIO()
    script.report(0, out=out, val_accuracy=0.9, samples_per_second=5100.0)
    script.report(out=out, loss=1)
    script.result(out=out, val_accuracy=0.95, val_loss=0.17)
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["TUNE_REPORT", "TUNE_REPORT", "TUNE_RESULT"]
    assert json.loads(lines[0].split(" ", 1)[1]) == {"step": 0, "val_accuracy": 0.9, "samples_per_second": 5100.0}
    assert json.loads(lines[1].split(" ", 1)[1]) == {"loss": 1}
    assert json.loads(lines[2].split(" ", 1)[1]) == {"val_accuracy": 0.95, "val_loss": 0.17}


def test_bad_reports() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError, match="diverged"):
        script.report(1, out=out, loss=float("nan"))
    with pytest.raises(ValueError, match="want one of oom, diverged"):
        script.fail("bored", out=out)
    with pytest.raises(ValueError, match="step"):
        script.report(-1, out=out, loss=1.0)
    with pytest.raises(ValueError, match="at least one metric"):
        script.report(1, out=out)
    with pytest.raises(ValueError, match="at least one metric"):
        script.result(out=out)
    assert out.getvalue() == ""


def test_fail_lines() -> None:
    out = io.StringIO()
    script.fail("oom", "batch 512 does not fit", out=out)
    script.fail("diverged", out=out)
    lines = out.getvalue().splitlines()
    assert [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("TUNE_RESULT ")] == [
        {"failure_kind": "oom", "error": "batch 512 does not fit"}, {"failure_kind": "diverged"}]


def test_objectives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNE_OBJECTIVES", raising=False)
    assert script.objectives() == []
    monkeypatch.setenv("TUNE_OBJECTIVES", '[{"metric":"val_accuracy","direction":"maximize"},'
                                          '{"metric":"seconds_to_accuracy","direction":"minimize"}]')
    assert [o["metric"] for o in script.objectives()] == ["val_accuracy", "seconds_to_accuracy"]
    monkeypatch.setenv("TUNE_OBJECTIVES", '{"metric": "x"}')
    with pytest.raises(ValueError, match="JSON list"):
        script.objectives()


def test_report_with_profile() -> None:
    out = io.StringIO()
    prof = {"wall_seconds": 2.0, "phases": {"data": 0.5, "forward": 1, "backward": 0.5}, "rss_peak_bytes": 1 << 20}
    script.report(3, out=out, profile=prof, loss=0.5)
    assert json.loads(out.getvalue().split(" ", 1)[1]) == {"step": 3, "loss": 0.5, "profile": prof}
    for bad, match in [
        ({"phases": {"Forward": 1.0}}, "phase name"),
        ({"phases": {"x" * 65: 1.0}}, "phase name"),
        ({"phases": {f"p{i}": 1.0 for i in range(33)}}, "at most 32"),
        ({"phases": {"data": -1.0}}, "finite"),
        ({"wall_seconds": float("inf")}, "finite"),
        ({"heap_peak": 5}, "unknown profile field"),
        ([1, 2], "want a dict"),
    ]:
        with pytest.raises(ValueError, match=match):
            script.report(3, out=io.StringIO(), profile=bad, loss=0.5)


def test_params_and_context(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("TUNE_PARAMS", "TUNE_DEVICE", "TUNE_TRIAL_NUMBER", "TUNE_STUDY", "TUNE_OBJECTIVE"):
        monkeypatch.delenv(k, raising=False)
    assert script.params() == {} and script.device() == "cpu" and script.trial_number() is None
    monkeypatch.setenv("TUNE_PARAMS", '{"learning_rate": 0.01, "batch_size": 64}')
    monkeypatch.setenv("TUNE_DEVICE", "cuda:1")
    monkeypatch.setenv("TUNE_TRIAL_NUMBER", "7")
    monkeypatch.setenv("TUNE_STUDY", "mnist")
    monkeypatch.setenv("TUNE_OBJECTIVE", "val_accuracy")
    assert script.params() == {"learning_rate": 0.01, "batch_size": 64}
    assert (script.device(), script.trial_number(), script.study_name(), script.objective_metric()) == \
        ("cuda:1", 7, "mnist", "val_accuracy")
    monkeypatch.setenv("TUNE_PARAMS", "[1]")
    with pytest.raises(ValueError, match="JSON object"):
        script.params()


def test_example_training_script_speaks_the_protocol() -> None:
    env = dict(os.environ, EXAMPLE_SIMULATE="1", EXAMPLE_EPOCH_SECONDS="0", TUNE_PARAMS='{"epochs": 2}')
    env.pop("PYTHONPATH", None)  # it finds the SDK in this checkout by itself
    out = subprocess.run([sys.executable, str(REPO / "runner/command/testdata/example_train.py")], env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in out] == ["TUNE_REPORT", "TUNE_REPORT", "TUNE_RESULT"]
    assert json.loads(out[1].split(" ", 1)[1])["step"] == 1
    assert "wall_seconds" in json.loads(out[2].split(" ", 1)[1])
