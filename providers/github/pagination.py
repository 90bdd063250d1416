"""Following GitHub's `Link: <...>; rel="next"` headers, one page at a time.

GitHub (and other RFC 8288 providers) hand out the next page as an absolute URL; we keep that URL
as the cursor, so a resumed listing asks for exactly the page GitHub offered, with every filter
it carried. `visited` remembers the last few page URLs so that a provider pointing back to a page
already served is caught even when the pages are fetched by different activities.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import httpx

from providers.base import Cursor, PaginationLoopError

MAX_PER_PAGE = 100
# How many recent page URLs a cursor carries for loop detection; small, since it lives in
# workflow state, and a loop through more distinct URLs than this is not a loop GitHub makes.
VISITED_KEPT = 5


class LinkPaginator:
    """Pages through a Link-header listing starting at `start_url`."""

    def __init__(self, start_url: str, *, visited: Sequence[str] = ()) -> None:
        self._current: str | None = start_url
        self._visited: list[str] = list(visited)[-VISITED_KEPT:]

    @classmethod
    def resume(cls, cursor: Cursor) -> LinkPaginator:
        """Continue where `cursor` left off."""
        if cursor.next_url is None:
            raise ValueError("cursor has no next page")
        return cls(cursor.next_url, visited=cursor.visited)

    @property
    def has_more(self) -> bool:
        return self._current is not None

    @property
    def current_url(self) -> str | None:
        return self._current

    def get_next(self, response: httpx.Response) -> str | None:
        """The rel="next" URL of `response`, if any."""
        link = response.links.get("next")
        url = link.get("url") if link else None
        return url or None

    def advance(self, response: httpx.Response) -> None:
        """Move past the page in `response`; refuses a next URL already served."""
        if self._current is not None:
            self._visited = [*self._visited, self._current][-VISITED_KEPT:]
        next_url = self.get_next(response)
        if next_url is not None and next_url in self._visited:
            raise PaginationLoopError(
                f"pagination loop: next page {next_url} was already served",
                status=response.status_code,
            )
        self._current = next_url

    def cursor(self, *, since: datetime | None = None, phase: str | None = None) -> Cursor | None:
        """The cursor for the next page, or None when the listing is done."""
        if self._current is None:
            return None
        return Cursor(next_url=self._current, since=since, phase=phase, visited=self._visited)


def clamp_per_page(per_page: int) -> int:
    """GitHub serves at most 100 items per page."""
    return max(1, min(MAX_PER_PAGE, per_page))
