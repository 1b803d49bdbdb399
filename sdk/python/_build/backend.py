"""A PEP 517 build backend in the standard library alone.

tune-sdk is pure Python with no dependencies; a backend such as setuptools
would make `pip install` fetch it from an index, which a machine without
network access (or CI pinned to Debian's packages) cannot do. This one
builds the wheel (and an sdist, and an editable wheel) from the files in
the source tree and the [project] table of pyproject.toml.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tune"


def _project() -> dict:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        # Python 3.9 and 3.10 lack tomllib: the [project] table here holds
        # only `key = "string"` lines, which a regular expression reads.
        section = text.split("[project]", 1)[1].split("\n[", 1)[0]
        return dict(re.findall(r'^(\S+)\s*=\s*"([^"]*)"', section, re.M))
    return tomllib.loads(text)["project"]


def _names() -> tuple[str, str, str]:
    p = _project()
    dist = re.sub(r"[-_.]+", "_", p["name"]).lower()
    return p["name"], dist, p["version"]


def _metadata() -> str:
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {p['version']}",
        f"Summary: {p.get('description', '')}",
        f"Requires-Python: {p.get('requires-python', '>=3.9')}",
        f"License: {p.get('license', '')}",
    ]
    readme = ROOT / "README.md"
    if readme.exists():
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + readme.read_text(encoding="utf-8")
    return "\n".join(lines) + "\n"


def _package_files() -> list[Path]:
    return sorted(
        f for f in (ROOT / PACKAGE).rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and f.suffix in (".py", ".typed")
    )


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(directory: str, files: dict[str, bytes]) -> str:
    _, dist, version = _names()
    wheel_name = f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = _metadata().encode()
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tune-sdk _build/backend.py\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode()
    record = [_record_line(n, d) for n, d in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(os.path.join(directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {f.relative_to(ROOT).as_posix(): f.read_bytes() for f in _package_files()}
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file puts the source tree on sys.path: edits show at once.
    _, dist, _ = _names()
    return _write_wheel(wheel_directory, {f"__editable__.{dist}.pth": (str(ROOT) + "\n").encode()})


def build_sdist(sdist_directory, config_settings=None):
    name, dist, version = _names()
    base = f"{dist}-{version}"
    members = [ROOT / "pyproject.toml", ROOT / "_build" / "backend.py", *_package_files()]
    if (ROOT / "README.md").exists():
        members.append(ROOT / "README.md")
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for f in members:
            tf.add(f, arcname=f"{base}/{f.relative_to(ROOT).as_posix()}")
        pkg_info = _metadata().encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(pkg_info)
        tf.addfile(ti, io.BytesIO(pkg_info))
    return base + ".tar.gz"
