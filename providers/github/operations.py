"""What every GitHub operation group shares: the client, the mapping context, path and page
helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from providers.base import Cursor, Page, ProviderProtocolError, RepoRef
from providers.github.client import GitHubClient, RawPage
from providers.github.mapping import MappingContext, Raw

T = TypeVar("T")

# A guard for the collect-all helpers (deploy keys, branch protection): a listing longer than
# this is not something we mean to hold in memory in one activity.
MAX_COLLECTED_PAGES = 50


def repo_path(repo: RepoRef) -> str:
    return f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}"


def iso(moment: datetime) -> str:
    """GitHub's timestamp format (ISO 8601, UTC, `Z`)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_page(raw: RawPage, mapper: Callable[[Raw], T]) -> Page[T]:
    """A raw page mapped item by item into a `Page` of normalized models."""
    return Page[T](
        items=[mapper(item) for item in raw.items],
        next_cursor=raw.next_cursor,
        etag=raw.etag,
        not_modified=raw.not_modified,
        rate_limit=raw.rate_limit,
    )


async def collect_all(
    fetch: Callable[[Cursor | None], Awaitable[Page[T]]], *, max_pages: int = MAX_COLLECTED_PAGES
) -> list[T]:
    """Every item of a listing, page after page (for the sync operations that need the whole
    current state). Loop detection happens in the paginator; `max_pages` bounds the rest."""
    items: list[T] = []
    cursor: Cursor | None = None
    for _ in range(max_pages):
        page = await fetch(cursor)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise ProviderProtocolError(f"listing still going after {max_pages} pages")


class Operations:
    """Base of the operation groups; `GitHubProvider` combines them over one client."""

    def __init__(self, client: GitHubClient, context: MappingContext | None = None) -> None:
        self.client = client
        self.context = context or MappingContext()

    async def _get_object(self, path: str, what: str) -> dict[str, Any]:
        return _object(await self.client.get_json(path), what)

    async def _send_object(self, method: str, path: str, body: Any, what: str) -> dict[str, Any]:
        return object_of(await self.client.request(method, path, json=body), what)


def object_of(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object in `response`, or a protocol error naming `what`."""
    try:
        value = response.json()
    except ValueError as exc:
        raise ProviderProtocolError(f"invalid JSON for {what}") from exc
    return _object(value, what)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderProtocolError(f"expected a JSON object for {what}")
    return value
