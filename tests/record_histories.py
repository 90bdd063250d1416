"""Record workflow histories for the replay test: `python -m tests.record_histories [NAME...]`
(no names: all of them).

Each history is a real run on the time-skipping test server with scripted activities. Commit
the files; tests/test_replay.py replays them against the current workflow code, so a change
that would break workflows already running in production fails CI. Record new ones when a
workflow gains behaviour worth pinning; never re-record to make a failing replay pass.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter import binaries
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_binding_sync_workflow import ScriptedProvider, _config
from tests.test_full_resync_workflow import ScriptedResync
from workflows.binding_sync import BindingSyncInput, BindingSyncWorkflow, PauseInput
from workflows.full_resync import FullResyncInput, FullResyncWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def _save(handle: WorkflowHandle[Any, Any], name: str) -> None:
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())


async def record_paused_deliveries(env: WorkflowEnvironment) -> None:
    """An operator's pause holds two deliveries; the resume processes them (issue 9)."""
    from activities.deliveries_models import NewDeliveriesInput
    from tests.test_webhook_workflow import ScriptedDeliveries, empty_backfill

    deliveries = ScriptedDeliveries()
    async with new_worker(
        env.client,
        BindingSyncWorkflow,
        activities=[deliveries.process_deliveries, empty_backfill, mirror_noop()],
    ) as worker:
        handle = await env.client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=_config()),
            id=f"sync/a5c/replay-{uuid.uuid4().hex[:6]}",
            task_queue=worker.task_queue,
        )
        await env.sleep(timedelta(minutes=1))
        await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason="replay"))
        await handle.signal(
            BindingSyncWorkflow.new_deliveries, NewDeliveriesInput(delivery_ids=["d1", "d2"])
        )
        await env.sleep(timedelta(minutes=20))
        await handle.signal(BindingSyncWorkflow.resume)
        for _ in range(300):  # processed after the resume, in real time
            if len(deliveries.done) == 2:
                break
            await asyncio.sleep(0.1)
        await handle.terminate("recorded")
        await _save(handle, "binding_sync_pause_holds_deliveries")


async def main(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(binaries.temporal_test_server()),
    )
    try:
        if names == ["binding_sync_pause_holds_deliveries"]:
            await record_paused_deliveries(env)
            return
        provider = ScriptedProvider(pages=2, rate_limit_at=(1,))
        async with new_worker(
            env.client, BindingSyncWorkflow, activities=[provider.backfill_page, mirror_noop()]
        ) as worker:
            handle = await env.client.start_workflow(
                BindingSyncWorkflow.run,
                BindingSyncInput(config=_config()),
                id=f"sync/a5c/replay-{uuid.uuid4().hex[:6]}",
                task_queue=worker.task_queue,
            )
            await env.sleep(timedelta(minutes=55))
            await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason="replay"))
            await handle.signal(BindingSyncWorkflow.resume)
            await handle.signal(BindingSyncWorkflow.sync_now)
            await env.sleep(timedelta(minutes=20))
            await handle.terminate("recorded")
            await _save(handle, "binding_sync_rate_limit_pause_resume")

        scripted = ScriptedResync(pages=3, fail=("Comment",), rate_limit_at=(1,))
        async with new_worker(
            env.client,
            FullResyncWorkflow,
            activities=[scripted.backfill_page, scripted.tombstone_unseen],
        ) as worker:
            resync = await env.client.start_workflow(
                FullResyncWorkflow.run,
                FullResyncInput(config=_config()),
                id=f"resync/a5c/replay-{uuid.uuid4().hex[:6]}",
                task_queue=worker.task_queue,
            )
            await resync.result()
            await _save(resync, "full_resync_rate_limit_failed_scope")
        await record_paused_deliveries(env)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
