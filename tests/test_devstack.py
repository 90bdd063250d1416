"""The dev stack end to end: `python -m starter.devstack` on a fresh state directory with the
embedded Postgres, stopped by SIGINT with nothing left behind, then restarted on the same state
directory to show that Temporal's and Postgres's state survived."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from netports import free_port
from settings import CpuPriority, Settings, libpq_url
from starter.devstack import EXIT_CONFIG, child_env, redact_url, split_address
from workflows.search_attributes import ALL_KEYS

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 90.0


@dataclass
class Stack:
    """A running `krate-sync dev` and what it printed."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, marker: str, within: float) -> None:
        while True:
            try:
                line = self.lines.get(timeout=within)
            except queue.Empty:
                pytest.fail(f"no {marker!r} within {within} s; output so far:\n{self.text}")
            if line is None:
                pytest.fail(f"the stack exited before {marker!r}; output:\n{self.text}")
            self.output.append(line)
            if marker in line:
                return

    def drain(self) -> None:
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                return
            if line is None:
                return
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def printed(self, label: str) -> str:
        match = re.search(rf"^\s*{re.escape(label)}\s+(\S+)\s*$", self.text, re.MULTILINE)
        assert match, f"{label!r} not printed:\n{self.text}"
        return match.group(1)


@dataclass
class Ports:
    temporal: int
    ui: int
    ingress: int


@pytest.fixture
def ports() -> Ports:
    return Ports(free_port(), free_port(), free_port())


@pytest.fixture
def stack_env(tmp_path: Path, ports: Ports) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRATE_")}
    env.update(
        KRATE_STATE_DIR=str(tmp_path / "state"),
        KRATE_TEMPORAL_ADDRESS=f"127.0.0.1:{ports.temporal}",
        KRATE_TEMPORAL_UI_PORT=str(ports.ui),
        KRATE_INGRESS_PORT=str(ports.ingress),
        KRATE_TASK_QUEUE=f"devstack-test-{uuid.uuid4().hex[:8]}",
    )
    return env


@pytest.fixture
def started() -> Iterator[list[Stack]]:
    """Stacks started by a test; whatever is still running at the end is killed."""
    stacks: list[Stack] = []
    yield stacks
    for stack in stacks:
        if stack.process.poll() is None:
            stack.process.send_signal(signal.SIGINT)
            try:
                stack.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                stack.process.kill()
                stack.process.wait(10)


def _start(env: dict[str, str], started: list[Stack], *args: str) -> Stack:
    """`krate-sync dev ARGS`, the console script a user runs."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "krate-sync"), "dev", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = Stack(process)
    started.append(stack)
    return stack


def _stack_processes(stack: Stack, state_dir: Path) -> list[psutil.Process]:
    """The stack's descendants, plus what runs detached from it (pgserver's postmaster)."""
    found = {p.pid: p for p in psutil.Process(stack.process.pid).children(recursive=True)}
    for proc in psutil.process_iter(["cmdline"]):
        if str(state_dir) in " ".join(proc.info["cmdline"] or []):
            found.setdefault(proc.pid, proc)
    return list(found.values())


def _priority_checks(stack: Stack, state_dir: Path) -> None:
    """Background work runs at KRATE_WORKER_PRIORITY (default `background`: SCHED_IDLE) on
    every thread; the ingress, which acknowledges, at the stack's own priority and policy."""
    base = psutil.Process(stack.process.pid).nice()
    by_role: dict[str, psutil.Process] = {}
    for proc in _stack_processes(stack, state_dir):
        line = " ".join(proc.cmdline())
        if "-m worker" in line:
            by_role["worker"] = proc
        elif "-m ingress" in line:
            by_role["ingress"] = proc
        elif proc.name() == "temporal":
            by_role["temporal"] = proc
    assert set(by_role) == {"worker", "ingress", "temporal"}
    assert by_role["ingress"].nice() == base
    assert os.sched_getscheduler(by_role["ingress"].pid) == os.SCHED_OTHER
    assert Settings.model_fields["worker_priority"].default == CpuPriority.BACKGROUND
    for role in ("worker", "temporal"):
        threads = [t.id for t in by_role[role].threads()]
        assert threads, role
        policies = {tid: os.sched_getscheduler(tid) for tid in threads}
        assert set(policies.values()) == {os.SCHED_IDLE}, (role, policies)


