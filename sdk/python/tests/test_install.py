"""`pip install ./sdk/python` into a fresh virtual environment, with no
index (the build backend is in the tree), and from a built wheel."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Tuple

import pytest

SDK = Path(__file__).resolve().parents[1]


def _venv(where: Path) -> list:
    # Without pip inside (fast): this interpreter's pip installs into it
    # with --python (pip >= 22.3, Debian 12 has 23.0).
    venv.create(where, with_pip=False)
    return [sys.executable, "-m", "pip", "--python", str(where / "bin" / "python"),
            "--disable-pip-version-check", "--no-input", "-q"]


def test_pip_install_from_the_source_tree_and_from_a_wheel(tmp_path: Path, server: str, served: Tuple[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The installed client finds its token as a container's would: in the
    # file $TUNE_TOKEN_FILE names.
    monkeypatch.setenv("TUNE_TOKEN_FILE", str(served[1] / "token"))
    try:
        import pip  # noqa: F401
    except ImportError:
        pytest.fail("pip is missing: install python3-pip (and python3-venv)")
    pip = _venv(tmp_path / "venv")
    py = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run(pip + ["install", "--no-index", str(SDK)], check=True)
    use = ("import tune, sys; c = tune.Client(sys.argv[1]); "
           "s = c.create_study({'name': sys.argv[2], 'objective': {'metric': 'loss'}, "
           "'search_space': {'x': {'type': 'float', 'low': 0, 'high': 1}}}); "
           "s.optimize(lambda t: t.params['x'], n_trials=2); print(s.refresh().counts.complete, tune.__file__)")
    out = subprocess.run([py, "-c", use, server, "installed-from-tree"], check=True, capture_output=True,
                         text=True, cwd=tmp_path).stdout.split()
    assert out[0] == "2" and str(tmp_path / "venv") in out[1]  # the installed copy, not the checkout
    subprocess.run(pip + ["uninstall", "-y", "tune-sdk"], check=True)
    gone = subprocess.run([py, "-c", "import tune"], capture_output=True, cwd=tmp_path)
    assert gone.returncode != 0

    wheels = tmp_path / "wheels"
    subprocess.run(pip + ["wheel", "--no-index", "--no-deps", "-w", str(wheels), str(SDK)], check=True)
    (wheel,) = wheels.glob("tune_sdk-*-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tune/py.typed" in names and "tune/client.py" in names
    assert not [n for n in names if "tests/" in n or "__pycache__" in n]
    subprocess.run(pip + ["install", "--no-index", str(wheel)], check=True)
    subprocess.run([py, "-c", "import tune; assert tune.__version__ == '0.1.0'"], check=True, cwd=tmp_path)
