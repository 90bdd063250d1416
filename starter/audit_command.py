"""`krate-sync audit`: who did what to which object, newest first."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
import yaml
from rich.console import Console

from settings import get_settings
from starter.audit import (
    AUDIT_HEADERS,
    DEFAULT_LIMIT,
    AuditFilterError,
    audit_rows,
    parse_query,
    read_audit,
)
from starter.connection import database_session
from starter.errors import InvalidInput
from starter.render import plain_table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class AuditFormat(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


def audit(
    objects: Annotated[
        list[str] | None,
        typer.Option(
            "--object",
            help="KIND/NAME (intent/NAME, conflict/NAME, binding/NAME, issue/NAME...), a name, "
            "a provider delivery id or OWNER/REPO#NUMBER (repeatable: any of them).",
        ),
    ] = None,
    actions: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            help="An action (intent.approved) or a family: apply, conflict, delete, intent, "
            "local, replay (repeatable: any of them).",
        ),
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="Only this organization.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many entries (1 to 1000).")
    ] = DEFAULT_LIMIT,
    output: Annotated[
        AuditFormat, typer.Option("-o", "--output", help="table, yaml or json.")
    ] = AuditFormat.table,
) -> None:
    """The audit trail: applies, deletes, replays, write intents, conflicts and local edits."""
    try:
        query = parse_query(objects or [], actions or [], limit)
    except AuditFilterError as error:
        raise InvalidInput(str(error)) from None
    with database_session(get_settings()) as session:
        docs = read_audit(session, query, org)
    if output is AuditFormat.json:
        out.print_json(json.dumps({"items": docs}, default=str))
    elif output is AuditFormat.yaml:
        text = yaml.safe_dump({"items": docs}, sort_keys=False, default_flow_style=False)
        out.print(text, end="", markup=False, highlight=False)
    elif not docs:
        err.print("No audit entries found.", markup=False, highlight=False)
    else:
        out.print(plain_table(AUDIT_HEADERS, audit_rows(docs)), markup=False, highlight=False)
