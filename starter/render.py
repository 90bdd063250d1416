"""Printing resources the way kubectl does: a table, YAML documents or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console


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
    headers = ["NAMESPACE", "NAME", *(h for h, _ in columns), "AGE"]
    rows = [
        [
            _cell(doc.get("metadata", {}).get("namespace")),
            _cell(doc.get("metadata", {}).get("name")),
            *(_cell(_dig(doc, path)) for _, path in columns),
            age(doc.get("metadata", {}).get("creationTimestamp")),
        ]
        for doc in docs
    ]
    console.print(plain_table(headers, rows), markup=False, highlight=False, soft_wrap=True)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded like kubectl's: never folded, so output stays greppable in any width."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]
    return "\n".join(lines)
