"""Backfill reads through GitHub's GraphQL API, returning the same models as the REST reads.

Why GraphQL here: the REST issues listing also returns every pull request, and GitHub has no
repository-wide listing of reviews or of jobs, so a REST backfill pays one request per pull
request and per workflow run. One GraphQL query reads 100 issues only, or 100 pull requests
with their reviews, or the jobs of up to 100 runs.

What stays REST: conditional requests (GraphQL answers carry no ETag). `probe` asks for the
newest item of a listing with `If-None-Match`; a 304 says nothing changed, for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from providers.base import (
    ExternalIssue,
    ExternalJob,
    ExternalPipeline,
    ExternalPullRequest,
    ExternalReview,
    ProviderProtocolError,
    RepoRef,
)
from providers.github import graphql, graphql_shapes, mapping
from providers.github.graphql_queries import (
    ISSUES,
    MORE_JOBS,
    MORE_REVIEWS,
    MORE_STEPS,
    PULL_REQUESTS,
    RUN_JOBS,
    RUNS_PER_QUERY,
)
from providers.github.operations import Operations, iso, repo_path

T = TypeVar("T")
# Follow-up pages for one pull request's reviews, one run's jobs or one job's steps.
MAX_FOLLOW_UPS = 10


@dataclass
class Probe:
    """The answer to a conditional request for a listing's newest item."""

    not_modified: bool
    etag: str | None


@dataclass
class GraphPage(Generic[T]):
    """One page of a GraphQL connection and the requests it took (follow-ups included)."""

    items: list[T] = field(default_factory=list)
    end_cursor: str | None = None
    has_next: bool = False
    requests: int = 1


@dataclass
class PullRequestWithReviews:
    pull: ExternalPullRequest
    reviews: list[ExternalReview]


def _connection(data: Any, *path: str) -> dict[str, Any]:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise ProviderProtocolError(f"GraphQL answer lacks {'.'.join(path)}")
    return data


def _nodes(conn: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in conn.get("nodes") or [] if isinstance(n, dict)]


def _page_info(conn: dict[str, Any]) -> tuple[bool, str | None]:
    info = conn.get("pageInfo") or {}
    return bool(info.get("hasNextPage")), info.get("endCursor")


def _complete(node: dict[str, Any], *keys: str) -> None:
    """Labels, assignees and review requests are read up to 100, above GitHub's own caps;
    should one ever hold more, fail loudly rather than store a cut list."""
    for key in keys:
        if graphql_shapes.truncated(node, key):
            raise ProviderProtocolError(
                f"{key} of #{node.get('number')} exceed one page; the GraphQL read would lose some"
            )


