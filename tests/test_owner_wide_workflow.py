"""An owner-wide binding's workflow on the time-skipping test server: it lists the owner's
repositories and runs one repository workflow each, in bounded batches, with small histories.

The activities are scripted (an owner of 3,000 repositories held in memory, as the store would
hold them), and so are the repository workflows: a same-name stand-in that records what it is
told. tests/test_owner_wide_activities.py runs the real activities against Postgres and the
GitHub simulator.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.backfill_models import BackfillPageInput, BackfillPageResult, BindingRef
from activities.owner_repositories_models import (
    LIST_OWNER_REPOSITORIES_ACTIVITY,
    NOTE_REPOSITORY_SYNCED_ACTIVITY,
    RECONCILE_OWNER_REPOSITORIES_ACTIVITY,
    OwnerListingInput,
    OwnerListingResult,
    ReconcileRepositoriesInput,
    ReconcileRepositoriesResult,
    RepositoryProgress,
    RepositorySyncedInput,
    RepositorySyncedResult,
    RepositoryTarget,
)
from tests.helpers.temporal import new_worker
from tests.helpers.workflow_fakes import MirrorRecorder
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncStatus,
    BindingSyncWorkflow,
    InterfaceConfig,
    PauseInput,
    workflow_id,
)
from workflows.owner_repositories import REPOSITORY_SYNC_WORKFLOW, RetireInput, repository_config
from workflows.repository_sync import RepositorySyncWorkflow

PAGE = 100
COUNT = 3000


@dataclass
class Row:
    full_name: str
    present: bool = True
    workflow: str = "none"
    config_version: int = 0
    listing_id: str | None = None


class ScriptedOwner:
    """The owner's repositories on the provider (`repos`) and as the store keeps them
    (`rows`), with what the workflow asked for."""

    def __init__(self, count: int) -> None:
        self.repos = {str(1000 + i): f"a5c-ai/repo-{i}" for i in range(count)}
        self.rows: dict[str, Row] = {}
        self.batches: list[int] = []
        self.listing_pages = 0

    def running(self) -> int:
        return sum(r.workflow == "running" for r in self.rows.values())

    @activity.defn(name=LIST_OWNER_REPOSITORIES_ACTIVITY)
    async def list_owner_repositories(self, input: OwnerListingInput) -> OwnerListingResult:
        self.listing_pages += 1
        ids = sorted(self.repos)
        start = int(input.cursor or 0)
        page = ids[start : start + PAGE]
        joined = 0
        for native_id in page:
            row = self.rows.setdefault(native_id, Row(self.repos[native_id], present=False))
            joined += not row.present
            row.present, row.listing_id = True, input.listing_id
        done = start + PAGE >= len(ids)
        removed = 0
        if done:
            for row in self.rows.values():
                if row.present and row.listing_id != input.listing_id:
                    row.present, removed = False, removed + 1
        return OwnerListingResult(
            next_cursor=None if done else str(start + PAGE),
            listed=len(page),
            joined=joined,
            removed=removed,
            done=done,
        )

    @activity.defn(name=RECONCILE_OWNER_REPOSITORIES_ACTIVITY)
    async def reconcile_owner_repositories(
        self, input: ReconcileRepositoriesInput
    ) -> ReconcileRepositoriesResult:
        for native_id in input.started:
            self.rows[native_id].workflow = "running"
            self.rows[native_id].config_version = input.config_version
        for native_id in input.configured:
            self.rows[native_id].config_version = input.config_version
        for native_id in input.stopped:
            self.rows[native_id].workflow = "stopped"
        result = ReconcileRepositoriesResult()
        for native_id, row in sorted(self.rows.items()):
            target = RepositoryTarget(native_id=native_id, full_name=row.full_name)
            if len(result.start) + len(result.stop) + len(result.reconfigure) >= input.limit:
                break
            if not row.present and row.workflow == "running":
                result.stop.append(target)
            elif row.present and row.workflow != "running":
                result.start.append(target)
            elif row.present and row.config_version < input.config_version:
                result.reconfigure.append(target)
        self.batches.append(len(result.start) + len(result.stop) + len(result.reconfigure))

        rows = list(self.rows.values())
        result.progress = RepositoryProgress(
            discovered=len(rows),
            waiting=sum(r.present and r.workflow != "running" for r in rows),
            syncing=sum(r.present and r.workflow == "running" for r in rows),
            removed=sum(not r.present for r in rows),
        )
        return result

    @activity.defn(name=NOTE_REPOSITORY_SYNCED_ACTIVITY)
    async def note_repository_synced(self, input: RepositorySyncedInput) -> RepositorySyncedResult:
        return RepositorySyncedResult(noted=True)


# Not sandboxed: thousands of runs, each of which would re-import this module in a sandbox.
@workflow.defn(name=REPOSITORY_SYNC_WORKFLOW, sandboxed=False)
class StandInRepositoryWorkflow:
    """Records its configuration and waits to be retired, as the real one would."""

    def __init__(self) -> None:
        self.retired: str | None = None
        self.config: BindingSyncConfig | None = None
        self.reconfigured = 0

    @workflow.run
    async def run(self, input: BindingSyncInput) -> str:
        self.config = input.config
        await workflow.wait_condition(lambda: self.retired is not None)
        return self.retired or ""

    @workflow.signal
    def retire(self, input: RetireInput) -> None:
        self.retired = input.reason

    @workflow.signal
    def reconfigure(self, config: BindingSyncConfig) -> None:
        self.config = config
        self.reconfigured += 1

    @workflow.query
    def paused(self) -> str | None:
        return self.config.manifest_paused_reason if self.config else None


def _config(**overrides: object) -> BindingSyncConfig:
    values: dict[str, object] = {
        "binding": BindingRef(
            org="a5c",
            namespace="krate-org-a5c",
            binding="github-a5c-ai",
            provider="github-a5c",
            provider_type="github",
        ),
        "interfaces": [InterfaceConfig(name="gitForge", mode="mirrored")],
        "repositories": [],
        "owner_wide": "a5c-ai",
        "search_attributes": False,
    }
    values.update(overrides)
    return BindingSyncConfig.model_validate(values)


async def _eventually(
    probe: Callable[[], Awaitable[BindingSyncStatus]],
    check: Callable[[BindingSyncStatus], bool],
    within: float = 240.0,
) -> BindingSyncStatus:
    deadline = asyncio.get_running_loop().time() + within
    status = await probe()
    while not check(status):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition never held; last status: {status!r}")
        await asyncio.sleep(1.0)
        status = await probe()
    return status


async def _until(check: Callable[[], bool], within: float = 300.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.5)


async def _status(handle: WorkflowHandle[Any, None]) -> BindingSyncStatus:
    # A loaded machine answers slowly while thousands of workflows start: wait for it.
    return await handle.query(BindingSyncWorkflow.status, rpc_timeout=timedelta(seconds=60))


async def _run_histories(client: Client, workflow_id: str, first_run: str) -> list[tuple[int, int]]:
    """(events, bytes) of each run, first to current, following continue-as-new."""
    out: list[tuple[int, int]] = []
    run_id: str | None = first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        out.append((len(history.events), len(history.to_json())))
        last = history.events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return out


def _repositories(status: BindingSyncStatus) -> RepositoryProgress:
    assert status.repositories is not None
    return status.repositories


async def test_three_thousand_repositories_start_in_bounded_batches_with_small_histories(
    private_time_skipping_env: WorkflowEnvironment,
) -> None:
    owner = ScriptedOwner(COUNT)
    client = private_time_skipping_env.client
    async with new_worker(
        client,
        BindingSyncWorkflow,
        StandInRepositoryWorkflow,
        activities=[
            owner.list_owner_repositories,
            owner.reconcile_owner_repositories,
            owner.note_repository_synced,
            MirrorRecorder().mirror_sync_state,
        ],
        # Every repository workflow stays cached: evicting the binding's would replay it.
        max_cached_workflows=5000,
    ) as worker:
        wid = workflow_id("a5c", f"github-a5c-ai-{uuid.uuid4().hex[:8]}")
        handle = await client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=_config()),
            id=wid,
            task_queue=worker.task_queue,
        )
        # Watched in the scripted store, not by queries: a loaded machine answers a query only
        # after the binding's queued workflow tasks, and thousands of starts queue many.
        await _until(lambda: owner.running() == COUNT)
        status = await _eventually(
            lambda: _status(handle),
            lambda s: s.repositories is not None and s.repositories.syncing == COUNT,
        )
        assert status.owner_wide == "a5c-ai"
        assert _repositories(status).discovered == COUNT
        assert _repositories(status).waiting == 0
        assert status.cursors == []  # no scope lives in the binding's own state
        assert max(owner.batches) <= 50
        assert owner.listing_pages >= COUNT // PAGE
        # Every repository has its workflow, under its deterministic id.
        sample = client.get_workflow_handle(f"sync/a5c/{status.binding}/1000")
        assert (await sample.describe()).status == WorkflowExecutionStatus.RUNNING
        assert await sample.query("paused") is None

        # Three repositories leave (deleted, transferred, out of the installation); an
        # operator's sync-now lists again: their workflows stop, the others get a pass.
        removed = ("1000", "1001", str(999 + COUNT))
        for native_id in removed:
            del owner.repos[native_id]
        await handle.signal(BindingSyncWorkflow.sync_now)
        await _until(
            lambda: (
                sum(not r.present and r.workflow == "stopped" for r in owner.rows.values()) == 3
                and all(r.config_version == 1 for r in owner.rows.values() if r.present)
            )
        )
        status = await _eventually(
            lambda: _status(handle),
            lambda s: (
                s.repositories is not None
                and s.repositories.removed == 3
                and all(r.config_version == 1 for r in owner.rows.values() if r.present)
            ),
        )
        assert _repositories(status).syncing == COUNT - 3
        for native_id in removed:
            gone = client.get_workflow_handle(f"sync/a5c/{status.binding}/{native_id}")
            assert "left the binding's owner" in await gone.result()
        kept = client.get_workflow_handle(f"sync/a5c/{status.binding}/1002")
        assert (await kept.describe()).status == WorkflowExecutionStatus.RUNNING
        assert max(owner.batches) <= 50

        # No run's history grows with the owner's size: each continued as new after at most
        # 250 repository workflows started, stopped or told their new configuration.
        runs = await _run_histories(client, wid, handle.result_run_id or "")
        assert len(runs) >= (2 * COUNT) // 250
        assert all(events < 1000 for events, _ in runs), runs
        assert all(size < 1_000_000 for _, size in runs), runs
        status = await _status(handle)
        assert status.runs == len(runs)


async def test_pause_reaches_every_repository_workflow(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    owner = ScriptedOwner(120)
    client = time_skipping_env.client
    async with new_worker(
        client,
        BindingSyncWorkflow,
        StandInRepositoryWorkflow,
        activities=[
            owner.list_owner_repositories,
            owner.reconcile_owner_repositories,
            owner.note_repository_synced,
            MirrorRecorder().mirror_sync_state,
        ],
        # Every repository workflow stays cached: evicting the binding's would replay it.
        max_cached_workflows=5000,
    ) as worker:
        handle = await client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=_config()),
            id=workflow_id("a5c", f"github-a5c-ai-{uuid.uuid4().hex[:8]}"),
            task_queue=worker.task_queue,
        )
        status = await _eventually(
            lambda: _status(handle),
            lambda s: s.repositories is not None and s.repositories.syncing == 120,
        )
        await handle.signal(BindingSyncWorkflow.pause, PauseInput(reason="maintenance"))
        child = client.get_workflow_handle(f"sync/a5c/{status.binding}/1119")

        async def paused() -> str | None:
            reason: str | None = await child.query("paused")
            return reason

        deadline = asyncio.get_running_loop().time() + 60
        while (await paused()) is None:
            assert asyncio.get_running_loop().time() < deadline, "the pause never arrived"
            await asyncio.sleep(0.2)
        assert "maintenance" in (await paused() or "")
        assert max(owner.batches) <= 50


class ScriptedPages:
    """Every scope done in one page; records the repository workflow's first-pass note."""

    def __init__(self) -> None:
        self.synced: list[str] = []

    @activity.defn(name="backfill_page")
    async def backfill_page(self, input: BackfillPageInput) -> BackfillPageResult:
        cursor = input.cursor.model_copy(update={"pages": input.cursor.pages + 1})
        return BackfillPageResult(cursor=cursor, fetched=1, inserted=1, done=True)

    @activity.defn(name=NOTE_REPOSITORY_SYNCED_ACTIVITY)
    async def note_repository_synced(self, input: RepositorySyncedInput) -> RepositorySyncedResult:
        self.synced.append(input.native_id)
        return RepositorySyncedResult(noted=True)


