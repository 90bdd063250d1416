"""`krate-sync conflicts edit|list|show|resolve|reconcile`, and `temporal workflow update`, on
the Temporal dev server with a real worker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.conflict_activities import ConflictActivities
from activities.conflict_models import conflict_workflow_id
from starter import binaries
from store import conflicts
from store.audit import list_audit
from store.db import make_engine, session_scope
from store.resources import apply_resource
from tests.helpers.cli import run_cli
from tests.helpers.temporal import new_worker
from tests.test_conflict_detection import external_issue, stored, sync
from workflows.conflict import ConflictWorkflow

EDIT = ("conflicts", "edit", "issue", "a5c-ai/krate", "42", "--org", "a5c")


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    # No post-commit start: `resolve` must get the workflow going itself (update-with-start).
    conflicts.set_conflict_starter(None)
    yield engine
    engine.dispose()


def cli_env(database: str, env: WorkflowEnvironment, task_queue: str) -> dict[str, str | None]:
    return {
        "KRATE_DATABASE_URL": database,
        "KRATE_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "KRATE_TEMPORAL_NAMESPACE": env.client.namespace,
        "KRATE_TASK_QUEUE": task_queue,
    }


def bidirectional_binding(engine: Engine) -> None:
    """The provider, binding and policy of the projected issue: issues in bidirectional mode,
    so a local edit is allowed and becomes a write intent."""
    spec = {"organizationRef": "a5c", "providerRef": "github-a5c"}
    documents: list[dict[str, Any]] = [
        {
            "kind": "ExternalBackendProvider",
            "metadata": {"name": "github-a5c"},
            "spec": {
                "organizationRef": "a5c",
                "providerType": "github",
                "apiBaseUrl": "http://127.0.0.1:9",
                "authRef": {"mode": "token", "secretRef": {"name": "github-token"}},
                "capabilities": {"issueTracking": True},
                "webhook": {"enabled": False},
            },
        },
        {
            "kind": "ExternalBackendBinding",
            "metadata": {"name": "github-krate"},
            "spec": {
                **spec,
                "targetRef": {"kind": "Repository", "name": "krate"},
                "externalRef": {"owner": "a5c-ai", "repository": "krate"},
                "interfaces": {"issueTracking": {"enabled": True, "mode": "bidirectional"}},
            },
        },
        {
            "kind": "ExternalBackendSyncPolicy",
            "metadata": {"name": "github-a5c-policy"},
            "spec": {**spec, "writePolicy": {"defaultMode": "reviewed-write"}},
        },
    ]
    with session_scope(engine) as session:
        for document in documents:
            document["apiVersion"] = "krate.a5c.ai/v1alpha1"
            document["metadata"]["namespace"] = "krate-org-a5c"
            apply_resource(session, document)


def conflicted(monkeypatch: pytest.MonkeyPatch, engine: Engine, env: dict[str, str | None]) -> str:
    bidirectional_binding(engine)
    sync(engine, external_issue(0))
    edited = run_cli(
        monkeypatch, *EDIT, "--provider", "github-a5c", "--title", "krate title", env=env
    )
    assert edited.code == 0, edited.stderr
    assert "local generation 1; pending: title; write intent github-krate-update-issue" in (
        edited.stdout
    )
    sync(engine, external_issue(5, title="github title"))
    name = stored(engine).conflict_ref
    assert name is not None
    return name


async def test_list_show_resolve_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    engine: Engine,
    dev_server_env: WorkflowEnvironment,
) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    env = cli_env(clean_database, dev_server_env, task_queue)
    name = await asyncio.to_thread(conflicted, monkeypatch, engine, env)

    listed = await asyncio.to_thread(run_cli, monkeypatch, "conflicts", "list", env=env)
    assert listed.code == 0, listed.stderr
    assert name in listed.stdout
    assert "title" in listed.stdout
    assert "Open" in listed.stdout

    shown = await asyncio.to_thread(
        run_cli, monkeypatch, "conflicts", "show", name, "-o", "json", env=env
    )
    assert shown.code == 0, shown.stderr
    spec = json.loads(shown.stdout)["spec"]
    assert spec["fields"] == [
        {
            "path": "title",
            "baseValue": "original",
            "localValue": "krate title",
            "externalValue": "github title",
        }
    ]
    assert spec["localGeneration"] == 1
    assert spec["externalVersion"]["etag"] == 'W/"v5"'
    assert spec["nativeUrl"] == "https://github.com/a5c-ai/krate/issues/42"
    assert spec["recommendation"] == "manual"

    # A field under conflict cannot be edited again until the conflict is resolved.
    refused = await asyncio.to_thread(
        run_cli, monkeypatch, *EDIT, "--provider", "github-a5c", "--title", "x", env=env
    )
    assert refused.code == 1
    assert "resolve it first" in refused.stderr

    acts = ConflictActivities(engine)
    async with new_worker(
        dev_server_env.client,
        ConflictWorkflow,
        activities=[acts.load_conflict, acts.apply_resolution],
        task_queue=task_queue,
    ):
        bad = await asyncio.to_thread(
            run_cli, monkeypatch, "conflicts", "resolve", name, "manual-edit", env=env
        )
        assert bad.code == 1
        assert "manual-edit needs a value" in bad.stderr
        unavailable = await asyncio.to_thread(
            run_cli, monkeypatch, "conflicts", "resolve", name, "apply-krate", env=env
        )
        assert unavailable.code == 1
        assert "write intents are not available" in unavailable.stderr
        done = await asyncio.to_thread(
            run_cli,
            monkeypatch,
            "conflicts",
            "resolve",
            name,
            "manual-edit",
            "--value",
            "title=merged title",
            "--actor",
            "user:cy",
            env=env,
        )
        assert done.code == 0, done.stderr
        assert f"{name}: Resolved" in done.stdout
        handle = dev_server_env.client.get_workflow_handle_for(
            ConflictWorkflow.run, conflict_workflow_id("a5c", name)
        )
        assert (await handle.result()).applied

    again = await asyncio.to_thread(
        run_cli, monkeypatch, "conflicts", "resolve", name, "keep-external", env=env
    )
    assert again.code == 1
    assert "Resolved already" in again.stderr
    row = stored(engine)
    assert (row.title, row.conflict_ref) == ("merged title", None)
    with session_scope(engine) as session:
        trail = [(e.action, e.actor) for e in reversed(list_audit(session, subject_name=name))]
    assert trail == [("conflict-raised", "system:sync"), ("conflict-resolved", "user:cy")]
    closed = await asyncio.to_thread(
        run_cli, monkeypatch, "conflicts", "list", "--phase", "Open", env=env
    )
    assert "No conflicts found." in closed.stdout


async def test_reconcile_then_temporal_workflow_update(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    engine: Engine,
    dev_server_env: WorkflowEnvironment,
) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    env = cli_env(clean_database, dev_server_env, task_queue)
    name = await asyncio.to_thread(conflicted, monkeypatch, engine, env)
    acts = ConflictActivities(engine)
    async with new_worker(
        dev_server_env.client,
        ConflictWorkflow,
        activities=[acts.load_conflict, acts.apply_resolution],
        task_queue=task_queue,
    ):
        reconciled = await asyncio.to_thread(
            run_cli, monkeypatch, "conflicts", "reconcile", env=env
        )
        assert reconciled.code == 0, reconciled.stderr
        assert "1 open conflict(s); 1 workflow(s) started" in reconciled.stdout
        workflow_id = conflict_workflow_id("a5c", name)
        update = await asyncio.to_thread(
            subprocess.run,
            [
                str(binaries.temporal_cli()),
                "workflow",
                "update",
                "execute",
                "--address",
                dev_server_env.client.service_client.config.target_host,
                "--namespace",
                dev_server_env.client.namespace,
                "--workflow-id",
                workflow_id,
                "--name",
                "resolve",
                "--input",
                json.dumps({"decision": "keep-external", "actor": "user:ops"}),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert update.returncode == 0, update.stderr
        assert "Resolved" in update.stdout
        handle = dev_server_env.client.get_workflow_handle_for(ConflictWorkflow.run, workflow_id)
        assert (await handle.result()).applied
    assert stored(engine).title == "github title"
