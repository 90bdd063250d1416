"""The mapping rules in the store, on a real Postgres: GitHub's published payloads through the
real delivery activity (the webhook path), and the backfill activity against the GitHub
simulator over HTTP (the backfill path). Phases, rich-text bodies, labels, repository hooks,
ref policies and a pull request's checks."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.backfill import BackfillActivities
from activities.backfill_models import BindingRef, ScopeCursor, TombstoneInput
from providers.github.simulator import SimulatorConfig, create_app
from providers.github.simulator.app import Simulator
from providers.rich_text import source_digest
from store.db import session_scope
from store.models.aggregated import SyncEvent
from store.models.projections import (
    BranchProtection,
    Issue,
    Label,
    Pipeline,
    PullRequest,
    RefPolicy,
    Repository,
    WebhookSubscription,
)
from store.projection_views import with_views
from store.pull_request_checks import checks_of
from tests.test_backfill_support import (
    ORG,
    PROVIDER,
    backfill_activities,
    binding_ref,
    rows,
    scopes,
    walk,
    write_token_secret,
)
from tests.test_webhook_helpers import ORG as HOOK_ORG
from tests.test_webhook_helpers import PROVIDER as HOOK_PROVIDER
from tests.test_webhook_helpers import examples
from tests.webhook_store_helpers import DeliveryStore, delivery_store

HELLO = "Codertocat/Hello-World"


def _example(event: str, action: str | None, index: int = 0) -> dict[str, Any]:
    return copy.deepcopy([p for p in examples()[event] if p.get("action") == action][index])


def _events(store: DeliveryStore, kind: str) -> list[SyncEvent]:
    with session_scope(store.engine) as session:
        found = session.exec(select(SyncEvent).where(SyncEvent.resource_kind == kind)).all()
        return list(found)


@pytest.fixture
def hello(clean_database: str) -> Iterator[DeliveryStore]:
    yield from delivery_store(clean_database, HELLO)


# -- the webhook path ------------------------------------------------------------------------


def test_label_webhooks_keep_the_repository_labels(hello: DeliveryStore) -> None:
    created = _example("label", "created")
    label_id = str(created["label"]["id"])
    hello.deliver("label", created)
    (row,) = hello.rows(Label, native_id=label_id)
    assert (row["name"], row["color"], row["description"]) == (
        created["label"]["name"],
        created["label"]["color"],
        created["label"]["description"],
    )
    assert row["deleted_at"] is None
    # Renamed: the same label (by id) with its new name and colour.
    edited = _example("label", "edited")
    edited["label"].update(id=created["label"]["id"], name="bug", color="d73a4a")
    hello.deliver("label", edited)
    (row,) = hello.rows(Label, native_id=label_id)
    assert (row["name"], row["color"]) == ("bug", "d73a4a")
    deleted = _example("label", "deleted")
    deleted["label"]["id"] = created["label"]["id"]
    hello.deliver("label", deleted)
    (row,) = hello.rows(Label, native_id=label_id)
    assert row["deleted_at"] is not None
    phases = [e.status_extra["phase"] for e in _events(hello, "Label")]
    assert phases == ["Applied", "Applied", "Applied"]


def test_hooks_from_ping_and_meta(clean_database: str) -> None:
    ping = copy.deepcopy(next(p for p in examples()["ping"] if "repository" in p))
    repository = ping["repository"]["full_name"]
    for store in delivery_store(clean_database, repository):
        store.deliver("ping", ping)
        (row,) = store.rows(WebhookSubscription, native_id=str(ping["hook_id"]))
        assert (row["repository"], row["target_url"], row["events"]) == (
            repository,
            ping["hook"]["config"]["url"],
            ping["hook"]["events"],
        )
        assert row["deleted_at"] is None
        # GitHub's `meta` event says the hook was deleted (sent to that hook, about itself).
        meta = _example("meta", "deleted")
        meta.update(hook_id=ping["hook_id"], repository=ping["repository"])
        # The same hook: its id and its last change (the published pair are two hooks).
        meta["hook"].update(id=ping["hook_id"], updated_at=ping["hook"]["updated_at"])
        store.deliver("meta", meta)
        (row,) = store.rows(WebhookSubscription, native_id=str(ping["hook_id"]))
        assert row["deleted_at"] is not None


def test_a_branch_protection_rule_is_kept_as_protection_and_ref_policy(
    clean_database: str,
) -> None:
    rule = _example("branch_protection_rule", "created")
    repository = rule["repository"]["full_name"]
    pattern = rule["rule"]["name"]
    for store in delivery_store(clean_database, repository):
        store.deliver("branch_protection_rule", rule)
        (policy,) = store.rows(RefPolicy, pattern=pattern)
        assert policy["required_checks"] == rule["rule"]["required_status_checks"]
        assert policy["required_approvals"] == rule["rule"]["required_approving_review_count"]
        assert policy["external_updated_at"] is not None
        (protection,) = store.rows(BranchProtection, pattern=pattern)
        assert protection["external_updated_at"] == policy["external_updated_at"]
        gone = _example("branch_protection_rule", "deleted")
        gone["rule"].update(name=pattern, repository_id=rule["rule"]["repository_id"])
        gone["repository"] = rule["repository"]
        store.deliver("branch_protection_rule", gone)
        assert store.rows(RefPolicy, pattern=pattern)[0]["deleted_at"] is not None
        assert store.rows(BranchProtection, pattern=pattern)[0]["deleted_at"] is not None


def test_issue_phase_and_rich_body_columns_from_a_webhook(hello: DeliveryStore) -> None:
    opened = _example("issues", "opened")
    hello.deliver("issues", opened)
    (row,) = hello.rows(Issue, number=opened["issue"]["number"])
    body = opened["issue"]["body"]
    assert (row["state"], row["phase"]) == ("open", "Open")
    assert (row["body"], row["body_format"], row["body_source_digest"]) == (
        body,
        "markdown",
        source_digest(body),
    )
    assert row["body_render_warnings"] == []
    with session_scope(hello.engine) as session:
        (shown,) = with_views(session, "Issue", [row])
    assert shown["richBody"] == {
        "markdown": body,
        "sourceFormat": "markdown",
        "sourceDigest": source_digest(body),
        "renderWarnings": [],
    }


def test_pull_request_checks_are_the_pipelines_on_its_head_commit(hello: DeliveryStore) -> None:
    opened = _example("pull_request", "opened")
    number = opened["pull_request"]["number"]
    head = opened["pull_request"]["head"]["sha"]
    hello.deliver("pull_request", opened)
    # A check suite and its run from an app other than Actions, on that commit (published).
    suite = _example("check_suite", "completed")
    assert suite["check_suite"]["head_sha"] == head
    assert suite["check_suite"]["app"].get("slug") != "github-actions"
    hello.deliver("check_suite", suite)
    run = _example("check_run", "created")
    assert run["check_run"]["head_sha"] == head
    hello.deliver("check_run", run)
    # A commit status on the same commit (the published one names another sha).
    status = copy.deepcopy(examples()["status"][0])
    status["sha"] = head
    hello.deliver("status", status)
    # A pipeline of another commit is no check of this pull request.
    other = _example("check_suite", "requested")
    assert other["check_suite"]["head_sha"] != head
    hello.deliver("check_suite", other)
    assert len(hello.rows(Pipeline)) == 3

    with session_scope(hello.engine) as session:
        checks = checks_of(
            session, org=HOOK_ORG, provider_ref=HOOK_PROVIDER, repository=HELLO, numbers=[number]
        )[number]
        (pull,) = hello.rows(PullRequest, number=number)
        (shown,) = with_views(session, "PullRequest", [pull])
    kinds = sorted(c["nativeKind"] for c in checks)
    assert kinds == ["check_suite", "commit_status"]
    suite_check = next(c for c in checks if c["nativeKind"] == "check_suite")
    assert suite_check["phase"] == "Succeeded"
    assert [j["name"] for j in suite_check["jobs"]] == [run["check_run"]["name"]]
    assert shown["checks"] == checks
    assert shown["richBody"]["sourceFormat"] == "markdown"

    # A push to the pull request moves it to a new commit: the old checks are not its checks.
    pushed = _example("pull_request", "synchronize")
    pushed["pull_request"]["head"]["sha"] = "f" * 40
    pushed["pull_request"]["number"] = number
    pushed["pull_request"]["updated_at"] = "2030-01-01T00:00:00Z"
    hello.deliver("pull_request", pushed)
    with session_scope(hello.engine) as session:
        assert (
            checks_of(
                session,
                org=HOOK_ORG,
                provider_ref=HOOK_PROVIDER,
                repository=HELLO,
                numbers=[number],
            )
            == {}
        )


# -- the backfill path -----------------------------------------------------------------------

BASE = "http://github-sim.test"


@dataclass
class World:
    sim: Simulator
    acts: BackfillActivities
    binding: BindingRef
    engine: Engine
    owner: str
    repo: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    async def walk(self, *kinds: str, full: bool = False) -> dict[str, ScopeCursor]:
        out: dict[str, ScopeCursor] = {}
        for scope in scopes(self.owner, self.repo):
            if scope.resource_kind in kinds:
                out[scope.resource_kind], _ = await walk(
                    self.acts, self.binding, ScopeCursor(scope=scope), full=full
                )
        return out


@pytest.fixture
async def world(clean_database: str, tmp_path: Path) -> AsyncIterator[World]:
    sim = create_app(
        SimulatorConfig(base_url=BASE),
        until=datetime(2026, 11, 1, tzinfo=UTC),
        repos=1,
        issues=30,
        pulls=20,
        runs=12,
        jobs=2,
    )
    write_token_secret(tmp_path)
    acts, factory, engine = backfill_activities(
        clean_database, tmp_path, httpx.ASGITransport(app=sim)
    )
    repo = next(iter(sim.state.repos.values()))
    yield World(sim, acts, binding_ref(BASE), engine, repo.owner.login, repo.name)
    await factory.aclose()
    engine.dispose()


KINDS = ("Repository", "Issue", "PullRequest", "Pipeline", "BranchProtection", "Label")


async def test_backfill_projects_labels_hooks_policies_and_phases(world: World) -> None:
    w = world
    await w.walk(*KINDS, "WebhookSubscription")
    state = w.sim.state.repos[w.full_name.lower()]

    labels = {r.name: r for r in rows(w.engine, Label)}
    assert set(labels) == {lb.name for lb in state.labels.values()}
    for lb in state.labels.values():
        row = labels[lb.name]
        assert (row.native_id, row.color, row.description, row.is_default) == (
            str(lb.id),
            lb.color,
            lb.description,
            lb.default,
        )
        assert row.api_url == f"{BASE}/repos/{w.full_name}/labels/{lb.name.replace(' ', '%20')}"

    (hook,) = rows(w.engine, WebhookSubscription)
    (seeded,) = state.hooks.values()
    assert (hook.native_id, hook.events, hook.target_url, hook.content_type) == (
        str(seeded.id),
        seeded.events,
        seeded.config["url"],
        "json",
    )
    assert hook.secret_set is True
    assert seeded.config["secret"] not in str(hook.extensions) + str(hook.base_snapshot)

    protected = [b for b in state.branches.values() if b.protection is not None]
    policies = {p.pattern: p for p in rows(w.engine, RefPolicy)}
    assert set(policies) == {b.name for b in protected}
    main = policies[state.default_branch]
    assert (main.required_checks, main.require_up_to_date, main.required_approvals) == (
        ["CI"],
        True,
        1,
    )
    assert main.push_allowed is None

    issues = rows(w.engine, Issue)
    assert {i.phase for i in issues} <= {"Open", "Closed"}
    assert all(i.phase == i.state.capitalize() for i in issues)
    assert all(i.body_source_digest == source_digest(i.body) for i in issues if i.body is not None)
    pulls = rows(w.engine, PullRequest)
    by_number = {p.number: p for p in pulls}
    for issue in state.issues.values():
        if issue.pull is None:
            continue
        expected = (
            "Merged"
            if issue.pull.merged_at
            else "Closed"
            if issue.state == "closed"
            else "Draft"
            if issue.pull.draft
            else "Open"
        )
        assert by_number[issue.number].phase == expected
    assert {r.phase for r in rows(w.engine, Repository)} == {"Active"}
    runs = rows(w.engine, Pipeline)
    assert all(r.phase for r in runs)
    assert {r.phase for r in runs if r.status == "completed" and r.conclusion == "success"} <= {
        "Succeeded"
    }

    # The runs GitHub made for pull requests ran on their head commits: they are their checks.
    with session_scope(w.engine) as session:
        checks = checks_of(
            session,
            org=ORG,
            provider_ref=PROVIDER,
            repository=w.full_name,
            numbers=list(by_number),
        )
    on_pulls = {
        (n, str(r.id)) for r in state.runs.values() for n in r.pull_numbers if n in by_number
    }
    linked = {(n, c["nativeId"]) for n, found in checks.items() for c in found}
    assert on_pulls
    assert on_pulls <= linked


async def test_a_full_pass_tombstones_labels_and_hooks_the_provider_dropped(
    world: World,
) -> None:
    w = world
    await w.walk("Label", "WebhookSubscription")
    state = w.sim.state.repos[w.full_name.lower()]
    dropped = next(iter(state.labels))
    label_id = str(state.labels.pop(dropped).id)
    w.sim.state.delete_hook(state, next(iter(state.hooks)))
    for cursor in (await w.walk("Label", "WebhookSubscription", full=True)).values():
        assert cursor.pass_started_at is not None
        await ActivityEnvironment().run(
            w.acts.tombstone_unseen,
            TombstoneInput(
                binding=w.binding, scope=cursor.scope, seen_since=cursor.pass_started_at
            ),
        )
    gone = [r for r in rows(w.engine, Label) if r.deleted_at is not None]
    assert [r.native_id for r in gone] == [label_id]
    assert all(h.deleted_at is not None for h in rows(w.engine, WebhookSubscription))
