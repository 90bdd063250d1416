"""Durations written the way Kubernetes users write them: `30s`, `15m`, `24h`, `7d`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)([smhd])")
_WHOLE = re.compile(r"(?:\d+[smhd])+")

DURATION_HINT = "write a number and a unit (s, m, h, d), for example 30s, 15m, 24h or 1h30m"


def parse_duration(value: str) -> timedelta:
    """Parse `15m`, `24h` or `1h30m` into a timedelta; raise ValueError saying what is accepted."""
    text = value.strip()
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"invalid duration {value!r}: {DURATION_HINT}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"invalid duration {value!r}: it must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Render a timedelta as `parse_duration` reads it back (`90m` -> `1h30m`).

    Days are written as hours (`24h`, as the spec writes them, and as Go durations do)."""
    remaining = int(value.total_seconds())
    if remaining <= 0:
        return "0s"
    parts = []
    for unit in ("h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _coerce_duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    # Bare numbers are ambiguous (seconds? minutes?), so they are refused rather than guessed.
    raise ValueError(f"invalid duration {value!r}: {DURATION_HINT}")


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A timedelta that is read from and written as a duration string."""
