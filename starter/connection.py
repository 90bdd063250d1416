"""Where the command line finds the database and Temporal.

`KRATE_DATABASE_URL` wins. Without it, a running `krate-sync dev` stack is found through the file
it writes in its state directory, so commands work in a second terminal with nothing exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from settings import Settings
from starter.errors import ServiceUnreachable

if TYPE_CHECKING:
    from store.db import DatabaseUnreachable

STACK_FILE = "dev-stack.json"


def stack_file(settings: Settings) -> Path:
    return settings.state_dir / STACK_FILE


def read_stack_file(settings: Settings) -> dict[str, Any]:
    """What a running dev stack wrote about itself, or {} when there is none."""
    path = stack_file(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    url = read_stack_file(settings).get("database_url")
    if isinstance(url, str) and url:
        return url
    raise ServiceUnreachable(
        "no database configured: set KRATE_DATABASE_URL to a PostgreSQL URL, "
        f"or start `krate-sync dev` (it records its database in {stack_file(settings)})"
    )


def reachable_database_url(settings: Settings) -> str:
    """The database URL, after one connection proved it works (else exit code 3)."""
    from store.db import DatabaseUnreachable, ping

    url = database_url(settings)
    try:
        ping(url)
    except DatabaseUnreachable as error:
        raise ServiceUnreachable(_unreachable(settings, error)) from error
    return url


def _unreachable(settings: Settings, error: DatabaseUnreachable) -> str:
    """One line: where, why, and what to do about it."""
    where = f"cannot reach PostgreSQL at {error.host}:{error.port}: {error.reason}"
    if settings.database_url:
        return f"{where}; {error.hint}"
    # The URL came from a stack file that outlived its stack (killed, not stopped).
    return (
        f"{where}; the dev stack recorded in {stack_file(settings)} is not running: start "
        "`krate-sync dev`, or set KRATE_DATABASE_URL"
    )


@contextmanager
def database_engine(settings: Settings) -> Iterator[Engine]:
    """An engine on a database known to be reachable; a connection lost while the block runs
    also becomes exit code 3 instead of a traceback."""
    from sqlalchemy.exc import OperationalError

    from store.db import make_engine

    engine = make_engine(reachable_database_url(settings))
    try:
        yield engine
    except OperationalError as error:
        reason = (str(error.orig or error).strip().splitlines() or [type(error).__name__])[0]
        raise ServiceUnreachable(
            f"lost the connection to PostgreSQL: {reason}; check that it is running and retry"
        ) from error
    finally:
        engine.dispose()


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A session in one transaction on a database known to be reachable (else exit code 3)."""
    from store.db import session_scope

    with database_engine(settings) as engine, session_scope(engine) as session:
        yield session
