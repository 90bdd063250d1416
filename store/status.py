"""What the status of providers, bindings and sync states is computed from, read from the store,
and the provider roll-up written back (resources/status.py holds the rules).

Nothing here commits: the caller owns the transaction (store.db.session_scope).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from resources.phases import ConflictPhase, DeliveryPhase
from resources.status import parse_conditions, provider_status
from store.models.aggregated import SyncConflict, WebhookDelivery
from store.models.config import ConfigResource

BINDING_KIND = "ExternalBackendBinding"
PROVIDER_KIND = "ExternalBackendProvider"
# Deliveries stored for a binding and not yet settled: what its workflow still has to process.
WAITING_PHASES: Sequence[str] = (
    DeliveryPhase.RECEIVED.value,
    DeliveryPhase.QUEUED.value,
    DeliveryPhase.PROCESSING.value,
    DeliveryPhase.FAILED.value,
)
OPEN_CONFLICT_PHASES: Sequence[str] = (ConflictPhase.OPEN.value, ConflictPhase.RESOLVING.value)


def queue_depth(session: Session, org: str, provider: str, binding: str) -> int:
    """Deliveries waiting for the binding (received, queued, in process or to be retried)."""
    statement = select(func.count()).where(
        col(WebhookDelivery.org) == org,
        col(WebhookDelivery.provider_ref) == provider,
        col(WebhookDelivery.binding_ref) == binding,
        col(WebhookDelivery.phase).in_(WAITING_PHASES),
    )
    return int(session.execute(statement).scalar_one())


def open_conflicts(session: Session, org: str, provider: str, binding: str) -> int:
    statement = select(func.count()).where(
        col(SyncConflict.org) == org,
        col(SyncConflict.provider_ref) == provider,
        col(SyncConflict.binding_ref) == binding,
        col(SyncConflict.phase).in_(OPEN_CONFLICT_PHASES),
    )
    return int(session.execute(statement).scalar_one())


def live_config(
    session: Session, kind: str, namespace: str, name: str, *, lock: bool = False
) -> ConfigResource | None:
    row = session.get(ConfigResource, (kind, namespace, name), with_for_update=lock)
    return row if row is not None and row.deleted_at is None else None


def roll_up_provider(session: Session, namespace: str, provider: str, now: datetime) -> bool:
    """Write the provider's status from the stored statuses of its live bindings.

    The provider row is locked first, so two bindings mirroring at once write one after the
    other and the second sees the first's binding status. False when the provider is not
    stored (a binding applied before its provider).
    """
    row = live_config(session, PROVIDER_KIND, namespace, provider, lock=True)
    if row is None:
        return False
    bindings = session.execute(
        select(ConfigResource).where(
            col(ConfigResource.kind) == BINDING_KIND,
            col(ConfigResource.namespace) == namespace,
            col(ConfigResource.deleted_at).is_(None),
            ConfigResource.spec["providerRef"].astext == provider,
        )
    ).scalars()
    statuses: dict[str, dict[str, Any]] = {b.name: dict(b.status or {}) for b in bindings}
    previous = parse_conditions((row.status or {}).get("conditions"))
    status = provider_status(statuses, previous, now, generation=row.generation)
    if status != row.status:
        row.status = status
        row.updated_at = now
        session.add(row)
        session.flush()
    return True
