"""GitHub's page-number pagination: `per_page` (default 30, at most 100), `page` and a `Link`
header with first/prev/next/last relations built on the request's own URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

T = TypeVar("T")

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    number: int
    per_page: int


def parse_page(query: Mapping[str, str]) -> Page:
    """Read `page` and `per_page` the lenient way GitHub does: junk means the default."""
    try:
        per_page = int(query.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        per_page = DEFAULT_PER_PAGE
    try:
        number = int(query.get("page", 1))
    except ValueError:
        number = 1
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    return Page(number=max(number, 1), per_page=per_page)


def slice_page(items: Sequence[T], page: Page) -> Sequence[T]:
    start = (page.number - 1) * page.per_page
    return items[start : start + page.per_page]


def link_header(url: str, query: Sequence[tuple[str, str]], page: Page, total: int) -> str | None:
    """The `Link` header for `page` of `total` items, or None when everything fits one page.

    `url` is the request URL without its query; `query` its parameters in order: they are kept
    (GitHub keeps filters such as `since` and `state` in the links) with `page` replaced.
    """
    last = max(1, -(-total // page.per_page))
    if last == 1 and page.number == 1:
        return None
    kept = [(k, v) for k, v in query if k != "page"]

    def href(number: int) -> str:
        return f"<{url}?{urlencode([*kept, ('page', str(number))])}>"

    links = []
    if page.number > 1:
        links.append(f'{href(min(page.number - 1, last))}; rel="prev"')
    if page.number < last:
        links.append(f'{href(page.number + 1)}; rel="next"')
        links.append(f'{href(last)}; rel="last"')
    if page.number > 1:
        links.append(f'{href(1)}; rel="first"')
    return ", ".join(links)
