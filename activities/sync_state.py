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
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.backfill_models import (
    MIRROR_SYNC_STATE_ACTIVITY,
    MirrorSyncStateInput,
    MirrorSyncStateResult,
    ScopeCursor,
)
from store.db import session_scope
from store.models.aggregated import SyncState
from store.resources import set_status

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
MAX_NAME = 253


def state_name(binding: str, cursor: ScopeCursor) -> str:
    """A Kubernetes-valid, deterministic object name for one scope's state."""
    s = cursor.scope
    raw = f"{binding}-{s.interface}-{s.resource_kind}-{s.owner}-{s.repository}".lower()
    name = _NOT_DNS.sub("-", raw).strip("-")
    return name[:MAX_NAME].rstrip("-")


def scope_phase(input: MirrorSyncStateInput, cursor: ScopeCursor) -> str:
    if cursor.scope.key in input.scope_errors:
        return "Error"
    if input.paused_reason is not None:
        return "Paused"
    if input.rate_limited_until is not None and cursor.next_page is not None:
        return "RateLimited"
    if cursor.next_page is not None:
        return "Syncing"
    if cursor.last_pass_completed_at is not None:
        return "Ready"
    return "Pending"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def sync_state_row(input: MirrorSyncStateInput, cursor: ScopeCursor) -> dict[str, Any]:
    binding = input.binding
    scope = cursor.scope
    return {
        "namespace": binding.namespace,
        "name": state_name(binding.binding, cursor),
        "labels": {
            "krate.a5c.ai/provider": binding.provider,
            "krate.a5c.ai/binding": binding.binding,
            "krate.a5c.ai/interface": scope.interface,
        },
        "org": binding.org,
        "provider_ref": binding.provider,
        "binding_ref": binding.binding,
        "interface": scope.interface,
        "resource_kind": scope.resource_kind,
        "scope": {"repository": f"{scope.owner}/{scope.repository}"},
        "phase": scope_phase(input, cursor),
        # The resume point of a pass under way; the steady state is the watermark and ETag.
        "cursor": cursor.next_page,
        "etag": cursor.etag,
        "high_watermark": cursor.watermark,
        "last_synced_at": cursor.last_pass_completed_at,
        "last_full_resync_at": input.last_full_completed_at,
        "status_extra": {
            "bindingPhase": input.phase,
            "passHigh": _time(cursor.pass_high),
            "passStartedAt": _time(cursor.pass_started_at),
            "objects": cursor.objects,
            "pages": cursor.pages,
            "requests": cursor.requests,
            "notModified": cursor.not_modified,
            "rateLimitedUntil": _time(input.rate_limited_until),
            "pausedReason": input.paused_reason,
            "message": input.scope_errors.get(scope.key),
            "conditions": [c.model_dump(mode="json", by_alias=True) for c in input.conditions],
        },
    }


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
        """The binding's own status, so `krate-sync get bindings` shows the live phase."""
        status: dict[str, Any] = {
            "phase": input.phase,
            "conditions": [
                {
                    "type": c.type,
                    "status": c.status,
                    "reason": c.reason,
                    "message": c.message,
                    "lastTransitionTime": _time(c.last_transition_time),
                }
                for c in input.conditions
            ],
            "observedGeneration": input.generation,
        }
        if input.paused_reason:
            status["pausedReason"] = input.paused_reason
        if input.rate_limited_until:
            status["rateLimitedUntil"] = _time(input.rate_limited_until)
        if input.last_full_completed_at:
            status["lastFullResyncAt"] = _time(input.last_full_completed_at)
        ref = input.binding
        with session_scope(self._engine()) as session:
            set_status(session, "ExternalBackendBinding", ref.namespace, ref.binding, status)

    @activity.defn(name=MIRROR_SYNC_STATE_ACTIVITY)
    async def mirror_sync_state(self, input: MirrorSyncStateInput) -> MirrorSyncStateResult:
        """Upsert one ExternalSyncState per scope from the workflow's status."""
        rows = [sync_state_row(input, cursor) for cursor in input.cursors]
        written = await asyncio.to_thread(self._write, rows)
        await asyncio.to_thread(self._write_binding_status, input)
        return MirrorSyncStateResult(written=written)
