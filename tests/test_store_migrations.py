"""The schema comes only from the migrations, and it is exactly what the models declare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from settings import libpq_url
from store import migrate
from store.models import metadata
from tests.helpers import pg

STORE = Path(__file__).resolve().parent.parent / "store"


def _tables(url: str) -> set[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


def test_migrated_database_matches_the_models(database_url: str) -> None:
    assert migrate.current(database_url) == migrate.head()
    assert migrate.is_current(database_url)
    assert migrate.schema_differences(database_url) == []
    assert _tables(database_url) == {*metadata.tables, "alembic_version"}


def test_payload_bodies_are_stored_with_lz4_where_the_server_has_it(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        has_lz4 = conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()
        method = conn.execute(
            "SELECT attcompression FROM pg_attribute"
            " WHERE attrelid = 'webhook_payloads'::regclass AND attname = 'body'"
        ).fetchone()
    assert has_lz4 is not None
    assert method is not None
    assert method[0] == ("l" if has_lz4[0] else "")


def test_schema_check_notices_drift(postgres_server_url: str) -> None:
    with pg.fresh_database(postgres_server_url, migrate=True) as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("ALTER TABLE issues DROP CONSTRAINT uq_issues_identity")
            conn.execute("ALTER TABLE pull_requests ADD COLUMN stray text")
        differences = migrate.schema_differences(url)
        kinds = {d[0] for d in differences if isinstance(d, tuple)}
        assert {"add_constraint", "remove_column"} <= kinds


def test_downgrade_to_base_and_upgrade_again(postgres_server_url: str) -> None:
    with pg.fresh_database(postgres_server_url, migrate=False) as url:
        assert migrate.current(url) is None
        migrate.upgrade(url)
        assert migrate.current(url) == migrate.head()
        migrate.downgrade(url, "base")
        assert migrate.current(url) is None
        assert _tables(url) == {"alembic_version"}
        migrate.upgrade(url)
        assert migrate.schema_differences(url) == []


def test_product_code_never_creates_tables_from_metadata() -> None:
    offenders = [p for p in STORE.rglob("*.py") if ".create_all(" in p.read_text()]
    assert offenders == []


def test_store_imports_no_temporal_workflows_or_providers() -> None:
    code = (
        "import sys, store.db, store.migrate, store.resources, store.upsert, store.payloads;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('temporalio', 'workflows', 'providers', 'activities')];"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=STORE.parent
    )
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_current_accepts_every_postgres_scheme(database_url: str, scheme: str) -> None:
    url = scheme + "://" + database_url.partition("://")[2]
    assert migrate.current(url) == migrate.head()


def test_concurrent_upgrades_take_turns(postgres_server_url: str) -> None:
    # Worker, ingress and the command line may all migrate at start-up (separate processes:
    # Alembic's context is process-global).
    with pg.fresh_database(postgres_server_url, migrate=False) as url:
        code = f"from store.migrate import upgrade; upgrade({url!r})"
        runs = [
            subprocess.Popen([sys.executable, "-c", code], cwd=STORE.parent, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        errors = [run.communicate(timeout=120)[1] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], errors
        assert migrate.schema_differences(url) == []
