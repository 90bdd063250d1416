"""Issue tracking on GitHub: issues, their comments and labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from providers.base import (
    Cursor,
    ExternalComment,
    ExternalIssue,
    IssuePatch,
    Page,
    ProviderNotFound,
    ProviderProtocolError,
    RepoRef,
)
from providers.github import mapping
from providers.github.operations import Operations, iso, repo_path, to_page
from providers.github.pagination import MAX_PER_PAGE


class IssueOperations(Operations):
    """GitHub issues (`IssueTrackingProvider`)."""

    async def list_issues(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalIssue]:
        """Issues updated at or after `since`, oldest update first, open and closed.

        GitHub lists pull requests here too; they come back with `kind="pull_request"` and the
        sync links them to the pull request of the same number (never a second record).
        """
        since = cursor.since if cursor is not None and cursor.since is not None else since
        params: dict[str, str | int | bool] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": MAX_PER_PAGE,
        }
        if since is not None:
            params["since"] = iso(since)
        raw = await self.client.get_page(
            f"{repo_path(repo)}/issues", params=params, cursor=cursor, etag=etag, since=since
        )
        return to_page(
            raw, lambda item: mapping.issue(item, self.context, repository=repo.full_name)
        )

    async def get_issue(self, repo: RepoRef, number: int) -> ExternalIssue:
        raw = await self._get_object(f"{repo_path(repo)}/issues/{number}", "issue")
        return mapping.issue(raw, self.context, repository=repo.full_name)

    async def update_issue(self, repo: RepoRef, number: int, patch: IssuePatch) -> ExternalIssue:
        """PATCH only the fields set on `patch` (labels and assignees replace the whole set)."""
        body = patch.model_dump(exclude_unset=True)
        raw = await self._send_object("PATCH", f"{repo_path(repo)}/issues/{number}", body, "issue")
        return mapping.issue(raw, self.context, repository=repo.full_name)

    async def create_comment(self, repo: RepoRef, number: int, body: str) -> ExternalComment:
        raw = await self._send_object(
            "POST", f"{repo_path(repo)}/issues/{number}/comments", {"body": body}, "comment"
        )
        return mapping.issue_comment(
            raw, self.context, repository=repo.full_name, parent_number=number
        )

    async def add_labels(self, repo: RepoRef, number: int, labels: Sequence[str]) -> list[str]:
        """Add labels (creating unknown ones, as GitHub does); returns the issue's labels."""
        response = await self.client.request(
            "POST", f"{repo_path(repo)}/issues/{number}/labels", json={"labels": list(labels)}
        )
        return _label_names(response.json())

    async def remove_labels(self, repo: RepoRef, number: int, labels: Sequence[str]) -> list[str]:
        """Remove labels; one already absent is not an error. Returns the issue's labels."""
        current: list[str] | None = None
        for label in labels:
            path = f"{repo_path(repo)}/issues/{number}/labels/{quote(label, safe='')}"
            try:
                response = await self.client.request("DELETE", path)
            except ProviderNotFound:
                current = None  # absent already (or no such issue: the read below tells)
                continue
            current = _label_names(response.json())
        if current is None:
            current = (await self.get_issue(repo, number)).labels
        return current

    async def list_comments(
        self,
        repo: RepoRef,
        number: int,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalComment]:
        """Comments on one issue or pull request conversation, updated at or after `since`."""
        since = cursor.since if cursor is not None and cursor.since is not None else since
        params: dict[str, str | int | bool] = {"per_page": MAX_PER_PAGE}
        if since is not None:
            params["since"] = iso(since)
        raw = await self.client.get_page(
            f"{repo_path(repo)}/issues/{number}/comments",
            params=params,
            cursor=cursor,
            etag=etag,
            since=since,
        )
        return to_page(
            raw,
            lambda item: mapping.issue_comment(
                item, self.context, repository=repo.full_name, parent_number=number
            ),
        )

    async def list_repository_comments(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
    ) -> Page[ExternalComment]:
        """Issue and pull request conversation comments of the whole repository, oldest update
        first: one listing for backfill instead of one per issue."""
        since = cursor.since if cursor is not None and cursor.since is not None else since
        params: dict[str, str | int | bool] = {
            "sort": "updated",
            "direction": "asc",
            "per_page": MAX_PER_PAGE,
        }
        if since is not None:
            params["since"] = iso(since)
        raw = await self.client.get_page(
            f"{repo_path(repo)}/issues/comments",
            params=params,
            cursor=cursor,
            etag=etag,
            since=since,
        )
        return to_page(
            raw, lambda item: mapping.issue_comment(item, self.context, repository=repo.full_name)
        )


def _label_names(body: Any) -> list[str]:
    if not isinstance(body, list):
        raise ProviderProtocolError("expected a JSON array of labels")
    return [
        label["name"]
        for label in body
        if isinstance(label, dict) and isinstance(label.get("name"), str)
    ]
