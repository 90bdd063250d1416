"""FullResyncWorkflow: walk everything a binding covers and tombstone what the provider dropped.

A Temporal Schedule per binding (`resync/{org}/{binding}`) starts it every `fullResyncInterval`.
Incremental passes trust watermarks and ETags; this pass trusts nothing: every page is fetched,
every object upserted (the version guard keeps newer webhook data), and rows of a scope that the
completed walk did not see are marked deleted (never dropped). Deterministic, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.backfill_models import (
        BACKFILL_PAGE_RETRY,
        ScopeCursor,
        TombstoneInput,
        TombstoneResult,
    )
    from workflows.binding_sync import (
        BindingSyncConfig,
        BindingSyncWorkflow,
        FullResyncSummary,
        fetch_page,
        workflow_id,
        workflow_scopes,
    )
    from workflows.provider_errors import rate_limit_reset

TOMBSTONE_ACTIVITY = "tombstone_unseen"
# One UPDATE per scope; generous because a large scope may touch many rows.
TOMBSTONE_TIMEOUT = timedelta(minutes=5)


class ScopeOutcome(BaseModel):
    scope: str
    fetched: int = 0
    pages: int = 0
    tombstoned: int = 0
    error: str | None = None


class FullResyncProgress(BaseModel):
    """Where a resync stands; carried across continue-as-new."""

    scope_index: int = 0
    cursor: ScopeCursor | None = None
    seen_since: datetime | None = None
    current: ScopeOutcome | None = None  # the scope being walked, counted so far
    outcomes: list[ScopeOutcome] = Field(default_factory=list)
    rate_limit_waits: int = 0
    started_at: datetime | None = None


class FullResyncInput(BaseModel):
    config: BindingSyncConfig
    progress: FullResyncProgress | None = None


class FullResyncResult(BaseModel):
    started_at: datetime | None
    completed_at: datetime
    scopes: list[ScopeOutcome]
    fetched: int
    tombstoned: int
    failed_scopes: int
    rate_limit_waits: int


@workflow.defn(name="FullResyncWorkflow")
class FullResyncWorkflow:
    @workflow.init
    def __init__(self, input: FullResyncInput) -> None:
        self._config = input.config
        self._progress = input.progress or FullResyncProgress()
        self._current: str | None = None

    @workflow.run
    async def run(self, input: FullResyncInput) -> FullResyncResult:
        progress = self._progress
        progress.started_at = progress.started_at or workflow.now()
        scopes = workflow_scopes(self._config)
        while progress.scope_index < len(scopes):
            scope = scopes[progress.scope_index]
            self._current = scope.key
            outcome = await self._walk(progress, progress.cursor or ScopeCursor(scope=scope))
            if outcome is None:  # continue-as-new between pages; the cursor is in progress
                workflow.continue_as_new(FullResyncInput(config=self._config, progress=progress))
            progress.outcomes.append(outcome)
            progress.scope_index += 1
            progress.cursor = None
            progress.seen_since = None
            progress.current = None
        self._current = None
        result = FullResyncResult(
            started_at=progress.started_at,
            completed_at=workflow.now(),
            scopes=progress.outcomes,
            fetched=sum(o.fetched for o in progress.outcomes),
            tombstoned=sum(o.tombstoned for o in progress.outcomes),
            failed_scopes=sum(1 for o in progress.outcomes if o.error),
            rate_limit_waits=progress.rate_limit_waits,
        )
        await self._report(result)
        return result

    async def _report(self, result: FullResyncResult) -> None:
        """Tell the binding's workflow, so its status (and the Web UI) shows the last resync."""
        binding = self._config.binding
        handle = workflow.get_external_workflow_handle(workflow_id(binding.org, binding.binding))
        try:
            await handle.signal(
                BindingSyncWorkflow.full_resync_completed,
                FullResyncSummary(
                    completed_at=result.completed_at,
                    fetched=result.fetched,
                    tombstoned=result.tombstoned,
                    failed_scopes=result.failed_scopes,
                ),
            )
        except FailureError as error:  # the binding was deleted meanwhile: nobody to tell
            workflow.logger.info("binding workflow not told of the resync: %s", error)

    async def _walk(self, progress: FullResyncProgress, cursor: ScopeCursor) -> ScopeOutcome | None:
        """Every page of one scope, then its tombstones. None: continue as new first."""
        outcome = progress.current = progress.current or ScopeOutcome(scope=cursor.scope.key)
        while True:
            if self._should_continue_as_new():
                progress.cursor = cursor
                return None
            try:
                result = await fetch_page(self._config, cursor, full=True)
            except ActivityError as error:
                reset_at = rate_limit_reset(error)
                if reset_at is None:
                    # A fatal answer: this scope is not walked completely, so nothing of it may
                    # be tombstoned. Report it and go on with the others.
                    outcome.error = str(error.cause or error)
                    return outcome
                progress.rate_limit_waits += 1
                await workflow.sleep(max(reset_at - workflow.now(), timedelta(seconds=1)))
                continue
            cursor = result.cursor
            progress.cursor = cursor
            if progress.seen_since is None:
                progress.seen_since = result.seen_since
            outcome.fetched += result.fetched
            outcome.pages += 1
            if result.done:
                break
        if progress.seen_since is not None:
            marked: TombstoneResult = await workflow.execute_activity(
                TOMBSTONE_ACTIVITY,
                TombstoneInput(
                    binding=self._config.binding,
                    scope=cursor.scope,
                    seen_since=progress.seen_since,
                ),
                result_type=TombstoneResult,
                start_to_close_timeout=TOMBSTONE_TIMEOUT,
                retry_policy=BACKFILL_PAGE_RETRY,
            )
            outcome.tombstoned = marked.marked
        return outcome

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        limit = self._config.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or (
            limit > 0 and info.get_current_history_length() >= limit
        )

    @workflow.query
    def current_scope(self) -> str | None:
        """The scope being walked, for the Web UI."""
        return self._current


def schedule_id(org: str, binding: str) -> str:
    return f"resync/{org}/{binding}"
