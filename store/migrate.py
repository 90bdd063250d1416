"""Alembic, driven from code: no alembic.ini, the URL comes from the caller.

The schema is created only by the migrations in store/migrations/versions; product code never
calls metadata.create_all. `schema_differences` lets tests prove the migrations produce exactly
the tables the models declare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool

from store.db import make_engine, ping
from store.models import metadata as _models_metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_TABLE = "alembic_version"

# What the migrations must produce: every table the models declare.
target_metadata: MetaData = _models_metadata


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Alembic's own bookkeeping table is not one of the models.
    return not (type_ == "table" and name == ALEMBIC_TABLE)


def compare_options() -> dict[str, Any]:
    """Autogenerate's comparison settings, shared by env.py and `schema_differences`."""
    return {"compare_type": True, "include_name": _include_name}


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for the store's migrations, pointed at `url` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's options go through configparser, which treats % specially.
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (DatabaseUnreachable if it cannot)."""
    ping(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" empties it)."""
    ping(url)
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it was never migrated."""
    ping(url)
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision the code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision


def is_current(url: str) -> bool:
    """True when the database at `url` is migrated to the code's head revision."""
    return current(url) == head()


def schema_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: in sync)."""
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=compare_options())
            return list(compare_metadata(context, target_metadata))
    finally:
        engine.dispose()
