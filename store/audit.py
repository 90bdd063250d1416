"""Writing and reading the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from store import canonical
from store.models.audit import AuditEntry


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_kind: str,
    subject_name: str,
    subject_namespace: str | None = None,
    org: str | None = None,
    provider_ref: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry (in the caller's transaction, so it commits with what it records)."""
    entry = AuditEntry(
        actor=actor,
        action=action,
        subject_kind=subject_kind,
        subject_namespace=subject_namespace,
        subject_name=subject_name,
        org=org,
        provider_ref=provider_ref,
        details=canonical.plain(details or {}),
    )
    session.add(entry)
    session.flush()
    return entry


def list_audit(
    session: Session,
    *,
    org: str | None = None,
    subject_kind: str | None = None,
    subject_name: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first, optionally for one org or one subject."""
    statement = select(AuditEntry)
    if org is not None:
        statement = statement.where(AuditEntry.org == org)
    if subject_kind is not None:
        statement = statement.where(AuditEntry.subject_kind == subject_kind)
    if subject_name is not None:
        statement = statement.where(AuditEntry.subject_name == subject_name)
    statement = statement.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    return list(session.exec(statement.limit(limit)).all())


@dataclass(frozen=True)
class AuditObject:
    """One object to read the trail of: its kind (None: any kind) and every name it may be
    recorded under (a delivery's object name, an issue's local name...)."""

    kind: str | None
    names: tuple[str, ...]


def query_audit(
    session: Session,
    *,
    org: str | None = None,
    objects: Sequence[AuditObject] = (),
    actions: Sequence[str] = (),
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first, for any of `objects` and any of `actions`.

    An action matches itself and the actions it prefixes up to a `.` or `-`: `intent` matches
    `intent.approved`, `conflict` matches `conflict-raised`.
    """
    statement = select(AuditEntry)
    if org is not None:
        statement = statement.where(AuditEntry.org == org)
    if objects:
        statement = statement.where(
            or_(
                *(
                    and_(
                        col(AuditEntry.subject_name).in_(o.names),
                        *([col(AuditEntry.subject_kind) == o.kind] if o.kind else []),
                    )
                    for o in objects
                )
            )
        )
    if actions:
        action = col(AuditEntry.action)
        statement = statement.where(
            or_(
                *(
                    or_(
                        action == a,
                        action.startswith(f"{a}.", autoescape=True),
                        action.startswith(f"{a}-", autoescape=True),
                    )
                    for a in actions
                )
            )
        )
    statement = statement.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    return list(session.exec(statement.limit(limit)).all())


def audit_document(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the command line and the API show it."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat() if entry.at else None,
        "org": entry.org,
        "actor": entry.actor,
        "action": entry.action,
        "object": {
            "kind": entry.subject_kind,
            "namespace": entry.subject_namespace,
            "name": entry.subject_name,
        },
        "providerRef": entry.provider_ref,
        "details": entry.details,
    }
