"""The repositories an owner-wide binding syncs: one row per repository the credential sees.

An owner-wide binding (`externalRef` with an owner and no repository) runs one repository
workflow per repository of the owner. Which repositories those are, and whether each one's
workflow runs, lives here rather than in the binding workflow's state: an organisation of
thousands of repositories would make that state (carried across continue-as-new and returned by
the `status` query) larger than Temporal's payload limit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint

from store.models.base import StoreModel, bigint_id, timestamp, timestamp_now


class OwnerRepository(StoreModel, table=True):
    __tablename__ = "owner_repositories"
    __table_args__ = (UniqueConstraint("org", "provider_ref", "binding_ref", "native_id"),)

    id: int | None = bigint_id()
    org: str
    provider_ref: str
    binding_ref: str
    # The provider's stable id (names change with renames and transfers).
    native_id: str
    full_name: str
    # Whether the provider still shows the repository to the binding: False after a removal
    # (deleted, transferred away, taken out of the App installation, no longer listed).
    present: bool = True
    removed_reason: str | None = None
    removed_at: datetime | None = timestamp()
    # The discovery listing that last saw it (a complete listing without it removes it).
    listing_id: str | None = None
    # Its repository workflow: "none", "running" (started) or "stopped" (after a removal).
    workflow: str = "none"
    # The binding workflow's configuration version the repository workflow last received.
    config_version: int = 0
    # When the repository workflow completed its first pass.
    synced_at: datetime | None = timestamp()
    first_seen_at: datetime | None = timestamp_now()
    updated_at: datetime | None = timestamp_now()
