"""Studies against a real `tune serve`: create (dict, JSON, YAML), list,
show, pause, resume, stop, delete, export and import, best, pareto,
importance, and the server's refusals as exceptions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import tune
from conftest import quadratic


def test_create_from_dict_and_show_by_name_and_id(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name, max_trials=3, lease_seconds=30))
    assert study.name == study_name and study.state == "running"
    assert study.info.objective == tune.Objective("loss", "minimize")
    assert study.info.max_trials == 3 and study.info.lease_seconds == 30
    assert set(study.info.search_space) == {"x", "layers", "act"}
    for ref in (study_name, study.id, study):
        shown = client.study(ref)
        assert shown.id == study.id and shown.name == study_name
    assert study_name in [s.name for s in client.studies()]


def test_create_from_json_file_with_name_override(client: tune.Client, study_name: str, tmp_path: Path) -> None:
    f = tmp_path / "study.json"
    f.write_text(json.dumps(quadratic("from-the-file")))
    study = client.create_study(f, name=study_name)
    assert study.name == study_name
    assert client.create_study(str(f), name=study_name + "-str").name == study_name + "-str"


YAML_STUDY = """
name: {name}
objective: {{metric: val_accuracy, direction: maximize}}
search_space:
  learning_rate: {{type: float, low: 1.0e-4, high: 0.1, log: true}}
  batch_size:    {{type: int, low: 16, high: 1024, log: true}}
