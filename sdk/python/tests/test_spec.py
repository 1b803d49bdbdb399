"""The client keeps up with the API: every operationId of
openapi/openapi.yaml is either mapped to what a Python user calls, or
listed as deliberately not exposed, with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import tune

SPEC = Path(__file__).resolve().parents[3] / "openapi" / "openapi.yaml"


def spec_operations() -> set:
    # A regular expression, not a YAML parser: the SDK and its tests need
    # nothing beyond the standard library.
    return set(re.findall(r"^\s+operationId:\s*['\"]?(\w+)", SPEC.read_text(), re.M))


def test_every_operation_is_covered() -> None:
    ops = spec_operations()
    assert len(ops) >= 15, "the spec parsed to too few operations: is the regular expression stale?"
    missing = ops - set(tune.OPERATIONS) - set(tune.NOT_EXPOSED)
    assert not missing, f"openapi.yaml has operations the Python client lacks: {sorted(missing)}; " \
                        "add them to tune/client.py (OPERATIONS, or NOT_EXPOSED with the reason)"
    stale = (set(tune.OPERATIONS) | set(tune.NOT_EXPOSED)) - ops
    assert not stale, f"the client maps operations the spec no longer has: {sorted(stale)}"
    assert not set(tune.OPERATIONS) & set(tune.NOT_EXPOSED)
    assert all(reason.strip() for reason in tune.NOT_EXPOSED.values())


def test_mapped_methods_exist() -> None:
    for op, target in tune.OPERATIONS.items():
        cls, method = target.split(".")
        assert callable(getattr(getattr(tune, cls), method, None)), f"{op} maps to {target}, which does not exist"
