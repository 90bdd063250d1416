"""GitHub's GraphQL API over the adapter's own client: one POST, errors classified.

HTTP-level answers (401, 403/429 limits, 5xx, transport failures) go through the same
classification as REST. A 200 can still carry errors (GitHub docs, "Rate limits and query limits
for the GraphQL API"): a spent primary budget comes back as 200 with an error of type
`RATE_LIMIT` (`RATE_LIMITED` in older answers) and the reset in `x-ratelimit-reset`; a secondary
limit may come back as 200 too. Those map onto the same provider errors as REST answers, so the
activities and workflows cannot tell which API a page used.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderPermissionError,
    ProviderProtocolError,
    ProviderTransientError,
    ProviderValidationError,
    RateLimited,
    parse_retry_after,
    reset_after,
)
from providers.github.client import GitHubClient
from providers.github.errors import SECONDARY_LIMIT_DEFAULT_WAIT, read_rate_limit

RATE_LIMIT_TYPES = frozenset({"RATE_LIMIT", "RATE_LIMITED"})
# Query shape problems: our document is wrong, retrying cannot help.
QUERY_ERROR_TYPES = frozenset(
    {"MAX_NODE_LIMIT_EXCEEDED", "EXCESSIVE_PAGINATION", "MISSING_PAGINATION_BOUNDARIES"}
)
TRANSIENT_TYPES = frozenset({"SERVICE_UNAVAILABLE", "INTERNAL", "TIMEOUT"})


def graphql_url(base_url: str) -> str:
    """`https://api.github.com` → `/graphql`; GHES `https://host/api/v3` → `https://host/api/graphql`."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/api/v3"):
        return urlunsplit((parts.scheme, parts.netloc, path[: -len("/v3")] + "/graphql", "", ""))
    return "/graphql"


@dataclass
class Answer:
    """`data` of a GraphQL answer and the errors that were tolerated."""

    data: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)


async def query(
    client: GitHubClient,
    document: str,
    variables: Mapping[str, Any],
    *,
    tolerate: Collection[str] = (),
) -> Answer:
    """POST one query; raise the classified error unless every error is tolerated.

    `tolerate` names top-level fields (such as `nodes`) whose NOT_FOUND items are expected:
    an object deleted between a listing and the query comes back as a null there.
    """
    response = await client.request(
        "POST",
        graphql_url(client.base_url),
        json={"query": document, "variables": dict(variables)},
    )
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderProtocolError("invalid JSON from the GraphQL API") from exc
    if not isinstance(body, dict):
        raise ProviderProtocolError("expected a JSON object from the GraphQL API")
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    fatal = [e for e in errors if not _tolerated(e, tolerate)]
    if fatal:
        raise classify_errors(fatal, response)
    data = body.get("data")
    if not isinstance(data, dict):
        raise ProviderProtocolError("GraphQL answer without data")
    return Answer(data=data, errors=errors)


def _tolerated(error: Mapping[str, Any], fields: Collection[str]) -> bool:
    path = error.get("path")
    return (
        error.get("type") == "NOT_FOUND"
        and isinstance(path, list)
        and len(path) > 1
        and path[0] in fields
    )


def classify_errors(
    errors: list[dict[str, Any]], response: httpx.Response, *, now: datetime | None = None
) -> ProviderError:
    """The provider error for the errors of a 200 GraphQL answer."""
    first = errors[0]
    message = "; ".join(str(e.get("message", "GraphQL error")) for e in errors)
    kinds = {e.get("type") for e in errors}
    request_id = response.headers.get("x-github-request-id")
    budget = read_rate_limit(response.headers)
    retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
    secondary = "secondary rate limit" in message.lower()
    if kinds & RATE_LIMIT_TYPES or secondary:
        if retry_after is None and (secondary or budget.reset_at is None):
            retry_after = SECONDARY_LIMIT_DEFAULT_WAIT
        return RateLimited(
            message,
            reset_at=reset_after(retry_after, now=now)
            if retry_after is not None
            else budget.reset_at,
            retry_after=retry_after,
            resource=budget.resource or "graphql",
            secondary=secondary,
            status=response.status_code,
            request_id=request_id,
        )
    common: dict[str, Any] = {"status": response.status_code, "request_id": request_id}
    if "NOT_FOUND" in kinds:
        return ProviderNotFound(message, **common)
    if "FORBIDDEN" in kinds:
        return ProviderPermissionError(message, **common)
    if "UNAUTHENTICATED" in kinds:
        return ProviderAuthError(message, **common)
    if kinds & TRANSIENT_TYPES or str(first.get("message", "")).startswith("Something went wrong"):
        return ProviderTransientError(message, retry_after=retry_after, **common)
    # Parse and validation errors (no type), query limits, bad arguments: our document is wrong.
    return ProviderValidationError(message, details=errors, **common)
