"""JSON over HTTP with the standard library: problem+json becomes APIError,
and connection failures are retried with backoff where a call is idempotent."""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Mapping, Optional

from .errors import APIError, ConflictError, NotFoundError, TuneConnectionError

API_PREFIX = "/api/v1"
DEFAULT_SERVER = "http://127.0.0.1:8080"
USER_AGENT = "tune-sdk-python/0.1.0"

# Statuses that mean "a proxy or a replica was not ready": as safe to retry
# for an idempotent call as a refused connection.
_RETRY_STATUSES = frozenset({502, 503, 504})


def normalize_server(url: str) -> str:
    """The server's base URL as the CLI reads --server: a scheme is added
    when missing, and a trailing slash or /api/v1 is dropped."""
    url = url.strip()
    if not url:
        raise ValueError("empty server URL")
    if "://" not in url:
        url = "http://" + url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"server URL {url!r}: want http://host:port")
    path = parsed.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def loopback_url(url: str) -> bool:
    """Whether the server's URL names this machine (as the CLI decides
    whether to send the data dir's admin token)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dumps(body: Any) -> bytes:
    """JSON for the API. NaN and Infinity are not JSON, and the service
    refuses them: say so here rather than send an invalid document."""
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    except ValueError as e:
        raise ValueError(f"{e}: values and metrics must be finite numbers "
                         "(a run that diverged should be told failed, with the reason)") from None


def check_finite(name: str, value: Optional[float]) -> None:
    if value is not None and isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} = {value} is not a finite number "
                         "(a run that diverged should be told failed, with the reason)")


class Transport:
    """One server, one optional bearer token. Thread-safe: every call opens
    its own connection (urllib), so a heartbeat thread and the training
    loop never share one."""

    def __init__(self, server: str, token: Optional[str], timeout: float, retries: int,
                 backoff: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.server = normalize_server(server)
        self._token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep

    def __repr__(self) -> str:
        # The token never appears in a repr, a log line or an exception.
        return f"Transport({self.server!r}, token={'set' if self._token else None})"

    def request(self, method: str, path: str, body: Any = None, *, query: Optional[Mapping[str, Any]] = None,
                idempotent: bool, allow_empty: bool = False) -> Any:
        """Call the API at path (below /api/v1, or absolute when it starts
        with /healthz, /readyz); return the decoded JSON, or None for an
        empty answer."""
        url = self.server + (path if path.startswith(("/healthz", "/readyz", "/metrics")) else API_PREFIX + path)
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        data = None if body is None else dumps(body)
        headers = {"Accept": "application/json, application/problem+json", "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        attempts = 1 + (self.retries if idempotent else 0)
        delay = self.backoff
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as rsp:
                    raw = rsp.read()
                    if not raw.strip():
                        return None
                    if "json" not in rsp.headers.get("Content-Type", "json"):
                        return raw.decode("utf-8", "replace")  # /healthz and /readyz answer text
                    return json.loads(raw)
            except urllib.error.HTTPError as e:
                raw = e.read()
                if e.code in _RETRY_STATUSES and attempt < attempts:
                    pass  # retried below
                else:
                    raise _api_error(e.code, e.reason, raw, method, path) from None
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout) as e:
                if attempt >= attempts:
                    reason = getattr(e, "reason", None) or e
                    tried = f" (tried {attempts} times)" if attempts > 1 else ""
                    raise TuneConnectionError(
                        f"{method} {path}: cannot reach the tune server at {self.server}{tried}: {reason}; "
                        "start it with 'tune serve' or set TUNE_SERVER") from None
            # Full jitter, so clients cut off together do not return together.
            self._sleep(random.uniform(0, delay))
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")


def _api_error(status: int, reason: str, raw: bytes, method: str, path: str) -> APIError:
    problem: Optional[Mapping[str, Any]] = None
    try:
        decoded = json.loads(raw) if raw else None
        if isinstance(decoded, dict):
            problem = decoded
    except ValueError:
        pass
    cls = {404: NotFoundError, 409: ConflictError}.get(status, APIError)
    return cls.from_problem(status, problem, method=method, path=path, fallback=str(reason or ""))
