"""What the manifests ask of BindingSyncWorkflow, on the time-skipping server with scripted
activities: `spec.paused` (binding or provider), `backfill.enabled: false` and `webhookFirst`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.deliveries_models import (
    NewDeliveriesInput,
    ProcessDeliveriesInput,
    ProcessDeliveriesResult,
)
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_binding_sync_workflow import ScriptedProvider, _config, _eventually, _start
from tests.test_webhook_workflow import ScriptedDeliveries
from workflows.binding_sync import BindingSyncStatus, BindingSyncWorkflow, PauseInput

MANIFEST_PAUSE = "spec.paused is true on binding github-krate"


class HeldDeliveries:
    """Processes ids, but each batch waits until the test lets it go."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.done: list[str] = []

    @activity.defn(name="process_deliveries")
    async def process_deliveries(self, input: ProcessDeliveriesInput) -> ProcessDeliveriesResult:
        self.started.set()
        await self.release.wait()
        self.done += input.delivery_ids
        return ProcessDeliveriesResult(processed=len(input.delivery_ids))


async def _terminate_when_idle(handle: WorkflowHandle[BindingSyncWorkflow, None]) -> None:
    """Let the activities in flight (a page, a mirror: milliseconds each) finish first: the
    test server stops skipping time while any activity of the session runs, and one cut off by
    the termination would count as running until its timeout, stalling the next test."""
    await asyncio.sleep(0.5)
    await handle.terminate()


def _conditions(status: BindingSyncStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions}


async def test_a_binding_the_manifests_pause_starts_paused_and_resumes_when_reapplied(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    provider = ScriptedProvider(pages=1)
    deliveries = ScriptedDeliveries()
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, deliveries.process_deliveries, mirror_noop()],
    ) as worker:
        config = _config(manifest_paused_reason=MANIFEST_PAUSE)
        handle = await _start(time_skipping_env, config, worker.task_queue)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.phase == "Paused"
        )
        assert status.paused_by == ["manifest"]
        assert status.paused_reason == MANIFEST_PAUSE
        assert _conditions(status)["Ready"] == ("False", "Paused", MANIFEST_PAUSE)

        await handle.signal(
            BindingSyncWorkflow.new_deliveries, NewDeliveriesInput(delivery_ids=["d1", "d2"])
        )
        await time_skipping_env.sleep(timedelta(hours=2))  # eight intervals, paused
        status = await handle.query(BindingSyncWorkflow.status)
        assert provider.calls == []  # no backfill
        assert deliveries.batches == []  # no delivery processed either
        assert status.pending_deliveries == 2

        # An operator's resume does not lift the manifests' pause.
        await handle.signal(BindingSyncWorkflow.resume)
        await time_skipping_env.sleep(timedelta(minutes=1))
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.phase == "Paused"
        assert status.paused_by == ["manifest"]
        assert deliveries.batches == []

        # Re-applied with `paused: false`: the queued deliveries and the first pass run.
        await handle.signal(BindingSyncWorkflow.reconfigure, _config(generation=2))
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status),
            lambda s: s.passes >= 1 and s.deliveries_processed == 2,
        )
        assert deliveries.done == ["d1", "d2"]
        assert status.phase == "Ready"
        assert status.paused_by == []
        assert status.paused_reason is None
        await _terminate_when_idle(handle)


async def test_manifest_and_operator_pauses_are_told_apart(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    provider = ScriptedProvider(pages=1)
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, _config(), worker.task_queue)
        await _eventually(lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1)
        await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason="maintenance"))
        paused = _config(manifest_paused_reason=MANIFEST_PAUSE, generation=2)
        await handle.signal(BindingSyncWorkflow.reconfigure, paused)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.generation == 2
        )
        assert status.paused_by == ["manifest", "operator"]
        assert status.paused_reason == f"{MANIFEST_PAUSE}; maintenance"

        # The manifests lift theirs; the operator's pause stays until `resume`.
        await handle.signal(BindingSyncWorkflow.reconfigure, _config(generation=3))
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.generation == 3
        )
        assert status.phase == "Paused"
        assert status.paused_by == ["operator"]
        assert status.paused_reason == "maintenance"
        calls = len(provider.calls)
        await time_skipping_env.sleep(timedelta(hours=1))
        assert len(provider.calls) == calls

        await handle.signal(BindingSyncWorkflow.resume)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status),
            lambda s: s.phase == "Ready" and s.passes >= 2,  # the pass missed while paused
        )
        assert status.paused_by == []
        await _terminate_when_idle(handle)


