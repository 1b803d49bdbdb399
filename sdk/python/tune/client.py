"""The client: studies, and trials through ask/tell."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union)

from . import _http
from .errors import APIError, ConflictError, NotFoundError, TrialPruned, TuneError
from .models import (LeaseExtension, Metrics, ParamImportances, Params, StudyInfo, TrialInfo, parse_time)

log = logging.getLogger("tune")

SERVER_ENV = "TUNE_SERVER"
TOKEN_ENV = "TUNE_TOKEN"
TOKEN_FILE_ENV = "TUNE_TOKEN_FILE"
DATA_DIR_ENV = "TUNE_DATA_DIR"

StudyRef = Union[str, int, "Study"]
StudyDefinition = Union[Mapping[str, Any], str, "os.PathLike[str]"]
ObjectiveResult = Union[float, int, Mapping[str, float], Tuple[float, Mapping[str, float]]]

# Every operation of openapi/openapi.yaml, and what a Python user calls for
# it. tests/test_spec.py fails when the spec gains an operation that is in
# neither table, so the client cannot fall behind the API unnoticed.
OPERATIONS: Dict[str, str] = {
    "createStudy": "Client.create_study",
    "listStudies": "Client.studies",
    "getStudy": "Client.study",
    "updateStudy": "Study.pause",  # also Study.resume, Study.stop
    "deleteStudy": "Study.delete",
    "listTrials": "Study.trials",
    "enqueueTrial": "Study.enqueue",
    "getBestTrial": "Study.best",
    "getParetoFront": "Study.pareto",
    "getParamImportance": "Study.importance",
    "ask": "Study.ask",
    "getTrial": "Client.trial",
    "tell": "Trial.tell",
    "report": "Trial.report",
    "heartbeat": "Trial.heartbeat",
}
NOT_EXPOSED: Dict[str, str] = {
    "acquireLease": "runners lease work with 'tune runner'; Python code takes trials with Study.ask, "
                    "or runs as an exec workload and uses tune.script",
    "createToken": "admins manage tokens with 'tune token create', once per person or machine, not from code",
    "listTokens": "admins manage tokens with 'tune token list'",
    "revokeToken": "admins manage tokens with 'tune token revoke'",
}


def find_token(server: str) -> Optional[str]:
    """The token for server when none was given, looked up as the CLI does.
    The data dir's admin token goes only to a server on this machine: it
    must not leak to whatever $TUNE_SERVER names."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    named = os.environ.get(TOKEN_FILE_ENV, "")
    if named:
        token = _read_token_file(Path(named))
        if not token:
            raise TuneError(f"{TOKEN_FILE_ENV}={named}: no such file, or it is empty")
        return token
    if not _http.loopback_url(server):
        return None
    data_dir = os.environ.get(DATA_DIR_ENV) or str(Path.home() / ".tune")
    return _read_token_file(Path(data_dir) / "token")