def _leftovers(processes: list[psutil.Process], state_dir: Path) -> list[str]:
    """Processes of the stack still alive: those seen while it ran, and any naming its state."""
    candidates = list(processes)
    for proc in psutil.process_iter(["cmdline"]):
        if str(state_dir) in " ".join(proc.info["cmdline"] or []):
            candidates.append(proc)
    alive = {}
    for proc in candidates:
        try:
            # is_running() also notices a pid reused by an unrelated process.
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive[proc.pid] = f"{proc.pid} {' '.join(proc.cmdline())}"
        except psutil.NoSuchProcess:
            continue
    return sorted(alive.values())


def _stop(stack: Stack, state_dir: Path) -> None:
    processes = _stack_processes(stack, state_dir)
    names = " ".join(" ".join(p.cmdline()) for p in processes)
    for expected in ("temporal", "postgres", "-m worker", "-m ingress"):
        assert expected in names, f"{expected} is not running: {names}"
    stack.process.send_signal(signal.SIGINT)
    code = stack.process.wait(STOP_TIMEOUT)
    stack.drain()
    assert code == 0, stack.text
    assert "Stopped." in stack.text
    assert _leftovers(processes, state_dir) == []


async def _temporal_checks(address: str, workflow_id: str, *, first_run: bool) -> None:
    client = await Client.connect(address)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for key in ALL_KEYS:
        assert listed.custom_attributes.get(key.name) == int(key.indexed_value_type), key.name
    if first_run:
        # A workflow nobody runs: it stays open, so the second run can find it in temporal.db.
        await client.start_workflow(
            "DevStackPersistenceCheck", id=workflow_id, task_queue="nobody-polls-this"
        )
    else:
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        await client.get_workflow_handle(workflow_id).terminate("test over")


def _database_checks(url: str, *, first_run: bool) -> None:
    from store.migrate import is_current

    assert is_current(url)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        if first_run:
            conn.execute("CREATE TABLE devstack_marker (note text)")
            conn.execute("INSERT INTO devstack_marker VALUES ('survives a restart')")
        else:
            row = conn.execute("SELECT note FROM devstack_marker").fetchone()
            assert row == ("survives a restart",)


@pytest.mark.timeout(600)
def test_dev_stack_starts_stops_cleanly_and_keeps_state(
    tmp_path: Path, ports: Ports, stack_env: dict[str, str], started: list[Stack]
) -> None:
    state_dir = tmp_path / "state"
    workflow_id = f"devstack-persistence-{uuid.uuid4().hex[:8]}"
    for first_run in (True, False):
        stack = _start(stack_env, started)
        stack.wait_for("Ready.", READY_TIMEOUT)

        assert stack.printed("Temporal Web UI") == f"http://127.0.0.1:{ports.ui}"
        assert stack.printed("Temporal gRPC") == f"127.0.0.1:{ports.temporal}"
        assert stack.printed("Ingress") == f"http://127.0.0.1:{ports.ingress}"
        assert stack.printed("Logs") == str(state_dir / "logs")
        database_url = stack.printed("Database")
        assert f"host={state_dir / 'postgres'}" in database_url  # the embedded server
        assert httpx.get(f"http://127.0.0.1:{ports.ui}/", timeout=10).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{ports.ingress}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        asyncio.run(
            _temporal_checks(f"127.0.0.1:{ports.temporal}", workflow_id, first_run=first_run)
        )
        _database_checks(database_url, first_run=first_run)
        for log in ("temporal", "worker", "ingress"):
            assert (state_dir / "logs" / f"{log}.log").is_file()
        _priority_checks(stack, state_dir)
        assert (state_dir / "temporal.db").is_file()
        assert json.loads((state_dir / "dev-stack.json").read_text())["ingress_url"] == (
            f"http://127.0.0.1:{ports.ingress}"
        )

        _stop(stack, state_dir)
        assert not (state_dir / "dev-stack.json").exists()


@pytest.mark.timeout(300)
def test_a_child_that_dies_stops_the_stack(
    tmp_path: Path, stack_env: dict[str, str], started: list[Stack]
) -> None:
    state_dir = tmp_path / "state"
    stack = _start(stack_env, started)
    stack.wait_for("Ready.", READY_TIMEOUT)
    processes = _stack_processes(stack, state_dir)
    ingress = next(p for p in processes if "-m ingress" in " ".join(p.cmdline()))
    ingress.kill()
    code = stack.process.wait(STOP_TIMEOUT)
    stack.drain()
    assert code == 1, stack.text
    assert "ingress exited unexpectedly" in stack.text
    assert str(state_dir / "logs" / "ingress.log") in stack.text
    assert _leftovers(processes, state_dir) == []


