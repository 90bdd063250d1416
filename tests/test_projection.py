"""Projection rows for every kind: the envelope filled from what GitHub (the simulator) sent,
checked field by field against the raw JSON, and every row accepted by the real tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from activities import projection
from activities.projection import Owner, project
from providers.base import ExternalObject, RepoRef
from providers.github import GitHubCredentials, GitHubProvider
from providers.github.simulator import SimulatorConfig, create_app
from store.db import make_engine, session_scope
from store.models.projections import (
    BranchProtection,
    Comment,
    Commit,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Pipeline,
    PullRequest,
    Repository,
    RepositoryPermission,
    Review,
)
from store.upsert import UpsertOutcome, upsert_many

BASE = "http://github-sim.test"
OWNER = Owner(org="acme", provider_ref="github-a5c", binding_ref="github-krate")


class Sim:
    def __init__(self) -> None:
        self.app = create_app(
            SimulatorConfig(base_url=BASE),
            repos=1,
            issues=5,
            pulls=5,
            comments=3,
            reviews=2,
            runs=2,
            jobs=2,
            until=datetime(2026, 11, 1, tzinfo=UTC),
        )
        self.transport = httpx.ASGITransport(app=self.app)
        self.raw = httpx.AsyncClient(
            transport=self.transport,
            base_url=BASE,
            headers={"Authorization": "Bearer sim-token"},
        )

    async def get(self, path: str) -> Any:
        response = await self.raw.get(path)
        response.raise_for_status()
        return response.json()


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Sim, GitHubProvider, RepoRef]]:
    s = Sim()
    repo = next(iter(s.app.state.repos.values()))
    ref = RepoRef(owner=repo.owner.login, name=repo.name)
    async with GitHubProvider.connect(
        GitHubCredentials(token="sim-token"),
        base_url=BASE,
        transport=s.transport,
        provider_ref="github-a5c",
        binding_ref="github-krate",
    ) as github:
        yield s, github, ref
    await s.raw.aclose()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _check_envelope(row: dict[str, Any], raw: dict[str, Any], obj: ExternalObject) -> None:
    assert row["org"] == "acme"
    assert row["provider_ref"] == "github-a5c"
    assert row["binding_ref"] == "github-krate"
    assert row["interface"] == obj.external.interface
    assert row["native_kind"] == obj.external.native_kind
    assert row["extensions"]["providerType"] == "github"
    assert row["extensions"]["schemaVersion"].startswith("github-rest-")
    assert isinstance(row["extensions"]["fields"], dict)
    assert row["base_snapshot"]
    assert "external" not in row["base_snapshot"]
    if "id" in raw and obj.external.native_kind not in ("branch", "tag", "commit"):
        assert row["native_id"] == str(raw["id"])
    if "node_id" in raw:
        assert row["node_id"] == raw["node_id"]
    if "html_url" in raw:
        assert row["url"] == raw["html_url"]
    if "url" in raw and obj.external.native_kind not in ("branch", "tag"):
        assert row["api_url"] == raw["url"]
    if "updated_at" in raw:
        assert row["external_updated_at"] == _time(raw["updated_at"])


async def test_every_kind_projects_with_a_full_envelope(
    sim: tuple[Sim, GitHubProvider, RepoRef], clean_database: str
) -> None:
    s, github, repo = sim
    path = f"/repos/{repo.full_name}"
    collected: list[tuple[ExternalObject, dict[str, Any]]] = []

    raw_repo = await s.get(path)
    collected.append((await github.get_repository(repo), raw_repo))

    raw_issues = await s.get(f"{path}/issues?state=all&per_page=100")
    issues = (await github.list_issues(repo)).items
    by_number = {i["number"]: i for i in raw_issues}
    collected += [(i, by_number[i.number]) for i in issues]

    raw_pulls = {p["number"]: p for p in await s.get(f"{path}/pulls?state=all&per_page=100")}
    pulls = (await github.list_pull_requests(repo)).items
    collected += [(p, raw_pulls[p.number]) for p in pulls]

    for pull in pulls:
        raw_reviews = {r["id"]: r for r in await s.get(f"{path}/pulls/{pull.number}/reviews")}
        for review in (await github.list_reviews(repo, pull.number)).items:
            collected.append((review, raw_reviews[int(review.external.native_id)]))

    raw_comments = {c["id"]: c for c in await s.get(f"{path}/issues/comments?per_page=100")}
    for comment in (await github.list_repository_comments(repo)).items:
        collected.append((comment, raw_comments[int(comment.external.native_id)]))

    raw_runs = {r["id"]: r for r in (await s.get(f"{path}/actions/runs"))["workflow_runs"]}
    for run in (await github.list_pipelines(repo)).items:
        collected.append((run, raw_runs[int(run.external.native_id)]))
        raw_jobs = {
            j["id"]: j
            for j in (await s.get(f"{path}/actions/runs/{run.external.native_id}/jobs"))["jobs"]
        }
        for job in (await github.list_jobs(repo, run.external.native_id)).items:
            collected.append((job, raw_jobs[int(job.external.native_id)]))

    raw_branches = {b["name"]: b for b in await s.get(f"{path}/branches")}
    branches = (await github.list_branches(repo)).items
    collected += [(b, raw_branches[b.name]) for b in branches]
    raw_tags = {t["name"]: t for t in await s.get(f"{path}/tags")}
    collected += [(t, raw_tags[t.name]) for t in (await github.list_tags(repo)).items]

    raw_keys = {k["id"]: k for k in await s.get(f"{path}/keys")}
    for key in (await github.list_deploy_keys(repo)).items:
        collected.append((key, raw_keys[int(key.external.native_id)]))
    raw_people = {c["login"]: c for c in await s.get(f"{path}/collaborators")}
    for person in (await github.list_collaborators(repo)).items:
        collected.append((person, raw_people[person.login]))
    protection = await github.get_branch_protection(repo, "main")
    assert protection is not None
    collected.append((protection, await s.get(f"{path}/branches/main/protection")))
    head = branches[0].sha
    collected.append((await github.get_commit(repo, head), await s.get(f"{path}/commits/{head}")))

    by_table: dict[type, list[dict[str, Any]]] = {}
    routed = 0
    for obj, raw in collected:
        projected = project(obj, OWNER)
        if projected is None:
            routed += 1
            continue
        table, row = projected
        _check_envelope(row, raw, obj)
        by_table.setdefault(table, []).append(row)
    assert routed == 5  # the five pull requests the issues listing returned
    assert set(by_table) == {
        Repository,
        Issue,
        PullRequest,
        Review,
        Comment,
        Pipeline,
        Job,
        GitRef,
        DeployKey,
        RepositoryPermission,
        BranchProtection,
        Commit,
    }

    issue_row = by_table[Issue][0]
    raw_issue = by_number[issue_row["number"]]
    assert issue_row["native_number"] == raw_issue["number"]
    assert issue_row["title"] == raw_issue["title"]
    assert issue_row["labels"] == [label["name"] for label in raw_issue["labels"]]
    pr_row = by_table[PullRequest][0]
    raw_pr = raw_pulls[pr_row["number"]]
    assert pr_row["sha"] == pr_row["head_sha"] == raw_pr["head"]["sha"]
    assert pr_row["native_id"] == str(raw_pr["id"])  # the pull id, not its issue id
    ref_row = by_table[GitRef][0]
    assert ref_row["native_id"] == f"refs/heads/{ref_row['name']}"
    assert ref_row["sha"] == raw_branches[ref_row["name"]]["commit"]["sha"]
    assert ref_row["extensions"]["fields"]["protected"] in (True, False)
    assert by_table[Commit][0]["sha"] == head
    assert by_table[Repository][0]["etag"]  # the single GET's ETag is the object's version tag
    job_row = by_table[Job][0]
    assert job_row["pipeline_native_id"] in {str(i) for i in raw_runs}

    engine = make_engine(clean_database)
    try:
        with session_scope(engine) as session:
            for table, table_rows in by_table.items():
                outcomes = upsert_many(session, table, table_rows)
                assert set(outcomes) == {UpsertOutcome.INSERTED}, table
    finally:
        engine.dispose()


def test_pull_request_listed_as_issue_gets_no_issue_row() -> None:
    from providers.github import mapping
    from providers.github.mapping import MappingContext

    raw = {
        "id": 1,
        "number": 7,
        "title": "A pull request",
        "state": "open",
        "url": "https://api.github.com/repos/o/r/issues/7",
        "pull_request": {"url": "https://api.github.com/repos/o/r/pulls/7"},
        "updated_at": "2026-05-11T12:00:00Z",
    }
    as_issue = mapping.issue(raw, MappingContext())
    assert as_issue.kind == "pull_request"
    assert projection.project_issue(as_issue, OWNER) is None
    assert project(as_issue, OWNER) is None
    plain = mapping.issue({**raw, "pull_request": None}, MappingContext())
    row = projection.project_issue(plain, OWNER)
    assert row is not None
    assert (row["number"], row["native_number"], row["native_id"]) == (7, 7, "1")


def test_table_for_every_model() -> None:
    from providers.base import ExternalCollaborator, ExternalIssue

    assert projection.table_for(ExternalIssue) is Issue
    assert projection.table_for(ExternalCollaborator) is RepositoryPermission