def _read_token_file(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TuneError(f"reading the token file {path}: {e.strerror}") from None


def _ref(study: StudyRef) -> str:
    if isinstance(study, Study):
        return str(study.id)
    s = str(study)
    if not s:
        raise ValueError("empty study name")
    return urllib.parse.quote(s, safe="")


class Client:
    """A connection to a tune server.

    ``url`` defaults to $TUNE_SERVER, else http://127.0.0.1:8080 (where
    ``tune serve`` listens); like the CLI it takes ``host:port`` and drops a
    trailing /api/v1. ``token`` is found as the CLI finds it: $TUNE_TOKEN,
    else the file $TUNE_TOKEN_FILE names, else, only for a server on this
    machine, the admin token ``tune serve`` wrote to its data dir
    ($TUNE_DATA_DIR, else ~/.tune). It is sent as ``Authorization: Bearer``
    and never appears in a repr or an error.
    Calls that are safe to repeat are retried ``retries`` times with
    exponential backoff when the server cannot be reached.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *, timeout: float = 30.0,
                 retries: int = 5, backoff: float = 0.25) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        server = url or os.environ.get(SERVER_ENV) or _http.DEFAULT_SERVER
        server = _http.normalize_server(server)
        self._http = _http.Transport(server, token.strip() if token else find_token(server), timeout, retries, backoff)

    @property
    def url(self) -> str:
        return self._http.server

    def __repr__(self) -> str:
        return f"Client({self.url!r}, token={'set' if self._http._token else None})"

    # -- health -------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the server is up and reaches its database (/readyz)."""
        try:
            self._http.request("GET", "/readyz", idempotent=False)
            return True
        except TuneError:
            return False

    # -- studies ------------------------------------------------------------

    def create_study(self, definition: StudyDefinition, *, name: Optional[str] = None,
                     exist_ok: bool = False) -> "Study":
        """Create a study from a dict, or from a JSON or YAML file.

        The definition is what ``tune study create -f`` takes: name,
        objective, search_space, and optionally sampler, pruner, workload,
        max_trials, max_parallel, max_retries, lease_seconds. ``name``
        overrides the file's. With ``exist_ok`` an existing study of that
        name is returned instead of a 409 (as optuna's load_if_exists).
        YAML files need PyYAML (``import yaml``); JSON needs nothing.
        """
        body = dict(read_study_file(definition) if isinstance(definition, (str, os.PathLike)) else definition)
        if name is not None:
            body["name"] = name
        try:
            return Study(self, StudyInfo.from_json(self._http.request("POST", "/studies", body, idempotent=False)))
        except ConflictError:
            if exist_ok and isinstance(body.get("name"), str):
                return self.study(body["name"])
            raise

    def study(self, study: StudyRef) -> "Study":
        """The study of that name or id (NotFoundError when there is none)."""
        return Study(self, StudyInfo.from_json(self._http.request("GET", f"/studies/{_ref(study)}", idempotent=True)))

    def studies(self) -> List["Study"]:
        """Every study, oldest first, with trial counts and best value.

        The server lists studies a page at a time, each item without its
        search space and options (``client.study(name)`` has them); this
        follows every page.
        """
        out: List[Study] = []
        cursor: Optional[str] = None
        while True:
            path = "/studies" if cursor is None else f"/studies?cursor={urllib.parse.quote(cursor)}"
            rsp = self._http.request("GET", path, idempotent=True)
            out.extend(Study(self, StudyInfo.from_json(s)) for s in rsp["items"])
            cursor = rsp.get("next_cursor")
            if not cursor:
                return out

    def delete_study(self, study: StudyRef) -> None:
        self._http.request("DELETE", f"/studies/{_ref(study)}", idempotent=True)

    def trial(self, trial_id: int) -> "Trial":
        """One trial by id."""
        return Trial(self, TrialInfo.from_json(self._http.request("GET", f"/trials/{int(trial_id)}", idempotent=True)))

    def import_study(self, export: Union[Mapping[str, Any], str, "os.PathLike[str]"], *,
                     name: Optional[str] = None) -> "Study":
        """Create a study from what Study.export (or ``tune study export``)
        wrote, with its trials in order: finished ones recorded as they
        were, the others enqueued again."""
        if isinstance(export, (str, os.PathLike)):
            with open(export, encoding="utf-8") as f:
                export = json.load(f)
        if export.get("tune_export") != 1:
            raise ValueError("not a tune export (want a file with \"tune_export\": 1)")
        study = self.create_study(export["study"], name=name)
        for t in export.get("trials") or []:
            record: Dict[str, Any] = {"params": t.get("params") or {}}
            if t.get("state") in ("complete", "pruned", "failed"):
                record["state"] = t["state"]
                for k in ("value", "metrics", "error", "failure_kind", "runner", "device", "attempt",
                          "created_at", "started_at", "finished_at"):
                    if t.get(k) not in (None, "", {}):
                        record[k] = t[k]
                if t.get("intermediate_values"):
                    record["intermediate_values"] = t["intermediate_values"]
            study._enqueue_raw(record)
        state = export.get("state")
        if state in ("paused", "done"):
            study._set_state(state)
        return study


class Study:
    """A study on the server, and the ask/tell loop over it.

    ``info`` is the server's view when this object was fetched; ``refresh()``
    fetches it again. Common fields are properties: ``name``, ``id``,
    ``state``, ``best_value``, ``counts``, ``direction``.
    """

    def __init__(self, client: Client, info: StudyInfo) -> None:
        self.client = client
        self.info = info

    def __repr__(self) -> str:
        return f"Study(id={self.id}, name={self.name!r}, state={self.state!r})"

    id = property(lambda self: self.info.id)
    name = property(lambda self: self.info.name)
    state = property(lambda self: self.info.state)
    counts = property(lambda self: self.info.counts)
    # The (first) objective's direction.
    direction = property(lambda self: self.info.goals[0].direction)

    @property
    def _path(self) -> str:
        return f"/studies/{self.id}"

    def refresh(self) -> "Study":
        self.info = StudyInfo.from_json(self.client._http.request("GET", self._path, idempotent=True))
        return self

    # -- state --------------------------------------------------------------

    def _set_state(self, state: str) -> "Study":
        # Setting a state is idempotent: safe to retry.
        rsp = self.client._http.request("PATCH", self._path, {"state": state}, idempotent=True)
        self.info = StudyInfo.from_json(rsp)
        return self

    def pause(self) -> "Study":
        """Stop handing out trials; running ones finish."""
        return self._set_state("paused")

    def resume(self) -> "Study":
        return self._set_state("running")

    def stop(self) -> "Study":
        """Mark the study done: no new trials, and running ones are asked
        to stop at their next heartbeat."""
        return self._set_state("done")

    def delete(self) -> None:
        """Delete the study and all its trials."""
        self.client.delete_study(self)

    # -- trials -------------------------------------------------------------

    def trials(self, state: Optional[str] = None, *, page_size: int = 500) -> List["Trial"]:
        """Every trial by number (or those in ``state``), all pages."""
        return list(self.iter_trials(state, page_size=page_size))

    def iter_trials(self, state: Optional[str] = None, *, page_size: int = 500) -> Iterator["Trial"]:
        cursor: Optional[str] = None
        while True:
            rsp = self.client._http.request("GET", self._path + "/trials", idempotent=True,
                                            query={"state": state, "limit": page_size, "cursor": cursor})
            for t in rsp["items"]:
                yield Trial(self.client, TrialInfo.from_json(t), study=self)
            cursor = rsp.get("next_cursor")
            if not cursor:
                return

    def best(self) -> Optional["Trial"]:
        """The best complete trial, or None while there is none."""
        try:
            rsp = self.client._http.request("GET", self._path + "/best", idempotent=True)
        except NotFoundError:
            # 404 means either no such study or no complete trial yet: the
            # study's own GET tells them apart (and raises for the first).
            self.refresh()
            return None
        return Trial(self.client, TrialInfo.from_json(rsp), study=self)

    @property
    def best_trial(self) -> "Trial":
        """As optuna's: the best complete trial, ValueError while none."""
        t = self.best()
        if t is None:
            raise ValueError(f"study {self.name!r} has no complete trial yet")
        return t

    @property
    def best_value(self) -> float:
        """As optuna's: the best complete trial's value, asked of the server
        now (ValueError while none); info.best_value is the snapshot."""
        value = self.best_trial.value
        assert value is not None  # a complete trial has a value
        return value

    @property
    def best_params(self) -> Params:
        return self.best_trial.params

    def pareto(self, objectives: Optional[Mapping[str, str]] = None) -> List["Trial"]:
        """The Pareto front. Without arguments, the server's: the complete
        trials that keep every constraint and that no other such trial beats
        on every one of the study's objectives, best first by the first
        objective (for a single-objective study, its best feasible trial).

        With ``objectives`` (metric name -> "minimize" | "maximize"), e.g.
        ``{"val_accuracy": "maximize", "samples_per_second": "maximize"}``,
        the front over those metrics instead, computed here from every
        complete trial (constraints are not applied); a trial's objective
        metric is its value when its metrics do not name it."""
        if objectives is None:
            rsp = self.client._http.request("GET", self._path + "/pareto", idempotent=True)
            return [Trial(self.client, TrialInfo.from_json(t), study=self) for t in rsp["items"]]
        if not objectives:
            raise ValueError("pareto needs at least one metric and its direction")
        for metric, direction in objectives.items():
            if direction not in ("minimize", "maximize"):
                raise ValueError(f"{metric}: direction {direction!r}, want minimize or maximize")
        single = self.info.objective.metric if self.info.objective is not None else None
        points: List[Tuple[Trial, List[float]]] = []
        for t in self.iter_trials("complete"):
            vals = []
            for metric, direction in objectives.items():
                v = t.info.metrics.get(metric)
                if v is None and metric == single:
                    v = t.value
                if v is None:
                    break
                vals.append(-v if direction == "maximize" else v)  # minimise everything
            else:
                points.append((t, vals))

        def dominates(a: List[float], b: List[float]) -> bool:
            return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

        return [t for t, p in points if not any(dominates(q, p) for _, q in points)]

    def importance(self) -> ParamImportances:
        """How much each param matters (PED-ANOVA); ConflictError while
        fewer than two trials are complete."""
        return ParamImportances.from_json(self.client._http.request("GET", self._path + "/importance", idempotent=True))

    def _enqueue_raw(self, body: Mapping[str, Any]) -> "Trial":
        rsp = self.client._http.request("POST", self._path + "/trials", body, idempotent=False)
        return Trial(self.client, TrialInfo.from_json(rsp), study=self)

    def enqueue(self, params: Params, *, state: Optional[str] = None, value: Optional[float] = None,
                metrics: Optional[Metrics] = None, error: Optional[str] = None) -> "Trial":
        """Enqueue a trial with fixed params (the next ask or lease gets it
        first), or with ``state`` complete/pruned/failed record one whose
        result was obtained elsewhere, so the sampler learns from it."""
        _http.check_finite("value", value)
        body: Dict[str, Any] = {"params": dict(params)}
        for k, v in (("state", state), ("value", value), ("metrics", metrics), ("error", error)):
            if v is not None:
                body[k] = v
        return self._enqueue_raw(body)

    def ask(self, runner: Optional[str] = None) -> "Trial":
        """Start a trial with suggested params (a waiting one first).
        ConflictError when the study hands out no more (paused, done, or
        max_trials reached). Use it as a context manager to heartbeat while
        it runs and to tell failed or pruned on an exception."""
        body = {"runner": runner} if runner else None
        rsp = self.client._http.request("POST", self._path + "/ask", body, idempotent=False)
        return Trial(self.client, TrialInfo.from_json(rsp), study=self)

    def export(self, path: Union[str, "os.PathLike[str]", None] = None) -> Dict[str, Any]:
        """The study and every trial, in the format of ``tune study export``
        (Client.import_study and ``tune study import`` read it); written to
        ``path`` as JSON when given."""
        self.refresh()
        data = {
            "tune_export": 1,
            "exported_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "server": self.client.url,
            "study": self.info.definition(),
            "state": self.state,
            "trials": [t._raw for t in self.iter_trials(page_size=1000)],
        }
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
        return data

    def optimize(self, objective: Callable[["Trial"], ObjectiveResult], n_trials: Optional[int] = None, *,
                 n_jobs: int = 1, timeout: Optional[float] = None,
                 catch: Tuple[Type[BaseException], ...] = ()) -> None:
        """Run ``objective(trial)`` on asked trials until ``n_trials`` ran,
        ``timeout`` seconds passed, or the study hands out no more trials.

        The objective returns the value, or a dict of metrics holding the
        objective metric, or ``(value, metrics)``. It may call
        ``trial.report`` (raising TrialPruned ends the trial pruned). An
        exception marks the trial failed and stops the loop, unless its
        type is in ``catch``. ``n_jobs`` runs that many trials at once in
        threads (each trial heartbeats on its own).
        """
        if n_jobs < 1:
            raise ValueError("n_jobs must be >= 1")
        if n_trials is not None and n_trials < 0:
            raise ValueError("n_trials must be >= 0")
        lock = threading.Lock()
        started = [0]
        halt = threading.Event()
        deadline = None if timeout is None else time.monotonic() + timeout

        def worker() -> None:
            while not halt.is_set():
                with lock:
                    if n_trials is not None and started[0] >= n_trials:
                        return
                    started[0] += 1
                if deadline is not None and time.monotonic() >= deadline:
                    return
                try:
                    trial = self.ask()
                except ConflictError as e:
                    log.info("study %s: %s", self.name, e.detail or e.title)
                    halt.set()
                    return
                try:
                    with trial:
                        trial.tell(objective(trial))
                except catch as e:  # type: ignore[misc]
                    log.warning("trial %d failed: %s", trial.number, e)

        try:
            if n_jobs == 1:
                worker()
                return
            with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="tune-optimize") as pool:
                futures = [pool.submit(worker) for _ in range(n_jobs)]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                if any(f.exception() for f in done):
                    halt.set()
                for f in futures:
                    f.result()  # re-raises the first failure
        finally:
            try:
                self.refresh()  # counts, state and best as the loop left them
            except TuneError as e:
                log.warning("study %s: could not refresh after optimize: %s", self.name, e)


