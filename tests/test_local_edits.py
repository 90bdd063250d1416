"""Local edits of synced issues in bidirectional mode: the edit and its write intent together,
approval, the write at the simulated GitHub, the projection settled afterwards; refusals for
mirrored interfaces, for a second edit while the first is being written, and for a write that
would go out over a provider change (an open conflict). Real Temporal dev server, PostgreSQL
and the GitHub simulator over HTTP."""

# ruff: noqa: F811  (the `stack` fixture is imported from the write-intent flow tests)
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from activities.conflict_activities import ConflictActivities, KrateWriteIntents
from activities.conflict_models import ConflictWorkflowInput, ResolveInput
from activities.projection import Owner, project
from activities.writes_models import DecisionInput
from ingress.app import create_app
from ingress.auth import parse_tokens
from ingress.runtime import Runtime
from ingress.signaler import WorkflowSignaler
from providers.github.mapping import MappingContext
from providers.github.mapping import issue as map_issue
from settings import Settings
from starter.conflict_commands import send_resolution
from starter.edits import EditBlocked, EditRefused, EditTarget, record_edit, submit_edit
from starter.intents import reconcile_pending_intents
from store import conflicts
from store.audit import list_audit
from store.conflicts import merge_incoming, settle_written
from store.db import session_scope
from store.models import Issue
from store.models.aggregated import WriteIntent
from store.upsert import upsert_many
from tests.helpers.temporal import new_worker
from tests.test_write_intent_flow import Stack, running_simulator, stack  # noqa: F401
from tests.test_write_intent_support import (
    BINDING,
    ORG,
    OWNER,
    PROVIDER,
    TOKEN,
    apply_config,
    handle_of,
)
from tests.test_write_intent_support import activities as write_activities
from workflows.conflict import ConflictWorkflow
from workflows.write_intent import WriteIntentWorkflow

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def no_conflict_workflows() -> Iterator[None]:
    """Conflicts raised here are checked in the store; their workflows are other tests' topic."""
    conflicts.set_conflict_starter(None)
    yield
    conflicts.set_conflict_starter(None)


