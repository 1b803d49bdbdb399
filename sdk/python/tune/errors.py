"""The exceptions tune-sdk raises."""

from __future__ import annotations

from typing import Any, Mapping, Optional


class TuneError(Exception):
    """Base class of every error this package raises."""


class APIError(TuneError):
    """The server answered with an error: its RFC 9457 problem details.

    ``status`` is the HTTP status (404, 409, 422, ...), ``title`` and
    ``detail`` what the server said, ``method`` and ``path`` the call.
    """

    def __init__(self, status: int, title: str, detail: str = "", *, type: str = "about:blank",
                 instance: str = "", method: str = "", path: str = "") -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method else ""
        text = f"{where}{status} {title}"
        if detail:
            text += f": {detail}"
        super().__init__(text)

    @classmethod
    def from_problem(cls, status: int, problem: Optional[Mapping[str, Any]], *, method: str = "",
                     path: str = "", fallback: str = "") -> "APIError":
        p = problem or {}
        title = str(p.get("title") or fallback or f"HTTP {status}")
        return cls(status, title, str(p.get("detail") or ""), type=str(p.get("type") or "about:blank"),
                   instance=str(p.get("instance") or ""), method=method, path=path)


class NotFoundError(APIError):
    """404: no such study or trial (or, for best(), no complete trial yet)."""


class ConflictError(APIError):
    """409: e.g. a duplicate study name, a finished trial told differently,
    a lease taken over, or a study that hands out no more trials."""


class TuneConnectionError(TuneError):
    """The server could not be reached (after the retries the call allows)."""


class TrialPruned(TuneError):
    """Raised by Trial.report when the study's pruner (or a stopped study)
    says the trial should end early. Let it propagate out of a ``with
    trial:`` block or an objective and the trial is told ``pruned``."""
