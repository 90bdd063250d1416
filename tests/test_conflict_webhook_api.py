"""The whole path on the dev server: a GitHub webhook edits an issue that Krate edited too; the
delivery activity raises the conflict, its ConflictWorkflow starts after the commit, and the HTTP
API resolves it (operator only), with the audit trail."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path

from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from activities.conflict_activities import ConflictActivities, WorkflowStarter
from activities.conflict_models import conflict_workflow_id
from store import conflicts
from store.audit import list_audit
from store.db import session_scope
from store.models import Issue
from tests.helpers.temporal import new_worker
from tests.test_webhook_helpers import (
    ORG,
    PROVIDER,
    apply_all,
    binding_manifest,
    eventually,
    examples,
    ingress,
    provider_manifest,
    sync_worker,
)
from workflows import search_attributes as sa
from workflows.conflict import ConflictWorkflow

API = f"/api/v1/orgs/{ORG}/conflicts"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_webhook_raises_a_conflict_and_the_api_resolves_it(
    dev_server_env: WorkflowEnvironment, clean_database: str, tmp_path: Path
) -> None:
    opened = next(p for p in examples()["issues"] if p["action"] == "opened")
    owner, name = opened["repository"]["full_name"].split("/")
    repository, number = opened["repository"]["full_name"], opened["issue"]["number"]
    edited = copy.deepcopy(opened)
    edited["action"] = "edited"
    edited["issue"]["title"] = "retitled on GitHub"
    edited["issue"]["body"] = "a new body from GitHub"
    edited["issue"]["updated_at"] = "2031-01-01T00:00:00Z"
    apply_all(clean_database, [provider_manifest(), binding_manifest(owner, name)])
    client = dev_server_env.client
    conflict_queue = f"conflicts-{uuid.uuid4()}"
    conflicts.set_conflict_starter(
        WorkflowStarter(client.service_client.config.target_host, client.namespace, conflict_queue)
    )
    try:
        async with (
            sync_worker(client, clean_database) as (queue, _),
            ingress(clean_database, tmp_path, client=client, task_queue=queue) as app,
        ):
            acts = ConflictActivities(app.engine)
            conflict_worker = new_worker(
                client,
                ConflictWorkflow,
                activities=[acts.load_conflict, acts.apply_resolution],
                task_queue=conflict_queue,
            )
            async with conflict_worker:
                first = str(uuid.uuid4())
                assert (await app.post("issues", opened, delivery_id=first)).status_code == 202
                identity = {
                    "org": ORG,
                    "provider_ref": PROVIDER,
                    "repository": repository,
                    "number": number,
                }

                def projected() -> bool:
                    with session_scope(app.engine) as session:
                        return session.exec(select(Issue)).first() is not None

                await eventually(projected)
                with session_scope(app.engine) as session:
                    conflicts.record_local_edit(
                        session, Issue, identity, {"title": "retitled in Krate"}, actor="user:ana"
                    )
                second = str(uuid.uuid4())
                assert (await app.post("issues", edited, delivery_id=second)).status_code == 202

                def conflict_name() -> str | None:
                    with session_scope(app.engine) as session:
                        return session.exec(select(Issue)).one().conflict_ref

                await eventually(lambda: conflict_name() is not None)
                name_ = conflict_name()
                assert name_ is not None
                with session_scope(app.engine) as session:
                    issue = session.exec(select(Issue)).one()
                    assert issue.title == "retitled in Krate"  # kept, not overwritten
                    assert issue.body == "a new body from GitHub"  # merged
                # Started by the delivery activity's transaction commit.
                handle = client.get_workflow_handle_for(
                    ConflictWorkflow.run, conflict_workflow_id(ORG, name_)
                )
                await eventually(lambda: _running(handle))

                listed = await app.http.get(API, headers=_auth("viewer-token"))
                assert listed.status_code == 200
                [item] = listed.json()["items"]
                assert item["spec"]["fields"][0]["externalValue"] == "retitled on GitHub"
                shown = await app.http.get(f"{API}/{name_}", headers=_auth("viewer-token"))
                assert shown.json()["spec"]["fields"][0]["localValue"] == "retitled in Krate"

                body = {"decision": "keep-external", "note": "GitHub wins"}
                viewer = await app.http.post(
                    f"{API}/{name_}/resolve", json=body, headers=_auth("viewer-token")
                )
                assert viewer.status_code == 403
                bad = await app.http.post(
                    f"{API}/{name_}/resolve",
                    json={"decision": "manual-edit"},
                    headers=_auth("operator-token"),
                )
                assert bad.status_code == 400
                assert "needs a value" in bad.json()["error"]
                done = await app.http.post(
                    f"{API}/{name_}/resolve", json=body, headers=_auth("operator-token")
                )
                assert done.status_code == 200, done.text
                assert done.json()["phase"] == "Resolved"
                assert (await handle.result()).applied
                # Listed in the Web UI by org, provider and phase (kept current at the close).
                attributes = (await handle.describe()).typed_search_attributes
                assert attributes.get(sa.KRATE_ORG) == ORG
                assert attributes.get(sa.KRATE_PROVIDER) == PROVIDER
                assert attributes.get(sa.KRATE_INTERFACE) == ["issueTracking"]
                assert attributes.get(sa.KRATE_PHASE) == "Resolved"
                again = await app.http.post(
                    f"{API}/{name_}/resolve", json=body, headers=_auth("operator-token")
                )
                assert again.status_code == 409
                missing = await app.http.get(f"{API}/nope", headers=_auth("viewer-token"))
                assert missing.status_code == 404

            with session_scope(app.engine) as session:
                issue = session.exec(select(Issue)).one()
                assert (issue.title, issue.conflict_ref, issue.local_changes) == (
                    "retitled on GitHub",
                    None,
                    {},
                )
                trail = [
                    (e.action, e.actor) for e in reversed(list_audit(session, subject_name=name_))
                ]
            assert trail == [
                ("conflict-raised", "system:sync"),
                ("conflict-resolved", "api:operator"),
            ]
    finally:
        conflicts.set_conflict_starter(None)


async def _running(handle: object) -> bool:
    from temporalio.client import WorkflowHandle
    from temporalio.service import RPCError

    assert isinstance(handle, WorkflowHandle)
    try:
        await handle.describe()
    except RPCError:
        return False
    return True
