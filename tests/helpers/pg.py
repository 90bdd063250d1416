"""Databases for tests: one fresh database per session on whichever server the tests use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from settings import libpq_url


def _with_database(server_url: str, dbname: str) -> str:
    """`server_url` pointing at database `dbname` (keeps host, port, user and query)."""
    info = psycopg.conninfo.conninfo_to_dict(libpq_url(server_url))
    info["dbname"] = dbname
    params = {k: v for k, v in info.items() if v is not None}
    user = str(params.pop("user", "postgres"))
    password = str(params.pop("password", ""))
    host = str(params.pop("host", ""))
    port = str(params.pop("port", ""))
    params.pop("dbname")
    auth = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        # A socket directory goes in the query: postgresql://user@/db?host=/path
        query = "&".join([f"host={host}", *(f"{k}={v}" for k, v in params.items())])
        return f"postgresql://{auth}/{dbname}?{query}"
    netloc = f"{host}:{port}" if port else host
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://{auth}{netloc}/{dbname}" + (f"?{query}" if query else "")


@contextmanager
def fresh_database(server_url: str, *, migrate: bool) -> Iterator[str]:
    """Create an empty database, optionally migrate it to head, and drop it afterwards."""
    name = f"krate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(server_url, name)
    try:
        if migrate:
            from store.migrate import upgrade

            upgrade(url)
        yield url
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def truncate_all(url: str) -> None:
    """Empty every table but Alembic's version table."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        ).fetchall()
        if rows:
            tables = sql.SQL(", ").join(sql.Identifier(r[0]) for r in rows)
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))
