"""BindingSyncWorkflow: the long-lived owner of one binding's backfill (`sync/{org}/{binding}`).

It keeps a cursor per scope (interface × resource kind × repository), runs an incremental pass
every backfill interval, pauses on provider rate limits until the reset on a durable timer, and
continues as new when the server suggests it, carrying its state along. Everything it does with
the outside world goes through activities; this module must stay deterministic and free of I/O.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.backfill_models import (
        BACKFILL_PAGE_RETRY,
        BACKFILL_PAGE_TIMEOUT,
        MIRROR_SYNC_STATE_ACTIVITY,
        MIRROR_SYNC_STATE_TIMEOUT,
        STORE_RETRY,
        BackfillPageInput,
        BackfillPageResult,
        BindingRef,
        MirrorSyncStateInput,
        MirrorSyncStateResult,
        RateLimitBudget,
        ScopeCursor,
        SyncCondition,
        SyncScope,
    )
    from activities.deliveries_models import (
        DELIVERY_BATCH_SIZE,
        DELIVERY_RETRY_DELAY,
        PROCESS_DELIVERIES_ACTIVITY,
        PROCESS_DELIVERIES_RETRY,
        PROCESS_DELIVERIES_TIMEOUT,
        NewDeliveriesInput,
        NewDeliveryInput,
        ProcessDeliveriesInput,
        ProcessDeliveriesResult,
    )
    from workflows import search_attributes as sa
    from workflows.provider_errors import rate_limit_reset

BACKFILL_PAGE_ACTIVITY = "backfill_page"
# Pages heartbeat every few seconds: a page lost with a killed worker is retried after this,
# not after the whole start-to-close timeout.
BACKFILL_PAGE_HEARTBEAT = timedelta(seconds=30)

# Resource kinds each interface backfills, in the order a pass walks them. Repositories come
# first so that the objects inside them have a parent row.
INTERFACE_KINDS: dict[str, tuple[str, ...]] = {
    "gitForge": (
        "Repository",
        "PullRequest",  # with their reviews
        "GitRef",
        "DeployKey",
        "RepositoryPermission",
        "TeamPermission",
        "BranchProtection",
    ),
    "issueTracking": ("Issue", "Comment"),
    "cicd": ("Pipeline",),
}


class InterfaceConfig(BaseModel):
    name: str
    mode: str = "mirrored"


class BindingSyncConfig(BaseModel):
    """What the manifests say about the binding; re-sent whole when the binding is re-applied."""

    binding: BindingRef
    interfaces: list[InterfaceConfig]
    repositories: list[tuple[str, str]] = Field(description="(owner, repository) pairs.")
    backfill_interval: timedelta = timedelta(minutes=15)
    webhook_first: bool = True
    generation: int = 1
    per_page: int = 100
    # Below this many remaining requests, backfill stops until the reset instead of spending
    # the last of the budget that webhooks' follow-up reads and write intents also need.
    rate_limit_floor: int = 50
    # Zero: continue as new only when the server suggests it. Tests set a small number.
    continue_as_new_after_events: int = 0
    # The Web UI filters on these; off only where the server cannot index custom attributes
    # (the time-skipping test server).
    search_attributes: bool = True


class ConditionState(BaseModel):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class FullResyncSummary(BaseModel):
    """What a FullResyncWorkflow reports to the binding's workflow when it completes."""

    completed_at: datetime
    fetched: int = 0
    tombstoned: int = 0
    failed_scopes: int = 0


class BindingSyncState(BaseModel):
    """Everything the workflow must carry across continue-as-new."""

    cursors: dict[str, ScopeCursor] = Field(default_factory=dict)
    paused_reason: str | None = None
    rate_limited_until: datetime | None = None
    rate_limit: RateLimitBudget | None = None
    sync_requested: bool = True  # the first pass starts at once
    last_incremental_started_at: datetime | None = None
    last_incremental_completed_at: datetime | None = None
    last_full_completed_at: datetime | None = None
    passes: int = 0
    objects_fetched: int = 0
    objects_inserted: int = 0
    objects_updated: int = 0
    requests: int = 0
    not_modified: int = 0
    scope_errors: dict[str, str] = Field(default_factory=dict)
    conditions: dict[str, ConditionState] = Field(default_factory=dict)
    runs: int = 1
    # Webhook deliveries (ids only; payloads stay in Postgres). Carried across continue-as-new
    # so a delivery signalled just before it is not lost.
    pending_deliveries: list[str] = Field(default_factory=list)
    retry_deliveries: list[str] = Field(default_factory=list)
    retry_deliveries_at: datetime | None = None
    deliveries_processed: int = 0
    deliveries_ignored: int = 0
    deliveries_dead_lettered: int = 0
    delivery_batches: int = 0
    last_full_resync: FullResyncSummary | None = None