class GraphQLOperations(Operations):
    """The GraphQL reads of the GitHub adapter (used by backfill)."""

    async def probe(
        self, repo: RepoRef, listing: Literal["issues", "pulls"], etag: str | None
    ) -> Probe:
        """Has anything in `listing` changed since the answer `etag` came with?

        The newest updated item of a listing sorted by update (open and closed) changes
        whenever any item does, so the ETag of that one-item page answers for the listing.
        """
        response = await self.client.request(
            "GET",
            f"{repo_path(repo)}/{listing}",
            params={"state": "all", "sort": "updated", "direction": "desc", "per_page": 1},
            etag=etag,
        )
        if response.status_code == 304:
            return Probe(not_modified=True, etag=etag)
        return Probe(not_modified=False, etag=response.headers.get("etag"))

    async def graphql_issues(
        self, repo: RepoRef, *, since: datetime | None = None, after: str | None = None
    ) -> GraphPage[ExternalIssue]:
        """Issues (never pull requests) updated at or after `since`, oldest update first."""
        answer = await graphql.query(
            self.client,
            ISSUES,
            {
                "owner": repo.owner,
                "name": repo.name,
                "since": iso(since) if since is not None else None,
                "after": after,
            },
        )
        conn = _connection(answer.data, "repository", "issues")
        items = []
        for node in _nodes(conn):
            _complete(node, "labels", "assignees")
            raw = graphql_shapes.issue(
                node, api_base=self.client.base_url, repository=repo.full_name
            )
            items.append(mapping.issue(raw, self.context, repository=repo.full_name))
        has_next, end = _page_info(conn)
        return GraphPage(items=items, end_cursor=end, has_next=has_next)

    async def graphql_pull_requests(
        self, repo: RepoRef, *, after: str | None = None
    ) -> GraphPage[PullRequestWithReviews]:
        """Pull requests, most recently updated first, each with all its reviews (the few
        with more than a page of reviews cost a follow-up query each)."""
        answer = await graphql.query(
            self.client,
            PULL_REQUESTS,
            {"owner": repo.owner, "name": repo.name, "after": after},
        )
        conn = _connection(answer.data, "repository", "pullRequests")
        page: GraphPage[PullRequestWithReviews] = GraphPage()
        for node in _nodes(conn):
            _complete(node, "labels", "assignees", "reviewRequests")
            raw = graphql_shapes.pull_request(
                node, api_base=self.client.base_url, repository=repo.full_name
            )
            pull = mapping.pull_request(raw, self.context, repository=repo.full_name)
            review_nodes, requests = await self._all_reviews(node)
            page.requests += requests
            reviews = [
                mapping.review(
                    graphql_shapes.review(r),
                    self.context,
                    repository=repo.full_name,
                    pull_number=pull.number,
                )
                for r in review_nodes
            ]
            page.items.append(PullRequestWithReviews(pull=pull, reviews=reviews))
        page.has_next, page.end_cursor = _page_info(conn)
        return page

    async def _rest_of(
        self, conn: dict[str, Any], node_id: Any, query: str, *path: str
    ) -> tuple[list[dict[str, Any]], int]:
        """Every node of a nested connection: what came with the page, then follow-up queries
        of `query` (variables id, after) read at `path`, at most MAX_FOLLOW_UPS of them."""
        found = _nodes(conn)
        has_next, after = _page_info(conn)
        requests = 0
        while has_next and requests < MAX_FOLLOW_UPS:
            answer = await graphql.query(self.client, query, {"id": node_id, "after": after})
            requests += 1
            more = _connection(answer.data, *path)
            found.extend(_nodes(more))
            has_next, after = _page_info(more)
        return found, requests

    async def _all_reviews(self, node: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        return await self._rest_of(
            node.get("reviews") or {}, node.get("id"), MORE_REVIEWS, "node", "reviews"
        )

    async def graphql_jobs(
        self, repo: RepoRef, runs: Sequence[ExternalPipeline]
    ) -> tuple[list[ExternalJob], int]:
        """The latest jobs of `runs` (read just before by REST): one query per 100 runs, plus
        a follow-up for a run with more than 50 jobs or a job with more than 50 steps. A run
        deleted meanwhile has no jobs."""
        by_node = {run.external.node_id: run for run in runs if run.external.node_id}
        jobs: list[ExternalJob] = []
        requests = 0
        ids = list(by_node)
        for start in range(0, len(ids), RUNS_PER_QUERY):
            answer = await graphql.query(
                self.client,
                RUN_JOBS,
                {"ids": ids[start : start + RUNS_PER_QUERY]},
                tolerate=("nodes",),
            )
            requests += 1
            for node in answer.data.get("nodes") or []:
                if not isinstance(node, dict) or node.get("id") not in by_node:
                    continue
                run = by_node[node["id"]]
                conn = _connection(node, "checkSuite", "checkRuns")
                found, extra = await self._all_check_runs(node["id"], conn)
                requests += extra
                for check in found:
                    steps, extra = await self._all_steps(check)
                    requests += extra
                    raw = graphql_shapes.job(check, steps, run=run, api_base=self.client.base_url)
                    jobs.append(mapping.job(raw, self.context, repository=repo.full_name))
        return jobs, requests

    async def _all_check_runs(
        self, run_id: str, conn: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int]:
        return await self._rest_of(conn, run_id, MORE_JOBS, "node", "checkSuite", "checkRuns")

    async def _all_steps(self, check: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        return await self._rest_of(
            check.get("steps") or {}, check.get("id"), MORE_STEPS, "node", "steps"
        )