async def test_backfill_disabled_means_webhooks_only(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    provider = ScriptedProvider(pages=1)
    deliveries = ScriptedDeliveries()
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, deliveries.process_deliveries, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, _config(backfill_enabled=False), worker.task_queue)
        await handle.signal(
            BindingSyncWorkflow.new_deliveries, NewDeliveriesInput(delivery_ids=["d1"])
        )
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status),
            lambda s: s.deliveries_processed == 1,
        )
        await time_skipping_env.sleep(timedelta(hours=2))  # eight intervals go by
        status = await handle.query(BindingSyncWorkflow.status)
        assert provider.calls == []  # no first pass, no interval passes
        assert status.passes == 0
        assert status.next_pass_at is None
        assert status.phase == "Ready"  # webhooks only is a working state, not "Syncing"
        assert status.sync_mode == "webhooks-only"
        assert status.backfill_enabled is False
        healthy = _conditions(status)["BackfillHealthy"]
        assert healthy[:2] == ("Unknown", "BackfillDisabled")
        assert "webhooks only" in healthy[2]

        # An operator's `sync_now` still runs one pass, and only one.
        await handle.signal(BindingSyncWorkflow.sync_now)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes == 1
        )
        calls = len(provider.calls)
        assert calls == len(status.cursors)  # one page per scope
        await time_skipping_env.sleep(timedelta(hours=1))
        assert len(provider.calls) == calls
        await _terminate_when_idle(handle)


async def _passes_while_a_batch_is_held(
    env: WorkflowEnvironment, *, webhook_first: bool, wait: float, interval: timedelta
) -> tuple[int, HeldDeliveries]:
    """Start, finish the first pass, hold a delivery batch for `wait` seconds: the passes then.

    Real seconds: the test server does not skip time while an activity runs."""
    provider = ScriptedProvider(pages=1)
    held = HeldDeliveries()
    async with new_worker(
        env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, held.process_deliveries, mirror_noop()],
    ) as worker:
        config = _config(webhook_first=webhook_first, backfill_interval=interval)
        handle = await _start(env, config, worker.task_queue)
        try:
            await _eventually(
                lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1
            )
            await handle.signal(
                BindingSyncWorkflow.new_deliveries, NewDeliveriesInput(delivery_ids=["d1"])
            )
            await asyncio.wait_for(held.started.wait(), 30)
            await asyncio.sleep(wait)
            passes = (await handle.query(BindingSyncWorkflow.status)).passes
            held.release.set()
            await _eventually(
                lambda: handle.query(BindingSyncWorkflow.status),
                lambda s: s.deliveries_processed == 1 and s.passes >= 2,
            )
        finally:
            held.release.set()
            await _terminate_when_idle(handle)
    return passes, held


async def test_webhook_first_lets_queued_deliveries_go_before_a_due_pass(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # Due 10 s after the first pass, at most 10 s more behind the queue: looked at in between.
    passes, held = await _passes_while_a_batch_is_held(
        time_skipping_env, webhook_first=True, wait=14, interval=timedelta(seconds=10)
    )
    assert passes == 1
    assert held.done == ["d1"]


async def test_webhook_first_waits_one_interval_at_most(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    passes, _ = await _passes_while_a_batch_is_held(
        time_skipping_env, webhook_first=True, wait=9, interval=timedelta(seconds=3)
    )
    assert passes >= 2  # due at 3 s, the queue's turn over at 6 s


async def test_polling_first_runs_the_pass_when_due_regardless(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    passes, _ = await _passes_while_a_batch_is_held(
        time_skipping_env, webhook_first=False, wait=6, interval=timedelta(seconds=3)
    )
    assert passes >= 2
