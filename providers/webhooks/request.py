"""One incoming webhook request as plain values (no web framework types)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.webhooks.headers import HeaderInput, Headers


@dataclass(frozen=True)
class WebhookRequest:
    """Method, headers, raw body bytes (exactly as received) and query parameters."""

    headers: Headers
    body: bytes = b""
    method: str = "POST"
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        headers: HeaderInput,
        body: bytes = b"",
        method: str = "POST",
        query: Mapping[str, str] | None = None,
    ) -> WebhookRequest:
        """Build from any header mapping or list of pairs."""
        return cls(Headers(headers), body, method.upper(), dict(query or {}))


def header_bytes(value: str) -> bytes:
    """The bytes the provider sent. ASGI servers decode header bytes as latin-1, so encoding
    back as latin-1 recovers them; a value already decoded as UTF-8 falls back to UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()