@pytest.mark.timeout(120)
def test_port_in_use_is_reported_before_anything_starts(
    tmp_path: Path, ports: Ports, stack_env: dict[str, str], started: list[Stack]
) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", ports.ingress))
        busy.listen()
        stack = _start(stack_env, started)
        code = stack.process.wait(60)
    stack.drain()
    assert code == EXIT_CONFIG, stack.text
    assert f"port {ports.ingress}" in stack.text
    assert "KRATE_INGRESS_PORT" in stack.text
    assert not (tmp_path / "state").exists()  # nothing was started, not even the state dir


@pytest.mark.timeout(600)
def test_demo_binds_the_simulator_and_backfills(
    tmp_path: Path, stack_env: dict[str, str], started: list[Stack]
) -> None:
    """`krate-sync dev --demo`: seeded repositories bound, synced, visible from another shell."""
    state_dir = tmp_path / "state"
    simulator = free_port()
    env = {**stack_env, "KRATE_DEMO_SIMULATOR_PORT": str(simulator)}
    stack = _start(env, started, "--demo")
    stack.wait_for("Ready.", READY_TIMEOUT)
    # Another terminal: no KRATE_DATABASE_URL, only the state directory.
    cli_env = {k: v for k, v in env.items() if k != "KRATE_DATABASE_URL"}
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "krate-sync"), "get", "bindings", "-o", "name"],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    bindings = listed.stdout.split()
    assert len(bindings) == 3, listed.stdout

    counts = httpx.get(f"http://127.0.0.1:{simulator}/_sim/counts", timeout=10).json()
    database_url = json.loads((state_dir / "dev-stack.json").read_text())["database_url"]
    deadline = time.monotonic() + 300
    while True:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            issues = conn.execute("SELECT count(*) FROM issues").fetchone()
            pulls = conn.execute("SELECT count(*) FROM pull_requests").fetchone()
        if issues == (counts["issues"],) and pulls == (counts["pull_requests"],):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"backfill incomplete: issues {issues}, pulls {pulls}, simulator {counts}")
        time.sleep(1)
    _stop(stack, state_dir)


def test_helpers() -> None:
    assert split_address("127.0.0.1:7233") == ("127.0.0.1", 7233)
    assert split_address("[::1]:7233") == ("::1", 7233)
    assert redact_url("postgresql://krate:secret@db:5432/krate") == (
        "postgresql://krate:***@db:5432/krate"
    )
    assert redact_url("postgresql://postgres@/krate?host=/tmp/x") == (
        "postgresql://postgres@/krate?host=/tmp/x"
    )
    env = child_env(
        Settings(database_url="postgresql://u@h/db", state_dir=Path("rel")), {"EXTRA": "1"}
    )
    assert env["KRATE_DATABASE_URL"] == "postgresql://u@h/db"
    assert env["KRATE_STATE_DIR"] == str(Path("rel").resolve())
    assert env["EXTRA"] == "1"


# -- the readiness probe the stack waits on (ingress/health.py) ------------------------------


async def _probe(database_url: str | None, path: str) -> httpx.Response:
    from ingress.app import create_app

    app = create_app(Settings(database_url=database_url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        return await client.get(path)


async def test_healthz_needs_nothing() -> None:
    response = await _probe(None, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ready_on_a_migrated_database(database_url: str) -> None:
    response = await _probe(database_url, "/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


async def test_readyz_not_ready_without_database() -> None:
    response = await _probe(None, "/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "database not configured"


async def test_readyz_not_ready_when_unreachable() -> None:
    response = await _probe(f"postgresql://postgres@127.0.0.1:{free_port()}/krate", "/readyz")
    assert response.status_code == 503
    assert response.json()["reason"].startswith("database unreachable"), response.text


async def test_readyz_not_ready_before_migrations(postgres_server_url: str) -> None:
    from tests.helpers import pg

    with pg.fresh_database(postgres_server_url, migrate=False) as url:
        response = await _probe(url, "/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["reason"].startswith("database not migrated (at no revision"), body
    assert "krate-sync migrate" in body["hint"]
