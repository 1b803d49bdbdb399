"""What the API returns, as dataclasses. Unknown fields from a newer server
are ignored, so an older client keeps working."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional

Params = Dict[str, Any]
Metrics = Dict[str, float]

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(s: Optional[str]) -> Optional[datetime]:
    """RFC 3339 as the server writes it. datetime.fromisoformat in Python
    3.9 and 3.10 takes neither 'Z' nor nanoseconds, so both are normalised."""
    if not s:
        return None
    s = s.replace("Z", "+00:00").replace("z", "+00:00")
    s = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], s, count=1)
    return datetime.fromisoformat(s)


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str = "minimize"

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Objective":
        return cls(metric=d["metric"], direction=d.get("direction") or "minimize")


@dataclass(frozen=True)
class Constraint:
    """Bounds on a metric of a complete trial: min, max or both."""

    metric: str
    min: Optional[float] = None
    max: Optional[float] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Constraint":
        return cls(metric=d["metric"], min=d.get("min"), max=d.get("max"))

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"metric": self.metric}
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        return d


@dataclass(frozen=True)
class TrialCounts:
    waiting: int = 0
    running: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "TrialCounts":
        return cls(**{k: int(d.get(k, 0)) for k in ("waiting", "running", "complete", "pruned", "failed")})

    @property
    def total(self) -> int:
        return self.waiting + self.running + self.complete + self.pruned + self.failed


@dataclass(frozen=True)
class IntermediateValue:
    step: int
    value: float
    metrics: Metrics = field(default_factory=dict)
    # Where the step's time and memory went, as reported (wall_seconds,
    # phases, heap_peak_bytes, ...); None when the step carried none.
    profile: Optional[Dict[str, Any]] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "IntermediateValue":
        return cls(step=int(d["step"]), value=float(d["value"]), metrics=dict(d.get("metrics") or {}),
                   profile=d.get("profile"))


@dataclass(frozen=True)
class StudyInfo:
    """A study as the server shows it: definition, state and summary."""

    id: int
    name: str
    # A single-objective study's objective; None for a multi-objective one,
    # which lists two or more in objectives (and has no best_value).
    objective: Optional[Objective]
    search_space: Dict[str, Dict[str, Any]]
    sampler: Dict[str, Any]
    pruner: Dict[str, Any]
    workload: Optional[Dict[str, Any]]
    max_trials: int
    max_parallel: int
    max_retries: int
    lease_seconds: int
    state: str
    created_at: Optional[datetime]
    counts: TrialCounts
    best_value: Optional[float]
    best_trial_id: Optional[int]
    running_runners: int
    objectives: List[Objective] = field(default_factory=list)
    constraints: List[Constraint] = field(default_factory=list)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def goals(self) -> List[Objective]:
        """The objectives in order: objectives, else the one objective."""
        if self.objectives or self.objective is None:
            return list(self.objectives)
        return [self.objective]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "StudyInfo":
        return cls(
            id=int(d["id"]), name=d["name"],
            objective=Objective.from_json(d["objective"]) if d.get("objective") else None,
            objectives=[Objective.from_json(o) for o in d.get("objectives") or []],
            constraints=[Constraint.from_json(c) for c in d.get("constraints") or []],
            search_space=dict(d.get("search_space") or {}), sampler=dict(d.get("sampler") or {}),
            pruner=dict(d.get("pruner") or {}), workload=d.get("workload"),
            max_trials=int(d.get("max_trials") or 0), max_parallel=int(d.get("max_parallel") or 0),
            max_retries=int(d.get("max_retries") or 0), lease_seconds=int(d.get("lease_seconds") or 0),
            state=d["state"], created_at=parse_time(d.get("created_at")),
            counts=TrialCounts.from_json(d.get("counts") or {}), best_value=d.get("best_value"),
            best_trial_id=d.get("best_trial_id"), running_runners=int(d.get("running_runners") or 0),
        )

    def definition(self) -> Dict[str, Any]:
        """What creates this study again (POST /studies), as `tune study
        export` writes it."""
        d: Dict[str, Any] = {
            "name": self.name,
            "search_space": self.search_space, "sampler": self.sampler, "pruner": self.pruner,
            "max_trials": self.max_trials, "max_parallel": self.max_parallel,
            "max_retries": self.max_retries, "lease_seconds": self.lease_seconds,
        }
        if self.objective is not None:
            d["objective"] = {"metric": self.objective.metric, "direction": self.objective.direction}
        if self.objectives:
            d["objectives"] = [{"metric": o.metric, "direction": o.direction} for o in self.objectives]
        if self.constraints:
            d["constraints"] = [c.to_json() for c in self.constraints]
        if self.workload is not None:
            d["workload"] = self.workload
        return d


@dataclass(frozen=True)
class TrialInfo:
    """A trial as the server shows it."""

    id: int
    study_id: int
    number: int
    state: str
    params: Params
    value: Optional[float]
    intermediate_values: List[IntermediateValue]
    metrics: Metrics
    attempt: int
    runner: str
    lease: int
    lease_expires_at: Optional[datetime]
    created_at: Optional[datetime]
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    error: str
    device: str
    # What decided the params: startup, tpe, gp, cmaes, random, qmc, enqueued
    # or recorded ("" for trials older than origins); attempt > 0 says the
    # trial was retried after a lost lease.
    origin: str
    # Why a failed trial failed: oom, diverged, timeout, error, preempted
    # ("" otherwise).
    failure_kind: str = ""
    # A complete trial's objective values in the study's objectives order
    # (multi-objective studies), whether it keeps the study's constraints
    # (None when the study has none) and those it breaks.
    values: Optional[List[float]] = None
    feasible: Optional[bool] = None
    violations: List[str] = field(default_factory=list)
    # The server's one-line reading of where the trial's time goes, from
    # its steps' profiles; "" when none carried one.
    bottleneck: str = ""

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "TrialInfo":
        return cls(
            id=int(d["id"]), study_id=int(d["study_id"]), number=int(d["number"]), state=d["state"],
            params=dict(d.get("params") or {}), value=d.get("value"),
            intermediate_values=[IntermediateValue.from_json(v) for v in d.get("intermediate_values") or []],
            metrics=dict(d.get("metrics") or {}), attempt=int(d.get("attempt") or 0),
            runner=d.get("runner") or "", lease=int(d.get("lease") or 0),
            lease_expires_at=parse_time(d.get("lease_expires_at")), created_at=parse_time(d.get("created_at")),
            started_at=parse_time(d.get("started_at")), finished_at=parse_time(d.get("finished_at")),
            error=d.get("error") or "", device=d.get("device") or "", origin=d.get("origin") or "",
            failure_kind=d.get("failure_kind") or "", values=d.get("values"), feasible=d.get("feasible"),
            violations=list(d.get("violations") or []),
            bottleneck=d.get("bottleneck") or "",
        )

    @property
    def finished(self) -> bool:
        return self.state in ("complete", "pruned", "failed")


@dataclass(frozen=True)
class ParamImportance:
    param: str
    importance: float


@dataclass(frozen=True)
class ParamImportances:
    method: str
    trials_used: int
    top_quantile: float
    importances: List[ParamImportance]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ParamImportances":
        return cls(method=d["method"], trials_used=int(d["trials_used"]), top_quantile=float(d["top_quantile"]),
                   importances=[ParamImportance(i["param"], float(i["importance"])) for i in d["importances"]])

    def as_dict(self) -> Dict[str, float]:
        return {i.param: i.importance for i in self.importances}


@dataclass(frozen=True)
class LeaseExtension:
    lease_expires_at: Optional[datetime]
    stop: bool
