"""Canonical JSON: one spelling for a document, so digests and comparisons are stable."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any


def rfc3339(value: datetime) -> str:
    """`value` as Kubernetes writes times: UTC, seconds precision unless there is a fraction, Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive times are taken as UTC, as YAML does
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(document: Any) -> str:
    """JSON for storage: times (which YAML loads as datetime) become RFC 3339 strings."""
    return json.dumps(document, default=_default, ensure_ascii=False)


def plain(document: Any) -> Any:
    """`document` with every datetime turned into its RFC 3339 string (a JSON-ready copy)."""
    return json.loads(dumps(document))


def digest(document: Any) -> str:
    """ "sha256:<hex>" of the canonical JSON of `document` (sorted keys, no spaces)."""
    text = json.dumps(document, default=_default, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
