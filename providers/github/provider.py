"""`GitHubProvider`: every GitHub operation over one client, implementing the three interface
protocols of `providers.base`."""

from __future__ import annotations

from typing import Self

import httpx

from providers.base import CicdProvider, GitForgeProvider, IssueTrackingProvider
from providers.github.actions import ActionsOperations
from providers.github.auth import Clock, GitHubCredentials, utc_now
from providers.github.client import DEFAULT_BASE_URL, GitHubClient
from providers.github.graphql_reads import GraphQLOperations
from providers.github.issues import IssueOperations
from providers.github.mapping import MappingContext
from providers.github.pulls import PullRequestOperations
from providers.github.reads import ObjectReads
from providers.github.repos import RepositoryOperations
from providers.reads import ObjectReader


class GitHubProvider(
    IssueOperations,
    PullRequestOperations,
    ActionsOperations,
    RepositoryOperations,
    GraphQLOperations,
    ObjectReads,
):
    """The GitHub adapter: `IssueTrackingProvider`, `CicdProvider`, `GitForgeProvider`, and
    `ObjectReader` for the fresh reads that settle same-version ties."""

    @classmethod
    def connect(
        cls,
        credentials: GitHubCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        provider_ref: str | None = None,
        binding_ref: str | None = None,
        clock: Clock = utc_now,
    ) -> Self:
        """An adapter with its own client; close it with `aclose()` or `async with`."""
        client = GitHubClient(credentials, base_url=base_url, transport=transport, clock=clock)
        return cls(client, MappingContext(provider_ref=provider_ref, binding_ref=binding_ref))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _conforms(
    provider: GitHubProvider,
) -> tuple[IssueTrackingProvider, CicdProvider, GitForgeProvider, ObjectReader]:
    """Never called: makes mypy prove that the adapter satisfies every interface protocol."""
    return provider, provider, provider, provider
