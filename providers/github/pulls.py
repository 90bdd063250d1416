"""Pull requests on GitHub: the pull requests themselves, reviews and review comments.

GitHub's `/pulls` listing has no `since` filter. Incremental sync therefore reads it newest
update first (`sort=updated&direction=desc`) and stops at the first pull request updated before
the watermark: the page that crosses the watermark is the last one, trimmed to the pull requests
at or after it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from providers.base import (
    Cursor,
    ExternalComment,
    ExternalPullRequest,
    ExternalReview,
    MergeOptions,
    Page,
    PullRequestCreate,
    PullRequestPatch,
    RepoRef,
)
from providers.github import mapping
from providers.github.operations import Operations, iso, repo_path, to_page
from providers.github.pagination import MAX_PER_PAGE


class PullRequestOperations(Operations):
    """GitHub pull requests (the pull request part of `GitForgeProvider`)."""

    async def list_pull_requests(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalPullRequest]:
        """Pull requests, most recently updated first; with `since`, only those updated at or
        after it, and the listing ends at the first older one."""
        since = cursor.since if cursor is not None and cursor.since is not None else since
        params: dict[str, str | int | bool] = {
            "state": "all",
            "sort": "updated",
            "direction": "desc",
            "per_page": MAX_PER_PAGE,
        }
        raw = await self.client.get_page(
            f"{repo_path(repo)}/pulls", params=params, cursor=cursor, etag=etag, since=since
        )
        page = to_page(
            raw, lambda item: mapping.pull_request(item, self.context, repository=repo.full_name)
        )
        if since is None:
            return page
        fresh = [
            pr
            for pr in page.items
            if pr.external.updated_at is None or pr.external.updated_at >= since
        ]
        if len(fresh) < len(page.items):
            return page.model_copy(update={"items": fresh, "next_cursor": None})
        return page

    async def get_pull_request(self, repo: RepoRef, number: int) -> ExternalPullRequest:
        raw = await self._get_object(f"{repo_path(repo)}/pulls/{number}", "pull request")
        return mapping.pull_request(raw, self.context, repository=repo.full_name)

    async def create_pull_request(
        self, repo: RepoRef, request: PullRequestCreate
    ) -> ExternalPullRequest:
        body = request.model_dump(exclude_none=True)
        raw = await self._send_object("POST", f"{repo_path(repo)}/pulls", body, "pull request")
        return mapping.pull_request(raw, self.context, repository=repo.full_name)

    async def update_pull_request(
        self, repo: RepoRef, number: int, patch: PullRequestPatch
    ) -> ExternalPullRequest:
        """PATCH only the fields set on `patch`."""
        body = patch.model_dump(exclude_unset=True)
        raw = await self._send_object(
            "PATCH", f"{repo_path(repo)}/pulls/{number}", body, "pull request"
        )
        return mapping.pull_request(raw, self.context, repository=repo.full_name)

    async def merge_pull_request(
        self, repo: RepoRef, number: int, options: MergeOptions | None = None
    ) -> ExternalPullRequest:
        """Merge, then read the pull request back (the merge answer holds only sha/merged).

        With `expected_head_sha`, GitHub refuses (409, `ProviderConflict`) if the head moved;
        a pull request that cannot be merged answers 405, also `ProviderConflict`.
        """
        options = options or MergeOptions()
        body: dict[str, Any] = {"merge_method": options.method}
        if options.commit_title is not None:
            body["commit_title"] = options.commit_title
        if options.commit_message is not None:
            body["commit_message"] = options.commit_message
        if options.expected_head_sha is not None:
            body["sha"] = options.expected_head_sha
        await self.client.request("PUT", f"{repo_path(repo)}/pulls/{number}/merge", json=body)
        return await self.get_pull_request(repo, number)

    async def list_reviews(
        self, repo: RepoRef, number: int, cursor: Cursor | None = None
    ) -> Page[ExternalReview]:
        """Reviews of one pull request, in submission order."""
        raw = await self.client.get_page(
            f"{repo_path(repo)}/pulls/{number}/reviews",
            params={"per_page": MAX_PER_PAGE},
            cursor=cursor,
        )
        return to_page(
            raw,
            lambda item: mapping.review(
                item, self.context, repository=repo.full_name, pull_number=number
            ),
        )

    async def list_review_comments(
        self,
        repo: RepoRef,
        number: int,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
    ) -> Page[ExternalComment]:
        """Diff comments of one pull request updated at or after `since`, oldest update first."""
        since = cursor.since if cursor is not None and cursor.since is not None else since
        params: dict[str, str | int | bool] = {
            "sort": "updated",
            "direction": "asc",
            "per_page": MAX_PER_PAGE,
        }
        if since is not None:
            params["since"] = iso(since)
        raw = await self.client.get_page(
            f"{repo_path(repo)}/pulls/{number}/comments", params=params, cursor=cursor, since=since
        )
        return to_page(
            raw, lambda item: mapping.review_comment(item, self.context, repository=repo.full_name)
        )
