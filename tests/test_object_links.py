"""ExternalObjectLink rows: one per synced object, from the webhook path (GitHub's published
payloads) and the backfill path (the GitHub simulator), kept up to date, orphaned with their
object, valid against the service's own resource model, one statement per page."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, select
from temporalio.testing import ActivityEnvironment

from activities.backfill_models import ScopeCursor, TombstoneInput
from resources.aggregated import ExternalObjectLink
from resources.phases import ObjectLinkPhase
from store.aggregated import manifest_from_row
from store.db import session_scope
from store.links import links_of
from store.models.aggregated import ObjectLink
from store.models.projections import DeployKey, Issue, Projection
from store.projection_kinds import PROJECTION_BY_KIND
from tests.test_backfill_activity import BASE, SEED_UNTIL, World
from tests.test_backfill_support import (
    backfill_activities,
    binding_ref,
    rows,
    scopes,
    walk,
    write_token_secret,
)
from tests.test_webhook_helpers import examples
from tests.webhook_store_helpers import DeliveryStore, delivery_store

REPO = "Codertocat/Hello-World"


def _links(engine: Engine) -> list[ObjectLink]:
    with session_scope(engine) as session:
        found = links_of(session)
        for link in found:
            session.expunge(link)
        return list(found)


def _valid(link: ObjectLink) -> ExternalObjectLink:
    """The stored link, read as `krate-sync get links` shows it, parsed by the resource model."""
    return ExternalObjectLink.model_validate(manifest_from_row(link))


def _projected(engine: Engine) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for kind, model in PROJECTION_BY_KIND.items():
        out += [(kind, row) for row in rows(engine, model)]
    return out


# -- the backfill path ------------------------------------------------------------------------


@pytest.fixture
async def world(clean_database: str, tmp_path: Path) -> AsyncIterator[World]:
    from providers.github.simulator import SimulatorConfig, create_app

    sim = create_app(
        SimulatorConfig(base_url=BASE),
        until=SEED_UNTIL,
        repos=1,
        issues=130,
        pulls=4,
        comments=1,
        runs=2,
        jobs=1,
    )
    transport = httpx.ASGITransport(app=sim)
    write_token_secret(tmp_path)
    acts, factory, engine = backfill_activities(clean_database, tmp_path, transport)
    repo = next(iter(sim.state.repos.values()))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as control:
        yield World(sim, acts, binding_ref(BASE), engine, control, repo.owner.login, repo.name)
    await factory.aclose()
    engine.dispose()


async def _pass(w: World, *, full: bool = False) -> None:
    for scope in scopes(w.owner, w.repo):
        await walk(w.acts, w.binding, ScopeCursor(scope=scope), full=full)


async def test_backfill_links_every_projected_object_and_each_link_is_valid(world: World) -> None:
    w = world
    await _pass(w)
    projected = _projected(w.engine)
    links = _links(w.engine)
    assert len(projected) > 130
    assert len(links) == len(projected)  # one link per object, nothing extra
    by_local = {(link.local_kind, link.local_name): link for link in links}
    assert len(by_local) == len(links)
    for link in links:
        model = _valid(link)
        assert model.spec.organization_ref == w.binding.org
        assert model.status.phase is ObjectLinkPhase.ACTIVE
        assert model.spec.local_ref.api_version == "krate.a5c.ai/v1alpha1"
        labels = model.metadata.labels
        assert labels["krate.a5c.ai/org"] == w.binding.org
        assert labels["krate.a5c.ai/provider"] == w.binding.provider
        assert labels["krate.a5c.ai/interface"] == model.spec.external.interface.value
        assert labels["krate.a5c.ai/repository"] == w.repo
        assert labels["krate.a5c.ai/external-owner"] == w.owner
    issue = rows(w.engine, Issue)[0]
    link = next(li for li in links if li.local_kind == "Issue" and li.native_number == issue.number)
    assert (link.native_id, link.node_id, link.url, link.api_url) == (
        issue.native_id,
        issue.node_id,
        issue.url,
        issue.api_url,
    )
    assert link.local_name == f"{w.binding.provider}-{w.owner}-{w.repo}-{issue.number}".lower()
    assert link.binding_ref == w.binding.binding


async def test_one_link_statement_per_page_whatever_its_size(world: World) -> None:
    w = world
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "INSERT INTO object_links" in statement:
            statements.append(statement)

    event.listen(w.engine, "before_cursor_execute", seen)
    try:
        scope = next(s for s in scopes(w.owner, w.repo) if s.resource_kind == "Issue")
        _cursor, results = await walk(w.acts, w.binding, ScopeCursor(scope=scope))
    finally:
        event.remove(w.engine, "before_cursor_execute", seen)
    pages = len(list(results))
    assert pages >= 2  # 130 issues and some pull requests, 100 a page
    assert len(rows(w.engine, Issue)) == 130
    assert len(statements) == pages


async def test_a_changed_object_updates_its_link_and_a_tombstone_orphans_it(
    world: World,
) -> None:
    w = world
    await _pass(w)
    before = {(li.local_kind, li.local_name): li for li in _links(w.engine)}
    state = w.sim.state.repos[w.full_name.lower()]

    # The provider lost a deploy key: a full pass of that scope and its tombstones.
    gone = next(iter(state.keys))
    del state.keys[gone]
    state.touch()
    scope = next(s for s in scopes(w.owner, w.repo) if s.resource_kind == "DeployKey")
    _cursor, results = await walk(w.acts, w.binding, ScopeCursor(scope=scope), full=True)
    seen_since = next(iter(results)).seen_since
    assert seen_since is not None
    await ActivityEnvironment().run(
        w.acts.tombstone_unseen,
        TombstoneInput(binding=w.binding, scope=scope, seen_since=seen_since),
    )
    after = {(li.local_kind, li.local_name): li for li in _links(w.engine)}
    orphaned = [li for li in after.values() if _valid(li).status.phase is ObjectLinkPhase.ORPHANED]
    assert [li.native_id for li in orphaned] == [str(gone)]
    key = (orphaned[0].local_kind, orphaned[0].local_name)
    assert after[key].generation == before[key].generation + 1
    # Nothing else was rewritten.
    unchanged = [k for k in after if k != key]
    assert all(after[k].generation == before[k].generation for k in unchanged)
    deploy_keys = [r for r in rows(w.engine, DeployKey) if r.deleted_at is None]
    assert len([li for li in after.values() if li.local_kind == "DeployKey"]) == (
        len(deploy_keys) + 1
    )


# -- the webhook path -------------------------------------------------------------------------


@pytest.fixture
def store(clean_database: str) -> Iterator[DeliveryStore]:
    yield from delivery_store(clean_database, REPO)


def _example(event_name: str, action: str) -> dict[str, Any]:
    found = next(p for p in examples()[event_name] if p.get("action") == action)
    return copy.deepcopy(found)


def _store_links(store: DeliveryStore, kind: str) -> list[ObjectLink]:
    return [li for li in _links(store.engine) if li.local_kind == kind]


def _row(store: DeliveryStore, model: type[Projection]) -> dict[str, Any]:
    found = store.rows(model)
    assert len(found) == 1
    return found[0]


def test_webhooks_link_the_object_update_the_link_and_orphan_it_on_delete(
    store: DeliveryStore,
) -> None:
    opened = _example("issues", "opened")
    store.deliver("issues", opened)
    [link] = _store_links(store, "Issue")
    issue = _row(store, Issue)
    model = _valid(link)
    assert model.spec.external.native_id == issue["native_id"]
    assert model.spec.external.node_id == opened["issue"]["node_id"]
    assert model.spec.external.url == opened["issue"]["html_url"]
    assert model.spec.external.version is not None
    assert model.spec.external.version.updated_at == issue["external_updated_at"]
    assert model.metadata.labels["krate.a5c.ai/repository"] == "Hello-World"
    assert model.metadata.labels["krate.a5c.ai/external-owner"] == "Codertocat"
    assert model.status.phase is ObjectLinkPhase.ACTIVE

    # The same object edited later: the link follows the stored row.
    edited = _example("issues", "edited")
    edited["issue"] = copy.deepcopy(opened["issue"]) | {
        "updated_at": "2030-01-01T00:00:00Z",
        "html_url": "https://github.com/Codertocat/Hello-World/issues/1?moved",
    }
    store.deliver("issues", edited)
    [link2] = _store_links(store, "Issue")
    assert link2.uid == link.uid
    assert link2.url == "https://github.com/Codertocat/Hello-World/issues/1?moved"
    assert link2.generation == link.generation + 1

    # An older event arriving late changes neither the row nor the link.
    store.deliver("issues", opened)
    [link3] = _store_links(store, "Issue")
    assert (link3.url, link3.generation) == (link2.url, link2.generation)

    deleted = _example("issues", "deleted")
    deleted["issue"] = copy.deepcopy(edited["issue"]) | {"updated_at": "2030-01-02T00:00:00Z"}
    store.deliver("issues", deleted)
    [link4] = _store_links(store, "Issue")
    assert _valid(link4).status.phase is ObjectLinkPhase.ORPHANED
    assert link4.url == link2.url  # the native link stays, for the record


def test_every_published_example_links_what_it_projects(store: DeliveryStore) -> None:
    for event_name in ("issues", "issue_comment", "pull_request", "workflow_run", "workflow_job"):
        for payload in examples()[event_name]:
            store.deliver(event_name, payload)
    projected = _projected(store.engine)
    assert projected
    with session_scope(store.engine) as session:
        links = session.execute(select(ObjectLink)).scalars().all()
        assert len(links) == len(projected)
        for link in links:
            _valid(link)


def test_events_of_a_delivery_carry_the_required_labels(store: DeliveryStore) -> None:
    from store.models.aggregated import SyncEvent

    store.deliver("issues", _example("issues", "opened"))
    with session_scope(store.engine) as session:
        events = session.execute(select(SyncEvent)).scalars().all()
        assert events
        for row in events:
            assert row.labels["krate.a5c.ai/org"] == row.org
            assert row.labels["krate.a5c.ai/provider"] == row.provider_ref
            assert row.labels["krate.a5c.ai/interface"] == row.interface
            assert row.labels["krate.a5c.ai/repository"] == "Hello-World"
            assert row.labels["krate.a5c.ai/external-owner"] == "Codertocat"


def test_get_links_filters_by_binding_and_kind(
    store: DeliveryStore, clean_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import json

    from tests.helpers.cli import run_cli

    store.deliver("issues", _example("issues", "opened"))
    store.deliver("issue_comment", _example("issue_comment", "created"))
    binding = str(store.binding["metadata"]["name"])
    env = {"KRATE_DATABASE_URL": clean_database, "KRATE_STATE_DIR": str(tmp_path)}

    def names(*args: str) -> list[str]:
        result = run_cli(monkeypatch, "get", "links", *args, "-o", "json", env=env)
        assert result.code == 0, result.stderr
        parsed = json.loads(result.stdout)
        items = parsed["items"] if isinstance(parsed, dict) and "items" in parsed else parsed
        items = items if isinstance(items, list) else [items]
        return sorted(str(i["spec"]["localRef"]["kind"]) for i in items)

    assert names("--binding", binding) == ["Comment", "Issue"]
    assert names("--binding", binding, "--kind", "issue") == ["Issue"]
    none = run_cli(monkeypatch, "get", "links", "--binding", "other", env=env)
    assert none.code == 0
    assert "No objectlinks found" in none.stderr
    refused = run_cli(monkeypatch, "get", "deliveries", "--kind", "Issue", env=env)
    assert refused.code == 1
    assert "no resource kind" in refused.stderr


async def test_the_api_lists_links_with_filters(
    store: DeliveryStore, clean_database: str, tmp_path: Path
) -> None:
    from tests.test_webhook_helpers import ORG, ingress

    store.deliver("issues", _example("issues", "opened"))
    store.deliver("issue_comment", _example("issue_comment", "created"))
    headers = {"Authorization": "Bearer viewer-token"}
    async with ingress(clean_database, tmp_path, client=None) as app:
        url = f"/api/v1/orgs/{ORG}/links"
        everything = await app.http.get(url, headers=headers)
        assert everything.status_code == 200
        assert {i["spec"]["localRef"]["kind"] for i in everything.json()["items"]} == {
            "Issue",
            "Comment",
        }
        issues = await app.http.get(url, params={"kind": "Issue"}, headers=headers)
        [issue] = issues.json()["items"]
        ExternalObjectLink.model_validate(issue)
        by_id = await app.http.get(
            url, params={"nativeId": issue["spec"]["external"]["nativeId"]}, headers=headers
        )
        assert [i["metadata"]["name"] for i in by_id.json()["items"]] == [issue["metadata"]["name"]]
        bad = await app.http.get(url, params={"colour": "red"}, headers=headers)
        assert bad.status_code == 400
        assert (await app.http.get(url)).status_code == 401
