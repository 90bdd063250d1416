"""GitHub's answers sorted into the provider-neutral verdicts and error classes.

Rules (GitHub REST docs, "Rate limits for the REST API" and "Troubleshooting"):

- 304 answers a conditional request: not modified.
- 403/429 with `x-ratelimit-remaining: 0`: primary limit, retry after `x-ratelimit-reset`.
- 403/429 with `retry-after`: secondary limit, retry after that many seconds.
- 403/429 whose message names a secondary rate limit but no header says when: wait a minute
  (the docs' own advice); a bare 429 is treated the same way.
- 401 auth, other 403 permission, 404/410 not found, 400/422 validation, 405/409/412 conflict.
- 5xx and 408: transient, honouring `retry-after` when present.

Headers are read defensively: a `x-ratelimit-reset` that is not an integer or lies outside the
dates Python can represent (GitHub never sends one; a proxy or a bug might) counts as unknown, and
a primary limit with an unknown reset waits like a secondary one (`retry-after`, else a
minute). A bad header must never hide the status it came with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from providers.base import (
    ProviderAuthError,
    ProviderConflict,
    ProviderError,
    ProviderNotFound,
    ProviderPermissionError,
    ProviderRequestError,
    ProviderTransientError,
    ProviderValidationError,
    RateLimitBudget,
    RateLimited,
    Verdict,
    parse_retry_after,
    reset_after,
)

# GitHub's advice when a secondary limit comes without a retry-after or reset header.
SECONDARY_LIMIT_DEFAULT_WAIT = 60.0


@dataclass(frozen=True)
class Classification:
    """The verdict on one response, and the error to raise unless it is OK or NOT_MODIFIED."""

    verdict: Verdict
    error: ProviderError | None = None


def read_rate_limit(headers: httpx.Headers) -> RateLimitBudget:
    """The x-ratelimit-* headers as a budget (fields absent or unreadable stay None)."""
    return RateLimitBudget(
        limit=_int(headers.get("x-ratelimit-limit")),
        remaining=_int(headers.get("x-ratelimit-remaining")),
        used=_int(headers.get("x-ratelimit-used")),
        reset_at=parse_reset(headers.get("x-ratelimit-reset")),
        resource=headers.get("x-ratelimit-resource"),
    )


def parse_reset(value: str | None) -> datetime | None:
    """`x-ratelimit-reset` (epoch seconds) as a time, or None when it is not an integer or
    not a representable date."""
    seconds = _int(value)
    if seconds is None:
        return None
    try:
        reset = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return reset


def classify_response(response: httpx.Response, *, now: datetime | None = None) -> Classification:
    """Say how to treat a GitHub response; the single place that maps statuses to errors."""
    status = response.status_code
    if status < 300:
        return Classification(Verdict.OK)
    if status == 304:
        return Classification(Verdict.NOT_MODIFIED)

    message, documentation_url, details = _error_body(response)
    request_id = response.headers.get("x-github-request-id")
    common: dict[str, Any] = {"status": status, "request_id": request_id}

    if status in (403, 429):
        limited = _rate_limit(response, message, documentation_url, now=now)
        if limited is not None:
            return Classification(Verdict.RATE_LIMITED, limited)
    if status == 401:
        error: ProviderError = ProviderAuthError(
            message, documentation_url=documentation_url, **common
        )
    elif status == 403:
        error = ProviderPermissionError(message, documentation_url=documentation_url, **common)
    elif status in (404, 410):
        error = ProviderNotFound(message, documentation_url=documentation_url, **common)
    elif status in (400, 422):
        error = ProviderValidationError(
            message, documentation_url=documentation_url, details=details, **common
        )
    elif status in (405, 409, 412):
        error = ProviderConflict(message, documentation_url=documentation_url, **common)
    elif status == 408 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        return Classification(
            Verdict.RETRIABLE, ProviderTransientError(message, retry_after=retry_after, **common)
        )
    else:
        error = ProviderRequestError(message, documentation_url=documentation_url, **common)
    return Classification(Verdict.FATAL, error)


def classify_transport_error(exc: httpx.TransportError) -> ProviderTransientError:
    """Timeouts, refused or reset connections, broken reads: all worth a retry."""
    return ProviderTransientError(f"{type(exc).__name__}: {exc}".rstrip(": "))


def _rate_limit(
    response: httpx.Response, message: str, documentation_url: str | None, *, now: datetime | None
) -> RateLimited | None:
    headers = response.headers
    budget = read_rate_limit(headers)
    common: dict[str, Any] = {
        "status": response.status_code,
        "documentation_url": documentation_url,
        "request_id": headers.get("x-github-request-id"),
        "resource": budget.resource,
    }
    retry_after = parse_retry_after(headers.get("retry-after"), now=now)
    if retry_after is not None:
        return RateLimited(
            message,
            retry_after=retry_after,
            reset_at=reset_after(retry_after, now=now),
            secondary=True,
            **common,
        )
    if budget.remaining == 0 and budget.reset_at is not None:
        return RateLimited(message, reset_at=budget.reset_at, **common)
    # An exhausted budget whose reset is unknown waits like a secondary limit.
    if (
        budget.remaining == 0
        or response.status_code == 429
        or "secondary rate limit" in message.lower()
    ):
        return RateLimited(
            message,
            retry_after=SECONDARY_LIMIT_DEFAULT_WAIT,
            reset_at=reset_after(SECONDARY_LIMIT_DEFAULT_WAIT, now=now),
            secondary=True,
            **common,
        )
    return None


def _error_body(response: httpx.Response) -> tuple[str, str | None, list[Any]]:
    """GitHub's `message`, `documentation_url` and `errors` (lenient: bodies may be anything)."""
    fallback = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:500] or fallback), None, []
    if not isinstance(body, dict):
        return fallback, None, []
    message = body.get("message")
    documentation_url = body.get("documentation_url")
    errors = body.get("errors")
    return (
        message if isinstance(message, str) and message else fallback,
        documentation_url if isinstance(documentation_url, str) else None,
        errors if isinstance(errors, list) else [],
    )


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