"""


def test_create_from_yaml_file(client: tune.Client, study_name: str, tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="YAML study files need PyYAML (Debian: python3-yaml)")
    f = tmp_path / "study.yaml"
    f.write_text(YAML_STUDY.format(name=study_name))
    study = client.create_study(f)
    assert study.direction == "maximize"
    assert study.info.search_space["learning_rate"]["log"] is True


def test_yaml_without_pyyaml_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    f = tmp_path / "study.yaml"
    f.write_text(YAML_STUDY.format(name="x"))
    with pytest.raises(tune.TuneError, match="PyYAML"):
        tune.read_study_file(f)
    # JSON is YAML too, and needs no module whatever the file is called.
    f.write_text(json.dumps(quadratic("as-json")))
    assert tune.read_study_file(f)["name"] == "as-json"


def test_bad_study_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty study file"):
        tune.read_study_file(empty)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ValueError, match="mapping"):
        tune.read_study_file(listing)
    with pytest.raises(FileNotFoundError):
        tune.read_study_file(tmp_path / "missing.json")


def test_duplicate_name_is_a_conflict_unless_exist_ok(client: tune.Client, study_name: str) -> None:
    first = client.create_study(quadratic(study_name))
    with pytest.raises(tune.ConflictError) as e:
        client.create_study(quadratic(study_name))
    assert e.value.status == 409 and e.value.title and study_name in str(e.value)
    assert client.create_study(quadratic(study_name), exist_ok=True).id == first.id


@pytest.mark.parametrize("change, status, says", [
    ({"search_space": {"x": {"type": "float", "low": 5, "high": 1}}}, (400, 422), "low"),
    ({"search_space": {"x": {"type": "gaussian"}}}, (400, 422), "gaussian"),
    ({"objective": {"metric": "loss", "direction": "sideways"}}, (400, 422), "direction"),
    ({"misspelled_key": 1}, (400,), "misspelled_key"),
    ({"lease_seconds": -1}, (400, 422), "lease_seconds"),
    ({"name": ""}, (400, 422), "name"),
])
def test_invalid_definitions_are_refused_with_the_servers_detail(client: tune.Client, study_name: str,
                                                                 change: dict, status: tuple, says: str) -> None:
    d = quadratic(study_name)
    d.update(change)
    with pytest.raises(tune.APIError) as e:
        client.create_study(d)
    assert e.value.status in status, e.value
    assert says in (e.value.detail + e.value.title), e.value
    assert e.value.method == "POST" and e.value.path == "/studies"


def test_unknown_study_and_trial(client: tune.Client) -> None:
    with pytest.raises(tune.NotFoundError) as e:
        client.study("no-such-study")
    assert e.value.status == 404
    with pytest.raises(tune.NotFoundError):
        client.study("no/such?study")  # quoted, not a different path
    with pytest.raises(tune.NotFoundError):
        client.trial(987654321)
    with pytest.raises(tune.NotFoundError):
        client.delete_study("no-such-study")
    with pytest.raises(ValueError):
        client.study("")


def test_pause_resume_stop_delete(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    assert study.pause().state == "paused"
    with pytest.raises(tune.ConflictError, match="paused"):
        study.ask()
    assert study.resume().state == "running"
    trial = study.ask()
    assert study.stop().state == "done"
    assert trial.heartbeat().stop is True  # running trials are told to stop
    with pytest.raises(tune.ConflictError):
        study.ask()
    study.delete()
    with pytest.raises(tune.NotFoundError):
        client.study(study_name)


def test_best_trials_and_paging(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    assert study.best() is None
    with pytest.raises(ValueError, match="no complete trial"):
        study.best_trial
    with pytest.raises(ValueError, match="no complete trial"):
        study.best_value
    values = [3.0, 1.0, 2.0, 5.0, 4.0]
    for v in values:
        study.ask().tell(v)
    failed = study.ask().fail("out of memory")
    assert failed.state == "failed" and failed.info.error == "out of memory"
    best = study.best_trial
    assert best.value == 1.0 and best.number == 1
    assert study.best_params == best.params
    assert study.best_value == 1.0 and study.refresh().info.best_value == 1.0 and study.counts.complete == 5 and study.counts.failed == 1
    everything = study.trials(page_size=2)  # three pages
    assert [t.number for t in everything] == list(range(6))
    assert [t.value for t in study.trials("complete")] == values
    assert [t.number for t in study.trials("failed")] == [5]
    with pytest.raises(tune.APIError) as e:
        study.trials("finished")
    assert e.value.status == 400


def test_best_of_a_missing_study_is_not_found(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    client.delete_study(study_name)
    with pytest.raises(tune.NotFoundError):
        study.best()


def test_pareto(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    # (loss, samples_per_second): b beats a on both; c and b trade off.
    for loss, speed in [(0.5, 100.0), (0.4, 200.0), (0.3, 150.0), (0.6, 300.0)]:
        study.ask().tell(loss, metrics={"samples_per_second": speed})
    front = study.pareto({"loss": "minimize", "samples_per_second": "maximize"})
    assert sorted((t.value, t.metrics["samples_per_second"]) for t in front) == [(0.3, 150.0), (0.4, 200.0),
                                                                                   (0.6, 300.0)]
    with pytest.raises(ValueError):
        study.pareto({"loss": "down"})


def test_multi_objective_study(client: tune.Client, study_name: str, tmp_path: Path) -> None:
    definition = quadratic(study_name)
    del definition["objective"]
    definition["objectives"] = [{"metric": "loss"}, {"metric": "samples_per_second", "direction": "maximize"}]
    definition["constraints"] = [{"metric": "loss", "max": 0.55}]
    study = client.create_study(definition)
    assert study.info.objective is None and study.info.multi_objective
    assert study.info.objectives == [tune.Objective("loss", "minimize"),
                                     tune.Objective("samples_per_second", "maximize")]
    assert study.info.constraints == [tune.Constraint("loss", max=0.55)]
    assert study.direction == "minimize"
    with pytest.raises(tune.APIError) as missing:
        study.ask().tell({"loss": 0.5})
    assert missing.value.status == 422 and "samples_per_second" in str(missing.value)
    # (loss, samples_per_second): b beats a on both; c and b trade off; d
    # breaks the constraint.
    for loss, speed in [(0.5, 100.0), (0.4, 200.0), (0.3, 150.0), (0.6, 300.0)]:
        t = study.ask().tell({"loss": loss, "samples_per_second": speed})
        assert t.info.values == [loss, speed] and t.info.feasible == (loss <= 0.55)
    bad = [t for t in study.trials("complete") if not t.info.feasible]
    assert len(bad) == 1 and bad[0].info.violations == ["loss <= 0.55 (is 0.6)"]
    front = study.pareto()
    assert [(t.metrics["loss"], t.metrics["samples_per_second"]) for t in front] == [(0.3, 150.0), (0.4, 200.0)]
    with pytest.raises(tune.ConflictError, match="pareto"):
        study.best()
    failed = study.ask().fail("CUDA out of memory", kind="oom")
    assert failed.info.failure_kind == "oom"
    assert study.ask().fail("boom").info.failure_kind == "error"

    copy = client.import_study(study.export(tmp_path / "mo.json"), name=study_name + "-copy")
    assert copy.info.objectives == study.info.objectives and copy.info.constraints == study.info.constraints
    assert [t.info.failure_kind for t in copy.trials("failed")] == ["oom", "error"]


def test_pareto_of_a_single_objective_study(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    assert study.pareto() == []
    study.ask().tell(0.5)
    study.ask().tell(0.2)
    assert [t.value for t in study.pareto()] == [0.2]


def test_importance(client: tune.Client, study_name: str) -> None:
    study = client.create_study(quadratic(study_name))
    with pytest.raises(tune.ConflictError):
        study.importance()
    study.optimize(lambda t: (t.params["x"] - 2) ** 2, n_trials=12)
    imp = study.importance()
    assert imp.method == "ped-anova" and imp.trials_used == 12
    assert set(imp.as_dict()) == {"x", "layers", "act"}
    assert abs(sum(imp.as_dict().values()) - 1) < 1e-6 or sum(imp.as_dict().values()) == 0


def test_export_and_import(client: tune.Client, study_name: str, tmp_path: Path) -> None:
    study = client.create_study(quadratic(study_name, max_trials=10))
    t = study.ask()
    t.report(0, 2.0, samples_per_second=10.0)
    t.report(1, 1.8, profile={"wall_seconds": 4.0, "phases": {"forward": 1.0, "optimizer": 2.5}, "heap_peak_bytes": 4096})
    t.tell(1.5, metrics={"samples_per_second": 12.0})
    study.ask().tell(state="pruned")
    study.enqueue({"x": 1.0, "layers": 2, "act": "tanh"})
    study.pause()
    path = tmp_path / "export.json"
    data = study.export(path)
    assert json.loads(path.read_text()) == data
    assert data["tune_export"] == 1 and data["state"] == "paused" and len(data["trials"]) == 3

    copy = client.import_study(path, name=study_name + "-copy")
    assert copy.state == "paused" and copy.info.max_trials == 10
    trials = copy.trials()
    assert [t.state for t in trials] == ["complete", "pruned", "waiting"]
    assert trials[0].value == 1.5 and trials[0].metrics == {"samples_per_second": 12.0}
    assert [(v.step, v.value) for v in trials[0].intermediate_values] == [(0, 2.0), (1, 1.8)]
    # The step's profile travels with it, and the server reads it again.
    assert trials[0].intermediate_values[0].profile is None
    assert trials[0].intermediate_values[1].profile == {
        "wall_seconds": 4.0, "phases": {"forward": 1.0, "optimizer": 2.5}, "heap_peak_bytes": 4096}
    assert trials[0].info.bottleneck.startswith("62% of the epoch is the optimizer step")
    assert trials[2].params == {"x": 1.0, "layers": 2, "act": "tanh"}
    with pytest.raises(ValueError, match="not a tune export"):
        client.import_study({"study": {}})