class BindingSyncInput(BaseModel):
    config: BindingSyncConfig
    state: BindingSyncState | None = None


class PauseInput(BaseModel):
    reason: str = "paused by an operator"


class BindingSyncStatus(BaseModel):
    """The answer to the `status` query: what the Web UI and `krate-sync get syncstate` show."""

    org: str
    binding: str
    provider: str
    phase: str
    generation: int
    paused_reason: str | None
    rate_limited_until: datetime | None
    rate_limit: RateLimitBudget | None
    conditions: list[ConditionState]
    cursors: list[ScopeCursor]
    scope_errors: dict[str, str]
    last_incremental_started_at: datetime | None
    last_incremental_completed_at: datetime | None
    last_full_completed_at: datetime | None
    next_pass_at: datetime | None
    passes: int
    objects_fetched: int
    objects_inserted: int
    objects_updated: int
    requests: int
    not_modified: int
    runs: int
    pending_deliveries: int = 0
    retry_deliveries: int = 0
    deliveries_processed: int = 0
    deliveries_ignored: int = 0
    deliveries_dead_lettered: int = 0
    last_full_resync: FullResyncSummary | None = None


def scopes_for(config: BindingSyncConfig) -> list[SyncScope]:
    """Every scope the binding's enabled interfaces ask for, in a stable order."""
    scopes: list[SyncScope] = []
    for owner, repository in config.repositories:
        for interface in config.interfaces:
            for kind in INTERFACE_KINDS.get(interface.name, ()):
                scopes.append(
                    SyncScope(
                        interface=interface.name,
                        resource_kind=kind,
                        owner=owner,
                        repository=repository,
                    )
                )
    return scopes


async def fetch_page(
    config: BindingSyncConfig, cursor: ScopeCursor, *, full: bool
) -> BackfillPageResult:
    """One backfill page as an activity, with the family's timeouts and retries."""
    result: BackfillPageResult = await workflow.execute_activity(
        BACKFILL_PAGE_ACTIVITY,
        BackfillPageInput(
            binding=config.binding, cursor=cursor, per_page=config.per_page, full=full
        ),
        result_type=BackfillPageResult,
        start_to_close_timeout=BACKFILL_PAGE_TIMEOUT,
        heartbeat_timeout=BACKFILL_PAGE_HEARTBEAT,
        retry_policy=BACKFILL_PAGE_RETRY,
    )
    return result


