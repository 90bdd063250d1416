"""`mirror_sync_state`: the workflow's per-scope status written to Postgres as ExternalSyncState.

The workflow is the source of truth for cursors; this mirror is what `krate-sync get
syncstates`, the read API and Krate's aggregated API show. One row per scope (interface ×
resource kind × repository), upserted by its deterministic name, so calling it after every
pass is idempotent.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.backfill_models import (
    MIRROR_SYNC_STATE_ACTIVITY,
    MirrorSyncStateInput,
    MirrorSyncStateResult,
    ScopeCursor,
    SyncScope,
)
from activities.scope_repository import repository_status
from resources.conditions import Condition, ConditionStatus, ConditionType
from resources.labels import required_labels
from resources.phases import SyncStatePhase
from resources.status import (
    BindingObservation,
    ScopeObservation,
    binding_status,
    parse_conditions,
)
from store.db import session_scope
from store.models.aggregated import SyncState
from store.resources import set_status
from store.status import BINDING_KIND, live_config, open_conflicts, queue_depth, roll_up_provider

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
MAX_NAME = 253


def state_name(binding: str, cursor: ScopeCursor) -> str:
    """A Kubernetes-valid, deterministic object name for one scope's state."""
    s = cursor.scope
    raw = f"{binding}-{s.interface}-{s.resource_kind}-{s.owner}-{s.repository}".lower()
    name = _NOT_DNS.sub("-", raw).strip("-")
    return name[:MAX_NAME].rstrip("-")


def scope_phase(input: MirrorSyncStateInput, cursor: ScopeCursor) -> SyncStatePhase:
    """The scope's phase in the ExternalSyncState vocabulary (resources.phases.SyncStatePhase)."""
    if cursor.scope.key in input.scope_errors:
        return SyncStatePhase.DEGRADED
    if input.paused_reason is not None:
        return SyncStatePhase.PAUSED
    if input.rate_limited_until is not None and cursor.next_page is not None:
        return SyncStatePhase.RATE_LIMITED
    if cursor.next_page is not None:
        return SyncStatePhase.BACKFILLING
    if cursor.last_pass_completed_at is not None:
        return SyncStatePhase.CURRENT
    return SyncStatePhase.PENDING


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _budget(input: MirrorSyncStateInput) -> dict[str, Any] | None:
    budget = input.rate_limit
    if budget is None:
        return None
    found = {
        "limit": budget.limit,
        "remaining": budget.remaining,
        "resetAt": _time(budget.reset_at),
    }
    return {k: v for k, v in found.items() if v is not None} or None


def _scope_conditions(input: MirrorSyncStateInput, cursor: ScopeCursor) -> list[dict[str, Any]]:
    """BackfillHealthy and RateLimited of one scope (wire shape)."""
    error = input.scope_errors.get(cursor.scope.key)
    healthy = {
        "type": ConditionType.BACKFILL_HEALTHY.value,
        "status": "False" if error else "True",
        "reason": "ScopeFailed" if error else "Synced",
        "message": error or "",
    }
    limited = {
        "type": ConditionType.RATE_LIMITED.value,
        "status": "True" if input.rate_limited_until else "False",
        "reason": "ProviderRateLimit" if input.rate_limited_until else "BudgetAvailable",
        "message": (
            f"resets at {_time(input.rate_limited_until)}" if input.rate_limited_until else ""
        ),
    }
    return [healthy, limited]


def sync_state_row(
    input: MirrorSyncStateInput, cursor: ScopeCursor, queue_depth: int = 0
) -> dict[str, Any]:
    binding = input.binding
    scope = cursor.scope
    labels = required_labels(
        org=binding.org,
        provider=binding.provider,
        interfaces=[scope.interface],
        repository=scope.repository,
        external_owner=scope.owner,
    )
    status_extra: dict[str, Any] = {
        "bindingPhase": input.phase,
        "passHigh": _time(cursor.pass_high),
        "passStartedAt": _time(cursor.pass_started_at),
        "nextBackfillAt": _time(input.next_backfill_at),
        "objects": cursor.objects,
        "pages": cursor.pages,
        "requests": cursor.requests,
        "notModified": cursor.not_modified,
        "queueDepth": queue_depth,
        "rateLimit": _budget(input),
        # Write intents read this to wait out a binding's rate limit (activities/writes.py).
        "rateLimitedUntil": _time(input.rate_limited_until),
        "pausedReason": input.paused_reason,
        "message": _provider_message(input, scope.key),
        "conditions": _scope_conditions(input, cursor),
    }
    return {
        "namespace": binding.namespace,
        "name": state_name(binding.binding, cursor),
        "labels": {**labels, "krate.a5c.ai/binding": binding.binding},
        "org": binding.org,
        "provider_ref": binding.provider,
        "binding_ref": binding.binding,
        "interface": scope.interface,
        "resource_kind": scope.resource_kind,
        # The resource model's scope: the provider path of the repository the cursor walks.
        "scope": f"{scope.owner}/{scope.repository}",
        "phase": scope_phase(input, cursor).value,
        # The resume point of a pass under way; the steady state is the watermark and ETag.
        "cursor": cursor.next_page,
        "etag": cursor.etag,
        "high_watermark": cursor.watermark,
        "last_synced_at": cursor.last_pass_completed_at,
        "last_full_resync_at": input.last_full_completed_at,
        "status_extra": {k: v for k, v in status_extra.items() if v is not None},
    }


