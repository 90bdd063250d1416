"""Writing and reading the audit log."""

from __future__ import annotations

from typing import Any

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
