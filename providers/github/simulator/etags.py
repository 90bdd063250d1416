"""Remembered ETags of repository-scoped GET answers, so a conditional request whose ETag
still matches is answered 304 without rendering and hashing the page again. Entries are
dropped as soon as the repository changes (its generation moves)."""

from __future__ import annotations

from dataclasses import dataclass, field

from providers.github.simulator.state import Repo

MAX_ENTRIES_PER_REPO = 4096

Key = tuple[str, bytes, str, str]  # path, query string, API version, base URL


@dataclass
class _RepoEtags:
    generation: int
    entries: dict[Key, tuple[str, dict[str, str]]] = field(default_factory=dict)


class EtagCache:
    def __init__(self) -> None:
        self._repos: dict[int, _RepoEtags] = {}

    def get(self, repo: Repo, key: Key) -> tuple[str, dict[str, str]] | None:
        """(etag, extra headers such as Link) if the answer to `key` cannot have changed."""
        known = self._repos.get(repo.id)
        if known is None or known.generation != repo.generation:
            return None
        return known.entries.get(key)

    def put(self, repo: Repo, key: Key, etag: str, headers: dict[str, str]) -> None:
        known = self._repos.get(repo.id)
        if known is None or known.generation != repo.generation:
            known = self._repos[repo.id] = _RepoEtags(repo.generation)
        if len(known.entries) >= MAX_ENTRIES_PER_REPO:
            known.entries.clear()
        known.entries[key] = (etag, dict(headers))
