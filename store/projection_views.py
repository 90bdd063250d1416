"""What the read API adds to projection rows: bodies in their rich-text shape and a pull
request's checks. Rows are the plain column dicts the API lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from store.pull_request_checks import checks_of

BODIED_KINDS = frozenset({"Issue", "PullRequest", "Review", "Comment"})


def rich_body(row: dict[str, Any]) -> dict[str, Any] | None:
    """`{markdown, sourceFormat, sourceDigest, renderWarnings}` of a row (None: no body)."""
    if row.get("body") is None:
        return None
    return {
        "markdown": row["body"],
        "sourceFormat": row.get("body_format") or "markdown",
        "sourceDigest": row.get("body_source_digest"),
        "renderWarnings": list(row.get("body_render_warnings") or []),
    }


def with_views(session: Session, kind: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with `richBody` (bodied kinds) and `checks` (pull requests) added."""
    out = [dict(r) for r in rows]
    if kind in BODIED_KINDS:
        for row in out:
            row["richBody"] = rich_body(row)
    if kind == "PullRequest":
        numbers: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for row in out:
            numbers[(row["org"], row["provider_ref"], row["repository"])].append(row["number"])
        found: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
        for (org, provider_ref, repository), wanted in numbers.items():
            for number, checks in checks_of(
                session, org=org, provider_ref=provider_ref, repository=repository, numbers=wanted
            ).items():
                found[(org, provider_ref, repository, number)] = checks
        for row in out:
            key = (row["org"], row["provider_ref"], row["repository"], row["number"])
            row["checks"] = found.get(key, [])
    return out
