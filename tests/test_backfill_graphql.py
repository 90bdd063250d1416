"""Backfill through GraphQL (issues, pull requests with reviews, jobs of runs) with REST probes
as the change detector, against the simulator (in process) and a real Postgres: what a first
pass costs, that an unchanged pass sends no GraphQL at all, that reviews ride with their pull
requests (and are tombstoned with them), and that a resumed pass reads nothing twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
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
from store.models.projections import Issue, Job, PullRequest, Review
from tests.test_backfill_support import (
    backfill_activities,
    binding_ref,
    count_rows,
    rows,
    scopes,
    walk,
    write_token_secret,
)

BASE = "http://github-sim.test"
SEED = {
    "repos": 1,
    "issues": 230,
    "pulls": 120,
    "reviews": 1,
    "comments": 0,
    "runs": 12,
    "jobs": 3,
    "until": datetime(2026, 11, 1, tzinfo=UTC),
}


@dataclass
class World:
    sim: Simulator
    acts: BackfillActivities
    binding: BindingRef
    engine: Engine
    owner: str
    repo: str

    def scope(self, kind: str) -> SyncScope:
        return next(s for s in scopes(self.owner, self.repo) if s.resource_kind == kind)


@pytest.fixture
async def world(clean_database: str, tmp_path: Path) -> AsyncIterator[World]:
    sim = create_app(SimulatorConfig(base_url=BASE), **SEED)
    write_token_secret(tmp_path)
    acts, factory, engine = backfill_activities(
        clean_database, tmp_path, httpx.ASGITransport(app=sim)
    )
    repo = next(iter(sim.state.repos.values()))
    yield World(sim, acts, binding_ref(BASE), engine, repo.owner.login, repo.name)
    await factory.aclose()
    engine.dispose()


def _operations(sim: Simulator) -> Counter[str]:
    return Counter(str(r.get("operation")) for r in sim.requests if r["path"] == "/graphql")


async def test_first_pass_reads_issues_pull_requests_reviews_and_jobs_in_few_requests(
    world: World,
) -> None:
    w = world
    requests: dict[str, int] = {}
    cursors: dict[str, ScopeCursor] = {}
    for scope in scopes(w.owner, w.repo):
        cursors[scope.resource_kind], results = await walk(
            w.acts, w.binding, ScopeCursor(scope=scope)
        )
        requests[scope.resource_kind] = sum(r.requests for r in results)
    state = next(iter(w.sim.state.repos.values()))
    assert count_rows(w.engine, Issue) == 230
    assert count_rows(w.engine, PullRequest) == 120
    assert count_rows(w.engine, Review) == sum(len(v) for v in state.reviews_by_pull.values())
    assert count_rows(w.engine, Job) == len(state.jobs) == 36
    # Issues: the probe, then 230 issues (no pull requests) in three queries; pull requests:
    # the probe and two queries that bring every review along; runs: one REST page, and one
    # query for the jobs of all twelve runs.
    assert (requests["Issue"], requests["PullRequest"], requests["Pipeline"]) == (4, 3, 2)
    assert _operations(w.sim) == Counter(
        {"KrateIssues": 3, "KratePullRequests": 2, "KrateRunJobs": 1}
    )
    paths = {r["path"] for r in w.sim.requests}
    assert not [p for p in paths if p.endswith(("/reviews", "/jobs"))]
    assert "Review" not in requests  # the kind is no scope of its own any more
    # Every request the simulator saw is counted by the pages.
    assert sum(requests.values()) == len(w.sim.requests)

    w.sim.requests.clear()
    for kind, cursor in cursors.items():
        again, results = await walk(w.acts, w.binding, cursor)
        assert all(r.not_modified for r in results), kind
        assert again.watermark == cursor.watermark
    assert w.sim.requests
    assert all(r["not_modified"] for r in w.sim.requests)
    assert not _operations(w.sim)


async def test_a_resumed_pull_request_pass_reads_every_page_once(world: World) -> None:
    w = world
    env = ActivityEnvironment()
    cursor = ScopeCursor(scope=w.scope("PullRequest"))
    first = await env.run(w.acts.backfill_page, BackfillPageInput(binding=w.binding, cursor=cursor))
    assert not first.done
    assert first.cursor.next_page is not None
    # A new worker picks the pass up from the cursor alone (JSON, as Temporal carries it).
    resumed = ScopeCursor.model_validate_json(first.cursor.model_dump_json())
    _cursor, rest = await walk(w.acts, w.binding, resumed)
    assert first.fetched + sum(r.fetched for r in rest) == 120 + count_rows(w.engine, Review)
    assert count_rows(w.engine, PullRequest) == 120
    assert _operations(w.sim) == Counter({"KratePullRequests": 2})


async def test_a_full_pull_request_pass_tombstones_reviews_the_provider_dropped(
    world: World,
) -> None:
    w = world
    scope = w.scope("PullRequest")
    await walk(w.acts, w.binding, ScopeCursor(scope=scope))
    state = next(iter(w.sim.state.repos.values()))
    number, reviews = next((n, r) for n, r in sorted(state.reviews_by_pull.items()) if r)
    gone = reviews.pop(0)
    state.touch()
    _cursor, results = await walk(w.acts, w.binding, ScopeCursor(scope=scope), full=True)
    seen_since = results[0].seen_since
    assert seen_since is not None
    tomb = await ActivityEnvironment().run(
        w.acts.tombstone_unseen,
        TombstoneInput(binding=w.binding, scope=scope, seen_since=seen_since),
    )
    assert tomb.marked == 1
    deleted = [r for r in rows(w.engine, Review) if r.deleted_at is not None]
    assert [(r.native_id, r.pull_number) for r in deleted] == [(str(gone.id), number)]
    assert not [r for r in rows(w.engine, PullRequest) if r.deleted_at is not None]
