"""`refresh_objects`: settle same-version ties by reading each marked object again.

The store marks a row `refresh_wanted_at` when an incoming state had the stored version but
other content (store/upsert.py). One round takes the binding's oldest marks, asks the adapter
for each object's current state (`providers.reads.ObjectReader`, one GET each), and writes it
with `settle_fresh_read`: the read lands only if the mark it was taken for is still on the row.
Each object is its own transaction, so a rate limit or a killed worker part-way loses nothing:
the marks still set are the work left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from activities import projection
from activities.backfill import budget_of, owner_of, to_application_error
from activities.heartbeat import heartbeating
from activities.provider_factory import ProviderFactory
from activities.refresh_models import (
    REFRESH_OBJECTS_ACTIVITY,
    RefreshObjectsInput,
    RefreshObjectsResult,
)
from activities.secrets import ConfigurationError
from providers.base import ExternalObject, ProviderError
from providers.reads import ObjectRef, UnreadableObject
from resources.phases import SyncEventPhase
from store.conflicts import merge_incoming
from store.db import session_scope
from store.event_phases import settle_verifying_events
from store.links import link_objects
from store.models.projections import Projection, Repository
from store.projection_kinds import KIND_OF_TABLE, PROJECTION_BY_KIND
from store.refresh_marks import Marked, count_marked, marked_rows
from store.renames import follow_renames
from store.upsert import (
    REFRESH,
    UpsertOutcome,
    clear_refresh_mark,
    mark_deleted,
    mark_holds,
    settle_fresh_read,
)

log = logging.getLogger("krate_sync.activities.refresh")

HEARTBEAT_EVERY = 5.0
T = TypeVar("T")


def object_ref(model: type[Projection], row: dict[str, Any]) -> ObjectRef:
    """Name a stored object by the columns every projection has."""
    repository = row.get("full_name") if model is Repository else row.get("repository")
    return ObjectRef(
        resource_kind=KIND_OF_TABLE[model],
        native_kind=row.get("native_kind"),
        native_id=row.get("native_id"),
        repository=repository,
        number=row.get("number"),
        parent_number=row.get("pull_number"),
        sha=row.get("sha"),
    )


def write_fresh_read(
    session: Session,
    owner: projection.Owner,
    model: type[Projection],
    stored: Mapping[str, Any],
    row: Mapping[str, Any] | None,
) -> str | None:
    """Write what a fresh read of the marked row `stored` returned (`row`, or None when the
    provider no longer has the object), and settle the object's Verifying events.

    Returns "deleted" or "refreshed", or None when an arrival re-marked the row since it was
    read (the read may be older than that arrival, so it is not written; the next round reads
    again)."""
    mark: datetime | None = stored[REFRESH]
    identity = {c: stored[c] for c in model.identity}
    if row is None:
        if not clear_refresh_mark(session, model, identity, mark=mark):
            return None
        mark_deleted(session, model, identity)
        link_objects(session, [(model, identity)])  # the link turns Orphaned with its object
        _settle_events(session, owner, model, stored, "deleted")
        return "deleted"
    if model is Repository and mark_holds(session, model, identity, mark=mark):
        # A rename in the second of the last change ties; the read settles it, rows and all.
        row = dict(row)
        follow_renames(session, [(model, row)], accept_ties=True)
    merged = merge_incoming(session, model, [row], accept_ties=True)[0]
    outcome = settle_fresh_read(session, model, merged, mark=mark)
    if outcome == UpsertOutcome.TIED:
        return None
    link_objects(session, [(model, merged)])
    _settle_events(session, owner, model, stored, outcome.value)
    return "refreshed"


def _settle_events(
    session: Session,
    owner: projection.Owner,
    model: type[Projection],
    stored: Mapping[str, Any],
    outcome: str,
) -> None:
    settle_verifying_events(
        session,
        org=owner.org,
        provider_ref=owner.provider_ref,
        objects=[(KIND_OF_TABLE[model], str(stored.get("native_id")))],
        phase=SyncEventPhase.REFRESHED,
        note={"outcome": outcome, "reason": "settled by a fresh read from the provider"},
    )


class RefreshActivities:
    """`refresh_objects`, bound to the worker's engine and provider factory."""

    def __init__(self, engine: Callable[[], Engine], providers: ProviderFactory) -> None:
        self._engine = engine
        self._providers = providers

    def _in_session(self, work: Callable[..., T], *args: Any) -> T:
        with session_scope(self._engine()) as session:
            return work(session, *args)

    @activity.defn(name=REFRESH_OBJECTS_ACTIVITY)
    async def refresh_objects(self, input: RefreshObjectsInput) -> RefreshObjectsResult:
        owner = owner_of(input.binding)
        result = RefreshObjectsResult()
        try:
            provider = self._providers.github(input.binding)
        except ConfigurationError as error:
            raise to_application_error(error) from error
        models = list(PROJECTION_BY_KIND.values())
        marked = await asyncio.to_thread(self._in_session, self._marked, owner, models, input.limit)
        async with heartbeating(HEARTBEAT_EVERY):
            for model, stored in marked:
                ref = object_ref(model, stored)
                result.requests += 1
                try:
                    fresh = await provider.read_object(ref)
                except UnreadableObject as error:
                    log.warning("cannot re-read %s %s: %s", ref.resource_kind, ref.native_id, error)
                    await asyncio.to_thread(self._in_session, self._drop, model, stored)
                    result.unreadable += 1
                    continue
                except ProviderError as error:
                    # What was settled so far is stored; the marks left are the work to do.
                    raise to_application_error(error) from error
                settled = await asyncio.to_thread(
                    self._in_session, self._settle, owner, model, stored, fresh
                )
                if settled is None:
                    result.retried += 1
                elif settled == "deleted":
                    result.deleted += 1
                else:
                    result.refreshed += 1
        result.remaining = await asyncio.to_thread(self._in_session, self._count, owner, models)
        result.budget = budget_of(provider.client.tightest_rate_limit())
        return result

    @staticmethod
    def _marked(
        session: Session, owner: projection.Owner, models: list[type[Projection]], limit: int
    ) -> list[Marked]:
        return marked_rows(
            session,
            models,
            org=owner.org,
            provider_ref=owner.provider_ref,
            binding_ref=owner.binding_ref,
            limit=limit,
        )

    @staticmethod
    def _count(session: Session, owner: projection.Owner, models: list[type[Projection]]) -> int:
        return count_marked(
            session,
            models,
            org=owner.org,
            provider_ref=owner.provider_ref,
            binding_ref=owner.binding_ref,
        )

    def _settle(
        self,
        session: Session,
        owner: projection.Owner,
        model: type[Projection],
        stored: dict[str, Any],
        fresh: ExternalObject | None,
    ) -> str | None:
        """Write one fresh read; None when a later arrival re-marked the row meanwhile."""
        row: dict[str, Any] | None = None
        if fresh is not None:
            projected = projection.project(fresh, owner)
            if projected is None or projected[0] is not model:
                # The provider files it elsewhere now (an issue that became a pull request).
                self._drop(session, model, stored)
                return "refreshed"
            row = projected[1]
        return write_fresh_read(session, owner, model, stored, row)

    def _drop(self, session: Session, model: type[Projection], stored: dict[str, Any]) -> None:
        identity = {c: stored[c] for c in model.identity}
        clear_refresh_mark(session, model, identity, mark=stored[REFRESH])
