"""Connections and the reachability check the command line relies on (exit code 3)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from netports import free_port
from store.db import DatabaseUnreachable, make_engine, ping, session_scope


def test_ping_reaches_the_test_database(database_url: str) -> None:
    ping(database_url)


def test_ping_names_host_port_and_a_hint_when_nothing_listens() -> None:
    port = free_port()
    with pytest.raises(DatabaseUnreachable) as caught:
        ping(f"postgresql://postgres@127.0.0.1:{port}/krate", timeout=2)
    error = caught.value
    assert (error.host, error.port) == ("127.0.0.1", str(port))
    assert f"127.0.0.1:{port}" in str(error)
    assert "hint:" in str(error)


def test_ping_hints_at_a_missing_database(database_url: str) -> None:
    missing = urlsplit(database_url)._replace(path="/krate_no_such_database").geturl()
    with pytest.raises(DatabaseUnreachable, match="createdb"):
        ping(missing)


def test_make_engine_rejects_other_databases() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        make_engine("mysql://root@localhost/krate")


def test_session_scope_commits_or_rolls_back(clean_database: str) -> None:
    engine = make_engine(clean_database)
    insert = text(
        "INSERT INTO audit_log (actor, action, subject_kind, subject_name) "
        "VALUES ('t', 'test', 'Kind', :name)"
    )
    with session_scope(engine) as session:
        session.connection().execute(insert, {"name": "kept"})

    def fail_midway() -> None:
        with session_scope(engine) as session:
            session.connection().execute(insert, {"name": "dropped"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    with session_scope(engine) as session:
        names = session.connection().execute(text("SELECT subject_name FROM audit_log")).scalars()
        assert list(names) == ["kept"]
    engine.dispose()
