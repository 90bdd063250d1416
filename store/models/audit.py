"""The audit log: who did what to which resource, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index

from store.models.base import StoreModel, bigint_id, jsonb_object, timestamp_now


class AuditEntry(StoreModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "org", "at"),
        Index(None, "subject_kind", "subject_name"),
        Index(None, "at"),
    )

    id: int | None = bigint_id()
    at: datetime | None = timestamp_now()
    actor: str
    action: str
    subject_kind: str
    subject_namespace: str | None = None
    subject_name: str
    org: str | None = None
    provider_ref: str | None = None
    details: dict[str, Any] = jsonb_object()
