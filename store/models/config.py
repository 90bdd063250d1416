"""Applied config resources: ExternalBackendProvider, ExternalBackendBinding, ExternalBackendSyncPolicy.

In Krate these live in etcd as CRDs; the service keeps the copy it was given with `krate-sync
apply`, one row per (kind, namespace, name). Deleting marks the row (`deleted_at`) so the audit
trail and the uid history survive; applying the name again starts a new object.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field

from store.models.base import StoreModel, jsonb_object, timestamp, timestamp_now


class ConfigResource(StoreModel, table=True):
    __tablename__ = "config_resources"
    __table_args__ = (Index(None, "org", "kind"),)

    kind: str = Field(primary_key=True)
    namespace: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    uid: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        unique=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    generation: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    # spec.organizationRef, copied out so an org's resources can be listed without reading JSON.
    org: str | None = None
    labels: dict[str, str] = jsonb_object()
    annotations: dict[str, str] = jsonb_object()
    spec: dict[str, Any] = jsonb_object()
    status: dict[str, Any] = jsonb_object()
    # sha256 of the canonical JSON of spec: cheap "did the spec change" check.
    spec_digest: str
    created_at: datetime | None = timestamp_now()
    updated_at: datetime | None = timestamp_now()
    deleted_at: datetime | None = timestamp()