async def test_a_repository_workflow_syncs_its_repository_and_stops_when_retired(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    pages, mirror = ScriptedPages(), MirrorRecorder()
    client = time_skipping_env.client
    parent = _config()
    config = repository_config(
        parent,
        owner="a5c-ai",
        name="krate",
        native_id="42",
        parent_id="sync/a5c/github-a5c-ai",
        paused=None,
    )
    async with new_worker(
        client,
        RepositorySyncWorkflow,
        activities=[pages.backfill_page, pages.note_repository_synced, mirror.mirror_sync_state],
    ) as worker:
        handle = await client.start_workflow(
            RepositorySyncWorkflow.run,
            BindingSyncInput(config=config),
            id=f"sync/a5c/github-a5c-ai-{uuid.uuid4().hex[:8]}/42",
            task_queue=worker.task_queue,
        )
        status = await _eventually(lambda: _status(handle), lambda s: s.passes >= 1, within=30)
        assert {c.scope.repository for c in status.cursors} == {"krate"}
        assert pages.synced == ["42"]  # the binding's "done" count
        assert mirror.calls
        assert not any(c.binding_status for c in mirror.calls)  # the binding's is not its
        await handle.signal(RepositorySyncWorkflow.retire, RetireInput(reason="deleted on GitHub"))
        await handle.result()
        final = mirror.calls[-1]
        assert final.phase == "Stopped"
        assert final.paused_reason is not None
        assert "deleted on GitHub" in final.paused_reason
        assert "rows are kept" in final.paused_reason
