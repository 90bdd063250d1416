"""Replay of a delivery: shared by `POST .../deliveries/{name}/replay` and
`krate-sync webhooks replay`.

Only `DeadLettered` or `Failed` deliveries are replayed: the phase goes back to `Queued`
(attempts are kept, so the record shows every try), an audit entry names the actor, and the
binding's workflow gets the id. A second replay finds the delivery `Queued` (or already
`Processed`) and does nothing: replaying twice has one effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from activities.deliveries import REPLAYABLE, namespace_of, set_processing
from ingress.lookup import load_binding, load_provider, sync_config
from resources.phases import DeliveryPhase
from store.audit import record_audit
from store.db import session_scope
from store.models.aggregated import WebhookDelivery
from workflows.binding_sync import BindingSyncConfig


@dataclass(frozen=True)
class ReplayOutcome:
    name: str
    delivery_id: str
    provider: str
    replayed: bool
    phase: str
    message: str
    config: BindingSyncConfig | None = None


class DeliveryNotFound(LookupError):
    pass


def find_by_name_or_id(session: Session, org: str, ref: str) -> WebhookDelivery | None:
    """A delivery by object name, or by the provider's delivery id."""
    statement = select(WebhookDelivery).where(
        WebhookDelivery.namespace == namespace_of(org),
        or_(col(WebhookDelivery.name) == ref, col(WebhookDelivery.delivery_id) == ref),
    )
    return session.exec(statement.with_for_update()).first()


def requeue(engine: Engine, org: str, ref: str, *, actor: str) -> ReplayOutcome:
    with session_scope(engine) as session:
        row = find_by_name_or_id(session, org, ref)
        if row is None:
            raise DeliveryNotFound(f"no delivery {ref!r} in org {org!r}")
        phase = DeliveryPhase(row.phase or "Queued")
        if phase not in REPLAYABLE:
            return ReplayOutcome(
                row.name,
                row.delivery_id,
                row.provider_ref,
                replayed=False,
                phase=phase.value,
                message=f"delivery is {phase.value}; only DeadLettered or Failed deliveries "
                "are replayed",
            )
        config = None
        if row.binding_ref:
            provider = load_provider(session, org, row.provider_ref)
            binding = load_binding(session, org, row.binding_ref)
            if provider is not None and binding is not None:
                config = sync_config(session, provider, binding)
        if config is None:
            return ReplayOutcome(
                row.name,
                row.delivery_id,
                row.provider_ref,
                replayed=False,
                phase=phase.value,
                message="no binding takes this delivery (none matched its repository, or it "
                "was deleted), so a replay could not process it",
            )
        set_processing(row, DeliveryPhase.QUEUED, reason=f"replayed by {actor}")
        # A fresh signal is due: the sweeper picks it up if the one below does not get through.
        row.status_extra = {k: v for k, v in row.status_extra.items() if k != "signaledAt"}
        session.add(row)
        record_audit(
            session,
            actor=actor,
            action="replay",
            subject_kind="ExternalWebhookDelivery",
            subject_namespace=row.namespace,
            subject_name=row.name,
            org=org,
            provider_ref=row.provider_ref,
            details={"from": phase.value, "attempts": row.attempts},
        )
        return ReplayOutcome(
            row.name,
            row.delivery_id,
            row.provider_ref,
            replayed=True,
            phase=DeliveryPhase.QUEUED.value,
            message=f"re-queued (was {phase.value}, {row.attempts or 0} attempts so far)",
            config=config,
        )
