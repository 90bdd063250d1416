"""ConflictWorkflow end to end on the time-skipping server, with the real store: a conflict is
raised by the sync's merge, its workflow started after the commit, each resolution applied through
the `resolve` update, and the projection, the conflict and the audit trail checked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlmodel import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.conflict_activities import (
    ConflictActivities,
    KrateWriteIntents,
    WorkflowStarter,
    WriteIntents,
)
from activities.conflict_models import ResolveInput, ResolveResult, conflict_workflow_id
from store import conflicts
from store.aggregated import get_aggregated, manifest_from_row
from store.audit import list_audit
from store.conflicts import WriteIntentRequest
from store.db import make_engine, session_scope
from store.models import Issue, SyncConflict
from store.resources import apply_resource
from tests.helpers.paths import SPEC_EXAMPLES
from tests.helpers.temporal import new_worker
from tests.test_conflict_detection import IDENTITY, external_issue, stored, sync
from workflows.conflict import ConflictWorkflow

POLICY: dict[str, Any] = {
    "apiVersion": "krate.a5c.ai/v1alpha1",
    "kind": "ExternalBackendSyncPolicy",
    "metadata": {"name": "github-a5c-default", "namespace": "krate-org-a5c"},
    "spec": {
        "organizationRef": "a5c",
        "providerRef": "github-a5c",
        "writePolicy": {"defaultMode": "reviewed-write"},
        "conflictPolicy": {"defaultResolution": "manual"},
    },
}


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    yield engine
    conflicts.set_conflict_starter(None)
    engine.dispose()


class Intents:
    """Stands in for the write-intent side: records what apply-krate asked for."""

    def __init__(self) -> None:
        self.requests: list[WriteIntentRequest] = []
        self.started: list[Any] = []

    def create(self, session: Session, request: WriteIntentRequest, created: list[Any]) -> str:
        self.requests.append(request)
        created.append(request)
        return f"wi-{len(self.requests)}"

    async def start(self, created: list[Any]) -> None:
        self.started.extend(created)


async def raise_conflict(engine: Engine, policy: str = "manual") -> str:
    """An issue edited in Krate (title) and at the provider (title and body): one conflict."""
    with session_scope(engine) as session:
        doc = {
            **POLICY,
            "spec": {**POLICY["spec"], "conflictPolicy": {"defaultResolution": policy}},
        }
        apply_resource(session, doc)
    await asyncio.to_thread(sync, engine, external_issue(0))

    def edit() -> None:
        with session_scope(engine) as session:
            conflicts.record_local_edit(
                session, Issue, IDENTITY, {"title": "krate title"}, actor="user:ana"
            )

    await asyncio.to_thread(edit)
    await asyncio.to_thread(sync, engine, external_issue(5, title="github title", body="b2"))
    row = stored(engine)
    assert row.conflict_ref is not None
    return row.conflict_ref


def conflict_row(engine: Engine, name: str) -> SyncConflict:
    with session_scope(engine) as session:
        row = session.exec(select(SyncConflict).where(SyncConflict.name == name)).one()
        session.expunge(row)
        return row


def audit_actions(engine: Engine, name: str) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        entries = list_audit(session, subject_name=name)
        return [(e.action, e.actor) for e in reversed(entries)]


async def with_worker(
    env: WorkflowEnvironment,
    engine: Engine,
    creator: WriteIntents | None,
    policy: str = "manual",
) -> tuple[Any, str, WorkflowHandle[ConflictWorkflow, ResolveResult]]:
    task_queue = f"conflicts-{uuid.uuid4()}"
    conflicts.set_conflict_starter(
        WorkflowStarter(
            env.client.service_client.config.target_host,
            env.client.namespace,
            task_queue,
            # The time-skipping server cannot index Krate's search attributes.
            search_attributes=not env.supports_time_skipping,
        )
    )
    acts = ConflictActivities(engine, write_intents=creator)
    worker = new_worker(
        env.client,
        ConflictWorkflow,
        activities=[acts.load_conflict, acts.apply_resolution],
        task_queue=task_queue,
    )
    name = await raise_conflict(engine, policy)
    handle = env.client.get_workflow_handle_for(
        ConflictWorkflow.run, conflict_workflow_id("a5c", name)
    )
    return worker, name, handle


async def resolve(
    env: WorkflowEnvironment,
    engine: Engine,
    request: ResolveInput,
    creator: WriteIntents | None = None,
) -> tuple[str, ResolveResult, ResolveResult]:
    worker, name, handle = await with_worker(env, engine, creator)
    async with worker:
        result = await handle.execute_update(ConflictWorkflow.resolve, request)
        final = await handle.result()
    # The history replays without non-determinism (the workflow does no I/O of its own).
    history = await handle.fetch_history()
    await Replayer(
        workflows=[ConflictWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)
    return name, result, final


def closed_row(engine: Engine) -> Issue:
    row = stored(engine)
    assert row.conflict_ref is None
    return row


async def test_keep_external(time_skipping_env: WorkflowEnvironment, engine: Engine) -> None:
    name, result, final = await resolve(
        time_skipping_env, engine, ResolveInput(decision="keep-external", actor="user:bo")
    )
    assert result.applied
    assert result.phase == "Resolved"
    assert final == result
    row = closed_row(engine)
    assert (row.title, row.body, row.local_changes) == ("github title", "b2", {})
    assert row.base_snapshot is not None
    assert row.base_snapshot["title"] == "github title"
    conflict = conflict_row(engine, name)
    assert conflict.phase == "Resolved"
    assert conflict.status_extra["resolution"]["decision"] == "keep-external"
    assert conflict.status_extra["resolution"]["decidedBy"] == "user:bo"
    assert audit_actions(engine, name) == [
        ("conflict-raised", "system:sync"),
        ("conflict-resolved", "user:bo"),
    ]


async def test_apply_krate_creates_a_write_intent(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    intents = Intents()
    name, result, _ = await resolve(
        time_skipping_env, engine, ResolveInput(decision="apply-krate", actor="user:bo"), intents
    )
    assert result.applied
    assert result.write_intent_ref == "wi-1"
    [request] = intents.requests
    assert request.operation == "updateIssue"
    assert request.fields == {"title": "krate title"}
    assert request.identity == IDENTITY
    assert request.source == name
    assert intents.started == [request]  # its workflow is started after the commit
    row = closed_row(engine)
    assert row.title == "krate title"
    assert row.local_changes == {"title": "krate title"}  # pending until the write lands
    assert row.base_snapshot is not None
    assert row.base_snapshot["title"] == "github title"
    assert conflict_row(engine, name).write_intent_ref == "wi-1"
    assert [a for a, _ in audit_actions(engine, name)] == ["conflict-raised", "conflict-resolved"]


async def test_apply_krate_without_write_intents_says_so_and_stays_open(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    worker, name, handle = await with_worker(time_skipping_env, engine, None)
    async with worker:
        refused = await handle.execute_update(
            ConflictWorkflow.resolve, ResolveInput(decision="apply-krate", actor="user:bo")
        )
        assert not refused.applied
        assert "write intents are not available" in refused.message
        assert conflict_row(engine, name).phase == "Open"
        kept = await handle.execute_update(
            ConflictWorkflow.resolve, ResolveInput(decision="keep-external", actor="user:bo")
        )
        assert kept.applied
        await handle.result()
    assert closed_row(engine).title == "github title"


async def test_manual_edit(time_skipping_env: WorkflowEnvironment, engine: Engine) -> None:
    name, result, _ = await resolve(
        time_skipping_env,
        engine,
        ResolveInput(
            decision="manual-edit", actor="user:bo", values={"title": "merged"}, note="both"
        ),
    )
    assert result.applied
    row = closed_row(engine)
    assert row.title == "merged"
    assert row.local_changes == {"title": "merged"}  # a new local edit, to be written
    assert row.local_generation == 2
    resolution = conflict_row(engine, name).status_extra["resolution"]
    assert resolution["values"] == {"title": "merged"}
    assert resolution["note"] == "both"


async def test_manual_edit_writes_a_new_value_through_a_write_intent(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    intents = Intents()
    name, result, _ = await resolve(
        time_skipping_env,
        engine,
        ResolveInput(decision="manual-edit", actor="user:bo", values={"title": "merged"}),
        intents,
    )
    assert result.applied
    assert result.write_intent_ref == "wi-1"
    [request] = intents.requests
    assert (request.operation, request.fields, request.source) == (
        "updateIssue",
        {"title": "merged"},
        name,
    )
    assert closed_row(engine).local_changes == {"title": "merged"}  # until the write lands


async def test_manual_edit_to_the_providers_value_writes_nothing(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    intents = Intents()
    _, result, _ = await resolve(
        time_skipping_env,
        engine,
        ResolveInput(decision="manual-edit", actor="user:bo", values={"title": "github title"}),
        intents,
    )
    assert result.applied
    assert result.write_intent_ref is None
    assert intents.requests == []
    assert closed_row(engine).local_changes == {}


async def test_ignore_unsupported(time_skipping_env: WorkflowEnvironment, engine: Engine) -> None:
    name, result, _ = await resolve(
        time_skipping_env, engine, ResolveInput(decision="ignore-unsupported", actor="user:bo")
    )
    assert result.applied
    assert result.phase == "Ignored"
    row = closed_row(engine)
    assert (row.title, row.local_changes) == ("krate title", {})
    assert conflict_row(engine, name).phase == "Ignored"


async def test_retry_sync_compares_the_next_report_again(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    name, result, _ = await resolve(
        time_skipping_env, engine, ResolveInput(decision="retry-sync", actor="user:bo")
    )
    assert result.applied
    assert result.phase == "Superseded"
    row = closed_row(engine)
    assert row.external_updated_at is None
    assert row.local_changes == {"title": "krate title"}
    # The provider reports the object again (same version): compared afresh, still a conflict.
    conflicts.set_conflict_starter(None)
    await asyncio.to_thread(sync, engine, external_issue(5, title="github title", body="b2"))
    again = stored(engine)
    assert again.conflict_ref not in (None, name)


async def test_the_validator_refuses_bad_requests(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    worker, name, handle = await with_worker(time_skipping_env, engine, None)
    async with worker:
        await _eventually_loaded(handle)  # the field check needs the loaded conflict
        for bad, message in [
            (ResolveInput(decision="delete-everything"), "unknown resolution"),
            (ResolveInput(decision="manual-edit"), "needs a value"),
            (ResolveInput(decision="keep-external", values={"title": "x"}), "takes no values"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await handle.execute_update(ConflictWorkflow.resolve, bad)
            assert message in str(caught.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(
                ConflictWorkflow.resolve,
                ResolveInput(decision="manual-edit", values={"state": "closed"}),
            )
        assert "not in conflict" in str(caught.value.cause)
        await handle.execute_update(
            ConflictWorkflow.resolve, ResolveInput(decision="keep-external")
        )
        await handle.result()
    assert conflict_row(engine, name).phase == "Resolved"


@pytest.mark.parametrize("policy", ["keep-external", "apply-krate"])
async def test_the_policy_resolves_automatically_and_says_so(
    time_skipping_env: WorkflowEnvironment, engine: Engine, policy: str
) -> None:
    intents = Intents()
    worker, name, handle = await with_worker(time_skipping_env, engine, intents, policy)
    async with worker:
        final = await handle.result()
    assert final.applied
    assert "resolved automatically" in final.message
    conflict = conflict_row(engine, name)
    assert conflict.recommendation == policy
    assert conflict.phase == "Resolved"
    assert conflict.status_extra["reason"].startswith(
        f"resolved automatically: conflictPolicy.defaultResolution is {policy}"
    )
    with session_scope(engine) as session:
        [resolved] = [
            e for e in list_audit(session, subject_name=name) if e.action == "conflict-resolved"
        ]
        assert resolved.actor == "policy:conflictPolicy"
        assert resolved.details["automatic"] is True
    assert stored(engine).title == ("github title" if policy == "keep-external" else "krate title")
    assert len(intents.requests) == (1 if policy == "apply-krate" else 0)


async def test_apply_krate_with_the_real_write_intents(
    dev_server_env: WorkflowEnvironment, engine: Engine
) -> None:
    """The write-intent side of issue 5 (starter/intents.py) makes an updateIssue intent and
    starts its workflow. On the dev server: a WriteIntentWorkflow left on the time-skipping
    server (even terminated) stopped later tests' timers from skipping."""
    with session_scope(engine) as session:
        for source in sorted(SPEC_EXAMPLES.glob("*.yaml")):
            doc = yaml.safe_load(source.read_text())
            if doc.get("kind") in ("ExternalBackendProvider", "ExternalBackendBinding"):
                apply_resource(session, doc)
    name, result, _ = await resolve(
        dev_server_env,
        engine,
        ResolveInput(decision="apply-krate", actor="user:bo"),
        KrateWriteIntents(),
    )
    assert result.applied, result.message
    assert result.write_intent_ref is not None
    with session_scope(engine) as session:
        intent = get_aggregated(
            session, "ExternalWriteIntent", "krate-org-a5c", result.write_intent_ref
        )
        assert intent is not None
        manifest = manifest_from_row(intent)
    assert manifest["spec"]["operation"] == "updateIssue"
    assert conflict_row(engine, name).write_intent_ref == result.write_intent_ref
    described = await dev_server_env.client.get_workflow_handle(
        f"write/a5c/{result.write_intent_ref}"
    ).describe()
    assert described.workflow_type == "WriteIntentWorkflow"
    await dev_server_env.client.get_workflow_handle(
        f"write/a5c/{result.write_intent_ref}"
    ).terminate("test over")


async def test_the_sync_closing_the_conflict_ends_the_workflow(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    worker, name, handle = await with_worker(time_skipping_env, engine, None)
    async with worker:
        status = await _eventually_loaded(handle)
        assert status.fields == ["title"]
        # The provider now agrees with Krate: the sync supersedes the conflict and signals.
        await asyncio.to_thread(sync, engine, external_issue(9, title="krate title"))
        final = await handle.result()
    assert not final.applied
    assert final.phase == "Superseded"
    assert conflict_row(engine, name).phase == "Superseded"
    assert closed_row(engine).local_changes == {}


async def _eventually_loaded(handle: WorkflowHandle[ConflictWorkflow, ResolveResult]) -> Any:
    for _ in range(100):
        status = await handle.query(ConflictWorkflow.status)
        if status.fields:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never loaded its conflict")
