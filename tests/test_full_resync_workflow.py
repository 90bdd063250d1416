"""FullResyncWorkflow on the time-skipping test server, with scripted activities."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.backfill_models import (
    BackfillPageInput,
    BackfillPageResult,
    TombstoneInput,
    TombstoneResult,
)
from tests.helpers.temporal import new_worker
from tests.test_binding_sync_workflow import _config
from workflows.binding_sync import InterfaceConfig
from workflows.full_resync import FullResyncInput, FullResyncWorkflow

SEEN_SINCE = datetime(2026, 11, 1, 12, 0, tzinfo=datetime.now().astimezone().tzinfo)


class ScriptedResync:
    """Full pages for every scope; scopes named in `fail` answer 404; call numbers in
    `rate_limit_at` hit a rate limit that resets 30 minutes later."""

    def __init__(
        self, pages: int, fail: tuple[str, ...] = (), rate_limit_at: tuple[int, ...] = ()
    ) -> None:
        self.pages = pages
        self.fail = fail
        self.rate_limit_at = set(rate_limit_at)
        self.calls: list[tuple[str, str | None, bool]] = []
        self.tombstoned: list[tuple[str, datetime]] = []

    @activity.defn(name="backfill_page")
    async def backfill_page(self, input: BackfillPageInput) -> BackfillPageResult:
        call = len(self.calls)
        kind = input.cursor.scope.resource_kind
        self.calls.append((kind, input.cursor.next_page, input.full))
        if call in self.rate_limit_at:
            reset = activity.info().current_attempt_scheduled_time + timedelta(minutes=30)
            raise ApplicationError(
                "limit", reset.isoformat(), type="RateLimited", non_retryable=True
            )
        if kind in self.fail:
            raise ApplicationError("Not Found", type="ProviderNotFound", non_retryable=True)
        page = int(input.cursor.next_page or 1)
        done = page >= self.pages
        cursor = input.cursor.model_copy(update={"next_page": None if done else str(page + 1)})
        return BackfillPageResult(
            cursor=cursor, fetched=10, done=done, seen_since=SEEN_SINCE if page == 1 else None
        )

    @activity.defn(name="tombstone_unseen")
    async def tombstone_unseen(self, input: TombstoneInput) -> TombstoneResult:
        self.tombstoned.append((input.scope.resource_kind, input.seen_since))
        return TombstoneResult(marked=2)


async def _run(env: WorkflowEnvironment, scripted: ScriptedResync, **config: object):
    async with new_worker(
        env.client,
        FullResyncWorkflow,
        activities=[scripted.backfill_page, scripted.tombstone_unseen],
    ) as worker:
        return await env.client.execute_workflow(
            FullResyncWorkflow.run,
            FullResyncInput(config=_config(**config)),
            id=f"resync/a5c/github-krate-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )


async def test_walks_every_page_of_every_scope_then_tombstones(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedResync(pages=3)
    result = await _run(time_skipping_env, scripted)
    assert [c for c in scripted.calls if c[0] == "Issue"] == [
        ("Issue", None, True),
        ("Issue", "2", True),
        ("Issue", "3", True),
    ]
    assert all(full for _, _, full in scripted.calls)  # never trusts watermarks or ETags
    # Labels came later (ADDED_KINDS): their scope follows the others.
    assert scripted.tombstoned == [
        ("Issue", SEEN_SINCE),
        ("Comment", SEEN_SINCE),
        ("Label", SEEN_SINCE),
    ]
    assert result.fetched == 90
    assert result.tombstoned == 6
    assert result.failed_scopes == 0


async def test_a_failed_scope_is_never_tombstoned(time_skipping_env: WorkflowEnvironment) -> None:
    scripted = ScriptedResync(pages=2, fail=("Comment",))
    result = await _run(time_skipping_env, scripted)
    assert scripted.tombstoned == [("Issue", SEEN_SINCE), ("Label", SEEN_SINCE)]
    assert result.failed_scopes == 1
    failed = next(o for o in result.scopes if o.error)
    assert failed.scope == "issueTracking/Comment/a5c-ai/krate"
    assert "Not Found" in failed.error


async def test_rate_limit_waits_for_the_reset_and_resumes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedResync(pages=3, rate_limit_at=(1,))
    result = await _run(time_skipping_env, scripted)
    assert result.rate_limit_waits == 1
    # The page that hit the limit is asked again after the reset, from the same cursor.
    assert scripted.calls[1:3] == [("Issue", "2", True), ("Issue", "2", True)]
    assert result.completed_at - result.started_at >= timedelta(minutes=30)
    assert result.fetched == 90  # three scopes of three pages


async def test_continue_as_new_mid_scope_keeps_the_cursor(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedResync(pages=6)
    result = await _run(
        time_skipping_env,
        scripted,
        interfaces=[InterfaceConfig(name="issueTracking")],
        continue_as_new_after_events=20,
    )
    issue_pages = [page for kind, page, _ in scripted.calls if kind == "Issue"]
    assert issue_pages == [None, "2", "3", "4", "5", "6"]  # no page walked twice
    assert result.fetched == 180  # three scopes of six pages
    assert scripted.tombstoned == [
        ("Issue", SEEN_SINCE),
        ("Comment", SEEN_SINCE),
        ("Label", SEEN_SINCE),
    ]


async def test_completion_is_reported_to_the_binding_workflow(
    dev_server_env: WorkflowEnvironment,
) -> None:
    """On the dev server: the binding workflow's timers must not run under time skipping."""
    from activities.backfill_models import BindingRef
    from tests.helpers.workflow_fakes import mirror_noop
    from tests.test_binding_sync_workflow import ScriptedProvider
    from workflows.binding_sync import BindingSyncInput, BindingSyncWorkflow, workflow_id

    name = f"github-krate-{uuid.uuid4().hex[:8]}"
    config = _config(
        binding=BindingRef(
            org="a5c",
            namespace="krate-org-a5c",
            binding=name,
            provider="github-a5c",
            provider_type="github",
        )
    )
    scripted = ScriptedResync(pages=2)
    incremental = ScriptedProvider(pages=1)
    async with new_worker(
        dev_server_env.client,
        FullResyncWorkflow,
        BindingSyncWorkflow,
        activities=[scripted.tombstone_unseen, mirror_noop(), incremental.backfill_page],
    ) as worker:
        binding = await dev_server_env.client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=workflow_id("a5c", name),
            task_queue=worker.task_queue,
        )
        result = await dev_server_env.client.execute_workflow(
            FullResyncWorkflow.run,
            FullResyncInput(config=config),
            id=f"resync/a5c/{name}",
            task_queue=worker.task_queue,
        )
        status = await binding.query(BindingSyncWorkflow.status)
        assert status.last_full_resync is not None
        assert status.last_full_resync.tombstoned == result.tombstoned
        assert status.last_full_completed_at == result.completed_at
        await binding.terminate()