class Trial:
    """A trial: its params, and report/heartbeat/tell while it runs.

    Used as a context manager (``with study.ask() as trial:``) it sends
    heartbeats from a background thread while the block runs, tells
    ``pruned`` when TrialPruned leaves the block (and swallows it), and
    ``failed`` with the exception's text for any other exception (which
    propagates).
    """

    def __init__(self, client: Client, info: TrialInfo, *, study: Optional[Study] = None) -> None:
        self.client = client
        self.info = info
        self.study = study
        self.raise_on_prune = True
        self._prune = False
        self._stop_requested = threading.Event()
        self._heartbeat_thread: Optional[threading.Thread] = None
        self._heartbeat_done = threading.Event()

    def __repr__(self) -> str:
        return f"Trial(id={self.id}, number={self.number}, state={self.state!r}, params={self.params!r})"

    id = property(lambda self: self.info.id)
    number = property(lambda self: self.info.number)
    state = property(lambda self: self.info.state)
    params = property(lambda self: self.info.params)
    value = property(lambda self: self.info.value)
    metrics = property(lambda self: self.info.metrics)
    intermediate_values = property(lambda self: self.info.intermediate_values)

    @property
    def _raw(self) -> Dict[str, Any]:
        i = self.info
        d: Dict[str, Any] = {
            "id": i.id, "study_id": i.study_id, "number": i.number, "state": i.state, "params": i.params,
            "value": i.value, "metrics": i.metrics, "attempt": i.attempt, "runner": i.runner,
            "lease": i.lease, "error": i.error, "device": i.device,
            "intermediate_values": [{"step": v.step, "value": v.value, **({"metrics": v.metrics} if v.metrics else {}),
                                     **({"profile": v.profile} if v.profile else {})}
                                    for v in i.intermediate_values],
        }
        if i.failure_kind:
            d["failure_kind"] = i.failure_kind
        for k in ("lease_expires_at", "created_at", "started_at", "finished_at"):
            t = getattr(i, k)
            d[k] = t.isoformat().replace("+00:00", "Z") if t else None
        return d

    @property
    def _path(self) -> str:
        return f"/trials/{self.id}"

    def _lease(self) -> Dict[str, Any]:
        return {"lease": self.info.lease} if self.info.lease else {}

    def refresh(self) -> "Trial":
        self.info = TrialInfo.from_json(self.client._http.request("GET", self._path, idempotent=True))
        return self

    def suggest(self, name: str) -> Any:
        """The suggested value of param ``name`` (KeyError naming the params
        there are when the study's search space has no such param)."""
        try:
            return self.info.params[name]
        except KeyError:
            raise KeyError(f"trial {self.number} has no param {name!r}; it has {sorted(self.info.params)}") from None

    def report(self, step: int, value: float, *, profile: Optional[Mapping[str, Any]] = None, **metrics: float) -> bool:
        """Record the intermediate ``value`` (the objective metric) at
        ``step`` with any other metrics, and optionally the step's
        ``profile`` ({"wall_seconds": 12.5, "phases": {"data": 1.2, ...},
        "heap_peak_bytes": ...}; the server checks it). Raises TrialPruned when the
        pruner says the trial should stop (or the study was stopped),
        unless ``raise_on_prune`` is False; then it returns the decision,
        which ``should_prune()`` also gives."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step {step!r}: want an int >= 0")
        _http.check_finite("value", value)
        for k, v in metrics.items():
            _http.check_finite(k, v)
        body: Dict[str, Any] = {"step": step, "value": value, **self._lease()}
        if metrics:
            body["metrics"] = metrics
        if profile is not None:
            body["profile"] = dict(profile)
        # A report of the same step is an overwrite with the same numbers:
        # safe to retry.
        rsp = self.client._http.request("POST", self._path + "/report", body, idempotent=True)
        self._prune = bool(rsp.get("prune")) or self._stop_requested.is_set()
        if self._prune and self.raise_on_prune:
            why = "the study was stopped" if self._stop_requested.is_set() else "the pruner stopped it"
            raise TrialPruned(f"trial {self.number} at step {step}: {why}")
        return self._prune

    def should_prune(self) -> bool:
        """The decision of the last report (and True once the study asked
        running trials to stop)."""
        return self._prune or self._stop_requested.is_set()

    def heartbeat(self) -> LeaseExtension:
        """Extend the lease; ``stop`` is True when the study was stopped."""
        rsp = self.client._http.request("POST", self._path + "/heartbeat", self._lease() or None, idempotent=True)
        ext = LeaseExtension(lease_expires_at=parse_time(rsp.get("lease_expires_at")), stop=bool(rsp.get("stop")))
        if ext.stop:
            self._stop_requested.set()
        return ext

    def tell(self, value: Union[ObjectiveResult, None] = None, *, state: str = "complete",
             metrics: Optional[Metrics] = None, error: Optional[str] = None,
             device: Optional[str] = None, failure_kind: Optional[str] = None) -> "Trial":
        """Finish the trial: ``complete`` with its value (or a dict of
        metrics holding the objective metric, or ``(value, metrics)``),
        ``pruned``, or ``failed`` with an error text and optionally its
        ``failure_kind`` (oom, diverged, timeout, error, preempted). A
        multi-objective study reads every objective from the metrics, and a
        study with constraints needs each constrained metric there. Telling
        the same result again is fine; a different one is a ConflictError."""
        if state not in ("complete", "pruned", "failed"):
            raise ValueError(f"state {state!r}: want complete, pruned or failed")
        metrics = dict(metrics or {})
        if isinstance(value, tuple):
            value, more = value
            metrics.update(more)
        elif isinstance(value, Mapping):
            metrics.update(value)
            value = None
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"value {value!r}: want a number, a dict of metrics or (value, metrics)")
            value = float(value)
            _http.check_finite("value", value)
        for k, v in metrics.items():
            _http.check_finite(k, v)
        body: Dict[str, Any] = {"state": state, **self._lease()}
        if value is not None:
            body["value"] = value
        if metrics:
            body["metrics"] = metrics
        if error:
            body["error"] = error
        if device:
            body["device"] = device
        if failure_kind:
            body["failure_kind"] = failure_kind
        # The server accepts the same result twice, so a tell whose answer
        # was lost to the network is retried rather than dropped.
        rsp = self.client._http.request("POST", self._path + "/tell", body, idempotent=True)
        self.info = TrialInfo.from_json(rsp)
        return self

    def fail(self, error: str, kind: Optional[str] = None) -> "Trial":
        return self.tell(state="failed", error=error, failure_kind=kind)

    def prune(self) -> "Trial":
        return self.tell(state="pruned")

    # -- the context manager --------------------------------------------------

    def _heartbeat_interval(self) -> float:
        lease = 0.0
        if self.study is not None and self.study.info.lease_seconds:
            lease = float(self.study.info.lease_seconds)
        elif self.info.lease_expires_at and self.info.started_at:
            # Both times are the server's: no clock skew in the difference.
            lease = (self.info.lease_expires_at - self.info.started_at).total_seconds()
        return max(0.5, lease / 3) if lease > 0 else 10.0

    def _beat(self, interval: float) -> None:
        while not self._heartbeat_done.wait(interval):
            try:
                if self.heartbeat().stop:
                    log.info("trial %d: the study was stopped; the next report raises TrialPruned", self.number)
            except ConflictError as e:
                log.warning("trial %d: heartbeat refused, the lease is lost: %s", self.number, e)
                return
            except TuneError as e:
                log.warning("trial %d: heartbeat failed (will retry): %s", self.number, e)

    def __enter__(self) -> "Trial":
        if self.info.state == "running" and self._heartbeat_thread is None:
            self._heartbeat_thread = threading.Thread(target=self._beat, args=(self._heartbeat_interval(),),
                                                      name=f"tune-heartbeat-{self.id}", daemon=True)
            self._heartbeat_thread.start()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool:
        self._heartbeat_done.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join()
        if self.info.finished:
            return exc_type is TrialPruned or (exc_type is not None and issubclass(exc_type, TrialPruned))
        try:
            if exc_type is None:
                log.warning("trial %d: the with block ended without trial.tell(); telling failed", self.number)
                self.tell(state="failed", error="the with block ended without trial.tell()")
            elif issubclass(exc_type, TrialPruned):
                self.tell(state="pruned")
                return True
            else:
                text = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
                self.tell(state="failed", error=text[:4000])
        except TuneError as e:
            if exc_type is None:
                raise
            log.error("trial %d: could not tell the server how it ended: %s", self.number, e)
        return False


def read_study_file(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """A study definition from a JSON file, or a YAML one when PyYAML is
    importable (Debian: python3-yaml); .json files never need it."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"{p}: empty study file")
    if p.suffix.lower() == ".json":
        doc = json.loads(text)
    else:
        try:
            doc = json.loads(text)  # JSON is YAML too: no module needed for it
        except ValueError:
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise TuneError(f"{p}: reading YAML needs PyYAML (pip install pyyaml, or Debian's python3-yaml); "
                                "or write the study as JSON, or pass a dict") from None
            doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{p}: a study file holds a mapping (name, objective, search_space, ...)")
    return doc
