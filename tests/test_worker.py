"""worker.py on the real dev server: registration, graceful stop, signals, exit codes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

from netports import free_port

# The workflow sandbox re-imports this module to validate EchoWorkflow: everything that is not
# the workflow's own code passes through, and no module-level statement may touch the system.
with workflow.unsafe.imports_passed_through():
    import pytest
    from pydantic import BaseModel
    from temporalio.api.enums.v1 import EventType, PendingActivityState
    from temporalio.client import Client, WorkflowHandle
    from temporalio.testing import WorkflowEnvironment

    from settings import Settings
    from worker import EXIT_TEMPORAL_UNREACHABLE, healthcheck, run_worker


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


class EchoInput(BaseModel):
    text: str
    seconds: float = 0.0


@activity.defn
async def echo_activity(params: EchoInput) -> str:
    # Heartbeats while it waits, as long activities must; the sleep is the "work".
    remaining = params.seconds
    while remaining > 0:
        activity.heartbeat()
        await asyncio.sleep(min(0.2, remaining))
        remaining -= 0.2
    return params.text


@workflow.defn
class EchoWorkflow:
    @workflow.run
    async def run(self, params: EchoInput) -> str:
        return await workflow.execute_activity(
            echo_activity,
            params,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=10),
        )


def _address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def _settings(env: WorkflowEnvironment) -> Settings:
    return Settings(temporal_address=_address(env), task_queue=f"worker-test-{uuid.uuid4().hex}")


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRATE_")}
    env.update(
        KRATE_TEMPORAL_ADDRESS=settings.temporal_address,
        KRATE_TEMPORAL_NAMESPACE=settings.temporal_namespace,
        KRATE_TASK_QUEUE=settings.task_queue,
        PYTHONUNBUFFERED="1",
    )
    return env


# A worker process with the test workflow: `python -m worker` registers only the project's.
WORKER_WITH_ECHO = """
import asyncio
from settings import get_settings
from tests.test_worker import EchoWorkflow, echo_activity
from worker import exit_without_finalizing, run_worker
settings = get_settings()
asyncio.run(run_worker(settings, extra_workflows=[EchoWorkflow], extra_activities=[echo_activity]))
exit_without_finalizing(0)
"""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _spawn(
    processes: list[subprocess.Popen[str]], argv: list[str], settings: Settings
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        argv,
        cwd=_root(),
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    processes.append(proc)
    return proc


async def _wait_exit(proc: subprocess.Popen[str], within: float) -> int:
    return await asyncio.wait_for(asyncio.to_thread(proc.wait), within)


async def _has_pollers(client: Client, settings: Settings) -> bool:
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace, task_queue=TaskQueue(name=settings.task_queue)
        )
    )
    return bool(response.pollers)


async def _wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    async def poll() -> None:
        while True:
            if await check():
                return
            await asyncio.sleep(0.2)

    try:
        await asyncio.wait_for(poll(), within)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def test_run_worker_registers_and_stops_on_event(dev_server_env: WorkflowEnvironment) -> None:
    settings = _settings(dev_server_env)
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_worker(
            settings, stop=stop, extra_workflows=[EchoWorkflow], extra_activities=[echo_activity]
        )
    )
    try:
        result = await dev_server_env.client.execute_workflow(
            EchoWorkflow.run,
            EchoInput(text="hello"),
            id=f"echo-{uuid.uuid4().hex}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(seconds=60),
        )
        assert result == "hello"
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)


async def test_nothing_registered_idles_until_stopped(
    dev_server_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import activities
    import workflows

    monkeypatch.setattr(workflows, "WORKFLOWS", [])
    monkeypatch.setattr(activities, "build_activities", lambda settings: [])
    settings = _settings(dev_server_env)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop=stop))
    caplog.set_level(logging.WARNING, logger="krate_sync.worker")

    async def idling() -> bool:
        return "no workflows or activities are registered" in caplog.text

    await _wait_for("the worker to idle", idling)
    assert not running.done()
    assert not await _has_pollers(dev_server_env.client, settings)
    stop.set()
    await asyncio.wait_for(running, 30)


async def test_healthcheck_sees_a_poller_from_this_host(
    dev_server_env: WorkflowEnvironment,
) -> None:
    settings = _settings(dev_server_env)
    if not _project_registers_something():
        assert await healthcheck(settings)  # an idle worker has nothing to poll for
        return
    assert not await healthcheck(settings)  # nobody polls this fresh task queue
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        await _wait_for("the health check to see the worker", lambda: healthcheck(settings))
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)


def _project_registers_something() -> bool:
    from activities import build_activities
    from workflows import WORKFLOWS

    return bool(WORKFLOWS or build_activities(Settings()))


@pytest.mark.timeout(180)
async def test_sigterm_lets_the_running_activity_finish_and_exits_zero(
    dev_server_env: WorkflowEnvironment, processes: list[subprocess.Popen[str]]
) -> None:
    settings = _settings(dev_server_env)
    client = dev_server_env.client
    proc = _spawn(processes, [sys.executable, "-c", WORKER_WITH_ECHO], settings)
    await _wait_for("the worker to poll", lambda: _has_pollers(client, settings))

    handle: WorkflowHandle[EchoWorkflow, str] = await client.start_workflow(
        EchoWorkflow.run,
        EchoInput(text="slow", seconds=3),
        id=f"echo-slow-{uuid.uuid4().hex}",
        task_queue=settings.task_queue,
        execution_timeout=timedelta(seconds=120),
    )

    async def activity_started() -> bool:
        described = await handle.describe()
        pending = described.raw_description.pending_activities
        return any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for p in pending)

    try:
        await _wait_for("the activity to start", activity_started)
        proc.send_signal(signal.SIGTERM)
        code = await _wait_exit(proc, 60)
        output = proc.stdout.read() if proc.stdout else ""
        assert code == 0, output
        # The activity finished after SIGTERM and its result reached the server.
        events = [event.event_type async for event in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in events, output
    finally:
        await handle.terminate("test over")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_python_m_worker_stops_cleanly_on_signal(
    dev_server_env: WorkflowEnvironment,
    processes: list[subprocess.Popen[str]],
    sig: signal.Signals,
) -> None:
    settings = _settings(dev_server_env)
    proc = _spawn(processes, [sys.executable, "-m", "worker"], settings)
    assert proc.stdout is not None
    # Either line means signal handlers are installed and the worker runs.
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    assert "worker polling" in line or "idling" in line, line
    proc.send_signal(sig)
    code = await _wait_exit(proc, 60)
    assert code == 0, line + proc.stdout.read()


async def test_unreachable_temporal_exits_3_with_one_line(
    processes: list[subprocess.Popen[str]],
) -> None:
    port = free_port()  # a port nobody listens on
    settings = Settings(temporal_address=f"127.0.0.1:{port}")
    proc = _spawn(processes, [sys.executable, "-m", "worker"], settings)
    code = await _wait_exit(proc, 60)
    output = proc.stdout.read() if proc.stdout else ""
    assert code == EXIT_TEMPORAL_UNREACHABLE, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert f"cannot reach Temporal at 127.0.0.1:{port}" in lines[0]
