"""Ask/tell against a real `tune serve`: report and prune, heartbeats
from the context manager, tell's rules, enqueue, and optimize."""

from __future__ import annotations

import math
import threading
import time

import pytest

import tune
from conftest import quadratic


def test_ask_report_tell(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    trial = study.ask(runner="notebook")
    assert trial.state == "running" and trial.number == 0 and trial.info.runner == "notebook"
    assert -5 <= trial.params["x"] <= 5 and isinstance(trial.params["layers"], int)
    assert trial.suggest("act") in ("relu", "tanh")
    with pytest.raises(KeyError, match="no param 'depth'"):
        trial.suggest("depth")
    assert trial.report(0, 4.0, samples_per_second=100.0) is False
    assert trial.report(1, 3.0) is False and not trial.should_prune()
    trial.tell(2.5, metrics={"samples_per_second": 120.0}, device="cpu")
    assert trial.state == "complete" and trial.value == 2.5 and trial.info.device == "cpu"
    assert trial.info.origin == "startup"  # TPE samples at random at first
    shown = client.trial(trial.id)
    assert [(v.step, v.value) for v in shown.intermediate_values] == [(0, 4.0), (1, 3.0)]
    assert shown.intermediate_values[0].metrics == {"samples_per_second": 100.0}
    assert shown.metrics == {"samples_per_second": 120.0} and shown.info.finished_at is not None


def test_tell_forms_and_rules(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    by_metrics = study.ask().tell({"loss": 0.7, "accuracy": 0.9})
    assert by_metrics.value == 0.7 and by_metrics.metrics["accuracy"] == 0.9
    pair = study.ask().tell((0.6, {"accuracy": 0.8}))
    assert pair.value == 0.6 and pair.metrics == {"accuracy": 0.8}
    # The same result twice is fine; a different one is a conflict.
    assert pair.tell((0.6, {"accuracy": 0.8})).value == 0.6
    with pytest.raises(tune.ConflictError) as e:
        pair.tell(0.1)
    assert e.value.status == 409
    with pytest.raises(tune.ConflictError):
        pair.report(5, 0.1)  # a finished trial takes no reports

    t = study.ask()
    with pytest.raises(ValueError, match="finite"):
        t.tell(math.nan)
    with pytest.raises(ValueError, match="finite"):
        t.tell(1.0, metrics={"accuracy": math.inf})
    with pytest.raises(ValueError, match="finite"):
        t.report(0, math.inf)
    with pytest.raises(ValueError, match="step"):
        t.report(-1, 1.0)
    with pytest.raises(ValueError, match="state"):
        t.tell(1.0, state="done")
    with pytest.raises(TypeError):
        t.tell("0.5")  # type: ignore[arg-type]
    # complete without a value or the objective metric: the server says why.
    with pytest.raises(tune.APIError) as e:
        t.tell(metrics={"accuracy": 0.5})
    assert e.value.status in (400, 422) and "loss" in e.value.detail
    # A profile whose phases add up to more than the step: the server says why.
    with pytest.raises(tune.APIError) as e:
        t.report(0, 1.0, profile={"wall_seconds": 1.0, "phases": {"forward": 0.8, "backward": 0.8}})
    assert e.value.status == 422 and "wall_seconds" in e.value.detail
    assert t.refresh().state == "running"  # nothing above reached it


def test_median_pruner_raises_trial_pruned(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name, pruner={"type": "median", "startup_trials": 1,
                                                              "warmup_steps": 0}))
    with study.ask() as good:
        for step in range(3):
            good.report(step, 1.0)
        good.tell(1.0)
    with study.ask() as bad:
        with pytest.raises(tune.TrialPruned):
            bad.report(0, 50.0)
        assert bad.should_prune()
        raise_again = tune.TrialPruned("leaving the block")
        raise raise_again  # the block tells pruned and swallows it
    assert client.trial(bad.id).state == "pruned"

    # Without raising: the decision comes back, should_prune() repeats it.
    quiet = study.ask()
    quiet.raise_on_prune = False
    assert quiet.report(0, 60.0) is True and quiet.should_prune()
    quiet.prune()
    assert quiet.state == "pruned"


def test_context_manager_tells_failed_with_the_exception(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        with study.ask() as trial:
            raise RuntimeError("CUDA out of memory")
    shown = client.trial(trial.id)
    assert shown.state == "failed" and shown.info.error == "RuntimeError: CUDA out of memory"

    with study.ask() as forgot:
        pass  # no tell
    assert client.trial(forgot.id).state == "failed"
    assert "without trial.tell()" in client.trial(forgot.id).info.error


def test_context_manager_heartbeats_while_the_block_runs(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name, lease_seconds=2))
    with study.ask() as trial:
        first = trial.info.lease_expires_at
        assert first is not None
        deadline = time.monotonic() + 20
        while client.trial(trial.id).info.lease_expires_at == first:
            assert time.monotonic() < deadline, "no heartbeat extended the lease"
            time.sleep(0.2)
        later = client.trial(trial.id).info.lease_expires_at
        assert later is not None and later > first
        trial.tell(0.5)
    assert client.trial(trial.id).state == "complete"


def test_stopping_the_study_prunes_a_running_trial_at_its_next_report(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name, lease_seconds=2))
    with study.ask() as trial:
        client.study(study_name).stop()
        deadline = time.monotonic() + 20
        while not trial.should_prune():  # the heartbeat thread learns it
            assert time.monotonic() < deadline, "no heartbeat brought the stop"
            time.sleep(0.1)
        with pytest.raises(tune.TrialPruned, match="stopped"):
            trial.report(0, 1.0)
        raise tune.TrialPruned()
    assert client.trial(trial.id).state == "pruned"


