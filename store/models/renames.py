"""Names a repository no longer has: how the store recognises an old name after a rename.

Projection rows name their repository by its current "owner/name" (store/renames.py moves them
when it changes). A former name still turns up afterwards: a binding's externalRef written
before the rename, a delivery sent before it and processed after. This table maps such a name
to the provider's stable id of the repository that had it, so both reach the current name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint

from store.models.base import StoreModel, bigint_id, timestamp, timestamp_now


class RepositoryFormerName(StoreModel, table=True):
    __tablename__ = "repository_former_names"
    # One repository per former name: when another repository is renamed away from the same
    # name later, the newer rename takes the entry over.
    __table_args__ = (UniqueConstraint("org", "provider_ref", "full_name"),)

    id: int | None = bigint_id()
    org: str
    provider_ref: str
    full_name: str
    native_id: str
    # The repository's version (updated_at) of the rename that retired this name.
    version: datetime | None = timestamp()
    renamed_at: datetime | None = timestamp_now()
