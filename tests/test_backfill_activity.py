"""`backfill_page` against the GitHub simulator (in process) and a real Postgres: paging,
conditional passes, incremental passes, PR/issue number sharing, keyset paging, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.backfill import BackfillActivities
from activities.backfill_models import (
    BackfillPageInput,
    BindingRef,
    ScopeCursor,
    SyncScope,
    TombstoneInput,
)
from providers.github.simulator import SimulatorConfig, create_app
from providers.github.simulator.app import Simulator
from store.models.projections import (
    BranchProtection,
    Comment,
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
from tests.test_backfill_support import (
    ORG,
    PROVIDER,
    backfill_activities,
    binding_ref,
    count_rows,
    rows,
    scopes,
    walk,
    write_token_secret,
)

BASE = "http://github-sim.test"
SEED_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class World:
    sim: Simulator
    acts: BackfillActivities
    binding: BindingRef
    engine: Engine
    control: httpx.AsyncClient
    owner: str
    repo: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    def requests(self) -> list[dict[str, object]]:
        return list(self.sim.requests)

    def scope(self, kind: str) -> SyncScope:
        return next(s for s in scopes(self.owner, self.repo) if s.resource_kind == kind)


async def _world(clean_database: str, tmp_path: Path, **seed: object) -> AsyncIterator[World]:
    sim = create_app(SimulatorConfig(base_url=BASE), until=SEED_UNTIL, **seed)
    transport = httpx.ASGITransport(app=sim)
    write_token_secret(tmp_path)
    acts, factory, engine = backfill_activities(clean_database, tmp_path, transport)
    repo = next(iter(sim.state.repos.values()))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as control:
        yield World(sim, acts, binding_ref(BASE), engine, control, repo.owner.login, repo.name)
    await factory.aclose()
    engine.dispose()


@pytest.fixture
async def world(clean_database: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in _world(
        clean_database, tmp_path, repos=1, issues=230, pulls=120, comments=2, runs=12, jobs=3
    ):
        yield w


async def _pass(w: World, *, full: bool = False) -> dict[str, ScopeCursor]:
    cursors: dict[str, ScopeCursor] = {}
    for scope in scopes(w.owner, w.repo):
        cursor, _ = await walk(w.acts, w.binding, ScopeCursor(scope=scope), full=full)
        cursors[scope.key] = cursor
    return cursors


async def _incremental(
    w: World, cursors: dict[str, ScopeCursor]
) -> dict[str, tuple[ScopeCursor, list[object]]]:
    out: dict[str, tuple[ScopeCursor, list[object]]] = {}
    for key, cursor in cursors.items():
        new, results = await walk(w.acts, w.binding, cursor)
        out[key] = (new, list(results))
        cursors[key] = new
    return out


async def test_first_pass_walks_every_page_and_projects_everything(world: World) -> None:
    w = world
    cursors = await _pass(w)
    state = w.sim.state.repos[w.full_name.lower()]
    issues = [i for i in state.issues.values() if i.pull is None]
    pulls = [i for i in state.issues.values() if i.pull is not None]
    assert count_rows(w.engine, Issue) == len(issues) == 230
    assert count_rows(w.engine, PullRequest) == len(pulls) == 120
    assert {r.number for r in rows(w.engine, Issue)} == {i.number for i in issues}
    assert {r.number for r in rows(w.engine, PullRequest)} == {p.number for p in pulls}
    assert count_rows(w.engine, Comment) == len(state.comments)
    assert count_rows(w.engine, Review) == sum(len(v) for v in state.reviews_by_pull.values())
    assert count_rows(w.engine, Pipeline) == len(state.runs)
    assert count_rows(w.engine, Job) == len(state.jobs)
    assert count_rows(w.engine, GitRef) == len(state.branches) + len(state.tags)
    assert count_rows(w.engine, DeployKey) == len(state.keys)
    permissions = rows(w.engine, RepositoryPermission)
    assert len(permissions) == len(state.collaborators) + len(state.teams)
    # Teams from GET /repos/{o}/{r}/teams, with their role on the repository.
    assert {(p.principal, p.permission) for p in permissions if p.principal_kind == "team"} == {
        (t.slug, t.role_name) for t in state.teams.values()
    }
    assert count_rows(w.engine, BranchProtection) == sum(
        1 for b in state.branches.values() if b.protection is not None
    )
    assert count_rows(w.engine, Repository) == 1
    issue_cursor = cursors[w.scope("Issue").key]
    # 350 issues and pull requests at 100 a page, keyset-paged: 4 requests.
    assert issue_cursor.requests == 4
    assert issue_cursor.watermark is not None
    assert issue_cursor.etag is not None
    assert all(c.next_page is None and c.last_pass_completed_at for c in cursors.values())


async def test_pull_requests_in_the_issue_listing_never_become_issues(world: World) -> None:
    w = world
    _cursor, results = await walk(w.acts, w.binding, ScopeCursor(scope=w.scope("Issue")))
    # The GraphQL issues connection holds issues only (REST's listing would add 120 pulls).
    assert sum(r.fetched for r in results) == 230
    assert sum(r.inserted for r in results) == 230
    pull_numbers = {
        i.number for i in w.sim.state.repos[w.full_name.lower()].issues.values() if i.pull
    }
    assert not pull_numbers & {r.number for r in rows(w.engine, Issue)}


async def test_unchanged_pass_is_one_conditional_request_per_scope(world: World) -> None:
    w = world
    cursors = await _pass(w)
    w.sim.requests.clear()
    results = await _incremental(w, cursors)
    for key, (_, pages) in results.items():
        assert all(p.not_modified for p in pages), key  # type: ignore[attr-defined]
    log = w.requests()
    assert log
    assert all(r["not_modified"] for r in log)
    # One request per listing (issues and pull requests: the REST probe); refs read two.
    assert len(log) == len(cursors) + 1  # 9 scopes, GitRef 2


async def test_incremental_pass_fetches_only_what_changed(world: World) -> None:
    w = world
    cursors = await _pass(w)
    state = w.sim.state.repos[w.full_name.lower()]
    issue = next(i for i in sorted(state.issues.values(), key=lambda i: i.number) if not i.pull)
    pull = next(i for i in sorted(state.issues.values(), key=lambda i: i.number) if i.pull)
    path = f"/_sim/api/repos/{w.full_name}"
    assert (
        await w.control.patch(f"{path}/issues/{issue.number}", json={"title": "New"})
    ).is_success
    assert (await w.control.patch(f"{path}/pulls/{pull.number}", json={"title": "PR"})).is_success
    run = next(
        r for r in sorted(state.runs.values(), key=lambda r: r.id) if r.status == "completed"
    )
    assert (await w.control.post(f"{path}/actions/runs/{run.id}/rerun")).is_success
    w.sim.requests.clear()
    results = await _incremental(w, cursors)

    def fetched(kind: str) -> int:
        return sum(p.fetched for p in results[w.scope(kind).key][1])  # type: ignore[attr-defined]

    def updated(kind: str) -> int:
        return sum(p.updated for p in results[w.scope(kind).key][1])  # type: ignore[attr-defined]

    # GraphQL reads the changed issue only, and the pull request with its reviews.
    assert fetched("Issue") == 1
    assert updated("Issue") == 1
    assert fetched("PullRequest") == 1 + len(state.reviews_by_pull.get(pull.number, []))
    assert updated("PullRequest") == 1
    # The re-run and its jobs, nothing else from the runs listing.
    assert fetched("Pipeline") == 1 + len(run.jobs)
    assert updated("Pipeline") == 1 + len(run.jobs)
    assert rows(w.engine, Pipeline, native_id=str(run.id))[0].status == "queued"
    assert rows(w.engine, Issue, number=issue.number)[0].title == "New"
    assert rows(w.engine, PullRequest, number=pull.number)[0].title == "PR"
    changed = [r for r in w.requests() if not r["not_modified"]]
    assert {r["path"] for r in changed} == {
        f"/repos/{w.full_name}/issues",  # the probes
        f"/repos/{w.full_name}/pulls",
        f"/repos/{w.full_name}/actions/runs",
        "/graphql",
    }
    # One query each: the issue, the pull request with its reviews, the re-run's jobs.
    assert sorted(str(r.get("operation")) for r in changed if r["path"] == "/graphql") == [
        "KrateIssues",
        "KratePullRequests",
        "KrateRunJobs",
    ]
    # A further pass sees nothing new.
    w.sim.requests.clear()
    again = await _incremental(w, cursors)
    assert all(p.not_modified for _, pages in again.values() for p in pages)  # type: ignore[attr-defined]


async def test_items_updated_while_paging_are_not_skipped(
    clean_database: str, tmp_path: Path
) -> None:
    async for w in _world(clean_database, tmp_path, repos=1, issues=300, pulls=0, comments=0):
        cursor = ScopeCursor(scope=w.scope("Issue"))
        env = ActivityEnvironment()
        first = await env.run(
            w.acts.backfill_page, BackfillPageInput(binding=w.binding, cursor=cursor)
        )
        assert not first.done
        # Update one issue already read (it jumps to the end of the listing): with page
        # numbers, the issue that slides into its place on page one would never be served.
        state = w.sim.state.repos[w.full_name.lower()]
        oldest = min(state.issues.values(), key=lambda i: (i.updated_at, i.number))
        path = f"/_sim/api/repos/{w.full_name}/issues/{oldest.number}"
        assert (await w.control.patch(path, json={"body": "moved"})).is_success
        cursor, _ = await walk(w.acts, w.binding, first.cursor)
        assert count_rows(w.engine, Issue) == 300
        assert rows(w.engine, Issue, number=oldest.number)[0].body == "moved"


async def test_keyset_falls_back_to_page_numbers_within_one_timestamp(
    clean_database: str, tmp_path: Path
) -> None:
    async for w in _world(clean_database, tmp_path, repos=1, issues=250, pulls=0, comments=0):
        state = w.sim.state.repos[w.full_name.lower()]
        same = datetime(2026, 10, 1, tzinfo=UTC)
        for issue in state.issues.values():
            issue.updated_at = same  # 250 issues in one second: keyset cannot advance
        cursor, results = await walk(w.acts, w.binding, ScopeCursor(scope=w.scope("Issue")))
        assert count_rows(w.engine, Issue) == 250
        assert sum(r.fetched for r in results) == 250
        # Page one (no `since`), the listing again from `since` = that second (all already
        # stored), then its pages two and three by number.
        assert len(results) == 4
        assert cursor.watermark == same


async def test_rate_limit_is_non_retryable_with_the_reset(world: World) -> None:
    w = world
    reset = await w.control.put("/_sim/ratelimit", json={"remaining": 0, "reset_in": 600})
    assert reset.is_success
    with pytest.raises(ApplicationError) as caught:
        await walk(w.acts, w.binding, ScopeCursor(scope=w.scope("Issue")))
    error = caught.value
    assert error.type == "RateLimited"
    assert error.non_retryable
    reset_at = datetime.fromisoformat(error.details[0])
    assert timedelta(minutes=5) < reset_at - datetime.now(UTC) <= timedelta(minutes=11)


async def test_server_errors_are_retryable(world: World) -> None:
    w = world
    assert (await w.control.put("/_sim/faults", json={"error_ratio": 1.0})).is_success
    with pytest.raises(ApplicationError) as caught:
        await walk(w.acts, w.binding, ScopeCursor(scope=w.scope("PullRequest")))
    assert caught.value.type == "ProviderTransientError"
    assert not caught.value.non_retryable


async def test_bad_credentials_are_fatal(world: World, tmp_path: Path) -> None:
    w = world
    write_token_secret(tmp_path, "not-a-token")
    with pytest.raises(ApplicationError) as caught:
        await walk(w.acts, w.binding, ScopeCursor(scope=w.scope("Repository")))
    assert caught.value.type == "ProviderAuthError"
    assert caught.value.non_retryable


async def test_missing_secret_is_a_configuration_error(world: World) -> None:
    w = world
    binding = w.binding.model_copy(update={"auth_secret": "nope"})
    with pytest.raises(ApplicationError) as caught:
        await walk(w.acts, binding, ScopeCursor(scope=w.scope("Repository")))
    assert caught.value.type == "ConfigurationError"
    assert caught.value.non_retryable
    assert "krate/nope" in str(caught.value)


async def test_full_pass_reports_seen_since_and_tombstones_the_rest(world: World) -> None:
    w = world
    await _pass(w)
    state = w.sim.state.repos[w.full_name.lower()]
    gone = next(iter(state.keys))
    del state.keys[gone]  # the provider lost a deploy key
    state.touch()
    _cursor, results = await walk(
        w.acts, w.binding, ScopeCursor(scope=w.scope("DeployKey")), full=True
    )
    seen_since = results[0].seen_since
    assert seen_since is not None
    env = ActivityEnvironment()
    tomb = await env.run(
        w.acts.tombstone_unseen,
        TombstoneInput(binding=w.binding, scope=w.scope("DeployKey"), seen_since=seen_since),
    )
    assert tomb.marked == 1
    deleted = [r for r in rows(w.engine, DeployKey) if r.deleted_at is not None]
    assert [r.native_id for r in deleted] == [str(gone)]
    assert all(r.org == ORG and r.provider_ref == PROVIDER for r in rows(w.engine, DeployKey))
