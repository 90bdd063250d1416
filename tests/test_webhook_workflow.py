"""The binding workflow's delivery queue on the time-skipping server, with scripted activities:
batches, dedupe, retries, independence from rate limits, held while paused, continue-as-new
carrying ids."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.backfill_models import BackfillPageInput, BackfillPageResult, BindingRef
from activities.deliveries_models import (
    NewDeliveryInput,
    ProcessDeliveriesInput,
    ProcessDeliveriesResult,
)
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_webhook_helpers import eventually
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    InterfaceConfig,
    PauseInput,
    workflow_id,
)


class ScriptedDeliveries:
    """Processes ids; `fail_first` ids fail that many times before they succeed."""

    def __init__(self, fail_first: dict[str, int] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.done: list[str] = []
        self.fail_first = dict(fail_first or {})

    @activity.defn(name="process_deliveries")
    async def process_deliveries(self, input: ProcessDeliveriesInput) -> ProcessDeliveriesResult:
        self.batches.append(list(input.delivery_ids))
        result = ProcessDeliveriesResult()
        for delivery_id in input.delivery_ids:
            if self.fail_first.get(delivery_id, 0) > 0:
                self.fail_first[delivery_id] -= 1
                result.retry.append(delivery_id)
                result.retry_attempts = 1
                continue
            if delivery_id not in self.done:
                self.done.append(delivery_id)
                result.processed += 1
            else:
                result.skipped += 1
        return result


@activity.defn(name="backfill_page")
async def rate_limited_backfill(input: BackfillPageInput) -> BackfillPageResult:
    reset = activity.info().current_attempt_scheduled_time + timedelta(hours=1)
    raise ApplicationError("rate limit", reset.isoformat(), type="RateLimited", non_retryable=True)


@activity.defn(name="backfill_page")
async def empty_backfill(input: BackfillPageInput) -> BackfillPageResult:
    return BackfillPageResult(cursor=input.cursor, done=True)


def _config(**overrides: object) -> BindingSyncConfig:
    values: dict[str, object] = {
        "binding": BindingRef(
            org="a5c",
            namespace="krate-org-a5c",
            binding="github-krate",
            provider="github-a5c",
            provider_type="github",
        ),
        "interfaces": [InterfaceConfig(name="issueTracking")],
        "repositories": [("a5c-ai", "krate")],
        "search_attributes": False,
    }
    values.update(overrides)
    return BindingSyncConfig.model_validate(values)


async def _start(
    env: WorkflowEnvironment, queue: str, config: BindingSyncConfig
) -> WorkflowHandle[BindingSyncWorkflow, None]:
    return await env.client.start_workflow(
        BindingSyncWorkflow.run,
        BindingSyncInput(config=config),
        id=workflow_id("a5c", f"wh-{uuid.uuid4().hex[:8]}"),
        task_queue=queue,
    )


async def _signal(handle: WorkflowHandle[BindingSyncWorkflow, None], *ids: str) -> None:
    for delivery_id in ids:
        await handle.signal(
            BindingSyncWorkflow.new_delivery, NewDeliveryInput(delivery_id=delivery_id)
        )


async def test_deliveries_flow_while_backfill_is_rate_limited(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedDeliveries()
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[scripted.process_deliveries, rate_limited_backfill, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, worker.task_queue, _config())
        await eventually(
            lambda: _phase_is(handle, "RateLimited"), message="backfill never rate limited"
        )
        await _signal(handle, "d1", "d2", "d1")  # a repeated signal queues the id once
        await eventually(lambda: scripted.done == ["d1", "d2"])
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.deliveries_processed == 2
        assert status.pending_deliveries == 0
        await handle.terminate()


async def test_a_pause_holds_deliveries_until_the_resume(
    private_time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedDeliveries()
    async with new_worker(
        private_time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[scripted.process_deliveries, empty_backfill, mirror_noop()],
    ) as worker:
        handle = await _start(private_time_skipping_env, worker.task_queue, _config())
        await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason="test"))
        await eventually(lambda: _phase_is(handle, "Paused"))
        await _signal(handle, "d1", "d2", "d1")
        await private_time_skipping_env.sleep(timedelta(minutes=20))
        status = await handle.query(BindingSyncWorkflow.status)
        assert scripted.batches == []  # paused: nothing processed, the ids kept in order
        assert status.pending_deliveries == 2
        assert status.paused_by == ["operator"]

        await handle.signal(BindingSyncWorkflow.resume)
        await eventually(lambda: scripted.done == ["d1", "d2"])
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.deliveries_processed == 2
        assert status.pending_deliveries == 0
        await handle.terminate()


async def _phase_is(handle: WorkflowHandle[BindingSyncWorkflow, None], phase: str) -> bool:
    return (await handle.query(BindingSyncWorkflow.status)).phase == phase


async def test_failed_deliveries_are_retried_after_a_delay(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedDeliveries(fail_first={"flaky": 2})
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[scripted.process_deliveries, empty_backfill, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, worker.task_queue, _config())
        await _signal(handle, "flaky", "fine")
        await eventually(lambda: "fine" in scripted.done)
        await time_skipping_env.sleep(timedelta(seconds=10))
        await eventually(lambda: "flaky" in scripted.done)
        assert sum(batch.count("flaky") for batch in scripted.batches) == 3
        await handle.terminate()


async def test_continue_as_new_carries_queued_delivery_ids(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedDeliveries()
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[scripted.process_deliveries, empty_backfill, mirror_noop()],
    ) as worker:
        handle = await _start(
            time_skipping_env, worker.task_queue, _config(continue_as_new_after_events=40)
        )
        ids = [f"d{i}" for i in range(30)]
        await _signal(handle, *ids)
        await eventually(lambda: sorted(scripted.done) == sorted(ids), within=60)
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.runs > 1
        assert len(scripted.done) == len(set(scripted.done))
        await handle.terminate()
