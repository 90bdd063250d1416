"""The HTTP layer every GitHub operation goes through.

One `httpx.AsyncClient` per adapter, with an injectable transport (tests pass
`httpx.MockTransport`; production passes nothing). It sets GitHub's recommended headers, adds the
bearer token, sends `If-None-Match` for conditional requests, reads the rate-limit headers into a
budget, follows GitHub's redirects (a renamed or transferred repository's old URL answers 301
for GET and 307 for other methods, with a Location on the same API), and raises the classified
error for anything that is not a success or a 304.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from providers.base import (
    Cursor,
    ProviderConfigurationError,
    ProviderProtocolError,
    RateLimitBudget,
)
from providers.github.auth import Clock, GitHubCredentials, TokenSource, token_source_for, utc_now
from providers.github.errors import classify_response, classify_transport_error, read_rate_limit
from providers.github.pagination import LinkPaginator

DEFAULT_BASE_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
DEFAULT_USER_AGENT = "krate-sync/0.1 (+https://krate.a5c.ai)"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# 301/302 change a non-GET into a GET in browsers; GitHub sends 307 for those, so only GET and
# HEAD follow 301/302, every method follows 307/308 (same method, same body).
REDIRECT_ANY_METHOD = frozenset({307, 308})
REDIRECT_GET_ONLY = frozenset({301, 302})
MAX_REDIRECTS = 5

Params = Mapping[str, str | int | bool]


@dataclass
class RawPage:
    """One page of raw GitHub objects, before mapping."""

    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: Cursor | None = None
    etag: str | None = None
    not_modified: bool = False
    rate_limit: RateLimitBudget = field(default_factory=RateLimitBudget)


class GitHubClient:
    """Authenticated, classified access to the GitHub REST API (or a GHES / simulator base URL)."""

    def __init__(
        self,
        credentials: GitHubCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderConfigurationError(f"GitHub API base URL is not absolute: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc)
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": user_agent,
            },
        )
        self._auth: TokenSource = token_source_for(credentials, http=self._http, clock=clock)
        self.rate_limit = RateLimitBudget()
        # The last budget seen per resource (core, graphql...): GitHub counts them apart.
        self.rate_limits: dict[str, RateLimitBudget] = {}

    @property
    def auth(self) -> TokenSource:
        return self._auth

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        etag: str | None = None,
    ) -> httpx.Response:
        """Send one request; return a 2xx or 304 response, raise the classified error otherwise.

        `url` is a path under the base URL, or an absolute URL on the same origin (Link headers).
        A 401 with App credentials drops the cached installation token and retries once.
        """
        self._check_origin(url)
        response = await self._follow(method, url, params=params, json=json, etag=etag)
        if response.status_code == 401 and self._auth.refreshable:
            self._auth.invalidate()
            response = await self._follow(method, url, params=params, json=json, etag=etag)
        verdict = classify_response(response, now=self._clock())
        if verdict.error is not None:
            raise verdict.error
        return response

    async def get_json(self, url: str, *, params: Params | None = None) -> Any:
        """GET a single JSON document."""
        return _json(await self.request("GET", url, params=params))

    async def get_page(
        self,
        url: str,
        *,
        params: Params | None = None,
        cursor: Cursor | None = None,
        etag: str | None = None,
        items_key: str | None = None,
        since: datetime | None = None,
        phase: str | None = None,
    ) -> RawPage:
        """GET one page of a listing: the first (`url` + `params`) or the one `cursor` names.

        `items_key` names the array inside wrapped listings (`workflow_runs`, `repositories`).
        """
        if cursor is not None and cursor.next_url is not None:
            paginator = LinkPaginator.resume(cursor)
            params = None  # the next URL carries every query parameter already
        else:
            paginator = LinkPaginator(url)
        request_url = paginator.current_url
        assert request_url is not None
        response = await self.request("GET", request_url, params=params, etag=etag)
        budget = self.rate_limit
        if response.status_code == 304:
            return RawPage(etag=etag, not_modified=True, rate_limit=budget)
        paginator.advance(response)
        body = _json(response)
        if items_key is not None:
            body = body.get(items_key) if isinstance(body, dict) else None
        if not isinstance(body, list):
            raise ProviderProtocolError(f"expected a JSON array from {request_url}")
        items = [item for item in body if isinstance(item, dict)]
        return RawPage(
            items=items,
            next_cursor=paginator.cursor(since=since, phase=phase),
            etag=response.headers.get("etag"),
            rate_limit=budget,
        )

    async def _follow(
        self,
        method: str,
        url: str,
        *,
        params: Params | None,
        json: Any,
        etag: str | None,
    ) -> httpx.Response:
        """`_send`, then the redirects GitHub asks for, on our own origin only (the token must
        not leave it): a Location elsewhere is a ProviderProtocolError. A redirect chain longer
        than MAX_REDIRECTS, or a 301/302 for a write, is returned for classification."""
        response = await self._send(method, url, params=params, json=json, etag=etag)
        for _ in range(MAX_REDIRECTS):
            status = response.status_code
            location = response.headers.get("location")
            follows = status in REDIRECT_ANY_METHOD or (
                status in REDIRECT_GET_ONLY and method in ("GET", "HEAD")
            )
            if not follows or not location:
                return response
            target = str(response.request.url.join(location))
            self._check_origin(target)
            # The Location carries the query string already.
            response = await self._send(method, target, params=None, json=json, etag=etag)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Params | None,
        json: Any,
        etag: str | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self._auth.token()}"}
        if etag:
            headers["If-None-Match"] = etag
        try:
            response = await self._http.request(
                method, url, params=dict(params) if params else None, json=json, headers=headers
            )
        except httpx.TransportError as exc:
            raise classify_transport_error(exc) from exc
        if "x-ratelimit-remaining" in response.headers:
            self.rate_limit = read_rate_limit(response.headers)
            self.rate_limits[self.rate_limit.resource or "core"] = self.rate_limit
        return response

    def tightest_rate_limit(self) -> RateLimitBudget:
        """The budget closest to running out among the resources used (not yet reset), so a
        caller pacing itself on one number never overlooks the other bucket."""
        now = self._clock()
        live = [
            b
            for b in self.rate_limits.values()
            if b.remaining is not None and (b.reset_at is None or b.reset_at > now)
        ]
        return min(live, key=lambda b: b.remaining or 0, default=self.rate_limit)

    def _check_origin(self, url: str) -> None:
        # A next-page URL from a header or a stored cursor must never carry our token elsewhere.
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            if (parts.scheme, parts.netloc) != self._origin:
                raise ProviderProtocolError(f"refusing to follow {url}: not on {self.base_url}")


def _json(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderProtocolError(
            f"invalid JSON from {response.request.url}", status=response.status_code
        ) from exc
