"""`python -m bench._webhook_worker`: a worker for the webhook benchmark, in its own process.

It registers `BindingSyncWorkflow`, the real `process_deliveries` and `mirror_sync_state`, and
a `backfill_page` that reports every scope empty: the benchmark's binding points at a
repository no simulator serves, and backfill is not what it measures (bench/backfill.py is).
`python -m worker` would also reconcile stored bindings and walk the provider.

Environment: KRATE_DATABASE_URL, KRATE_TEMPORAL_ADDRESS, KRATE_TASK_QUEUE, KRATE_WORKER_PRIORITY.
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities import LazyEngine
from activities.backfill_models import BackfillPageInput, BackfillPageResult
from activities.deliveries import DeliveryActivities
from activities.sync_state import SyncStateActivities
from settings import Settings
from starter.priority import lower_own_priority
from workflows.binding_sync import BindingSyncWorkflow


@activity.defn(name="backfill_page")
async def idle_backfill(input: BackfillPageInput) -> BackfillPageResult:
    return BackfillPageResult(cursor=input.cursor, done=True)


async def main(settings: Settings) -> None:
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    engine = LazyEngine(settings)
    deliveries = DeliveryActivities(engine)
    sync_state = SyncStateActivities(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BindingSyncWorkflow],
        activities=[deliveries.process_deliveries, sync_state.mirror_sync_state, idle_backfill],
        activity_executor=ThreadPoolExecutor(16),
    )
    async with worker:
        print("worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    settings = Settings()
    lower_own_priority(settings.worker_priority)  # as `python -m worker` does
    asyncio.run(main(settings))
