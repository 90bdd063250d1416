"""The declarative base of every store table, and small column helpers.

The store keeps its own SQLAlchemy registry and metadata, so migrations see exactly our tables
(never a table some other package defines on SQLModel's global metadata), and constraint names
come from one naming convention (Alembic needs stable names to drop or alter them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
store_registry = registry(metadata=metadata)

NOW = text("now()")
EMPTY_OBJECT = text("'{}'::jsonb")
EMPTY_ARRAY = text("'[]'::jsonb")


class StoreModel(SQLModel, registry=store_registry):
    """Base of every table in the store (abstract: it has no table of its own)."""


def jsonb_object(**kwargs: Any) -> Any:
    """A NOT NULL JSONB column holding an object, `{}` when not given."""
    return Field(
        default_factory=dict,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": EMPTY_OBJECT},
        **kwargs,
    )


def jsonb_array(**kwargs: Any) -> Any:
    """A NOT NULL JSONB column holding an array, `[]` when not given."""
    return Field(
        default_factory=list,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": EMPTY_ARRAY},
        **kwargs,
    )


def jsonb_optional(**kwargs: Any) -> Any:
    """A nullable JSONB column; Python None is stored as SQL NULL, not as JSON `null`."""
    return Field(default=None, sa_type=JSONB(none_as_null=True), **kwargs)


def timestamp(*, index: bool = False) -> Any:
    """A nullable timestamptz column."""
    return Field(default=None, sa_type=DateTime(timezone=True), index=index)


def timestamp_now() -> Any:
    """A NOT NULL timestamptz column that the database fills with now() when not given."""
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"server_default": NOW},
    )


def bigint_id() -> Any:
    """A bigserial primary key.

    Not an IDENTITY column: SQLModel shares a mixin field's column arguments between the
    tables that inherit it, and an Identity object can belong to one column only.
    """
    return Field(default=None, primary_key=True, sa_type=BigInteger)
