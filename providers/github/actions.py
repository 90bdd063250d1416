"""CI/CD on GitHub: Actions workflow runs (pipelines) and their jobs.

Workflow runs can be filtered by creation time only (`created=>=...`), not by update time, and a
filtered listing stops after 1,000 runs. Incremental sync therefore asks for runs created since
the watermark minus the longest run it expects, and relies on `workflow_run`/`workflow_job`
webhooks for the completion of older runs; a full resync pages without a filter.
"""

from __future__ import annotations

from datetime import datetime

from providers.base import (
    Cursor,
    ExternalJob,
    ExternalPipeline,
    Page,
    ProviderValidationError,
    RepoRef,
)
from providers.github import mapping
from providers.github.operations import Operations, iso, repo_path, to_page
from providers.github.pagination import MAX_PER_PAGE


class ActionsOperations(Operations):
    """GitHub Actions (`CicdProvider`)."""

    async def list_pipelines(
        self,
        repo: RepoRef,
        cursor: Cursor | None = None,
        *,
        since: datetime | None = None,
        etag: str | None = None,
        branch: str | None = None,
    ) -> Page[ExternalPipeline]:
        """Workflow runs, newest first; with `since`, those created at or after it."""
        since = cursor.since if cursor is not None and cursor.since is not None else since
        params: dict[str, str | int | bool] = {"per_page": MAX_PER_PAGE}
        if since is not None:
            params["created"] = f">={iso(since)}"
        if branch is not None:
            params["branch"] = branch
        raw = await self.client.get_page(
            f"{repo_path(repo)}/actions/runs",
            params=params,
            cursor=cursor,
            etag=etag,
            items_key="workflow_runs",
            since=since,
        )
        return to_page(
            raw, lambda item: mapping.workflow_run(item, self.context, repository=repo.full_name)
        )

    async def get_pipeline(self, repo: RepoRef, pipeline_id: str) -> ExternalPipeline:
        raw = await self._get_object(
            f"{repo_path(repo)}/actions/runs/{_run_id(pipeline_id)}", "workflow run"
        )
        return mapping.workflow_run(raw, self.context, repository=repo.full_name)

    async def list_jobs(
        self, repo: RepoRef, pipeline_id: str, cursor: Cursor | None = None
    ) -> Page[ExternalJob]:
        """Jobs of the latest attempt of a run."""
        raw = await self.client.get_page(
            f"{repo_path(repo)}/actions/runs/{_run_id(pipeline_id)}/jobs",
            params={"filter": "latest", "per_page": MAX_PER_PAGE},
            cursor=cursor,
            items_key="jobs",
        )
        return to_page(raw, lambda item: mapping.job(item, self.context, repository=repo.full_name))

    async def rerun(self, repo: RepoRef, pipeline_id: str, *, failed_only: bool = False) -> None:
        """Re-run the whole run, or only its failed jobs (and what depends on them)."""
        action = "rerun-failed-jobs" if failed_only else "rerun"
        await self.client.request(
            "POST", f"{repo_path(repo)}/actions/runs/{_run_id(pipeline_id)}/{action}"
        )

    async def cancel(self, repo: RepoRef, pipeline_id: str) -> None:
        """Cancel a run (a finished run answers 409: `ProviderConflict`)."""
        await self.client.request(
            "POST", f"{repo_path(repo)}/actions/runs/{_run_id(pipeline_id)}/cancel"
        )


def _run_id(pipeline_id: str) -> int:
    """A workflow run id is numeric; anything else must not reach a URL path."""
    if not pipeline_id.isdigit():
        raise ProviderValidationError(f"not a GitHub workflow run id: {pipeline_id!r}")
    return int(pipeline_id)