def gh(stack: Stack, method: str, path: str, **kwargs: Any) -> Any:
    """GitHub as a person sees it: the simulator's REST API with a token."""
    response = httpx.request(
        method,
        f"{stack.base_url}{path}",
        headers={"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"},
        timeout=10,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()


def issue_path(stack: Stack) -> str:
    return f"/repos/{OWNER}/{stack.repo}/issues/{stack.issue}"


def sync_issue(stack: Stack) -> None:
    """Project the issue as the sync would (webhook or backfill): mapped, merged, upserted."""
    raw = gh(stack, "GET", issue_path(stack))
    found = project(
        map_issue(raw, MappingContext(), repository=f"{OWNER}/{stack.repo}"),
        Owner(ORG, PROVIDER, BINDING),
    )
    assert found is not None
    _, row = found
    with session_scope(stack.engine) as session:
        upsert_many(session, Issue, merge_incoming(session, Issue, [row]))


def stored_issue(stack: Stack) -> Issue:
    with session_scope(stack.engine) as session:
        row = session.exec(select(Issue).where(Issue.number == stack.issue)).one()
        session.expunge(row)
        return row


def intents(stack: Stack) -> list[WriteIntent]:
    with session_scope(stack.engine) as session:
        rows = list(session.exec(select(WriteIntent).order_by(WriteIntent.id)))  # type: ignore[arg-type]
        for row in rows:
            session.expunge(row)
        return rows


def target(stack: Stack) -> EditTarget:
    return EditTarget(ORG, "Issue", f"{OWNER}/{stack.repo}", stack.issue, provider=PROVIDER)


async def test_an_edit_is_written_back_after_approval_and_settles(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_issue(stack)
    edited = await stack.cli(
        monkeypatch,
        "conflicts", "edit", "issue", f"{OWNER}/{stack.repo}", str(stack.issue),
        "--org", ORG, "--title", "Title from Krate", "--label", "krate", "--actor", "user:ana",
    )  # fmt: skip
    assert edited.code == 0, edited.stderr
    assert "pending: labels, title" in edited.stdout
    [intent] = intents(stack)
    assert f"write intent {intent.name}" in edited.stdout
    assert (intent.operation, intent.source_kind, intent.actor) == (
        "updateIssue",
        "LocalEdit",
        "user:ana",
    )
    assert intent.spec_extra["parameters"] == {
        "issue": stack.issue,
        "title": "Title from Krate",
        "labels": ["krate"],
    }
    workflow_id = f"write/{ORG}/{intent.name}"
    await stack.wait_phase(workflow_id, "AwaitingApproval")  # the policy is reviewed-write
    assert gh(stack, "GET", issue_path(stack))["title"] != "Title from Krate"

    own = await stack.cli(monkeypatch, "intents", "approve", intent.name, "--actor", "user:ana")
    assert own.code == 1  # the editor cannot approve their own write
    approved = await stack.cli(monkeypatch, "intents", "approve", intent.name, "--actor", "user:bo")
    assert approved.code == 0, approved.stderr
    assert (await handle_of(stack.client, workflow_id).result()).phase == "Succeeded"

    at_github = gh(stack, "GET", issue_path(stack))
    assert at_github["title"] == "Title from Krate"
    assert [label["name"] for label in at_github["labels"]] == ["krate"]
    row = stored_issue(stack)
    assert row.local_changes == {}  # written: nothing pending any more
    assert row.base_snapshot is not None
    assert row.base_snapshot["title"] == "Title from Krate"
    assert row.title == "Title from Krate"
    with session_scope(stack.engine) as session:
        actions = [e.action for e in list_audit(session, subject_kind="Issue")]
    assert "local-edit" in actions
    assert "local-changes-written" in actions

    # The provider's own report of the written issue changes nothing and raises nothing.
    sync_issue(stack)
    assert stored_issue(stack).conflict_ref is None
    assert stored_issue(stack).local_changes == {}


async def test_a_mirrored_interface_refuses_the_edit_and_records_nothing(stack: Stack) -> None:
    apply_config(stack.engine, stack.base_url, stack.repo, issue_mode="mirrored")
    sync_issue(stack)
    with pytest.raises(EditRefused, match=r"read-only \(mirrored\) mode"):
        await submit_edit(
            stack.engine, stack.client, stack.worker.task_queue, target(stack),
            {"title": "nope"}, actor="user:ana",
        )  # fmt: skip
    row = stored_issue(stack)
    assert (row.local_generation, row.local_changes) == (0, {})
    assert row.title != "nope"
    assert intents(stack) == []


async def test_a_field_the_update_cannot_write_is_refused(stack: Stack) -> None:
    sync_issue(stack)
    with pytest.raises(EditRefused, match="milestone: not written back"):
        with session_scope(stack.engine) as session:
            record_edit(session, target(stack), {"milestone": "v2"}, actor="user:ana")
    assert stored_issue(stack).local_generation == 0


async def test_one_write_at_a_time_per_object_over_the_api(stack: Stack) -> None:
    sync_issue(stack)
    settings = Settings(
        database_url=stack.cli_env["KRATE_DATABASE_URL"], task_queue=stack.worker.task_queue
    )
    app = create_app(settings)
    app.state.krate_runtime = Runtime(
        settings=settings,
        engine=stack.engine,
        signaler=WorkflowSignaler(settings, client=stack.client),
        tokens=parse_tokens(
            {
                "tokens": [
                    {"name": "ana", "token": "ana-t", "role": "operator"},
                    {"name": "viewer", "token": "viewer-t", "role": "viewer"},
                ]
            }
        ),
        start_sweeper=False,
    )
    path = (
        f"/api/v1/orgs/{ORG}/bindings/{BINDING}/projections/issues/"
        f"{OWNER}/{stack.repo}/{stack.issue}"
    )
    ana = {"Authorization": "Bearer ana-t"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as http:
        viewer = await http.patch(
            path, json={"title": "x"}, headers={"Authorization": "Bearer viewer-t"}
        )
        assert viewer.status_code == 403
        missing = await http.patch(
            path[: path.rindex("/")] + "/99999", json={"title": "x"}, headers=ana
        )
        assert missing.status_code == 404
        assert "no Issue" in missing.json()["error"]
        bad = await http.patch(path, json={"milestone": "v2"}, headers=ana)
        assert bad.status_code == 400

        first = await http.patch(path, json={"title": "first"}, headers=ana)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["pending"] == {"title": "first"}
        assert body["workflowStarted"] is True
        assert body["approvalRequired"] is True
        name = body["writeIntent"]
        await stack.wait_phase(f"write/{ORG}/{name}", "AwaitingApproval")

        second = await http.patch(path, json={"body": "second"}, headers=ana)
        assert second.status_code == 409
        assert name in second.json()["error"]
        assert stored_issue(stack).local_changes == {"title": "first"}  # rolled back

        cancelled = await http.post(
            f"/api/v1/orgs/{ORG}/intents/{name}/cancel", json={}, headers=ana
        )
        assert cancelled.status_code == 200, cancelled.text
        assert (await handle_of(stack.client, f"write/{ORG}/{name}").result()).phase == "Cancelled"

        third = await http.patch(path, json={"body": "second"}, headers=ana)
        assert third.status_code == 200, third.text
        assert third.json()["pending"] == {"title": "first", "body": "second"}
    [_, latest] = intents(stack)
    # The new intent writes everything still pending, not only the last edit.
    assert latest.spec_extra["parameters"] == {
        "issue": stack.issue,
        "title": "first",
        "body": "second",
    }


async def test_a_provider_change_before_the_write_fails_it_instead_of_overwriting(
    stack: Stack,
) -> None:
    sync_issue(stack)
    outcome = await submit_edit(
        stack.engine, stack.client, stack.worker.task_queue, target(stack),
        {"title": "krate title"}, actor="user:ana",
    )  # fmt: skip
    assert outcome.intent is not None
    workflow_id = f"write/{ORG}/{outcome.intent.name}"
    await stack.wait_phase(workflow_id, "AwaitingApproval")

    # Someone changes the title on GitHub while the intent waits; the sync reports it.
    await asyncio.sleep(1.1)  # a newer updated_at than the projected version (1 s resolution)
    gh(stack, "PATCH", issue_path(stack), json={"title": "github title"})
    sync_issue(stack)
    assert stored_issue(stack).conflict_ref is not None

    await handle_of(stack.client, workflow_id).execute_update(
        WriteIntentWorkflow.approve, DecisionInput(actor="user:bo")
    )
    failed = await stack.wait_phase(workflow_id, "Failed")
    assert failed.message is not None
    assert "conflict" in failed.message
    assert "open on title" in failed.message
    assert gh(stack, "GET", issue_path(stack))["title"] == "github title"  # not overwritten


async def test_an_edit_made_while_temporal_is_down_is_started_later(stack: Stack) -> None:
    sync_issue(stack)
    outcome = await submit_edit(
        stack.engine, None, stack.worker.task_queue, target(stack), {"body": "offline"},
        actor="user:ana",
    )  # fmt: skip
    assert outcome.intent is not None
    [stored] = intents(stack)
    assert stored.phase == "Pending"
    started = await reconcile_pending_intents(stack.engine, stack.client, stack.worker.task_queue)
    assert started == [outcome.intent.name]
    await stack.wait_phase(f"write/{ORG}/{outcome.intent.name}", "AwaitingApproval")
    # Started once: its row has moved on, so a second reconcile finds nothing to start.
    assert (
        await reconcile_pending_intents(stack.engine, stack.client, stack.worker.task_queue) == []
    )


async def test_settle_written_keeps_a_newer_local_value_pending(stack: Stack) -> None:
    sync_issue(stack)
    identity = {
        "org": ORG,
        "provider_ref": PROVIDER,
        "repository": f"{OWNER}/{stack.repo}",
        "number": stack.issue,
    }
    with session_scope(stack.engine) as session:
        row = session.exec(select(Issue).where(Issue.number == stack.issue)).one()
        row.local_changes = {"title": "edited again", "body": "written"}
        session.add(row)
    with session_scope(stack.engine) as session:
        settled = settle_written(
            session,
            Issue,
            identity,
            {"title": "first edit", "body": "written"},
            actor="system:write-intent",
            intent="i-1",
        )
    assert settled == ["body"]
    row = stored_issue(stack)
    assert row.local_changes == {"title": "edited again"}  # still to be written
    assert row.base_snapshot is not None
    assert (row.base_snapshot["title"], row.base_snapshot["body"]) == ("first edit", "written")


async def test_edit_blocked_names_the_earlier_intent(stack: Stack) -> None:
    sync_issue(stack)
    first = await submit_edit(
        stack.engine, stack.client, stack.worker.task_queue, target(stack), {"title": "a"},
        actor="user:ana",
    )  # fmt: skip
    assert first.intent is not None
    with pytest.raises(EditBlocked, match=first.intent.name):
        await submit_edit(
            stack.engine, stack.client, stack.worker.task_queue, target(stack), {"title": "b"},
            actor="user:ana",
        )  # fmt: skip


async def test_apply_krate_writes_krates_value_end_to_end(stack: Stack) -> None:
    """Edit, provider change, conflict, apply-krate: its intent writes Krate's value at the
    simulator after approval, the projection settles, and the older edit's intent (written by
    the resolution's) fails instead of writing again. Each step is audited."""
    sync_issue(stack)
    edited = await submit_edit(
        stack.engine, stack.client, stack.worker.task_queue, target(stack),
        {"title": "krate title"}, actor="user:ana",
    )  # fmt: skip
    assert edited.intent is not None
    await asyncio.sleep(1.1)
    gh(stack, "PATCH", issue_path(stack), json={"title": "github title"})
    sync_issue(stack)
    conflict = stored_issue(stack).conflict_ref
    assert conflict is not None

    # One worker for the conflict and the intent it creates (started on the same task queue).
    acts = ConflictActivities(stack.engine, write_intents=KrateWriteIntents())
    worker = new_worker(
        stack.client,
        ConflictWorkflow,
        WriteIntentWorkflow,
        activities=[
            acts.load_conflict,
            acts.apply_resolution,
            *write_activities(stack.engine, Path(stack.cli_env["KRATE_SECRETS_DIR"])),
        ],
    )
    async with worker:
        result = await send_resolution(
            stack.client,
            worker.task_queue,
            ConflictWorkflowInput(org=ORG, namespace=f"krate-org-{ORG}", name=conflict),
            ResolveInput(decision="apply-krate", actor="user:bo"),
        )
        assert result.applied, result.message
        assert result.write_intent_ref is not None
        resolution_id = f"write/{ORG}/{result.write_intent_ref}"
        await stack.wait_phase(resolution_id, "AwaitingApproval")
        await handle_of(stack.client, resolution_id).execute_update(
            WriteIntentWorkflow.approve, DecisionInput(actor="user:cy")
        )
        assert (await handle_of(stack.client, resolution_id).result()).phase == "Succeeded"

    assert gh(stack, "GET", issue_path(stack))["title"] == "krate title"
    row = stored_issue(stack)
    assert (row.title, row.local_changes, row.conflict_ref) == ("krate title", {}, None)

    # The edit's own intent is now stale: approved, it fails and writes nothing.
    first_id = f"write/{ORG}/{edited.intent.name}"
    await handle_of(stack.client, first_id).execute_update(
        WriteIntentWorkflow.approve, DecisionInput(actor="user:cy")
    )
    failed = await stack.wait_phase(first_id, "Failed")
    assert failed.message is not None
    assert "no longer pending" in failed.message
    with session_scope(stack.engine) as session:
        trail = [e.action for e in reversed(list_audit(session, subject_name=conflict))]
    assert trail == ["conflict-raised", "conflict-resolved"]
    assert "intent.succeeded" in stack.audit_actions(result.write_intent_ref)
