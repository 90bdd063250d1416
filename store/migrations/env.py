"""Alembic environment: runs the store's migrations online against `sqlalchemy.url`.

Built by store.migrate.alembic_config; there is no alembic.ini. To write a new migration, see
docs/store.md ("Adding a migration").
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool, text

from store.db import make_engine
from store.migrate import compare_options, target_metadata

# Worker, ingress and the command line may all migrate at start-up: one at a time.
MIGRATION_LOCK = 0x6B72617465  # "krate"


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; use store.migrate, which sets it")
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            # A session-level lock outlives the per-migration transactions below.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                transaction_per_migration=True,
                **compare_options(),
            )
            try:
                with context.begin_transaction():
                    context.run_migrations()
            finally:
                connection.rollback()  # leave no failed transaction in the way of the unlock
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
