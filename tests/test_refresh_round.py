"""Two changes in one second, in either arrival order, settled by a fresh read.

The GitHub simulator's clock is held on one second, so its changes share `updated_at` as
GitHub's do. Its webhooks (captured from its own delivery log) go through the real
`process_deliveries` newest first; the older state ties with the stored one, is recorded
`Verifying` and marks the row; `refresh_objects` then reads the object over HTTP and the row
becomes the simulator's state, the event `Refreshed`. Real Postgres, no Temporal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from activities.backfill import BackfillActivities
from activities.backfill_models import BindingRef, ScopeCursor, SyncScope
from activities.provider_factory import ProviderFactory
from activities.refresh import RefreshActivities
from activities.refresh_models import RefreshObjectsInput
from providers.github.simulator import SimulatorConfig, create_app
from providers.github.simulator.app import Simulator
from store.db import session_scope
from store.models.aggregated import SyncEvent
from store.models.projections import Issue, PullRequest, Repository
from tests.test_backfill_support import walk
from tests.test_webhook_helpers import NAMESPACE, ORG, PROVIDER
from tests.webhook_store_helpers import DeliveryStore

BASE = "http://github-sim.test"
SECRET = "github-token"
NOW = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)


@dataclass
class World:
    sim: Simulator
    api: httpx.AsyncClient
    store: DeliveryStore
    refresh: RefreshActivities
    factory: ProviderFactory
    binding: BindingRef
    repo: str

    def webhooks(self) -> list[tuple[str, dict[str, Any]]]:
        """What the simulator sent since the last call, oldest first."""
        sent = [(d.event, d.payload) for d in self.sim.webhooks.deliveries]
        self.sim.webhooks.deliveries.clear()
        return sent

    def issue_webhooks(self) -> list[tuple[str, dict[str, Any]]]:
        return [(e, p) for e, p in self.webhooks() if e == "issues"]


@pytest.fixture
async def world(clean_database: str, tmp_path: Path) -> AsyncIterator[World]:
    sim = create_app(
        SimulatorConfig(base_url=BASE, clock=lambda: NOW),
        until=datetime(2026, 11, 1, tzinfo=UTC),
        repos=1,
        issues=3,
        pulls=2,
        comments=0,
        runs=0,
        jobs=0,
    )
    # Webhooks go nowhere (a receiver that accepts all); the delivery log keeps the payloads.
    sim.webhooks.configure(url="http://receiver.test/hook")
    sim.webhooks.transport = httpx.MockTransport(lambda _: httpx.Response(200))
    transport = httpx.ASGITransport(app=sim)
    repo = next(iter(sim.state.repos.values()))
    store = DeliveryStore(clean_database, repo.full_name)
    secret = tmp_path / NAMESPACE / SECRET  # a mounted Secret with the simulator's token
    secret.mkdir(parents=True)
    (secret / "token").write_text("sim-token\n")
    factory = ProviderFactory(tmp_path, transport_factory=lambda _b: transport)
    binding = BindingRef(
        org=ORG,
        namespace=NAMESPACE,
        binding=str(store.binding["metadata"]["name"]),
        provider=PROVIDER,
        provider_type="github",
        api_base_url=BASE,
        auth_secret=SECRET,
    )
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": "token sim-token"}
    ) as api:
        refresh = RefreshActivities(lambda: store.engine, factory)
        yield World(sim, api, store, refresh, factory, binding, repo.full_name)
    await factory.aclose()
    store.engine.dispose()


def _plain_issue(world: World) -> int:
    issues = world.sim.state.repos[world.repo.lower()].issues.values()
    return next(i.number for i in issues if i.pull is None)


def _events(world: World, native_id: str) -> list[SyncEvent]:
    with session_scope(world.store.engine) as session:
        found = session.exec(select(SyncEvent).where(SyncEvent.native_id == native_id))
        return sorted(found.all(), key=lambda e: e.id or 0)


async def test_an_issue_edited_twice_in_one_second_ends_as_the_provider_has_it(
    world: World,
) -> None:
    number = _plain_issue(world)
    for title in ("first title", "second title"):
        response = await world.api.patch(
            f"/repos/{world.repo}/issues/{number}", json={"title": title}
        )
        assert response.status_code == 200, response.text
    await world.sim.webhooks.drain()
    sent = world.issue_webhooks()
    assert [p["issue"]["title"] for _, p in sent] == ["first title", "second title"]
    assert sent[0][1]["issue"]["updated_at"] == sent[1][1]["issue"]["updated_at"]

    newest, oldest = sent[1], sent[0]
    world.store.deliver(*newest)
    result = world.store.deliver(*oldest)  # same version, other title: nobody can tell
    assert result.refresh_wanted == 1
    (row,) = world.store.rows(Issue, number=number)
    assert row["title"] == "second title"
    assert row["refresh_wanted_at"] is not None
    native_id = str(row["native_id"])
    phases = [e.status_extra["phase"] for e in _events(world, native_id)]
    assert phases == ["Applied", "Verifying"]  # never "Applied" for the dropped change

    refreshed = await world.refresh.refresh_objects(RefreshObjectsInput(binding=world.binding))
    assert (refreshed.refreshed, refreshed.remaining, refreshed.requests) == (1, 0, 1)
    (row,) = world.store.rows(Issue, number=number)
    assert row["title"] == "second title"
    assert row["refresh_wanted_at"] is None
    events = _events(world, native_id)
    assert [e.status_extra["phase"] for e in events] == ["Applied", "Refreshed"]
    assert "fresh read" in events[1].status_extra["reason"]


async def test_closed_then_reopened_in_one_second_ends_open(
    world: World,
) -> None:
    repo = world.sim.state.repos[world.repo.lower()]
    pull = next(i for i in repo.issues.values() if i.pull is not None and i.state == "open")
    path = f"/repos/{world.repo}/pulls/{pull.number}"
    for state in ("closed", "open"):
        response = await world.api.patch(path, json={"state": state})
        assert response.status_code == 200, response.text
    await world.sim.webhooks.drain()
    sent = [s for s in world.webhooks() if s[0] == "pull_request"]
    assert [p["action"] for _, p in sent] == ["closed", "reopened"]
    for event, payload in sent:  # in order: the reopen ties with the close it undid
        world.store.deliver(event, payload)
    (row,) = world.store.rows(PullRequest, number=pull.number)
    assert row["state"] == "closed"  # a tie cannot be ordered, so the stored row stays ...
    assert row["refresh_wanted_at"] is not None  # ... and waits for a read
    refreshed = await world.refresh.refresh_objects(RefreshObjectsInput(binding=world.binding))
    assert (refreshed.refreshed, refreshed.remaining) == (1, 0)
    (row,) = world.store.rows(PullRequest, number=pull.number)
    assert row["state"] == "open"


async def test_an_object_gone_at_the_provider_is_tombstoned_by_the_read(world: World) -> None:
    number = _plain_issue(world)
    for title in ("one", "two"):
        await world.api.patch(f"/repos/{world.repo}/issues/{number}", json={"title": title})
    await world.sim.webhooks.drain()
    sent = world.issue_webhooks()
    world.store.deliver(*sent[1])
    world.store.deliver(*sent[0])
    del world.sim.state.repos[world.repo.lower()].issues[number]  # gone: the read is a 404
    refreshed = await world.refresh.refresh_objects(RefreshObjectsInput(binding=world.binding))
    assert (refreshed.deleted, refreshed.remaining) == (1, 0)
    (row,) = world.store.rows(Issue, number=number)
    assert row["deleted_at"] is not None
    assert row["refresh_wanted_at"] is None


async def test_a_second_rename_in_one_second_moves_the_rows_on_the_read(world: World) -> None:
    number = _plain_issue(world)
    owner, name = world.repo.split("/")
    # The binding's backfill has read the repository (the row a rename moves from).
    backfill = BackfillActivities(lambda: world.store.engine, world.factory)
    scope = SyncScope(
        interface="gitForge", resource_kind="Repository", owner=owner, repository=name
    )
    await walk(backfill, world.binding, ScopeCursor(scope=scope))
    await world.api.patch(f"/repos/{world.repo}/issues/{number}", json={"title": "before"})
    for new in (f"{name}-b", f"{name}-c"):
        current = next(iter(world.sim.state.repos.values())).full_name
        response = await world.api.patch(f"/repos/{current}", json={"name": new})
        assert response.status_code == 200, response.text
    await world.sim.webhooks.drain()
    sent = world.webhooks()
    assert [(e, p["action"]) for e, p in sent] == [
        ("issues", "edited"),
        ("repository", "renamed"),
        ("repository", "renamed"),
    ]
    for event, payload in sent:
        world.store.deliver(event, payload)
    (repository,) = world.store.rows(Repository)
    # The first rename is newer than what was stored and moves the rows; the second shares
    # its second, ties, and waits for the read.
    assert repository["full_name"] == f"{owner}/{name}-b"
    assert repository["refresh_wanted_at"] is not None
    refreshed = await world.refresh.refresh_objects(RefreshObjectsInput(binding=world.binding))
    assert (refreshed.refreshed, refreshed.remaining) == (1, 0)
    (repository,) = world.store.rows(Repository)
    assert repository["full_name"] == f"{owner}/{name}-c"
    (issue,) = world.store.rows(Issue, number=number)
    assert issue["repository"] == f"{owner}/{name}-c"
