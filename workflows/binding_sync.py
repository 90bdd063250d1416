"""BindingSyncWorkflow: the long-lived owner of one binding's backfill (`sync/{org}/{binding}`).

It keeps a cursor per scope (interface × resource kind × repository), runs an incremental pass
every backfill interval, pauses on provider rate limits until the reset on a durable timer, and
continues as new when the server suggests it, carrying its state along. Everything it does with
the outside world goes through activities; this module must stay deterministic and free of I/O.

Paused (`spec.paused` of the binding or its provider, or an operator's `pause` signal), it
does nothing: no pass, no delivery batch, no refresh; queued ids wait for the resume. The sync
policy's `backfill.enabled: false` leaves webhooks only; `webhookFirst` orders a due pass after
queued deliveries (docs/backfill.md, "Pause, webhook-first and webhooks only").
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from activities.backfill_models import (
        BACKFILL_PAGE_RETRY,
        BACKFILL_PAGE_TIMEOUT,
        CONFIGURATION_ERROR,
        MIRROR_SYNC_STATE_ACTIVITY,
        MIRROR_SYNC_STATE_TIMEOUT,
        RATE_LIMITED,
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
    from activities.owner_repositories_models import (
        LIST_OWNER_REPOSITORIES_ACTIVITY,
        NOTE_REPOSITORY_EVENTS_ACTIVITY,
        NOTE_REPOSITORY_SYNCED_ACTIVITY,
        OWNER_LISTING_RETRY,
        OWNER_LISTING_TIMEOUT,
        OWNER_STORE_RETRY,
        OWNER_STORE_TIMEOUT,
        RECONCILE_OWNER_REPOSITORIES_ACTIVITY,
        OwnerListingInput,
        OwnerListingResult,
        ReconcileRepositoriesInput,
        ReconcileRepositoriesResult,
        RepositoryEventsInput,
        RepositoryEventsResult,
        RepositoryProgress,
        RepositorySyncedInput,
        RepositorySyncedResult,
        RepositoryTarget,
    )
    from activities.refresh_models import (
        REFRESH_OBJECTS_ACTIVITY,
        REFRESH_OBJECTS_HEARTBEAT,
        REFRESH_OBJECTS_TIMEOUT,
        RefreshObjectsInput,
        RefreshObjectsResult,
    )
    from workflows import search_attributes as sa
    from workflows.owner_repositories import (
        DISCOVERY_ERROR_KEY,
        REPOSITORY_ACTIONS_PER_RUN,
        REPOSITORY_BATCH,
        REPOSITORY_SYNC_WORKFLOW,
        OwnerListing,
        RetireInput,
        repository_config,
        repository_workflow_id,
    )
    from workflows.provider_errors import rate_limit_reset

BACKFILL_PAGE_ACTIVITY = "backfill_page"
# Pages heartbeat every few seconds: a page lost with a killed worker is retried after this,
# not after the whole start-to-close timeout.
BACKFILL_PAGE_HEARTBEAT = timedelta(seconds=30)
# Runs started before a pause held webhook deliveries back, and before `webhook_first` let
# queued deliveries go ahead of a due pass, keep the old behaviour until they continue as new:
# their histories have no marker, so `workflow.patched` answers False when they replay.
PAUSE_AND_WEBHOOK_FIRST_PATCH = "pause-holds-deliveries-webhook-first"
# A refresh round that failed for a reason other than a rate limit waits this long before the
# next one (the marks stay on the rows; nothing is lost by waiting).
REFRESH_BACKOFF = timedelta(minutes=5)
REFRESH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=[RATE_LIMITED, CONFIGURATION_ERROR],
)

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
# Kinds added after workflows were running (issue 9: labels and repository webhooks). Their
# scopes come after all the others, so a full resync that resumes by scope index finds its
# old scopes where they were, and workflows that started without them keep their commands
# until their next run (`MAPPING_KINDS_PATCH`).
ADDED_KINDS: dict[str, tuple[str, ...]] = {
    "gitForge": ("WebhookSubscription",),
    "issueTracking": ("Label",),
}
MAPPING_KINDS_PATCH = "scopes-labels-webhook-subscriptions"


class InterfaceConfig(BaseModel):
    name: str
    mode: str = "mirrored"


class BindingSyncConfig(BaseModel):
    """What the manifests say about the binding; re-sent whole when the binding is re-applied."""

    binding: BindingRef
    interfaces: list[InterfaceConfig]
    repositories: list[tuple[str, str]] = Field(description="(owner, repository) pairs.")
    backfill_interval: timedelta = timedelta(minutes=15)
    # The sync policy's `webhookFirst`: True, queued deliveries go before a pass that comes
    # due (for at most one more interval); False, passes start when due regardless.
    webhook_first: bool = True
    # The sync policy's `backfill.enabled`: False, webhooks only (no passes unless asked for).
    backfill_enabled: bool = True
    # Set when `spec.paused` is true on the binding or its provider: why, in words. Distinct
    # from an operator's `pause` signal (state.paused_reason), which a re-apply leaves alone.
    manifest_paused_reason: str | None = None
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
    # issue 9 (owner-wide bindings), workflows/owner_repositories.py. Set: the binding syncs
    # every repository of this owner, each in a RepositorySyncWorkflow of its own, and
    # `repositories` stays empty.
    owner_wide: str | None = None
    # Set on a RepositorySyncWorkflow: its repository's stable id and the binding's workflow.
    repository_id: str | None = None
    binding_workflow_id: str | None = None
    repository_batch: int = REPOSITORY_BATCH
    repository_actions_per_run: int = REPOSITORY_ACTIONS_PER_RUN


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
    # A `sync_now` signal is waiting: the one request that runs a pass with backfill disabled.
    operator_sync_requested: bool = False
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
    # Error type of each failed scope (ProviderAuthError, ...): a 401/403 sets AuthReady False.
    scope_error_types: dict[str, str] = Field(default_factory=dict)
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
    # Rows of the binding that tied with an incoming state (same version, other content) and
    # wait for a fresh read, as the last batch, page or refresh round reported them.
    refresh_wanted: int = 0
    refresh_not_before: datetime | None = None
    objects_refreshed: int = 0
    # issue 9 (owner-wide bindings): the listing under way, the progress counts, whether the
    # repository workflows need a step, the version of the configuration they should run.
    owner_listing: OwnerListing | None = None
    repositories: RepositoryProgress | None = None
    repositories_removed: list[dict[str, str]] = Field(default_factory=list)
    repository_step_requested: bool = False
    repository_config_version: int = 0
    # A RepositorySyncWorkflow told to stop (its repository left the owner's set): why.
    retired_reason: str | None = None


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
    # Who paused the binding: "manifest" (spec.paused of it or its provider), "operator".
    paused_by: list[str] = Field(default_factory=list)
    backfill_enabled: bool = True
    # webhook-first, polling-first, or webhooks-only (backfill disabled).
    sync_mode: str = "webhook-first"
    deliveries_processed: int = 0
    deliveries_ignored: int = 0
    deliveries_dead_lettered: int = 0
    last_full_resync: FullResyncSummary | None = None
    refresh_wanted: int = 0
    objects_refreshed: int = 0
    # Owner-wide bindings: the owner, and how far its repositories are.
    owner_wide: str | None = None
    repositories: RepositoryProgress | None = None
    repositories_removed: list[dict[str, str]] = Field(default_factory=list)
    retired_reason: str | None = None


def scopes_for(config: BindingSyncConfig, *, added_kinds: bool = True) -> list[SyncScope]:
    """Every scope the binding's enabled interfaces ask for, in a stable order; the kinds of
    `ADDED_KINDS` last, and only when `added_kinds` (workflows pass their patch's answer)."""
    scopes: list[SyncScope] = []
    for kinds in (INTERFACE_KINDS, ADDED_KINDS) if added_kinds else (INTERFACE_KINDS,):
        for owner, repository in config.repositories:
            for interface in config.interfaces:
                for kind in kinds.get(interface.name, ()):
                    scopes.append(
                        SyncScope(
                            interface=interface.name,
                            resource_kind=kind,
                            owner=owner,
                            repository=repository,
                        )
                    )
    return scopes


def workflow_scopes(config: BindingSyncConfig) -> list[SyncScope]:
    """`scopes_for` inside a workflow: the added kinds only where the patch says so."""
    return scopes_for(config, added_kinds=workflow.patched(MAPPING_KINDS_PATCH))


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
        self._patched = False  # PAUSE_AND_WEBHOOK_FIRST_PATCH, decided once at the top of run
        self._repository_actions = 0  # repository workflows started, stopped, reconfigured
        # Membership index of pending_deliveries (the list is the state; this is derived).
        self._queued: set[str] = set(self._state.pending_deliveries)

    # ----------------------------------------------------------------------------- run loop

    @workflow.run
    async def run(self, input: BindingSyncInput) -> None:
        self._patched = workflow.patched(PAUSE_AND_WEBHOOK_FIRST_PATCH)
        self._upsert_search_attributes()
        # Webhook deliveries run beside backfill, not inside it: a rate-limit pause or a long
        # pass never holds them up. The workflow's event loop is deterministic, so a task is safe.
        deliveries = asyncio.create_task(self._delivery_loop())
        while not self._should_continue_as_new() and not self._retired():
            if self._mirror_due:
                await self._mirror()
                continue
            if self._backfill_due():
                await self._incremental_pass()
                continue
            if self._repository_step_due():
                await self._step_repositories()
                continue
            # Sleep until the next pass, the rate-limit reset, a signal, or a new config.
            with suppress(TimeoutError):  # a timeout is just the durable timer firing
                await workflow.wait_condition(
                    lambda: (
                        self._backfill_due()
                        or self._mirror_due
                        or self._should_continue_as_new()
                        or self._repository_step_due()
                        or self._retired()
                    ),
                    timeout=self._time_to_next_wake(),
                )
            self._set_phase()  # a rate-limit reset that passed shows up in the phase
        if self._retired():
            await self._retire(deliveries)
            return
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
        if self._repository_actions >= self._config.repository_actions_per_run:
            return True  # owner-wide: keep each run's history a bounded size
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self._config.continue_as_new_after_events
        return limit > 0 and info.get_current_history_length() >= limit

    def _backfill_due(self) -> bool:
        if self._paused() or self._rate_limited():
            return False
        if not self._config.backfill_enabled:
            return self._state.operator_sync_requested  # webhooks only, unless asked
        if self._state.sync_requested:
            return True
        next_at = self._next_pass_at()
        if next_at is None or workflow.now() < next_at:
            return False
        return not self._deliveries_go_first(next_at)

    def _deliveries_go_first(self, due_at: datetime) -> bool:
        """Webhook-first: a due pass waits while deliveries are queued (they bring fresher
        state, and the pass then reads 304s), but never more than one more interval."""
        if not (self._patched and self._config.webhook_first):
            return False
        deadline = due_at + self._config.backfill_interval
        return bool(self._state.pending_deliveries) and workflow.now() < deadline

    def _repositories_status(self) -> dict[str, object] | None:
        progress = self._state.repositories
        if self._config.owner_wide is None:
            return None
        counts: dict[str, object] = {"owner": self._config.owner_wide}
        if progress is not None:
            counts.update(progress.model_dump())
        if self._state.repositories_removed:
            counts["recentlyRemoved"] = self._state.repositories_removed
        return counts

    def _pause_reasons(self) -> list[tuple[str, str]]:
        """(who, why) of every pause in force: the manifests first, then an operator."""
        found: list[tuple[str, str]] = []
        if self._state.retired_reason is not None:
            found.append(("binding", f"stopped: {self._state.retired_reason}; its rows are kept"))
        if self._config.manifest_paused_reason is not None:
            found.append(("manifest", self._config.manifest_paused_reason))
        if self._state.paused_reason is not None:
            found.append(("operator", self._state.paused_reason))
        return found

    def _paused(self) -> bool:
        return self._config.manifest_paused_reason is not None or (
            self._state.paused_reason is not None
        )

    def _paused_reason(self) -> str | None:
        reasons = [why for _, why in self._pause_reasons()]
        return "; ".join(reasons) if reasons else None

    def _sync_mode(self) -> str:
        if not self._config.backfill_enabled:
            return "webhooks-only"
        return "webhook-first" if self._config.webhook_first else "polling-first"

    def _rate_limited(self) -> bool:
        until = self._state.rate_limited_until
        return until is not None and workflow.now() < until

    def _next_pass_at(self) -> datetime | None:
        last = self._state.last_incremental_completed_at
        if last is None or not self._config.backfill_enabled:
            return None
        return last + self._config.backfill_interval

    def _time_to_next_wake(self) -> timedelta | None:
        """How long to sleep: until the rate-limit reset, else until the next pass is due."""
        if self._paused():
            return None
        now = workflow.now()
        if self._rate_limited() and self._state.rate_limited_until is not None:
            return max(self._state.rate_limited_until - now, timedelta(seconds=1))
        next_at = self._next_pass_at()
        if next_at is None:
            return None
        if now >= next_at:  # due, but queued deliveries go first: until their deadline
            return max(next_at + self._config.backfill_interval - now, timedelta(seconds=1))
        return max(next_at - now, timedelta(seconds=1))

    # ------------------------------------------------------------------------ backfill pass

    async def _incremental_pass(self) -> None:
        self._pass_running = True
        self._state.sync_requested = False
        asked = self._state.operator_sync_requested
        self._state.operator_sync_requested = False
        self._state.last_incremental_started_at = workflow.now()
        self._set_phase()
        try:
            if self._config.owner_wide is not None:
                completed = await self._list_owner_repositories(self._config.owner_wide)
            else:
                completed = await self._walk_scopes()
        finally:
            # Only plain state here: on eviction this runs outside the workflow's event loop.
            self._pass_running = False
        if completed:
            self._state.passes += 1
            self._state.last_incremental_completed_at = workflow.now()
            if self._state.passes == 1 and self._config.repository_id is not None:
                await self._note_repository_synced(self._config.repository_id)
        else:
            # Paused or rate limited: the cursors say where to resume, and the next wake-up
            # re-runs the pass; scopes already walked return 304s cheaply.
            self._state.sync_requested = True
            self._state.operator_sync_requested = asked
        self._set_phase()
        self._mirror_due = True

    async def _walk_scopes(self) -> bool:
        for scope in workflow_scopes(self._config):
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
                    paused_reason=self._paused_reason(),
                    rate_limited_until=self._state.rate_limited_until,
                    last_full_completed_at=self._state.last_full_completed_at,
                    generation=self._config.generation,
                    scope_error_types=dict(self._state.scope_error_types),
                    rate_limit=self._state.rate_limit,
                    next_backfill_at=self._next_pass_at(),
                    # A repository workflow writes its scopes; the binding's status is the
                    # binding workflow's (with the owner's repositories counted).
                    binding_status=self._config.binding_workflow_id is None,
                    repositories=self._repositories_status(),
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
            if self._paused() or self._rate_limited() or self._retired():
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
                cause = error.cause
                if isinstance(cause, ApplicationError) and cause.type:
                    self._state.scope_error_types[scope.key] = cause.type
                self._set_condition("BackfillHealthy", "False", "ScopeFailed", message)
                return True  # this scope is skipped until the next pass; the others go on
            cursor = result.cursor
            self._state.cursors[scope.key] = cursor
            self._count(result)
            if result.tied:
                self._state.refresh_wanted += result.tied
            self._state.scope_errors.pop(scope.key, None)
            self._state.scope_error_types.pop(scope.key, None)
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

    # ------------------------------------------------------------ owner-wide bindings

    def _retired(self) -> bool:
        return self._state.retired_reason is not None

    def _repository_step_due(self) -> bool:
        """Repository workflows to start, stop or reconfigure (owner-wide bindings only;
        also while paused: the pause itself has to reach them)."""
        return (
            self._config.owner_wide is not None
            and self._state.repository_step_requested
            and self._repository_actions < self._config.repository_actions_per_run
        )

    async def _list_owner_repositories(self, owner: str) -> bool:
        """A pass of an owner-wide binding: list the owner's repositories page by page (to
        Postgres), then start or stop their workflows. False when a pause or a rate limit
        stopped the listing (it resumes at its cursor)."""
        listing = self._state.owner_listing or OwnerListing(listing_id=str(workflow.uuid4()))
        self._state.owner_listing = listing
        while True:
            if self._paused() or self._rate_limited():
                return False
            try:
                result: OwnerListingResult = await workflow.execute_activity(
                    LIST_OWNER_REPOSITORIES_ACTIVITY,
                    OwnerListingInput(
                        binding=self._config.binding,
                        owner=owner,
                        listing_id=listing.listing_id,
                        cursor=listing.cursor,
                    ),
                    result_type=OwnerListingResult,
                    start_to_close_timeout=OWNER_LISTING_TIMEOUT,
                    retry_policy=OWNER_LISTING_RETRY,
                )
            except ActivityError as error:
                reset_at = rate_limit_reset(error)
                if reset_at is not None:
                    self._enter_rate_limit(reset_at, reason="the provider refused: rate limit")
                    return False
                message = f"listing the repositories of {owner}: {error.cause or error}"
                self._state.scope_errors[DISCOVERY_ERROR_KEY] = message
                cause = error.cause
                if isinstance(cause, ApplicationError) and cause.type:
                    self._state.scope_error_types[DISCOVERY_ERROR_KEY] = cause.type
                self._set_condition("BackfillHealthy", "False", "DiscoveryFailed", message)
                # The next pass lists again from the start; the repositories already known
                # keep syncing meanwhile.
                self._state.owner_listing = None
                self._state.repository_step_requested = True
                return True
            self._state.requests += max(result.requests, 1)
            self._state.scope_errors.pop(DISCOVERY_ERROR_KEY, None)
            self._state.scope_error_types.pop(DISCOVERY_ERROR_KEY, None)
            listing.cursor = result.next_cursor
            listing.pages += 1
            listing.listed += result.listed
            if result.budget is not None:
                self._state.rate_limit = result.budget
            if result.done:
                break
            if (
                result.budget is not None
                and result.budget.remaining is not None
                and result.budget.remaining < self._config.rate_limit_floor
                and result.budget.reset_at is not None
                and result.budget.reset_at > workflow.now()
            ):
                self._enter_rate_limit(
                    result.budget.reset_at,
                    reason=f"{result.budget.remaining} requests left, below the floor of "
                    f"{self._config.rate_limit_floor}",
                )
                return False
        self._state.owner_listing = None
        # After every complete listing: the counts change as repositories finish, too.
        self._state.repository_step_requested = True
        return True

    async def _step_repositories(self) -> None:
        """Start, stop and reconfigure repository workflows, a bounded batch per activity,
        until none is left or this run started its share (it then continues as new)."""
        self._state.repository_step_requested = False
        started: list[str] = []
        stopped: list[str] = []
        configured: list[str] = []
        while True:
            try:
                work: ReconcileRepositoriesResult = await workflow.execute_activity(
                    RECONCILE_OWNER_REPOSITORIES_ACTIVITY,
                    ReconcileRepositoriesInput(
                        binding=self._config.binding,
                        config_version=self._state.repository_config_version,
                        limit=self._config.repository_batch,
                        started=started,
                        stopped=stopped,
                        configured=configured,
                    ),
                    result_type=ReconcileRepositoriesResult,
                    start_to_close_timeout=OWNER_STORE_TIMEOUT,
                    retry_policy=OWNER_STORE_RETRY,
                )
            except ActivityError as error:
                # Started workflows not yet noted are found running next time (a start of a
                # running workflow is harmless); try again at the next pass.
                workflow.logger.warning("repository workflows not reconciled: %s", error.cause)
                return
            self._state.repositories = work.progress
            self._state.repositories_removed = work.removed
            self._mirror_due = True
            if work.empty:
                return
            if self._repository_actions >= self._config.repository_actions_per_run:
                self._state.repository_step_requested = True  # the next run goes on
                return
            stopped = list(await asyncio.gather(*(self._stop_repository(t) for t in work.stop)))
            started = list(await asyncio.gather(*(self._start_repository(t) for t in work.start)))
            configured = list(
                await asyncio.gather(*(self._reconfigure_repository(t) for t in work.reconfigure))
            )
            self._repository_actions += len(started) + len(stopped) + len(configured)

    def _repository_config(self, target: RepositoryTarget) -> BindingSyncConfig:
        owner, _, name = target.full_name.partition("/")
        return repository_config(
            self._config,
            owner=owner,
            name=name,
            native_id=target.native_id,
            parent_id=workflow.info().workflow_id,
            paused=self._paused_reason(),
        )

    def _repository_workflow_id(self, target: RepositoryTarget) -> str:
        binding = self._config.binding
        return repository_workflow_id(binding.org, binding.binding, target.native_id)

    async def _start_repository(self, target: RepositoryTarget) -> str:
        config = self._repository_config(target)
        try:
            # Abandoned when this run closes: they outlive its continue-as-new.
            await workflow.start_child_workflow(
                REPOSITORY_SYNC_WORKFLOW,
                BindingSyncInput(config=config),
                id=self._repository_workflow_id(target),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            # Already running (its start was not noted before a retry): give it the config.
            await self._reconfigure_repository(target)
        return target.native_id

    async def _stop_repository(self, target: RepositoryTarget) -> str:
        handle = workflow.get_external_workflow_handle(self._repository_workflow_id(target))
        with suppress(FailureError):  # already gone: stopped is what was wanted
            await handle.signal(
                "retire", RetireInput(reason=f"{target.full_name} left the binding's owner")
            )
        return target.native_id

    async def _reconfigure_repository(self, target: RepositoryTarget) -> str:
        handle = workflow.get_external_workflow_handle(self._repository_workflow_id(target))
        with suppress(FailureError):  # not running: the next step starts it with the config
            await handle.signal("reconfigure", self._repository_config(target))
        return target.native_id

    async def _note_repository_events(self, delivery_ids: list[str]) -> None:
        """Deliveries just processed may add or remove repositories of the owner
        (`installation_repositories`, `repository` created, deleted, transferred)."""
        owner = self._config.owner_wide
        if owner is None:
            return
        try:
            result: RepositoryEventsResult = await workflow.execute_activity(
                NOTE_REPOSITORY_EVENTS_ACTIVITY,
                RepositoryEventsInput(
                    binding=self._config.binding, owner=owner, delivery_ids=delivery_ids
                ),
                result_type=RepositoryEventsResult,
                start_to_close_timeout=OWNER_STORE_TIMEOUT,
                retry_policy=OWNER_STORE_RETRY,
            )
        except ActivityError as error:
            # The next listing finds the same repositories: late, not lost.
            workflow.logger.warning("repository events not noted: %s", error.cause)
            return
        if result.changed:
            self._state.repository_step_requested = True

    async def _note_repository_synced(self, native_id: str) -> None:
        """A repository workflow's first pass completed: the binding's "done" count."""
        try:
            await workflow.execute_activity(
                NOTE_REPOSITORY_SYNCED_ACTIVITY,
                RepositorySyncedInput(binding=self._config.binding, native_id=native_id),
                result_type=RepositorySyncedResult,
                start_to_close_timeout=OWNER_STORE_TIMEOUT,
                retry_policy=OWNER_STORE_RETRY,
            )
        except ActivityError as error:
            workflow.logger.warning("first pass not noted: %s", error.cause)

    async def _retire(self, deliveries: asyncio.Task[None]) -> None:
        """The repository left the owner's set: stop after the page in flight, show why on
        its scopes, keep every row, and complete."""
        self._stopping = True
        await workflow.wait_condition(lambda: not self._batch_running)
        deliveries.cancel()
        self._phase = "Stopped"
        await self._mirror()
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _bump_repository_config(self) -> None:
        """The binding's configuration or pause changed: its repository workflows get it."""
        if self._config.owner_wide is not None:
            self._state.repository_config_version += 1
            self._state.repository_step_requested = True

    # ------------------------------------------------------------------- webhook deliveries

    def _deliveries_due(self) -> bool:
        if self._stopping:
            return False
        if self._patched and self._paused():
            # Paused means nothing is processed: the ingress keeps recording deliveries (rows
            # stay Queued, ids stay queued here) and they are processed after the resume.
            return False
        if self._state.pending_deliveries:
            return True
        at = self._state.retry_deliveries_at
        return bool(self._state.retry_deliveries) and at is not None and workflow.now() >= at

    def _refresh_due(self) -> bool:
        """Rows wait for a fresh read, and the provider may be asked (not paused or limited)."""
        if self._stopping or self._state.refresh_wanted <= 0:
            return False
        if self._paused() or self._rate_limited():
            return False
        at = self._state.refresh_not_before
        return at is None or workflow.now() >= at

    def _delivery_wake(self) -> timedelta | None:
        """Until the earliest of the delivery retry time and the refresh back-off."""
        times = [
            t
            for t in (
                self._state.retry_deliveries_at if self._state.retry_deliveries else None,
                self._state.refresh_not_before if self._state.refresh_wanted > 0 else None,
            )
            if t is not None
        ]
        if not times:
            return None
        return max(min(times) - workflow.now(), timedelta(seconds=1))

    async def _delivery_loop(self) -> None:
        while True:
            with suppress(TimeoutError):  # the retry timer firing
                await workflow.wait_condition(
                    lambda: self._deliveries_due() or self._refresh_due(),
                    timeout=self._delivery_wake(),
                )
            if not self._deliveries_due():
                if self._refresh_due():
                    # Deliveries first: a newer version may settle a tie without a read.
                    await self._refresh_round()
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
            if self._config.owner_wide is not None:
                await self._note_repository_events(batch)
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
        self._state.refresh_wanted = result.refresh_wanted
        self._set_condition("WebhookReady", "True", "Processing")
        if result.retry:
            self._schedule_retry(result.retry, attempts=result.retry_attempts)

    async def _refresh_round(self) -> None:
        """Read the objects whose rows tied (same version, other content) again: the provider's
        current state settles them (activities/refresh.py)."""
        self._batch_running = True
        try:
            result: RefreshObjectsResult = await workflow.execute_activity(
                REFRESH_OBJECTS_ACTIVITY,
                RefreshObjectsInput(binding=self._config.binding),
                result_type=RefreshObjectsResult,
                start_to_close_timeout=REFRESH_OBJECTS_TIMEOUT,
                heartbeat_timeout=REFRESH_OBJECTS_HEARTBEAT,
                retry_policy=REFRESH_RETRY,
            )
        except ActivityError as error:
            reset_at = rate_limit_reset(error)
            if reset_at is not None:
                self._enter_rate_limit(reset_at, reason="the provider refused a fresh read")
            else:
                # The marks stay on the rows; try again later rather than spin.
                self._state.refresh_not_before = workflow.now() + REFRESH_BACKOFF
                workflow.logger.warning("refresh round failed: %s", error.cause)
            return
        finally:
            self._batch_running = False
        self._state.refresh_not_before = None
        self._state.refresh_wanted = result.remaining
        self._state.objects_refreshed += result.refreshed + result.deleted
        self._state.requests += result.requests
        if result.budget is not None:
            self._state.rate_limit = result.budget
        self._mirror_due = True

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
        if not self._config.backfill_enabled:
            self._set_condition(
                "BackfillHealthy",
                "Unknown",
                "BackfillDisabled",
                "backfill.enabled is false in the sync policy: webhooks only, no incremental "
                "passes and no full resync Schedule",
            )
        elif not self._state.scope_errors:
            self._set_condition("BackfillHealthy", "True", "AllScopesSynced")
        if self._paused():
            phase = "Paused"
        elif self._rate_limited():
            phase = "RateLimited"
        elif self._state.scope_errors:
            phase = "Degraded"
        elif self._state.last_incremental_completed_at is None and self._config.backfill_enabled:
            phase = "Syncing"
        else:
            phase = "Ready"
        ready = phase == "Ready" or (phase == "Syncing" and self._pass_running)
        self._set_condition(
            "Ready", "True" if ready else "False", phase, self._paused_reason() or ""
        )
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
        """Start an incremental pass now instead of at the next interval (also when the policy
        disables backfill: an operator asked for it)."""
        self._state.sync_requested = True
        self._state.operator_sync_requested = True
        self._bump_repository_config()  # owner-wide: each repository workflow runs a pass

    @workflow.signal
    def pause(self, input: PauseInput) -> None:
        """An operator's pause: backfill stops after the page in flight and deliveries are
        held (still recorded by the ingress) until `resume`."""
        self._state.paused_reason = input.reason or "paused"
        self._bump_repository_config()
        self._set_phase()

    @workflow.signal
    def resume(self) -> None:
        """Lift the operator's pause; a pause by the manifests (`spec.paused`) stays until they
        are applied with `paused: false`."""
        self._state.paused_reason = None
        self._bump_repository_config()
        self._set_phase()

    @workflow.signal
    def reconfigure(self, config: BindingSyncConfig) -> None:
        """The binding or its policy was re-applied: adopt the new configuration."""
        self._config = config
        self._state.sync_requested = True
        self._bump_repository_config()
        self._upsert_search_attributes()  # also the phase: `spec.paused` may have changed

    @workflow.signal
    def retire(self, input: RetireInput) -> None:
        """A repository workflow's repository left its owner-wide binding (removed from the
        installation, deleted, transferred away): stop syncing it; its rows stay."""
        self._state.retired_reason = input.reason

    @workflow.query
    def status(self) -> BindingSyncStatus:
        binding = self._config.binding
        return BindingSyncStatus(
            org=binding.org,
            binding=binding.binding,
            provider=binding.provider,
            phase=self._phase,
            generation=self._config.generation,
            paused_reason=self._paused_reason(),
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
            paused_by=[who for who, _ in self._pause_reasons()],
            backfill_enabled=self._config.backfill_enabled,
            sync_mode=self._sync_mode(),
            deliveries_processed=self._state.deliveries_processed,
            deliveries_ignored=self._state.deliveries_ignored,
            deliveries_dead_lettered=self._state.deliveries_dead_lettered,
            last_full_resync=self._state.last_full_resync,
            refresh_wanted=self._state.refresh_wanted,
            objects_refreshed=self._state.objects_refreshed,
            owner_wide=self._config.owner_wide,
            repositories=self._state.repositories,
            repositories_removed=list(self._state.repositories_removed),
            retired_reason=self._state.retired_reason,
        )


def workflow_id(org: str, binding: str) -> str:
    return f"sync/{org}/{binding}"
