"""The worker killed with SIGKILL in the middle of a backfill, then restarted: the pass resumes
from the workflow's cursors and the projection ends exact (no object lost, none twice).

`python -m worker` runs as a real process against the dev server, the simulator (over a
socket, with latency so the pass is long enough to interrupt) and Postgres.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from providers.github.simulator import FaultConfig, RunningSimulator, SeedConfig, SimulatorConfig
from providers.github.simulator.app import Simulator
from providers.github.simulator.server import start_in_thread
from tests.helpers.worker_process import spawn_worker, worker_env
from tests.test_backfill_e2e import _assert_exact, _wait_for_pass
from tests.test_backfill_support import ORG, binding_ref, write_token_secret
from workflows.binding_sync import (
    INTERFACE_KINDS,
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    InterfaceConfig,
)

SEED = SeedConfig(
    seed=5,
    owners=["krate-kill"],
    repos=2,
    issues=500,
    pulls=150,
    comments=1,
    reviews=1,
    review_comments=0,
    runs=15,
    jobs=2,
    until=datetime(2026, 11, 1, tzinfo=UTC),
)


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(seed=SEED, faults=FaultConfig(latency_ms=15))
    running = start_in_thread(Simulator(config))
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(600)
async def test_worker_killed_mid_backfill_ends_exact(
    dev_server_env: WorkflowEnvironment,
    clean_database: str,
    simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    sim = simulator.sim
    write_token_secret(tmp_path)
    task_queue = f"kill-test-{uuid.uuid4().hex}"
    env = worker_env(dev_server_env.client, task_queue, clean_database, tmp_path)
    repos = sorted((r.owner.login, r.name) for r in sim.state.repos.values())
    config = BindingSyncConfig(
        binding=binding_ref(simulator.base_url),
        interfaces=[InterfaceConfig(name=name) for name in INTERFACE_KINDS],
        repositories=repos,
        backfill_interval=timedelta(hours=1),
    )
    worker = spawn_worker(env)
    try:
        handle = await dev_server_env.client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=f"sync/{ORG}/kill-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        # Kill it once part of the first pass is stored.
        deadline = time.monotonic() + 120
        while True:
            status = await handle.query(BindingSyncWorkflow.status)
            if status.objects_fetched >= 600:
                break
            assert time.monotonic() < deadline, "the backfill did not start"
            await asyncio.sleep(0.2)
        assert status.passes == 0
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker = spawn_worker(env)
        # The page in flight is retried when its start-to-close timeout expires (the
        # workflow sets no heartbeat timeout yet), so this can take about two minutes.
        done = await _wait_for_pass(handle, 1)
        assert not done.scope_errors
        _assert_exact(sim, clean_database)
        await handle.terminate("done")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
