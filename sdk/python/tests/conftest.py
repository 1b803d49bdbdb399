"""A real `tune serve` for the tests: built from this checkout once per
session (or $TUNE_BINARY), serving the embedded store from a temporary
directory on a free loopback port, with tokens (no --insecure): its first
start writes an admin token to <data dir>/token, which the client finds
through $TUNE_DATA_DIR as it would ~/.tune/token."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "sdk" / "python"))  # the package under test, installed or not

import tune  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tune_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.environ.get("TUNE_BINARY"):
        return os.environ["TUNE_BINARY"]
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        pytest.fail("the tests need a tune binary: set TUNE_BINARY or put go on PATH to build one")
    out = tmp_path_factory.mktemp("bin") / "tune"
    subprocess.run([go, "build", "-o", str(out), "./cmd/tune"], cwd=REPO, check=True)
    return str(out)


@pytest.fixture(autouse=True)
def no_ambient_token(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test picks up the token of whoever runs the suite: no token in the
    environment, and a data dir with no token file."""
    for name in ("TUNE_TOKEN", "TUNE_TOKEN_FILE", "TUNE_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TUNE_DATA_DIR", str(tmp_path_factory.mktemp("empty-data-dir")))


@pytest.fixture(scope="session")
def served(tune_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, Path]]:
    """The server's URL and its data dir."""
    data = tmp_path_factory.mktemp("data")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data / "serve.log", "wb")
    proc = subprocess.Popen([tune_binary, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"tune serve exited {proc.returncode}: {(data / 'serve.log').read_text()}")
            try:
                urllib.request.urlopen(url + "/readyz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"tune serve not ready at {url}: {(data / 'serve.log').read_text()}")
                time.sleep(0.1)
        if not (data / "token").is_file():
            pytest.fail(f"tune serve wrote no admin token to {data / 'token'}: {(data / 'serve.log').read_text()}")
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(served: Tuple[str, Path]) -> str:
    return served[0]


@pytest.fixture(scope="session")
def admin_token(served: Tuple[str, Path]) -> str:
    return (served[1] / "token").read_text().strip()


@pytest.fixture
def client(served: Tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> tune.Client:
    """A client that finds the admin token as on the server's machine: in
    the data dir, which $TUNE_DATA_DIR names."""
    monkeypatch.setenv("TUNE_DATA_DIR", str(served[1]))
    return tune.Client(served[0], retries=1, backoff=0.01)


_names = iter(range(1_000_000))


@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses (the tests share one server)."""
    return f"{request.node.name[:40]}-{next(_names)}".replace("[", "-").replace("]", "")


def quadratic(name: str, **extra: object) -> dict:
    d = {
        "name": name,
        "objective": {"metric": "loss", "direction": "minimize"},
        "search_space": {"x": {"type": "float", "low": -5, "high": 5},
                         "layers": {"type": "int", "low": 1, "high": 4},
                         "act": {"type": "categorical", "choices": ["relu", "tanh"]}},
        "sampler": {"type": "tpe", "seed": 7},
    }
    d.update(extra)
    return d
