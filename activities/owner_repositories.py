"""Activities of an owner-wide binding: list the owner's repositories, hand the workflow its
next bounded batch of repository workflows to start or stop, read membership from webhooks.

The list itself stays in Postgres (store/owner_repositories.py); the workflow only ever sees a
batch of at most `limit` repositories and the progress counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col
from temporalio import activity

from activities.backfill import to_application_error
from activities.backfill_models import BindingRef, RateLimitBudget
from activities.deliveries import PayloadNotJson, parse_payload
from activities.owner_repositories_models import (
    LIST_OWNER_REPOSITORIES_ACTIVITY,
    NOTE_REPOSITORY_EVENTS_ACTIVITY,
    NOTE_REPOSITORY_SYNCED_ACTIVITY,
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
from activities.provider_factory import ProviderFactory
from activities.secrets import ConfigurationError
from providers.base import Cursor, ProviderError
from providers.github.membership import MEMBERSHIP_EVENTS, repository_membership
from store.db import session_scope
from store.models.aggregated import WebhookDelivery, WebhookPayload
from store.owner_repositories import (
    BindingKey,
    Change,
    RepositoryName,
    apply_changes,
    close_listing,
    mark_synced,
    mark_workflows,
    pending_work,
    progress,
    record_listed,
    removed_repositories,
)

T = TypeVar("T")


def binding_key(binding: BindingRef) -> BindingKey:
    return BindingKey(org=binding.org, provider_ref=binding.provider, binding_ref=binding.binding)


def _targets(names: list[RepositoryName]) -> list[RepositoryTarget]:
    return [RepositoryTarget(native_id=n.native_id, full_name=n.full_name) for n in names]


class OwnerRepositoryActivities:
    """Bound to the worker's engine and provider factory."""

    def __init__(self, engine: Callable[[], Engine], providers: ProviderFactory) -> None:
        self._engine = engine
        self._providers = providers

    async def _in_session(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_scope(self._engine()) as session:
                return work(session)

        return await asyncio.to_thread(run)

    @activity.defn(name=LIST_OWNER_REPOSITORIES_ACTIVITY)
    async def list_owner_repositories(self, input: OwnerListingInput) -> OwnerListingResult:
        """One page of the owner's repositories recorded as present; on the last page, those
        the listing did not show are removed."""
        cursor = Cursor.model_validate_json(input.cursor) if input.cursor else None
        try:
            provider = self._providers.github(input.binding)
            page = await provider.list_owner_repositories(input.owner, cursor)
            budget = provider.client.tightest_rate_limit()
        except (ProviderError, ConfigurationError) as error:
            raise to_application_error(error) from error
        key = binding_key(input.binding)
        names = [RepositoryName(r.external.native_id, r.full_name) for r in page.items]
        done = page.next_cursor is None

        def write(session: Session) -> tuple[int, int]:
            joined = record_listed(session, key, names, input.listing_id)
            removed = close_listing(session, key, input.listing_id) if done else 0
            return joined, removed

        joined, removed = await self._in_session(write)
        return OwnerListingResult(
            next_cursor=None if done else page.next_cursor.model_dump_json(),  # type: ignore[union-attr]
            listed=len(names),
            joined=joined,
            removed=removed,
            done=done,
            budget=(
                RateLimitBudget(
                    limit=budget.limit,
                    remaining=budget.remaining,
                    reset_at=budget.reset_at,
                    resource=budget.resource,
                )
                if budget.limit is not None or budget.remaining is not None
                else None
            ),
        )

    @activity.defn(name=RECONCILE_OWNER_REPOSITORIES_ACTIVITY)
    async def reconcile_owner_repositories(
        self, input: ReconcileRepositoriesInput
    ) -> ReconcileRepositoriesResult:
        """Record the last batch's starts and stops, then return the next batch (at most
        `limit` repositories) and the progress counts."""
        key = binding_key(input.binding)

        def run(session: Session) -> ReconcileRepositoriesResult:
            mark_workflows(
                session,
                key,
                config_version=input.config_version,
                started=input.started,
                stopped=input.stopped,
                configured=input.configured,
            )
            work = pending_work(
                session, key, config_version=input.config_version, limit=input.limit
            )
            counts = progress(session, key)
            return ReconcileRepositoriesResult(
                start=_targets(work.start),
                stop=_targets(work.stop),
                reconfigure=_targets(work.reconfigure),
                progress=RepositoryProgress(**counts.__dict__),
                removed=removed_repositories(session, key),
            )

        return await self._in_session(run)

    @activity.defn(name=NOTE_REPOSITORY_EVENTS_ACTIVITY)
    async def note_repository_events(self, input: RepositoryEventsInput) -> RepositoryEventsResult:
        """Repositories the batch's deliveries add to or remove from the owner's set."""
        key = binding_key(input.binding)

        def run(session: Session) -> int:
            rows = session.execute(
                select(
                    col(WebhookDelivery.event_type),
                    col(WebhookDelivery.action),
                    col(WebhookPayload.body),
                )
                .join(
                    WebhookPayload,
                    col(WebhookPayload.digest) == col(WebhookDelivery.payload_digest),
                )
                .where(
                    col(WebhookDelivery.org) == input.binding.org,
                    col(WebhookDelivery.provider_ref) == input.binding.provider,
                    col(WebhookDelivery.delivery_id).in_(input.delivery_ids),
                    col(WebhookDelivery.event_type).in_(sorted(MEMBERSHIP_EVENTS)),
                )
                .order_by(col(WebhookDelivery.received_at), col(WebhookDelivery.id))
            )
            changes: list[Change] = []
            for event, action, body in rows:
                payload: dict[str, Any]
                try:
                    payload = parse_payload(body)
                except PayloadNotJson:
                    continue  # dead-lettered by the delivery activity, with the reason
                for m in repository_membership(event, action, payload, input.owner):
                    changes.append(Change(m.native_id, m.full_name, m.present, m.reason))
            return apply_changes(session, key, changes)

        return RepositoryEventsResult(changed=await self._in_session(run))

    @activity.defn(name=NOTE_REPOSITORY_SYNCED_ACTIVITY)
    async def note_repository_synced(self, input: RepositorySyncedInput) -> RepositorySyncedResult:
        """A repository workflow completed its first pass (the binding's "done" count)."""
        key = binding_key(input.binding)
        now = datetime.now(UTC)
        noted = await self._in_session(lambda s: mark_synced(s, key, input.native_id, now))
        return RepositorySyncedResult(noted=noted)
