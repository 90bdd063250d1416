"""Connections: an engine from a database URL, sessions, and a cheap reachability check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from settings import libpq_url, sqlalchemy_url
from store import canonical


class DatabaseUnreachable(Exception):
    """The database server cannot be reached or refuses us (the CLI exits with code 3)."""

    def __init__(self, host: str, port: str, reason: str, hint: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        self.hint = hint
        super().__init__(f"cannot reach PostgreSQL at {host}:{port}: {reason}\nhint: {hint}")


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine for a postgresql://, postgres:// or postgresql+psycopg:// URL (psycopg 3).

    JSONB values are written with `canonical.dumps`, so documents that came from YAML (where
    times load as datetime) store cleanly.
    """
    return create_engine(
        sqlalchemy_url(url),
        echo=echo,
        pool_pre_ping=True,
        json_serializer=canonical.dumps,
        **kwargs,
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (CLI output reads them)."""
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    Store functions never commit; the caller decides where a transaction ends.
    """
    with session_factory(engine)() as session, session.begin():
        yield session


def _address(url: str) -> tuple[str, str]:
    try:
        info = psycopg.conninfo.conninfo_to_dict(libpq_url(url))
    except psycopg.ProgrammingError:
        return "?", "?"
    return str(info.get("host") or "localhost"), str(info.get("port") or "5432")


def _hint(reason: str) -> str:
    lowered = reason.lower()
    if "does not exist" in lowered and "database" in lowered:
        return "create the database (createdb) or fix the database name in KRATE_DATABASE_URL"
    if "password" in lowered or "authentication" in lowered:
        return "check the user and password in KRATE_DATABASE_URL"
    return (
        "is PostgreSQL running and is KRATE_DATABASE_URL right? "
        "`krate-sync dev` starts a local server"
    )


def ping(url: str, *, timeout: float = 3.0) -> None:
    """Connect once and run `SELECT 1`; raise DatabaseUnreachable with a hint if that fails."""
    host, port = _address(url)
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=max(1, round(timeout))) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseUnreachable(host, port, reason, _hint(str(error))) from error
