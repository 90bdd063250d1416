"""Running `krate-sync` in tests: in-process for speed, or as the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

import settings
from starter import cli


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@contextmanager
def _env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str | None]) -> Iterator[None]:
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    settings.get_settings.cache_clear()
    try:
        yield
    finally:
        settings.get_settings.cache_clear()


def run_cli(
    monkeypatch: pytest.MonkeyPatch, *args: str, env: Mapping[str, str | None] | None = None
) -> Result:
    """`krate-sync ARGS` in this process, with `env` applied; output captured."""
    stdout, stderr = StringIO(), StringIO()
    # Rich consoles made without a file write to sys.stdout/sys.stderr as they are at print time.
    with _env(monkeypatch, env or {}), redirect_stdout(stdout), redirect_stderr(stderr):
        code = cli.main(list(args))
    return Result(code, stdout.getvalue(), stderr.getvalue())


def console_script() -> Path:
    return Path(sys.executable).parent / "krate-sync"


def run_script(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Result:
    """The installed `krate-sync` executable, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [str(console_script()), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