def all_cursors(input: MirrorSyncStateInput) -> list[ScopeCursor]:
    """The workflow's cursors, plus an empty one for each scope that failed before its first
    page (the workflow keeps a cursor only once a page came back): it is a scope too."""
    known = {c.scope.key for c in input.cursors}
    out = list(input.cursors)
    for key in input.scope_errors:
        parts = key.split("/")
        if key in known or len(parts) != 4:
            continue
        interface, kind, owner, repository = parts
        scope = SyncScope(
            interface=interface, resource_kind=kind, owner=owner, repository=repository
        )
        out.append(ScopeCursor(scope=scope))
    return out


def _provider_message(input: MirrorSyncStateInput, key: str) -> str | None:
    """A scope's error as the provider worded it (without the "ProviderAuthError: " prefix)."""
    message = input.scope_errors.get(key)
    prefix = f"{input.scope_error_types.get(key)}: "
    if message is not None and message.startswith(prefix):
        return message[len(prefix) :]
    return message


def binding_observation(
    input: MirrorSyncStateInput,
    interfaces: list[str],
    open_conflicts: int,
) -> BindingObservation:
    """What the workflow reported and the store holds, as the status rules take it."""
    scopes = [
        ScopeObservation(
            interface=c.scope.interface,
            error=_provider_message(input, c.scope.key),
            error_type=input.scope_error_types.get(c.scope.key),
            synced=c.pages > 0 or c.last_pass_completed_at is not None,
        )
        for c in all_cursors(input)
    ]
    reported = {c.type: c for c in input.conditions}
    webhook = reported.get(ConditionType.WEBHOOK_READY.value)
    limited = reported.get(ConditionType.RATE_LIMITED.value)
    return BindingObservation(
        workflow_phase=input.phase,
        interfaces=interfaces or sorted({c.scope.interface for c in input.cursors}),
        scopes=scopes,
        installation=input.binding.installation_id is not None,
        webhook=(
            Condition(
                type=ConditionType.WEBHOOK_READY,
                status=ConditionStatus(webhook.status),
                reason=webhook.reason,
                message=webhook.message,
            )
            if webhook is not None
            else None
        ),
        paused_reason=input.paused_reason,
        rate_limited_until=input.rate_limited_until,
        rate_limit_message=limited.message if limited is not None and limited.message else None,
        open_conflicts=open_conflicts,
        generation=input.generation,
    )


def _enabled_interfaces(spec: dict[str, Any]) -> list[str]:
    """The interfaces a stored binding spec enables (a block present and not disabled)."""
    blocks = spec.get("interfaces")
    if not isinstance(blocks, dict):
        return []
    return [
        name
        for name, block in blocks.items()
        if isinstance(block, dict) and block.get("enabled", True) is not False
    ]


class SyncStateActivities:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    def _write(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        table = SyncState.__table__  # type: ignore[attr-defined]
        statement = insert(table).values(rows)
        columns = [c for c in rows[0] if c not in ("namespace", "name")]
        statement = statement.on_conflict_do_update(
            index_elements=["namespace", "name"],
            set_={
                **{c: statement.excluded[c] for c in columns},
                "updated_at": func.now(),
            },
        )
        with session_scope(self._engine()) as session:
            session.execute(statement)
        return len(rows)

    def _write_binding_status(self, input: MirrorSyncStateInput) -> None:
        """The binding's status, then its provider's roll-up (`krate-sync get providers`)."""
        ref = input.binding
        now = datetime.now(UTC)
        with session_scope(self._engine()) as session:
            row = live_config(session, BINDING_KIND, ref.namespace, ref.binding, lock=True)
            if row is None:
                return  # deleted while the workflow ran: nothing to show it on
            previous = parse_conditions((row.status or {}).get("conditions"))
            conflicts = open_conflicts(session, ref.org, ref.provider, ref.binding)
            observed = binding_observation(input, _enabled_interfaces(row.spec), conflicts)
            status = binding_status(observed, previous, now)
            if input.paused_reason:
                status["pausedReason"] = input.paused_reason
            if input.rate_limited_until:
                status["rateLimitedUntil"] = _time(input.rate_limited_until)
            if input.last_full_completed_at:
                status["lastFullResyncAt"] = _time(input.last_full_completed_at)
            budget = _budget(input)
            if budget:
                status["rateLimit"] = budget
            status["queueDepth"] = queue_depth(session, ref.org, ref.provider, ref.binding)
            repository = repository_status(input.cursors)  # issue 9 (renames): id and name
            if repository:
                status["externalRepository"] = repository
            if input.repositories is not None:  # issue 9: an owner-wide binding's repositories
                status["repositories"] = input.repositories
            set_status(session, BINDING_KIND, ref.namespace, ref.binding, status)
        # A transaction of its own, after the binding's committed: see roll_up_provider.
        with session_scope(self._engine()) as session:
            roll_up_provider(session, ref.namespace, ref.provider, now)

    def _queue_depth(self, input: MirrorSyncStateInput) -> int:
        ref = input.binding
        with session_scope(self._engine()) as session:
            return queue_depth(session, ref.org, ref.provider, ref.binding)

    @activity.defn(name=MIRROR_SYNC_STATE_ACTIVITY)
    async def mirror_sync_state(self, input: MirrorSyncStateInput) -> MirrorSyncStateResult:
        """Upsert one ExternalSyncState per scope, then the binding's and provider's status."""
        depth = await asyncio.to_thread(self._queue_depth, input)
        rows = [sync_state_row(input, cursor, depth) for cursor in all_cursors(input)]
        written = await asyncio.to_thread(self._write, rows)
        if input.binding_status:  # not from a repository workflow of an owner-wide binding
            await asyncio.to_thread(self._write_binding_status, input)
        return MirrorSyncStateResult(written=written)