def test_enqueue_and_record(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    waiting = study.enqueue({"x": 2.0, "layers": 3, "act": "tanh"})
    assert waiting.state == "waiting"
    asked = study.ask()
    assert asked.id == waiting.id and asked.params == {"x": 2.0, "layers": 3, "act": "tanh"}
    recorded = study.enqueue({"x": 0.0, "layers": 1, "act": "relu"}, state="complete", value=4.0,
                             metrics={"samples_per_second": 9.0})
    assert recorded.state == "complete" and recorded.value == 4.0
    with pytest.raises(tune.APIError) as e:
        study.enqueue({"x": 99.0, "layers": 1, "act": "relu"})
    assert e.value.status in (400, 422) and "x" in e.value.detail
    with pytest.raises(ValueError, match="finite"):
        study.enqueue({"x": 0.0, "layers": 1, "act": "relu"}, state="complete", value=math.nan)


def test_optimize(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    seen = []
    lock = threading.Lock()

    def objective(trial: tune.Trial) -> float:
        with lock:
            seen.append(trial.number)
        return (trial.params["x"] - 2) ** 2

    study.optimize(objective, n_trials=8, n_jobs=3)
    assert sorted(seen) == list(range(8))
    assert study.counts.complete == 8  # refreshed by optimize
    assert study.best_value == study.best_trial.value == min(t.value for t in study.trials())
    assert study.info.best_value == study.best_value


def test_optimize_stops_when_the_study_is_full(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name, max_trials=4))
    study.optimize(lambda t: t.params["x"] ** 2)  # no n_trials: until the study hands out no more
    assert study.refresh().counts.complete == 4 and study.state == "done"


def test_optimize_failures_pruning_and_catch(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))

    def broken(trial: tune.Trial) -> float:
        raise ValueError("diverged")

    with pytest.raises(ValueError, match="diverged"):
        study.optimize(broken, n_trials=3)
    assert [t.state for t in study.trials()] == ["failed"]  # the loop stopped at the first

    study.optimize(broken, n_trials=2, catch=(ValueError,))
    assert [t.state for t in study.trials()] == ["failed"] * 3

    def pruned(trial: tune.Trial) -> float:
        raise tune.TrialPruned()

    study.optimize(pruned, n_trials=2, n_jobs=2)
    assert [t.state for t in study.trials()] == ["failed"] * 3 + ["pruned"] * 2

    with pytest.raises(ValueError):
        study.optimize(pruned, n_jobs=0)
