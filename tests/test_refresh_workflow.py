"""The binding workflow's refresh rounds on the time-skipping server, with scripted activities:
a batch that leaves ties starts rounds until no mark is left; a rate-limited round pauses them
until the reset; a failing round backs off instead of spinning."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.backfill_models import BackfillPageInput, BackfillPageResult
from activities.deliveries_models import ProcessDeliveriesInput, ProcessDeliveriesResult
from activities.refresh_models import RefreshObjectsInput, RefreshObjectsResult
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import mirror_noop
from tests.test_webhook_helpers import eventually
from tests.test_webhook_workflow import _config, _signal, _start, empty_backfill
from workflows.binding_sync import BindingSyncWorkflow


class Ties:
    """Deliveries that leave `marks` rows to read again; rounds that settle `per_round` each
    (or fail as `failures` says, first to last)."""

    def __init__(self, marks: int, per_round: int, failures: list[str] | None = None) -> None:
        self.marks = marks
        self.per_round = per_round
        self.failures = list(failures or [])
        self.rounds = 0

    @activity.defn(name="process_deliveries")
    async def process_deliveries(self, input: ProcessDeliveriesInput) -> ProcessDeliveriesResult:
        return ProcessDeliveriesResult(processed=len(input.delivery_ids), refresh_wanted=self.marks)

    @activity.defn(name="refresh_objects")
    async def refresh_objects(self, input: RefreshObjectsInput) -> RefreshObjectsResult:
        self.rounds += 1
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "RateLimited":
                reset = activity.info().current_attempt_scheduled_time + timedelta(minutes=30)
                raise ApplicationError(
                    "rate limit", reset.isoformat(), type="RateLimited", non_retryable=True
                )
            raise ApplicationError(failure, type="ProviderAuthError", non_retryable=True)
        settled = min(self.per_round, self.marks)
        self.marks -= settled
        return RefreshObjectsResult(refreshed=settled, remaining=self.marks, requests=settled)


@asynccontextmanager
async def _running(
    env: WorkflowEnvironment, ties: Ties, backfill: Callable[..., Any] = empty_backfill
) -> AsyncIterator[WorkflowHandle[BindingSyncWorkflow, None]]:
    """A binding workflow on a worker with the scripted activities; terminated afterwards."""
    async with new_worker(
        env.client,
        BindingSyncWorkflow,
        activities=[ties.process_deliveries, ties.refresh_objects, backfill, mirror_noop()],
    ) as worker:
        # Passes a day apart: a sleep below runs no backfill activity the server must wait for.
        config = _config(backfill_interval=timedelta(days=1))
        handle = await _start(env, worker.task_queue, config)
        yield handle
        await handle.terminate()


async def test_rounds_run_until_no_mark_is_left(
    private_time_skipping_env: WorkflowEnvironment,
) -> None:
    ties = Ties(marks=120, per_round=50)
    async with _running(private_time_skipping_env, ties) as handle:
        await _signal(handle, "d1")
        await eventually(lambda: ties.marks == 0)
        status = await handle.query(BindingSyncWorkflow.status)
        assert ties.rounds == 3
        assert (status.refresh_wanted, status.objects_refreshed) == (0, 120)
        await private_time_skipping_env.sleep(timedelta(minutes=20))
        assert ties.rounds == 3  # nothing left: no more rounds


async def test_a_rate_limited_round_waits_for_the_reset(
    private_time_skipping_env: WorkflowEnvironment,
) -> None:
    ties = Ties(marks=10, per_round=50, failures=["RateLimited"])
    async with _running(private_time_skipping_env, ties) as handle:
        await _signal(handle, "d1")
        await eventually(lambda: ties.rounds == 1)
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.rate_limited_until is not None
        assert status.refresh_wanted == 10  # the marks wait; nothing is lost
        await private_time_skipping_env.sleep(timedelta(minutes=31))
        await eventually(lambda: ties.marks == 0)
        assert ties.rounds == 2


async def test_a_failing_round_backs_off_instead_of_spinning(
    private_time_skipping_env: WorkflowEnvironment,
) -> None:
    ties = Ties(marks=5, per_round=50, failures=["bad credentials"])
    async with _running(private_time_skipping_env, ties) as handle:
        await _signal(handle, "d1")
        await eventually(lambda: ties.rounds == 1)
        assert (await handle.query(BindingSyncWorkflow.status)).refresh_wanted == 5
        await private_time_skipping_env.sleep(timedelta(minutes=6))
        await eventually(lambda: ties.marks == 0)
        assert ties.rounds == 2


async def test_ties_a_backfill_page_found_start_rounds_too(
    private_time_skipping_env: WorkflowEnvironment,
) -> None:
    ties = Ties(marks=3, per_round=50)
    pages: list[int] = []

    @activity.defn(name="backfill_page")
    async def tied_backfill(input: BackfillPageInput) -> BackfillPageResult:
        pages.append(1)
        return BackfillPageResult(cursor=input.cursor, done=True, tied=3 if len(pages) == 1 else 0)

    async with _running(private_time_skipping_env, ties, tied_backfill):
        await eventually(lambda: ties.marks == 0)  # no delivery at all: the page's ties did it
        assert ties.rounds == 1
