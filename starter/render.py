"""Printing resources the way kubectl does: a table, YAML documents or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"
    name = "name"


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """Render an ISO timestamp as a short age such as 5m or 3d, like kubectl's AGE column."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _dig(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def render(
    console: Console,
    docs: Sequence[dict[str, Any]],
    fmt: OutputFormat,
    columns: Sequence[tuple[str, str]] = (),
) -> None:
    """Print `docs`; `columns` are (header, dotted path) pairs for the table form."""
    if fmt is OutputFormat.json:
        body: Any = (
            docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": list(docs)}
        )
        console.print_json(json.dumps(body, default=str))
        return
    if fmt is OutputFormat.yaml:
        text = "---\n".join(
            yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for doc in docs
        )
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return
    if fmt is OutputFormat.name:
        for doc in docs:
            console.print(
                f"{doc['kind'].lower()}/{doc['metadata']['name']}", markup=False, highlight=False
            )
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    headers = ["NAMESPACE", "NAME", *(h for h, _ in columns), "AGE"]
    for header in headers:
        table.add_column(header, overflow="fold")
    for doc in docs:
        meta = doc.get("metadata", {})
        table.add_row(
            _cell(meta.get("namespace")),
            _cell(meta.get("name")),
            *(_cell(_dig(doc, path)) for _, path in columns),
            age(meta.get("creationTimestamp")),
        )
    console.print(table)
