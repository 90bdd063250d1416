"""The owner-wide binding's activities against the GitHub simulator and a real Postgres:
the listing pages with GitHub's Link headers, records every repository, removes the ones a
complete listing no longer shows, and hands out bounded batches of repository workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities.backfill_models import BindingRef
from activities.owner_repositories import OwnerRepositoryActivities
from activities.owner_repositories_models import (
    OwnerListingInput,
    OwnerListingResult,
    ReconcileRepositoriesInput,
    ReconcileRepositoriesResult,
    RepositorySyncedInput,
)
from providers.github.simulator import SimulatorConfig, create_app
from providers.github.simulator.app import Simulator
from tests.test_backfill_support import backfill_activities, binding_ref, write_token_secret

BASE = "http://github-sim.test"
OWNER = "krate-demo"


@dataclass
class World:
    sim: Simulator
    acts: OwnerRepositoryActivities
    binding: BindingRef
    engine: Engine


@pytest.fixture
async def world(clean_database: str, tmp_path: Path) -> AsyncIterator[World]:
    sim = create_app(
        SimulatorConfig(base_url=BASE),
        until=datetime(2026, 11, 1, tzinfo=UTC),
        owners=[OWNER],
        repos=230,
        issues=0,
        pulls=0,
        comments=0,
        runs=0,
        jobs=0,
    )
    write_token_secret(tmp_path)
    _, factory, engine = backfill_activities(clean_database, tmp_path, httpx.ASGITransport(app=sim))
    yield World(sim, OwnerRepositoryActivities(lambda: engine, factory), binding_ref(BASE), engine)
    await factory.aclose()
    engine.dispose()


async def _list(w: World, listing_id: str) -> list[OwnerListingResult]:
    """One complete listing, page by page as the workflow runs it."""
    pages: list[OwnerListingResult] = []
    cursor: str | None = None
    while True:
        page = await ActivityEnvironment().run(
            w.acts.list_owner_repositories,
            OwnerListingInput(binding=w.binding, owner=OWNER, listing_id=listing_id, cursor=cursor),
        )
        pages.append(page)
        if page.done:
            return pages
        cursor = page.next_cursor


async def _reconcile(w: World, **marks: list[str]) -> ReconcileRepositoriesResult:
    return await ActivityEnvironment().run(
        w.acts.reconcile_owner_repositories,
        ReconcileRepositoriesInput(binding=w.binding, config_version=1, limit=50, **marks),
    )


async def test_listing_pages_records_and_removes_and_batches_are_bounded(world: World) -> None:
    pages = await _list(world, "first")
    assert [p.listed for p in pages] == [100, 100, 30]
    assert sum(p.joined for p in pages) == 230
    listed = [r for r in world.sim.requests if str(r.get("path")) == f"/orgs/{OWNER}/repos"]
    assert len(listed) == 3  # followed the Link header, 100 per page

    # Starting them: at most 50 per batch, and the started ones are not handed out again.
    started: list[str] = []
    work = await _reconcile(world)
    while work.start:
        batch = [t.native_id for t in work.start]
        assert len(batch) <= 50
        started += batch
        work = await _reconcile(world, started=batch)
    assert len(set(started)) == 230
    assert work.progress.syncing == 230

    # One repository is deleted on GitHub, one is created: the next listing says so.
    state = world.sim.state
    gone = state.repos_of(OWNER)[0]
    del state.repos[gone.full_name.lower()]
    state.add_repo(
        state.user(OWNER, "Organization"), "brand-new", datetime(2026, 11, 2, tzinfo=UTC)
    )
    pages = await _list(world, "second")
    assert sum(p.joined for p in pages) == 1
    assert pages[-1].removed == 1
    work = await _reconcile(world)
    assert [t.full_name for t in work.stop] == [gone.full_name]
    assert [t.full_name for t in work.start] == [f"{OWNER}/brand-new"]
    removed_id = work.stop[0].native_id
    work = await _reconcile(
        world,
        stopped=[removed_id],
        started=[work.start[0].native_id],
    )
    assert work.progress.removed == 1
    assert work.progress.syncing == 230
    assert work.removed == [
        {
            "id": removed_id,
            "fullName": gone.full_name,
            "reason": "no longer listed for the binding's credentials",
        }
    ]

    # A repository workflow's first pass moves it from syncing to done.
    await ActivityEnvironment().run(
        world.acts.note_repository_synced,
        RepositorySyncedInput(binding=world.binding, native_id=started[-1]),
    )
    work = await _reconcile(world)
    assert (work.progress.syncing, work.progress.done) == (229, 1)
