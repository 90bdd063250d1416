"""BindingSyncWorkflow on the time-skipping test server, with a scripted backfill activity."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.backfill_models import (
    BackfillPageInput,
    BackfillPageResult,
    BindingRef,
    RateLimitBudget,
)
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import MirrorRecorder, mirror_noop
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncStatus,
    BindingSyncWorkflow,
    InterfaceConfig,
    PauseInput,
    workflow_id,
)


class ScriptedProvider:
    """Answers backfill pages like a provider with `pages` pages per scope.

    `rate_limit_at` lists call numbers (0-based) that fail with a rate limit whose reset is
    `reset_after` past the activity's scheduled time (the test server's clock, which skips).
    """

    def __init__(self, pages: int = 3, rate_limit_at: tuple[int, ...] = ()) -> None:
        self.pages = pages
        self.rate_limit_at = set(rate_limit_at)
        self.reset_after = timedelta(minutes=50)
        self.calls: list[tuple[str, str | None]] = []
        self.reset_times: list[str] = []

    @activity.defn(name="backfill_page")
    async def backfill_page(self, input: BackfillPageInput) -> BackfillPageResult:
        call = len(self.calls)
        self.calls.append((input.cursor.scope.key, input.cursor.next_page))
        if call in self.rate_limit_at:
            reset = activity.info().current_attempt_scheduled_time + self.reset_after
            self.reset_times.append(reset.isoformat())
            raise ApplicationError(
                "API rate limit exceeded", reset.isoformat(), type="RateLimited", non_retryable=True
            )
        page = int(input.cursor.next_page or 1)
        done = page >= self.pages
        cursor = input.cursor.model_copy(
            update={
                "next_page": None if done else str(page + 1),
                "objects": input.cursor.objects + 10,
                "pages": input.cursor.pages + 1,
            }
        )
        return BackfillPageResult(cursor=cursor, fetched=10, inserted=10, done=done)


def _config(**overrides: object) -> BindingSyncConfig:
    values: dict[str, object] = {
        "binding": BindingRef(
            org="a5c",
            namespace="krate-org-a5c",
            binding="github-krate",
            provider="github-a5c",
            provider_type="github",
        ),
        "interfaces": [InterfaceConfig(name="issueTracking", mode="bidirectional")],
        "repositories": [("a5c-ai", "krate")],
        "backfill_interval": timedelta(minutes=15),
        "search_attributes": False,  # the time-skipping server cannot index them
    }
    values.update(overrides)
    return BindingSyncConfig.model_validate(values)


async def _eventually(
    probe: Callable[[], Awaitable[BindingSyncStatus]],
    check: Callable[[BindingSyncStatus], bool],
    within: float = 30.0,
) -> BindingSyncStatus:
    """Query until `check` holds; the status of the last query on failure."""
    deadline = asyncio.get_running_loop().time() + within
    status = await probe()
    while not check(status):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition never held; last status: {status!r}")
        await asyncio.sleep(0.1)
        status = await probe()
    return status


async def _start(
    env: WorkflowEnvironment, config: BindingSyncConfig, task_queue: str
) -> WorkflowHandle[BindingSyncWorkflow, None]:
    return await env.client.start_workflow(
        BindingSyncWorkflow.run,
        BindingSyncInput(config=config),
        id=workflow_id("a5c", f"github-krate-{uuid.uuid4().hex[:8]}"),
        task_queue=task_queue,
    )


async def test_first_pass_walks_every_scope_and_page(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    provider = ScriptedProvider(pages=3)
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, _config(), worker.task_queue)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1
        )
        assert status.phase == "Ready"
        # Labels came later (ADDED_KINDS): their scope follows the others.
        kinds = [c.scope.resource_kind for c in status.cursors]
        assert kinds == ["Issue", "Comment", "Label"]
        assert all(c.pages == 3 and c.objects == 30 and c.next_page is None for c in status.cursors)
        assert provider.calls == [
            (f"issueTracking/{kind}/a5c-ai/krate", page)
            for kind in kinds
            for page in (None, "2", "3")
        ]
        assert status.objects_fetched == 90
        await handle.terminate()


async def test_status_is_mirrored_to_postgres_after_each_pass(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    provider = ScriptedProvider(pages=2)
    mirror = MirrorRecorder()
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror.mirror_sync_state],
    ) as worker:
        handle = await _start(time_skipping_env, _config(), worker.task_queue)
        await _eventually(lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1)
        for _ in range(50):
            if mirror.calls and mirror.calls[-1].phase == "Ready":
                break
            await asyncio.sleep(0.1)
        last = mirror.calls[-1]
        assert last.phase == "Ready"
        assert [c.scope.resource_kind for c in last.cursors] == ["Issue", "Comment", "Label"]
        assert {c.type for c in last.conditions} >= {"Ready", "BackfillHealthy"}
        assert last.generation == 1
        assert last.binding.binding == "github-krate"
        await handle.terminate()


async def test_rate_limit_pauses_backfill_until_reset_then_resumes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The second page call hits a limit whose reset is 50 minutes away.
    provider = ScriptedProvider(pages=3, rate_limit_at=(1,))
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        handle = await _start(time_skipping_env, _config(), worker.task_queue)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.phase == "RateLimited"
        )
        assert status.rate_limited_until is not None
        assert status.rate_limited_until.isoformat() == provider.reset_times[0]
        limited = {c.type: c for c in status.conditions}["RateLimited"]
        assert limited.status == "True"
        calls_while_limited = len(provider.calls)
        assert calls_while_limited == 2

        # 40 minutes on, still before the reset: nothing more is asked of the provider.
        await time_skipping_env.sleep(timedelta(minutes=40))
        status = await handle.query(BindingSyncWorkflow.status)
        assert status.phase == "RateLimited"
        assert len(provider.calls) == calls_while_limited

        # Past the reset the pass resumes from the page it stopped at, not from the start.
        await time_skipping_env.sleep(timedelta(minutes=11))
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1
        )
        assert provider.calls[2] == ("issueTracking/Issue/a5c-ai/krate", "2")
        assert status.phase == "Ready"
        assert {c.type: c for c in status.conditions}["RateLimited"].status == "False"
        issue_cursor = next(c for c in status.cursors if c.scope.resource_kind == "Issue")
        assert issue_cursor.pages == 3
        assert issue_cursor.objects == 30
        await handle.terminate()


async def test_low_budget_stops_before_the_limit(time_skipping_env: WorkflowEnvironment) -> None:
    calls: list[str | None] = []

    @activity.defn(name="backfill_page")
    async def low_budget(input: BackfillPageInput) -> BackfillPageResult:
        calls.append(input.cursor.next_page)
        reset = activity.info().current_attempt_scheduled_time + timedelta(minutes=30)
        page = int(input.cursor.next_page or 1)
        cursor = input.cursor.model_copy(update={"next_page": str(page + 1)})
        return BackfillPageResult(
            cursor=cursor,
            fetched=100,
            done=False,
            budget=RateLimitBudget(limit=5000, remaining=10, reset_at=reset),
        )

    async with new_worker(
        time_skipping_env.client, BindingSyncWorkflow, activities=[low_budget, mirror_noop()]
    ) as worker:
        handle = await _start(time_skipping_env, _config(rate_limit_floor=50), worker.task_queue)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.phase == "RateLimited"
        )
        assert calls == [None]
        assert status.rate_limit is not None
        assert status.rate_limit.remaining == 10
        await handle.terminate()


async def test_pause_and_resume(time_skipping_env: WorkflowEnvironment) -> None:
    provider = ScriptedProvider(pages=1)
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        handle = await _start(
            time_skipping_env, _config(backfill_interval=timedelta(minutes=5)), worker.task_queue
        )
        await _eventually(lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1)
        await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason="maintenance window"))
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.phase == "Paused"
        )
        assert status.paused_reason == "maintenance window"
        calls_when_paused = len(provider.calls)

        await time_skipping_env.sleep(timedelta(hours=1))  # twelve intervals go by, paused
        assert len(provider.calls) == calls_when_paused

        await handle.signal(BindingSyncWorkflow.resume)
        await handle.signal(BindingSyncWorkflow.sync_now)
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 2
        )
        assert status.phase == "Ready"
        assert status.paused_reason is None
        assert len(provider.calls) > calls_when_paused
        await handle.terminate()


async def test_interval_runs_incremental_passes(time_skipping_env: WorkflowEnvironment) -> None:
    provider = ScriptedProvider(pages=1)
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        handle = await _start(
            time_skipping_env, _config(backfill_interval=timedelta(minutes=15)), worker.task_queue
        )
        await _eventually(lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1)
        await time_skipping_env.sleep(timedelta(minutes=14))
        assert (await handle.query(BindingSyncWorkflow.status)).passes == 1
        await time_skipping_env.sleep(timedelta(minutes=2))
        status = await _eventually(
            lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 2
        )
        assert status.next_pass_at is not None
        await handle.terminate()


async def test_continue_as_new_keeps_cursors_and_counts(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    provider = ScriptedProvider(pages=2)
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        config = _config(backfill_interval=timedelta(minutes=1), continue_as_new_after_events=40)
        handle = await _start(time_skipping_env, config, worker.task_queue)
        await _eventually(lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1)
        for _ in range(6):
            await time_skipping_env.sleep(timedelta(minutes=1, seconds=5))
        latest = time_skipping_env.client.get_workflow_handle(handle.id)
        status = await _eventually(
            lambda: latest.query(BindingSyncWorkflow.status),
            lambda s: s.runs >= 2 and s.passes >= 3,
        )
        description = await latest.describe()
        assert description.run_id != handle.first_execution_run_id
        # Counts and cursors carried over: every pass adds two pages per scope (three scopes).
        assert status.objects_fetched == status.passes * 3 * 2 * 10
        assert all(c.pages == status.passes * 2 for c in status.cursors)
        await latest.terminate()


async def test_search_attributes_for_the_web_ui(dev_server_env: WorkflowEnvironment) -> None:
    provider = ScriptedProvider(pages=1)
    async with new_worker(
        dev_server_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror_noop()],
    ) as worker:
        config = _config(
            interfaces=[InterfaceConfig(name="issueTracking"), InterfaceConfig(name="cicd")],
            search_attributes=True,
        )
        handle = await _start(dev_server_env, config, worker.task_queue)
        await _eventually(lambda: handle.query(BindingSyncWorkflow.status), lambda s: s.passes >= 1)
        attrs = (await handle.describe()).typed_search_attributes
        values = {pair.key.name: pair.value for pair in attrs}
        assert values["KrateOrg"] == "a5c"
        assert values["KrateProvider"] == "github-a5c"
        assert values["KrateBinding"] == "github-krate"
        assert sorted(values["KrateInterface"]) == ["cicd", "issueTracking"]
        assert values["KratePhase"] == "Ready"
        await handle.terminate()
