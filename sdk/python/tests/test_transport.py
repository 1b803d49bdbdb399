"""The client's connection handling: server URL and token from the
environment as the CLI finds them, the server's 401 and 403 with its
detail, the token kept out of reprs and errors, retries with backoff
for idempotent calls only."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

import tune
from tune import _http


@pytest.mark.parametrize("given, want", [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("tune.internal:8080", "http://tune.internal:8080"),
    ("http://host:8080/api/v1/", "http://host:8080"),
    ("https://example.com/tune/", "https://example.com/tune"),
])
def test_server_urls_read_as_the_cli_reads_them(given: str, want: str) -> None:
    assert tune.Client(given).url == want


def test_bad_server_url() -> None:
    with pytest.raises(ValueError):
        tune.Client("ftp://host")


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNE_SERVER", "tune.example:9000")
    monkeypatch.setenv("TUNE_TOKEN", "tok-from-env")
    c = tune.Client()
    assert c.url == "http://tune.example:9000"
    assert "tok-from-env" not in repr(c) and "token=set" in repr(c)
    monkeypatch.delenv("TUNE_SERVER")
    monkeypatch.delenv("TUNE_TOKEN")
    c = tune.Client()
    assert c.url == "http://127.0.0.1:8080" and "token=None" in repr(c)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with a 401 problem, and records its headers."""

    seen: List[dict] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(dict(self.headers))
        body = json.dumps({"title": "Unauthorized", "status": 401, "detail": "a bearer token is required"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Recorder.seen = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_token_sent_as_bearer_and_kept_out_of_errors(recorder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNE_TOKEN", raising=False)
    c = tune.Client(recorder, token="s3cret-token", retries=0)
    with pytest.raises(tune.APIError) as e:
        c.studies()
    assert _Recorder.seen[-1]["Authorization"] == "Bearer s3cret-token"
    assert e.value.status == 401 and e.value.detail == "a bearer token is required"
    assert "s3cret" not in str(e.value) and "s3cret" not in repr(e.value) and "s3cret" not in repr(c)

    monkeypatch.setenv("TUNE_TOKEN", "env-token")
    with pytest.raises(tune.APIError):
        tune.Client(recorder, retries=0).studies()
    assert _Recorder.seen[-1]["Authorization"] == "Bearer env-token"

    monkeypatch.delenv("TUNE_TOKEN")
    with pytest.raises(tune.APIError):
        tune.Client(recorder, retries=0).studies()
    assert "Authorization" not in _Recorder.seen[-1]


def test_no_token_or_a_wrong_one_is_refused_with_the_servers_detail(server: str) -> None:
    # No token anywhere (the data dir $TUNE_DATA_DIR names has none).
    with pytest.raises(tune.APIError) as e:
        tune.Client(server, retries=0).studies()
    assert e.value.status == 401 and e.value.detail and "token" in e.value.detail.lower()
    assert "401" in str(e.value)

    wrong = "tune_" + "x" * 40
    with pytest.raises(tune.APIError) as e:
        tune.Client(server, token=wrong, retries=0).create_study(
            {"name": "never", "objective": {"metric": "loss"}, "search_space": {}})
    assert e.value.status == 401 and e.value.detail
    assert wrong not in str(e.value) and wrong not in repr(e.value)


def test_a_read_token_reads_but_may_not_write(client: tune.Client, study_name: str) -> None:
    made = client._http.request("POST", "/tokens", {"name": "dashboard", "scopes": ["read"]}, idempotent=False)
    secret = made["secret"]
    client.create_study({"name": study_name, "objective": {"metric": "loss"},
                         "search_space": {"x": {"type": "float", "low": 0, "high": 1}}})
    reader = tune.Client(client.url, token=secret, retries=0)
    assert reader.study(study_name).name == study_name
    with pytest.raises(tune.APIError) as e:
        reader.create_study({"name": study_name + "-r", "objective": {"metric": "loss"}, "search_space": {}})
    assert e.value.status == 403 and e.value.detail
    assert secret not in str(e.value) and secret not in repr(e.value) and secret not in repr(reader)
    with pytest.raises(tune.APIError) as e:
        reader.study(study_name).ask()
    assert e.value.status == 403


def test_token_found_as_the_cli_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "token").write_text("tune_admin_from_data_dir\n")
    monkeypatch.setenv("TUNE_DATA_DIR", str(data))
    # The data dir's admin token goes only to a server on this machine.
    for local in ("http://127.0.0.1:8080", "localhost:9000", "http://[::1]:8080"):
        assert tune.client.find_token(_http.normalize_server(local)) == "tune_admin_from_data_dir"
    assert tune.client.find_token("http://tune.example:8080") is None
    assert "token=None" in repr(tune.Client("tune.example:8080"))

    named = tmp_path / "secret"
    named.write_text("  tune_from_file \n")
    monkeypatch.setenv("TUNE_TOKEN_FILE", str(named))
    assert tune.client.find_token("http://tune.example:8080") == "tune_from_file"
    monkeypatch.setenv("TUNE_TOKEN", "tune_from_env")
    assert tune.client.find_token("http://tune.example:8080") == "tune_from_env"
    assert tune.Client("tune.example:8080", token="given")._http._token == "given"

    monkeypatch.delenv("TUNE_TOKEN")
    monkeypatch.setenv("TUNE_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(tune.TuneError, match="TUNE_TOKEN_FILE=.*missing"):
        tune.Client("tune.example:8080")


class _Flaky:
    """A listener that drops the first `drops` connections without a word,
    then answers like a server that knows one study."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        study = {"id": 1, "name": "s", "objective": {"metric": "loss"}, "search_space": {}, "sampler": {},
                 "pruner": {}, "max_trials": 0, "max_parallel": 0, "max_retries": 0, "lease_seconds": 60,
                 "state": "running", "created_at": "2026-12-01T10:00:00.123456789Z",
                 "counts": {"waiting": 0, "running": 0, "complete": 0, "pruned": 0, "failed": 0},
                 "best_value": None, "best_trial_id": None, "running_runners": 0}
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                if self.connections <= self.drops:
                    continue  # closed before any answer: a connection error
                conn.recv(65536)
                body = json.dumps(study).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self.sock.close()


def test_idempotent_calls_retry_with_backoff() -> None:
    flaky = _Flaky(drops=2)
    sleeps: List[float] = []
    try:
        c = tune.Client(flaky.url, retries=3, backoff=0.5)
        c._http._sleep = sleeps.append
        study = c.study("s")
        assert study.name == "s" and study.info.created_at is not None
        assert study.info.created_at.microsecond == 123456
        assert flaky.connections == 3 and len(sleeps) == 2
        assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter, doubling
    finally:
        flaky.close()


def test_non_idempotent_calls_do_not_retry() -> None:
    flaky = _Flaky(drops=5)
    try:
        c = tune.Client(flaky.url, retries=3, backoff=0.01)
        with pytest.raises(tune.TuneConnectionError):
            c.create_study({"name": "s", "objective": {"metric": "loss"}, "search_space": {}})
        assert flaky.connections == 1  # a second POST could create the study twice
    finally:
        flaky.close()


def test_unreachable_server_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    c = tune.Client(f"127.0.0.1:{port}", retries=2, backoff=0.001)
    with pytest.raises(tune.TuneConnectionError, match=r"tried 3 times.*tune serve") as e:
        c.studies()
    assert isinstance(e.value, tune.TuneError)
    assert c.ready() is False


def test_ready(client: tune.Client) -> None:
    assert client.ready()


def test_nan_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="finite"):
        _http.dumps({"value": float("nan")})
