"""The adapter against the GitHub simulator (in process, through `httpx.ASGITransport`): the
wire contract end to end, with App authentication, paging, conditional requests and writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import httpx
import pytest

from providers.base import (
    BranchProtectionSpec,
    Cursor,
    DeployKeySpec,
    IssuePatch,
    Page,
    RepoRef,
    StatusChecks,
)
from providers.github import GitHubCredentials, GitHubProvider
from tests.test_github_adapter_fixtures import TEST_APP_KEY_PEM

simulator = pytest.importorskip("providers.github.simulator.app")

BASE = "http://github-sim.test"
APP_ID = 777
INSTALLATION = 4242
T = TypeVar("T")


@pytest.fixture
async def github() -> AsyncIterator[GitHubProvider]:
    config = simulator.SimulatorConfig(
        base_url=BASE,
        apps=[
            simulator.AppConfig(
                app_id=APP_ID, key_pem=TEST_APP_KEY_PEM, installations={INSTALLATION: "krate-demo"}
            )
        ],
    )
    app = simulator.create_app(config, repos=1, issues=150, pulls=60)
    credentials = GitHubCredentials(
        app_id=str(APP_ID), private_key=TEST_APP_KEY_PEM, installation_id=INSTALLATION
    )
    async with GitHubProvider.connect(
        credentials, base_url=BASE, transport=httpx.ASGITransport(app=app)
    ) as provider:
        yield provider


async def _all(fetch: Callable[[Cursor | None], Awaitable[Page[T]]]) -> tuple[list[T], int]:
    """Every item, passing each cursor through JSON as a workflow would."""
    items: list[T] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        page = await fetch(cursor)
        pages += 1
        items.extend(page.items)
        if page.next_cursor is None:
            return items, pages
        cursor = Cursor.model_validate_json(page.next_cursor.model_dump_json())


async def _repo(github: GitHubProvider) -> RepoRef:
    page = await github.list_repositories()
    assert page.items, "the installation reaches no repository"
    return RepoRef.parse(page.items[0].full_name)


async def test_issue_backfill_pages_and_routes_pull_requests(github: GitHubProvider) -> None:
    repo = await _repo(github)
    items, pages = await _all(lambda c: github.list_issues(repo, c))
    assert pages == 3  # 210 items at 100 a page
    assert len({i.number for i in items}) == len(items) == 210
    assert sum(i.kind == "pull_request" for i in items) == 60
    first = await github.list_issues(repo)
    again = await github.list_issues(repo, etag=first.etag)
    assert again.not_modified
    assert again.items == []


async def test_pull_request_watermark_matches_a_full_listing(github: GitHubProvider) -> None:
    repo = await _repo(github)
    everything, _ = await _all(lambda c: github.list_pull_requests(repo, c))
    stamps = sorted(p.external.updated_at for p in everything if p.external.updated_at)
    since: datetime = stamps[len(stamps) // 2]
    recent, _ = await _all(lambda c: github.list_pull_requests(repo, c, since=since))
    expected = {
        p.number for p in everything if p.external.updated_at and p.external.updated_at >= since
    }
    assert {p.number for p in recent} == expected


async def test_writes_round_trip(github: GitHubProvider) -> None:
    repo = await _repo(github)
    issues, _ = await _all(lambda c: github.list_issues(repo, c))
    number = next(i.number for i in issues if i.kind == "issue")
    updated = await github.update_issue(
        repo, number, IssuePatch(title="Renamed", state="closed", state_reason="completed")
    )
    assert (updated.title, updated.state, updated.state_reason) == (
        "Renamed",
        "closed",
        "completed",
    )
    comment = await github.create_comment(repo, number, "from Krate")
    assert (comment.parent_number, comment.body) == (number, "from Krate")
    assert "krate-x" in await github.add_labels(repo, number, ["krate-x"])
    assert "krate-x" not in await github.remove_labels(repo, number, ["krate-x", "never-there"])

    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKrateAdapterTest"
    first = await github.sync_deploy_keys(repo, [DeployKeySpec(title="krate", key=key)])
    assert len(first.created) == 1
    second = await github.sync_deploy_keys(repo, [DeployKeySpec(title="krate", key=f"{key} c")])
    assert (second.created, second.deleted, second.unchanged) == ([], [], first.created)

    repository = await github.get_repository(repo)
    branch = repository.default_branch or "main"
    spec = BranchProtectionSpec(
        required_status_checks=StatusChecks(strict=True, contexts=["CI", "lint"]),
        enforce_admins=True,
    )
    assert (await github.sync_branch_protection(repo, branch, spec)).changed
    assert not (await github.sync_branch_protection(repo, branch, spec)).changed
    assert (await github.sync_branch_protection(repo, branch, None)).deleted == [branch]
    assert await github.get_branch_protection(repo, branch) is None


async def test_actions_and_refs(github: GitHubProvider) -> None:
    repo = await _repo(github)
    runs = await github.list_pipelines(repo)
    assert runs.items
    run = runs.items[0]
    jobs = await github.list_jobs(repo, run.external.native_id)
    assert all(j.pipeline_id == run.external.native_id for j in jobs.items)
    refs, _ = await _all(lambda c: github.list_refs(repo, c))
    kinds = {r.kind for r in refs}
    assert kinds == {"branch", "tag"}
    commit = await github.get_commit(repo, refs[0].sha)
    assert commit.sha == refs[0].sha
