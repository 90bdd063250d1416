"""Where the command line finds the database and Temporal.

`KRATE_DATABASE_URL` wins. Without it, a running `krate-sync dev` stack is found through the file
it writes in its state directory, so commands work in a second terminal with nothing exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import Session

from settings import Settings
from starter.errors import ServiceUnreachable

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


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A session in one transaction on a database known to be reachable (else exit code 3)."""
    from store.db import DatabaseUnreachable, make_engine, ping, session_scope

    url = database_url(settings)
    try:
        ping(url)
    except DatabaseUnreachable as error:
        raise ServiceUnreachable(str(error)) from error
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()
