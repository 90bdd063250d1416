"""Pausing holds deliveries and loses none: the real ingress, the real delivery activity, the
Temporal dev server and PostgreSQL. Deliveries to a paused binding (by `spec.paused`, or by the
API's pause of its provider) are stored and acknowledged, stay Queued while it is paused, and are
projected after the resume. Also the API's roles, answers and audit entries."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from starter.reconcile import ensure_binding_workflow, stored_config_docs, stored_plans
from store.audit import list_audit
from store.db import session_scope
from store.models.projections import Issue
from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    Ingress,
    apply_all,
    binding_manifest,
    eventually,
    examples,
    ingress,
    provider_manifest,
    sync_worker,
)
from workflows.binding_sync import BindingSyncStatus, BindingSyncWorkflow, workflow_id

API = f"/api/v1/orgs/{ORG}"
HOLD = 3.0  # seconds a paused binding is watched for doing nothing


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _opened(number: int) -> dict[str, Any]:
    payload = copy.deepcopy(next(p for p in examples()["issues"] if p["action"] == "opened"))
    payload["issue"]["number"] = number
    payload["issue"]["id"] = 7_000_000_000 + number
    return payload


def _repository() -> tuple[str, str]:
    owner, name = str(_opened(1)["repository"]["full_name"]).split("/", 1)
    return owner, name


async def _reapply(client: Client, database_url: str, queue: str, manifests: list[Any]) -> None:
    """What `krate-sync apply` does: store, then start or reconfigure the bindings' workflows."""
    from store.db import make_engine

    apply_all(database_url, manifests)
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            plans = stored_plans(stored_config_docs(session))
    finally:
        engine.dispose()
    for plan in plans:
        await ensure_binding_workflow(client, queue, plan)


async def _status(client: Client, binding: str) -> BindingSyncStatus:
    status: BindingSyncStatus = await client.get_workflow_handle(workflow_id(ORG, binding)).query(
        BindingSyncWorkflow.status
    )
    return status


async def _status_is(client: Client, binding: str, **expected: Any) -> bool:
    try:
        status = await _status(client, binding)
    except RPCError:
        return False  # not started yet
    return all(getattr(status, key) == value for key, value in expected.items())


def _issues(app: Ingress) -> set[int]:
    with session_scope(app.engine) as session:
        return {row.number for row in session.exec(select(Issue))}


async def _post(app: Ingress, *numbers: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in numbers]
    for number, delivery_id in zip(numbers, ids, strict=True):
        answer = await app.post("issues", _opened(number), delivery_id=delivery_id)
        assert answer.status_code == 202, answer.text
    return ids


async def test_deliveries_to_a_binding_paused_by_its_manifest_wait_for_the_resume(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    client = dev_server_env.client
    binding = binding_manifest(*_repository())
    binding["spec"]["paused"] = True
    name = binding["metadata"]["name"]
    apply_all(clean_database, [provider_manifest(), binding])
    async with (
        sync_worker(client, clean_database) as (queue, _),
        ingress(clean_database, tmp_path, client=client, task_queue=queue) as app,
    ):
        # No workflow runs yet: the ingress starts one with the delivery, and it starts paused.
        ids = await _post(app, 1, 2)
        await eventually(lambda: _status_is(client, name, phase="Paused", pending_deliveries=2))
        await asyncio.sleep(HOLD)
        assert {app.delivery(i).phase for i in ids} == {"Queued"}  # type: ignore[union-attr]
        assert _issues(app) == set()
        status = await _status(client, name)
        assert status.paused_by == ["manifest"]
        assert status.paused_reason == f"spec.paused is true on binding {name}"

        binding["spec"]["paused"] = False
        await _reapply(client, clean_database, queue, [binding])
        await eventually(lambda: {app.delivery(i).phase for i in ids} == {"Processed"})  # type: ignore[union-attr]
        assert _issues(app) == {1, 2}
        await client.get_workflow_handle(workflow_id(ORG, name)).terminate()


async def test_the_api_pauses_resumes_and_resyncs_a_provider(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    client = dev_server_env.client
    binding = binding_manifest(*_repository())
    name = binding["metadata"]["name"]
    async with (
        sync_worker(client, clean_database) as (queue, _),
        ingress(clean_database, tmp_path, client=client, task_queue=queue) as app,
    ):
        await _reapply(client, clean_database, queue, [provider_manifest(), binding])
        await eventually(lambda: _status_is(client, name))  # running
        pause = f"{API}/providers/{PROVIDER}/pause"
        refused = await app.http.post(pause, headers=_auth("viewer-token"))
        assert refused.status_code == 403
        missing = await app.http.post(
            f"{API}/providers/nope/pause", headers=_auth("operator-token")
        )
        assert missing.status_code == 404

        answer = await app.http.post(
            pause, json={"reason": "provider maintenance"}, headers=_auth("operator-token")
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "provider": PROVIDER,
            "action": "pause",
            "bindings": [
                {"binding": name, "workflowId": workflow_id(ORG, name), "result": "paused"}
            ],
        }
        await eventually(lambda: _status_is(client, name, phase="Paused"))
        ids = await _post(app, 3)
        await eventually(lambda: _status_is(client, name, pending_deliveries=1))
        await asyncio.sleep(HOLD)
        assert app.delivery(ids[0]).phase == "Queued"  # type: ignore[union-attr]

        skipped = await app.http.post(
            f"{API}/providers/{PROVIDER}/resync", headers=_auth("operator-token")
        )
        assert skipped.json()["bindings"][0]["result"] == "skipped: paused (provider maintenance)"

        resumed = await app.http.post(f"{API}/bindings/{name}/resume", headers=_auth("admin-token"))
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["bindings"][0]["result"] == "resumed"
        await eventually(lambda: app.delivery(ids[0]).phase == "Processed")  # type: ignore[union-attr]
        assert _issues(app) == {3}

        # No sync policy, so no Schedule: the resync runs as a workflow of its own.
        started = await app.http.post(
            f"{API}/providers/{PROVIDER}/resync", headers=_auth("operator-token")
        )
        result = started.json()["bindings"][0]["result"]
        assert result.startswith(f"full resync started: resync/{ORG}/{name}/manual-")
        resync_id = result.split(": ", 1)[1]
        await client.get_workflow_handle(resync_id).terminate()  # no worker runs it here

        with session_scope(app.engine) as session:
            trail = [(e.action, e.actor, e.subject_name) for e in list_audit(session, org=ORG)]
        assert trail[:4] == [
            ("provider.resync", "api:operator", PROVIDER),
            ("sync.resumed", "api:admin", name),
            ("provider.resync", "api:operator", PROVIDER),
            ("provider.paused", "api:operator", PROVIDER),
        ]
        await client.get_workflow_handle(workflow_id(ORG, name)).terminate()