@workflow.defn(name="BindingSyncWorkflow")
class BindingSyncWorkflow:
    @workflow.init
    def __init__(self, input: BindingSyncInput) -> None:
        self._config = input.config
        self._state = input.state or BindingSyncState()
        self._phase = "Pending"
        self._pass_running = False
        self._batch_running = False
        self._stopping = False
        self._mirror_due = True  # the first status goes to Postgres at once
        # Membership index of pending_deliveries (the list is the state; this is derived).
        self._queued: set[str] = set(self._state.pending_deliveries)

    # ----------------------------------------------------------------------------- run loop

    @workflow.run
    async def run(self, input: BindingSyncInput) -> None:
        self._upsert_search_attributes()
        # Webhook deliveries run beside backfill, not inside it: a rate-limit pause or a long
        # pass never holds them up. The workflow's event loop is deterministic, so a task is safe.
        deliveries = asyncio.create_task(self._delivery_loop())
        while not self._should_continue_as_new():
            if self._mirror_due:
                await self._mirror()
                continue
            if self._backfill_due():
                await self._incremental_pass()
                continue
            # Sleep until the next pass, the rate-limit reset, a signal, or a new config.
            with suppress(TimeoutError):  # a timeout is just the durable timer firing
                await workflow.wait_condition(
                    lambda: (
                        self._backfill_due() or self._mirror_due or self._should_continue_as_new()
                    ),
                    timeout=self._time_to_next_wake(),
                )
            self._set_phase()  # a rate-limit reset that passed shows up in the phase
        # Handlers may still be running (an update waiting on us); let them finish first so
        # nothing a caller was promised is lost in the new run.
        # No new batch starts from here on; the one in flight (if any) finishes first, and the
        # ids still queued travel in the state.
        self._stopping = True
        await workflow.wait_condition(lambda: not self._batch_running)
        deliveries.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.runs += 1
        workflow.continue_as_new(BindingSyncInput(config=self._config, state=self._state))

    def _should_continue_as_new(self) -> bool:
        if self._pass_running or self._batch_running:
            return False
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self._config.continue_as_new_after_events
        return limit > 0 and info.get_current_history_length() >= limit

    def _backfill_due(self) -> bool:
        if self._state.paused_reason is not None or self._rate_limited():
            return False
        if self._state.sync_requested:
            return True
        next_at = self._next_pass_at()
        return next_at is not None and workflow.now() >= next_at

    def _rate_limited(self) -> bool:
        until = self._state.rate_limited_until
        return until is not None and workflow.now() < until

    def _next_pass_at(self) -> datetime | None:
        last = self._state.last_incremental_completed_at
        if last is None:
            return None
        return last + self._config.backfill_interval

    def _time_to_next_wake(self) -> timedelta | None:
        """How long to sleep: until the rate-limit reset, else until the next pass is due."""
        if self._state.paused_reason is not None:
            return None
        now = workflow.now()
        if self._rate_limited() and self._state.rate_limited_until is not None:
            return max(self._state.rate_limited_until - now, timedelta(seconds=1))
        next_at = self._next_pass_at()
        if next_at is None:
            return None
        return max(next_at - now, timedelta(seconds=1))

    # ------------------------------------------------------------------------ backfill pass

    async def _incremental_pass(self) -> None:
        self._pass_running = True
        self._state.sync_requested = False
        self._state.last_incremental_started_at = workflow.now()
        self._set_phase()
        try:
            completed = await self._walk_scopes()
        finally:
            # Only plain state here: on eviction this runs outside the workflow's event loop.
            self._pass_running = False
        if completed:
            self._state.passes += 1
            self._state.last_incremental_completed_at = workflow.now()
        else:
            # Paused or rate limited: the cursors say where to resume, and the next wake-up
            # re-runs the pass; scopes already walked return 304s cheaply.
            self._state.sync_requested = True
        self._set_phase()
        self._mirror_due = True

    async def _walk_scopes(self) -> bool:
        for scope in scopes_for(self._config):
            if not await self._walk_scope(scope):
                return False
        return True

    async def _mirror(self) -> None:
        """Write the status to Postgres: one ExternalSyncState per scope, and the binding's."""
        self._mirror_due = False
        try:
            await workflow.execute_activity(
                MIRROR_SYNC_STATE_ACTIVITY,
                MirrorSyncStateInput(
                    binding=self._config.binding,
                    phase=self._phase,
                    cursors=list(self._state.cursors.values()),
                    scope_errors=dict(self._state.scope_errors),
                    conditions=[
                        SyncCondition(**c.model_dump()) for c in self._state.conditions.values()
                    ],
                    paused_reason=self._state.paused_reason,
                    rate_limited_until=self._state.rate_limited_until,
                    last_full_completed_at=self._state.last_full_completed_at,
                    generation=self._config.generation,
                ),
                result_type=MirrorSyncStateResult,
                start_to_close_timeout=MIRROR_SYNC_STATE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        except ActivityError as error:
            # The mirror is a view; the workflow's own state is the truth. Say so and go on.
            workflow.logger.warning("could not mirror the sync state: %s", error.cause)

    async def _walk_scope(self, scope: SyncScope) -> bool:
        """Walk one scope page by page. False when stopped early by a pause or a rate limit."""
        cursor = self._state.cursors.get(scope.key) or ScopeCursor(scope=scope)
        while True:
            if self._state.paused_reason is not None or self._rate_limited():
                return False
            try:
                result = await fetch_page(self._config, cursor, full=False)
            except ActivityError as error:
                reset_at = rate_limit_reset(error)
                if reset_at is not None:
                    self._enter_rate_limit(reset_at, reason="the provider refused: rate limit")
                    return False
                message = str(error.cause or error)
                self._state.scope_errors[scope.key] = message
                self._set_condition("BackfillHealthy", "False", "ScopeFailed", message)
                return True  # this scope is skipped until the next pass; the others go on
            cursor = result.cursor
            self._state.cursors[scope.key] = cursor
            self._count(result)
            self._state.scope_errors.pop(scope.key, None)
            if result.budget is not None:
                self._state.rate_limit = result.budget
                remaining = result.budget.remaining
                if (
                    remaining is not None
                    and remaining < self._config.rate_limit_floor
                    and result.budget.reset_at is not None
                    and result.budget.reset_at > workflow.now()
                ):
                    self._enter_rate_limit(
                        result.budget.reset_at,
                        reason=f"{remaining} requests left, below the floor of "
                        f"{self._config.rate_limit_floor}",
                    )
                    # This page is stored and the cursor advanced; stop before the next one.
                    return result.done
            if result.done:
                return True

    def _count(self, result: BackfillPageResult) -> None:
        self._state.objects_fetched += result.fetched
        self._state.objects_inserted += result.inserted
        self._state.objects_updated += result.updated
        self._state.requests += max(result.requests, 1)  # jobs and reviews cost more than one
        if result.not_modified:
            self._state.not_modified += 1

    def _enter_rate_limit(self, reset_at: datetime, reason: str) -> None:
        self._state.rate_limited_until = reset_at
        self._set_condition(
            "RateLimited",
            "True",
            "ProviderRateLimit",
            f"{reason}; resets at {reset_at.isoformat()}",
        )
        self._set_phase()

    # ------------------------------------------------------------------- webhook deliveries

    def _deliveries_due(self) -> bool:
        if self._stopping:
            return False
        if self._state.pending_deliveries:
            return True
        at = self._state.retry_deliveries_at
        return bool(self._state.retry_deliveries) and at is not None and workflow.now() >= at

    async def _delivery_loop(self) -> None:
        while True:
            timeout = None
            if self._state.retry_deliveries and self._state.retry_deliveries_at is not None:
                timeout = max(
                    self._state.retry_deliveries_at - workflow.now(), timedelta(seconds=1)
                )
            with suppress(TimeoutError):  # the retry timer firing
                await workflow.wait_condition(self._deliveries_due, timeout=timeout)
            if not self._deliveries_due():
                continue
            if not self._state.pending_deliveries:
                # Failed deliveries whose retry time has come go back in the queue.
                self._state.pending_deliveries = self._state.retry_deliveries
                self._queued = set(self._state.pending_deliveries)
                self._state.retry_deliveries = []
                self._state.retry_deliveries_at = None
            await self._delivery_batch()

    async def _delivery_batch(self) -> None:
        batch = self._state.pending_deliveries[:DELIVERY_BATCH_SIZE]
        binding = self._config.binding
        self._batch_running = True
        result: ProcessDeliveriesResult | None
        try:
            result = await workflow.execute_activity(
                PROCESS_DELIVERIES_ACTIVITY,
                ProcessDeliveriesInput(
                    org=binding.org,
                    namespace=binding.namespace,
                    provider=binding.provider,
                    provider_type=binding.provider_type,
                    binding=binding.binding,
                    delivery_ids=batch,
                ),
                result_type=ProcessDeliveriesResult,
                start_to_close_timeout=PROCESS_DELIVERIES_TIMEOUT,
                retry_policy=PROCESS_DELIVERIES_RETRY,
            )
        except ActivityError as error:
            # The batch as a whole kept failing (database down for minutes): keep the ids and
            # try again later; the rows stay Queued, so nothing is lost either way.
            self._set_condition("WebhookReady", "False", "ProcessingFailed", str(error.cause))
            self._schedule_retry(batch, attempts=5)
            result = None
        finally:
            self._batch_running = False
        done = set(batch)
        self._state.pending_deliveries = [
            i for i in self._state.pending_deliveries if i not in done
        ]
        self._queued -= done
        if result is None:
            return
        self._state.delivery_batches += 1
        self._state.deliveries_processed += result.processed
        self._state.deliveries_ignored += result.ignored
        self._state.deliveries_dead_lettered += result.dead_lettered
        self._set_condition("WebhookReady", "True", "Processing")
        if result.retry:
            self._schedule_retry(result.retry, attempts=result.retry_attempts)

    def _schedule_retry(self, ids: list[str], *, attempts: int) -> None:
        for delivery_id in ids:
            if delivery_id not in self._state.retry_deliveries:
                self._state.retry_deliveries.append(delivery_id)
        at = workflow.now() + DELIVERY_RETRY_DELAY * max(attempts, 1)
        current = self._state.retry_deliveries_at
        self._state.retry_deliveries_at = at if current is None else min(current, at)

    # --------------------------------------------------------------------- phase & conditions

    def _set_condition(self, type_: str, status: str, reason: str, message: str = "") -> None:
        current = self._state.conditions.get(type_)
        if current and current.status == status and current.reason == reason:
            current.message = message
            return
        self._state.conditions[type_] = ConditionState(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=workflow.now(),
        )

    def _set_phase(self) -> None:
        if not self._rate_limited() and self._state.rate_limited_until is not None:
            self._state.rate_limited_until = None
            self._set_condition("RateLimited", "False", "BudgetAvailable")
        if not self._state.scope_errors:
            self._set_condition("BackfillHealthy", "True", "AllScopesSynced")
        if self._state.paused_reason is not None:
            phase = "Paused"
        elif self._rate_limited():
            phase = "RateLimited"
        elif self._state.scope_errors:
            phase = "Degraded"
        elif self._state.last_incremental_completed_at is None:
            phase = "Syncing"
        else:
            phase = "Ready"
        ready = phase == "Ready" or (phase == "Syncing" and self._pass_running)
        self._set_condition("Ready", "True" if ready else "False", phase)
        if phase != self._phase:
            self._phase = phase
            self._mirror_due = True
            if self._config.search_attributes:
                workflow.upsert_search_attributes([sa.KRATE_PHASE.value_set(phase)])

    def _upsert_search_attributes(self) -> None:
        binding = self._config.binding
        if not self._config.search_attributes:
            self._set_phase()
            return
        workflow.upsert_search_attributes(
            [
                sa.KRATE_ORG.value_set(binding.org),
                sa.KRATE_PROVIDER.value_set(binding.provider),
                sa.KRATE_BINDING.value_set(binding.binding),
                sa.KRATE_INTERFACE.value_set(sorted(i.name for i in self._config.interfaces)),
            ]
        )
        self._set_phase()

    # ------------------------------------------------------------------ signals and queries

    @workflow.signal
    def new_delivery(self, input: NewDeliveryInput) -> None:
        """A webhook delivery was stored: queue its id (a repeated signal queues it once).
        Kept for running workflows and older senders; the ingress sends `new_deliveries`."""
        self._queue_delivery(input.delivery_id)

    @workflow.signal
    def new_deliveries(self, input: NewDeliveriesInput) -> None:
        """Webhook deliveries stored for this binding in one window of the ingress: queue
        their ids in order (each once, however often it is signalled)."""
        for delivery_id in input.delivery_ids:
            self._queue_delivery(delivery_id)

    def _queue_delivery(self, delivery_id: str) -> None:
        if delivery_id not in self._queued:
            self._queued.add(delivery_id)
            self._state.pending_deliveries.append(delivery_id)

    @workflow.signal
    def full_resync_completed(self, summary: FullResyncSummary) -> None:
        """The binding's scheduled full resync finished (sent by FullResyncWorkflow)."""
        self._state.last_full_resync = summary
        self._state.last_full_completed_at = summary.completed_at
        self._mirror_due = True

    @workflow.signal
    def sync_now(self) -> None:
        """Start an incremental pass now instead of at the next interval."""
        self._state.sync_requested = True

    @workflow.signal
    def pause(self, input: PauseInput) -> None:
        """Stop backfill after the page in flight; webhooks keep being processed."""
        self._state.paused_reason = input.reason or "paused"
        self._set_phase()

    @workflow.signal
    def resume(self) -> None:
        self._state.paused_reason = None
        self._set_phase()

    @workflow.signal
    def reconfigure(self, config: BindingSyncConfig) -> None:
        """The binding or its policy was re-applied: adopt the new configuration."""
        self._config = config
        self._state.sync_requested = True
        self._upsert_search_attributes()

    @workflow.query
    def status(self) -> BindingSyncStatus:
        binding = self._config.binding
        return BindingSyncStatus(
            org=binding.org,
            binding=binding.binding,
            provider=binding.provider,
            phase=self._phase,
            generation=self._config.generation,
            paused_reason=self._state.paused_reason,
            rate_limited_until=self._state.rate_limited_until,
            rate_limit=self._state.rate_limit,
            conditions=list(self._state.conditions.values()),
            cursors=list(self._state.cursors.values()),
            scope_errors=dict(self._state.scope_errors),
            last_incremental_started_at=self._state.last_incremental_started_at,
            last_incremental_completed_at=self._state.last_incremental_completed_at,
            last_full_completed_at=self._state.last_full_completed_at,
            next_pass_at=self._next_pass_at(),
            passes=self._state.passes,
            objects_fetched=self._state.objects_fetched,
            objects_inserted=self._state.objects_inserted,
            objects_updated=self._state.objects_updated,
            requests=self._state.requests,
            not_modified=self._state.not_modified,
            runs=self._state.runs,
            pending_deliveries=len(self._state.pending_deliveries),
            retry_deliveries=len(self._state.retry_deliveries),
            deliveries_processed=self._state.deliveries_processed,
            deliveries_ignored=self._state.deliveries_ignored,
            deliveries_dead_lettered=self._state.deliveries_dead_lettered,
            last_full_resync=self._state.last_full_resync,
        )


def workflow_id(org: str, binding: str) -> str:
    return f"sync/{org}/{binding}"
