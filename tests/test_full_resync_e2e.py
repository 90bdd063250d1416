"""A full resync end to end: the real activities on the dev server, Postgres and the simulator.

Objects deleted at the provider (which sends no event the incremental pass could see) are
tombstoned by the full resync: marked deleted, never dropped; everything else stays live.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from activities import build_activities
from providers.github.simulator import RunningSimulator, SeedConfig, SimulatorConfig
from providers.github.simulator.app import Simulator
from providers.github.simulator.server import start_in_thread
from settings import Settings
from store.db import make_engine, session_scope
from store.models.projections import Comment, DeployKey
from tests.helpers.temporal import new_worker
from tests.test_backfill_support import ORG, binding_ref, write_token_secret
from workflows import WORKFLOWS
from workflows.binding_sync import (
    INTERFACE_KINDS,
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    InterfaceConfig,
    workflow_id,
)
from workflows.full_resync import FullResyncInput, FullResyncWorkflow

SEED = SeedConfig(
    seed=5,
    owners=["krate-resync"],
    repos=1,
    issues=30,
    pulls=10,
    comments=2,
    runs=3,
    jobs=2,
    until=datetime(2026, 11, 1, tzinfo=UTC),
)


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    running = start_in_thread(Simulator(SimulatorConfig(seed=SEED)))
    try:
        yield running
    finally:
        running.stop()


def _tombstones(database_url: str, model: type[Comment] | type[DeployKey]) -> dict[str, bool]:
    """native id → deleted?"""
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            return {
                str(row.native_id): row.deleted_at is not None
                for row in session.exec(select(model)).all()
            }
    finally:
        engine.dispose()


async def test_full_resync_tombstones_what_the_provider_dropped(
    dev_server_env: WorkflowEnvironment,
    clean_database: str,
    simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    write_token_secret(tmp_path)
    settings = Settings(database_url=clean_database, secrets_dir=tmp_path)
    [repo] = simulator.sim.state.repos.values()
    owner, name = repo.owner.login, repo.name
    binding = binding_ref(simulator.base_url).model_copy(
        update={"binding": f"resync-{uuid.uuid4().hex[:8]}"}
    )
    config = BindingSyncConfig(
        binding=binding,
        interfaces=[InterfaceConfig(name=n) for n in INTERFACE_KINDS],
        repositories=[(owner, name)],
        backfill_interval=timedelta(hours=1),
    )
    client = dev_server_env.client
    async with new_worker(client, *WORKFLOWS, activities=build_activities(settings)) as worker:
        sync = await client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=workflow_id(ORG, binding.binding),
            task_queue=worker.task_queue,
        )
        deadline = time.monotonic() + 120
        while (await sync.query(BindingSyncWorkflow.status)).passes < 1:
            assert time.monotonic() < deadline, "the first pass did not finish"
            await asyncio.sleep(0.3)
        comments = _tombstones(clean_database, Comment)
        keys = _tombstones(clean_database, DeployKey)
        assert comments
        assert keys
        assert not any(comments.values())

        # Deleted at the provider: a comment and a deploy key.
        gone_comment = min(repo.comments)
        gone_key = min(repo.keys)
        async with httpx.AsyncClient(base_url=simulator.base_url, timeout=30) as control:
            for path in (
                f"/_sim/api/repos/{owner}/{name}/issues/comments/{gone_comment}",
                f"/_sim/api/repos/{owner}/{name}/keys/{gone_key}",
            ):
                response = await control.delete(path)
                assert response.status_code == 204, response.text

        result = await client.execute_workflow(
            FullResyncWorkflow.run,
            FullResyncInput(config=config),
            id=f"resync/{ORG}/{binding.binding}",
            task_queue=worker.task_queue,
        )
        assert result.failed_scopes == 0
        assert result.tombstoned >= 2

        comments = _tombstones(clean_database, Comment)
        assert comments[str(gone_comment)] is True  # marked, not dropped
        assert sum(comments.values()) == 1
        keys = _tombstones(clean_database, DeployKey)
        assert keys[str(gone_key)] is True
        assert sum(keys.values()) == 1

        status = await sync.query(BindingSyncWorkflow.status)
        assert status.last_full_resync is not None
        assert status.last_full_resync.tombstoned == result.tombstoned
        await sync.terminate("test over")
